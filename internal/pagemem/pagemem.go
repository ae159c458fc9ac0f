// Package pagemem hands out large buffers whose pages are mapped up front,
// in one system call, rather than one page fault at a time on first touch.
//
// A fresh buffer from the Go heap costs a page fault per 4 KiB page when it
// is first written, and a fault (above all on a virtual machine) costs far
// more than mapping the page up front with MAP_POPULATE: the megabytes of
// read and pattern buffers of a run are cheaper populated. Buffers from
// Alloc are not in the Go heap:
// they must hold no Go pointers, and must be given back with Free once
// nothing refers to them.
package pagemem
