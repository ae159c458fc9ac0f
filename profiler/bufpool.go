package profiler

import (
	"sync"
	"unsafe"

	"github.com/actprof/actprof/internal/pagemem"
)

// bufPool keeps a run's read and pattern buffers from one layer for the
// next: a layer's fresh buffers of megabytes each cost their page faults
// (the Go heap gives large freed spans back to the system), about 7,000
// faults over the 8 layers of bench/realistic. Buffers come back with
// whatever they held.
//
// New buffers are mapped with their pages populated at once
// (internal/pagemem), not faulted in a page at a time as they are first
// written: on the 2-core dev VM a fault costs 15 us, and the 4 MiB of
// pattern buffers of a conv layer's run cost 15 ms of CPU that way (4 ms
// populated: mapping, then the host's first touch). They
// live outside the Go heap until release, which the run calls once every
// goroutine that used them is done.
type bufPool struct {
	bytes freeList[byte]
	words freeList[uint64]
}

// release unmaps every buffer the pool mapped. Nothing may use them after.
func (p *bufPool) release() {
	p.bytes.release()
	p.words.release()
}

// freeList holds buffers of one element type.
type freeList[T byte | uint64] struct {
	mu     sync.Mutex
	bufs   [][]T
	mapped [][]byte // every buffer from pagemem.Alloc, for release
}

// get returns a buffer of n elements, a kept one if one is large enough.
func (l *freeList[T]) get(n int) []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, b := range l.bufs {
		if cap(b) >= n {
			l.bufs = append(l.bufs[:i], l.bufs[i+1:]...)
			return b[:n]
		}
	}
	if n == 0 {
		return nil
	}
	size := int(unsafe.Sizeof(*new(T)))
	b, mapped := pagemem.Alloc(n * size)
	if mapped {
		l.mapped = append(l.mapped, b)
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n)
}

func (l *freeList[T]) put(b []T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bufs = append(l.bufs, b)
}

func (l *freeList[T]) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.mapped {
		pagemem.Free(b)
	}
	l.bufs, l.mapped = nil, nil
}
