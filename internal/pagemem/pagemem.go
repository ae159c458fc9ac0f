// Package pagemem hands out large buffers whose pages are mapped up front,
// in one system call, rather than one page fault at a time on first touch.
//
// A fresh buffer from the Go heap costs a page fault per 4 KiB page when it
// is first written. On a virtual machine a fault can cost 10-20 us (measured
// on the 2-core dev VM: 15 us a fault, against 0.6 us a page mapped with
// MAP_POPULATE), so the megabytes of read and pattern buffers of a run cost
// tens of milliseconds of CPU. Buffers from Alloc are not in the Go heap:
// they must hold no Go pointers, and must be given back with Free once
// nothing refers to them.
package pagemem
