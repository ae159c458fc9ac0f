package input

import "syscall"

// mmapFlags: MAP_POPULATE reads a window in and maps all its pages when it
// is mapped, in the reading goroutine, so the counting goroutines never
// stall on page faults. Measured on a 1 GiB file with two counting
// goroutines, it reads about twice as fast as plain MAP_SHARED from disk
// and as fast or faster from the page cache; MADV_WILLNEED and readahead
// hints did worse from disk.
const mmapFlags = syscall.MAP_SHARED | syscall.MAP_POPULATE
