// Package bufpool keeps large buffers for reuse: the one pool type of the
// readers, the counting driver and the pattern store. A fresh buffer of
// megabytes costs its page faults as it is first written (and the Go heap
// gives large freed spans back to the system), so buffers that serve one
// chunk after another are kept and handed out again, their contents
// whatever they last held.
package bufpool

import (
	"sync"
	"unsafe"

	"github.com/actprof/actprof/internal/pagemem"
)

// Pool keeps buffers of T. The zero value keeps them on the Go heap, where
// the collector may drop unused ones (a sync.Pool): right for pools that
// live as long as the process. With Populate set, new buffers are mapped
// with their pages populated at once (internal/pagemem), outside the Go
// heap, and kept until Release: right for a pool that lives for one run.
type Pool[T byte | int32 | uint64] struct {
	Populate bool

	mu     sync.Mutex
	kept   [][]T    // Populate: buffers given back
	mapped [][]byte // Populate: every mapping, for Release
	heap   sync.Pool
}

// Get returns a buffer of n elements, a kept one where one is large
// enough.
func (p *Pool[T]) Get(n int) []T {
	if n <= 0 {
		return nil
	}
	if !p.Populate {
		if b, ok := p.heap.Get().(*[]T); ok && cap(*b) >= n {
			return (*b)[:n]
		}
		return make([]T, n)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, b := range p.kept {
		if cap(b) >= n {
			p.kept = append(p.kept[:i], p.kept[i+1:]...)
			return b[:n]
		}
	}
	size := int(unsafe.Sizeof(*new(T)))
	b, mapped := pagemem.Alloc(n * size)
	if mapped {
		p.mapped = append(p.mapped, b)
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n)
}

// Put gives b back for a later Get. b must not be used after.
func (p *Pool[T]) Put(b []T) {
	if cap(b) == 0 {
		return
	}
	if !p.Populate {
		p.heap.Put(&b)
		return
	}
	p.mu.Lock()
	p.kept = append(p.kept, b)
	p.mu.Unlock()
}

// Release unmaps every buffer a Populate pool mapped. No buffer it handed
// out may be used after.
func (p *Pool[T]) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.mapped {
		pagemem.Free(b)
	}
	p.kept, p.mapped = nil, nil
}
