package store

import (
	"runtime"
	"sync"
	"unsafe"

	"github.com/klauspost/compress/zstd"

	"github.com/actprof/actprof/profiler"
)

// zstdDict names a zstd dictionary of a layer (codec 0): the raw payloads
// of layer i's first j blocks.
type zstdDict struct {
	i, j int
	raw  []byte
}

// zstdCoder is one of a writer's zstd encoders for the blocks that have a
// dictionary (levels balanced, better and best): a writer has coders(level)
// of them (Writer.coders), each coding one block at a time; a goroutine
// takes one for each run of blocks of one dictionary.
//
// A zstdCoder is one zstd encoder at level best and the dictionary it
// holds. klauspost/compress's encoder has hash tables of a fixed 34 MB
// whatever the input, and one with a dictionary as much again for the
// tables it fills from the dictionary, all of them resident after its
// first block. So a writer keeps at most coders() of them, and a coder
// that changes dictionary drops its encoder and collects the garbage
// before it makes the next, whose tables then reuse the same memory;
// otherwise the heap grows by an encoder per dictionary before the
// collector reclaims any. A new dictionary gets a new encoder, not
// Encoder.ResetWithOptions, which also makes and fills the tables of the
// stream interface (twice the memory); blocks are coded with EncodeAll,
// not the stream interface, which copies the dictionary's tables twice
// per frame.
type zstdCoder struct {
	enc *zstd.Encoder // nil until first used
	// the dictionary enc has: its ID and raw bytes
	id   uint32
	dict []byte
}

// coders is the number of zstdCoders of a writer: one per core
// (GOMAXPROCS), at most maxBestCoders.
func coders() int { return max(1, min(runtime.GOMAXPROCS(0), maxBestCoders)) }

// maxBestCoders bounds the zstd encoders with a dictionary of a writer at
// level best, each about 76 MB (68 MB of tables, and the part of its 8 MB
// history buffer that it fills: the dictionary and the block). With the
// encoder of the layers' first blocks (34 MB), a writer at best holds at
// most about 34 + 4x76 = 340 MB of zstd state, on any machine (34 + 2x76 =
// 190 MB on 2 cores). More would not be faster: coding a block at best is
// mostly copying its encoder's 34 MB of tables from the dictionary's, a
// memory-bandwidth cost that more cores share.
const maxBestCoders = 4

// coderPool holds a writer's zstdCoders.
type coderPool struct {
	sem  chan struct{} // one per coder taken
	mu   sync.Mutex
	free []*zstdCoder // the coders not taken, the last given back last
}

func newCoderPool(n int) *coderPool {
	p := &coderPool{sem: make(chan struct{}, n)}
	for range n {
		p.free = append(p.free, &zstdCoder{})
	}
	return p
}

// get takes a coder for blocks with dictionary d, waiting for one to be
// free: one that has d if there is one, else the last given back, so that
// a coder never used (whose encoder would be new memory) is taken only
// while all the others are.
func (p *coderPool) get(d zstdDict) *zstdCoder {
	p.sem <- struct{}{}
	p.mu.Lock()
	defer p.mu.Unlock()
	k := len(p.free) - 1
	for j, c := range p.free {
		if c.has(d) {
			k = j
			break
		}
	}
	c := p.free[k]
	p.free = append(p.free[:k], p.free[k+1:]...)
	return c
}

// put gives c back.
func (p *coderPool) put(c *zstdCoder) {
	p.mu.Lock()
	p.free = append(p.free, c)
	p.mu.Unlock()
	<-p.sem
}

// release drops the encoders of the coders not taken (Close, Abort): their
// memory is the garbage collector's.
func (p *coderPool) release() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.free {
		c.enc, c.dict = nil, nil
	}
}

// has reports whether c's encoder has dictionary d.
func (c *zstdCoder) has(d zstdDict) bool {
	return c.enc != nil && c.id == dictID(d.i, d.j) && len(c.dict) == len(d.raw) && unsafe.SliceData(c.dict) == unsafe.SliceData(d.raw)
}

// encode appends to dst raw as a zstd frame at the writer's level with d
// as dictionary.
func (c *zstdCoder) encode(w *Writer, d zstdDict, raw, dst []byte) ([]byte, error) {
	if !c.has(d) {
		if c.enc != nil {
			c.enc.Close()
			c.enc = nil
			// 68 MB of tables are garbage: collect them, so that the
			// next encoder's are the same memory, not new.
			runtime.GC()
		}
		id := dictID(d.i, d.j)
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderCRC(false), zstd.WithLowerEncoderMem(true), zstd.WithEncoderDictRaw(id, d.raw))
		if err != nil {
			return dst, &profiler.FileError{Path: w.path, Err: err}
		}
		c.enc, c.id, c.dict = enc, id, d.raw
	}
	return c.enc.EncodeAll(raw, dst), nil
}
