package input

import "sync"

// bufPool recycles the buffers of chunks that are not mappings (decompressed
// .npz data, pread reads, chunks spanning shards): a released chunk's buffer
// serves a later chunk instead of a fresh allocation being zeroed. Memory
// stays bounded by the chunks in flight.
var bufPool sync.Pool

// getBuf returns a buffer of n bytes, recycled where one is big enough,
// and the release function that recycles it. Its contents are undefined.
func getBuf(n int) ([]byte, func()) {
	var buf []byte
	if p, ok := bufPool.Get().(*[]byte); ok && cap(*p) >= n {
		buf = (*p)[:n]
	} else {
		buf = make([]byte, n)
	}
	var once sync.Once
	return buf, func() { once.Do(func() { bufPool.Put(&buf) }) }
}
