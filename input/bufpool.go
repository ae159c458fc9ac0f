package input

import (
	"sync"

	"github.com/actprof/actprof/internal/bufpool"
)

// bufs recycles the buffers of chunks that are not mappings (decompressed
// .npz data, pread reads, chunks spanning shards): a released chunk's buffer
// serves a later chunk instead of a fresh allocation being zeroed. Memory
// stays bounded by the chunks in flight.
var bufs bufpool.Pool[byte]

// getBuf returns a buffer of n bytes, recycled where one is big enough,
// and the release function that recycles it. Its contents are undefined.
func getBuf(n int) ([]byte, func()) {
	buf := bufs.Get(n)
	var once sync.Once
	return buf, func() { once.Do(func() { bufs.Put(buf) }) }
}
