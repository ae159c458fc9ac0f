package cpu

import "sync"

// slicePool recycles zeroed int32 accumulators by length.
type slicePool struct{ p sync.Map } // int -> *sync.Pool

func newSlicePool() *slicePool { return &slicePool{} }

func (s *slicePool) get(n int) []int32 {
	if p, ok := s.p.Load(n); ok {
		if v := p.(*sync.Pool).Get(); v != nil {
			return *(v.(*[]int32))
		}
	}
	return make([]int32, n)
}

// put zeroes acc and keeps it for reuse.
func (s *slicePool) put(acc []int32) {
	clear(acc)
	p, _ := s.p.LoadOrStore(len(acc), &sync.Pool{})
	p.(*sync.Pool).Put(&acc)
}
