package profiler

import "github.com/actprof/actprof/internal/bufpool"

// bufPool keeps a run's read and pattern buffers from one layer for the
// next, populated at once (bufpool.Pool with Populate: a buffer faulted in
// a page at a time costs more than counting it on small layers), outside
// the Go heap until release, which the run calls once every goroutine that
// used them is done. Buffers come back with whatever they held.
type bufPool struct {
	bytes bufpool.Pool[byte]
	words bufpool.Pool[uint64]
}

func newBufPool() *bufPool {
	return &bufPool{bytes: bufpool.Pool[byte]{Populate: true}, words: bufpool.Pool[uint64]{Populate: true}}
}

// release unmaps every buffer the pool mapped. Nothing may use them after.
func (p *bufPool) release() {
	p.bytes.Release()
	p.words.Release()
}
