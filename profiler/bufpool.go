package profiler

import "sync"

// bufPool keeps a run's read and pattern buffers from one layer for the
// next: a layer's fresh buffers of megabytes each cost their page faults
// (the Go heap gives large freed spans back to the system), about 7,000
// faults over the 8 layers of bench/realistic. Buffers come back with
// whatever they held.
type bufPool struct {
	bytes freeList[byte]
	words freeList[uint64]
}

// freeList holds buffers of one element type.
type freeList[T any] struct {
	mu   sync.Mutex
	bufs [][]T
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
	return make([]T, n)
}

func (l *freeList[T]) put(b []T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bufs = append(l.bufs, b)
}
