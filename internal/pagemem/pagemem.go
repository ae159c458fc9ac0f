// Package pagemem hands out large buffers whose pages are mapped up front,
// in one system call, rather than one page fault at a time on first touch.
//
// A fresh buffer from the Go heap costs a page fault per 4 KiB page when it
// is first written. On a virtual machine a fault can cost 10-20 us. On the
// 2-core dev VM (a C loop over 64 MiB) a first write costs 15 us a page;
// with MAP_POPULATE, 0.8 us a page to map and 3.5 us for the first write
// (the host backs the page then), 0.03 us after. So the megabytes of read
// and pattern buffers of a run cost tens of milliseconds of CPU, a third of
// that when populated. Buffers from Alloc are not in the Go heap:
// they must hold no Go pointers, and must be given back with Free once
// nothing refers to them.
package pagemem
