package input

import "syscall"

// mmapFlags: MAP_POPULATE reads a window in and maps all its pages when it
// is mapped, in the reading goroutine, so the counting goroutines never
// stall on page faults (a fault per page costs more than counting the
// page; readahead hints leave those faults in the counting goroutines).
const mmapFlags = syscall.MAP_SHARED | syscall.MAP_POPULATE
