package profiler

import "sync"

// bufPool keeps a run's read and pattern buffers from one layer for the
// next: a layer's fresh buffers of megabytes each cost their page faults
// (the Go heap gives large freed spans back to the system), about 7,000
// faults over the 8 layers of bench/realistic. Buffers come back with
// whatever they held.
type bufPool struct {
	mu    sync.Mutex
	bytes [][]byte
	words [][]uint64
}

// getBytes returns a buffer of n bytes.
func (p *bufPool) getBytes(n int) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, b := range p.bytes {
		if cap(b) >= n {
			p.bytes = append(p.bytes[:i], p.bytes[i+1:]...)
			return b[:n]
		}
	}
	return make([]byte, n)
}

func (p *bufPool) putBytes(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bytes = append(p.bytes, b)
}

// getWords returns a buffer of n words.
func (p *bufPool) getWords(n int) []uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, b := range p.words {
		if cap(b) >= n {
			p.words = append(p.words[:i], p.words[i+1:]...)
			return b[:n]
		}
	}
	return make([]uint64, n)
}

func (p *bufPool) putWords(b []uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.words = append(p.words, b)
}
