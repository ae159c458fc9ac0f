package store

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"

	"github.com/actprof/actprof/internal/atomicfile"
	"github.com/actprof/actprof/profiler"
)

// Levels are the compression levels a writer takes, by name. fastest, the
// default ("" or "default"), codes blocks over the natural unit order with
// the static codec (codes fixed per layer by its first span, whose tables
// block 0 carries), or with the planes codec where a span has drifted from
// the first; the others sort units by
// firing rate and keep, per block, the smaller of the planes codec and zstd
// at that level (balanced: zstd's default level).
//
// Memory: at level best each zstd encoder has 34 MB of hash tables, and
// one with a dictionary 76 MB, whatever the input (zstdCoder); a writer
// at best holds at most 34 MB + 76 MB x min(GOMAXPROCS, 4) of them
// (maxBestCoders), a layer of one span 34 + 76 MB. Peak RSS of `actprof
// profile --patterns-level best`, measured 2026-12-07 on the 2-core dev
// machine: 100 MB for a 1000x256 float32 input (was 212 MB), 190-220 MB
// for 200000x1024 (was 530-600 MB), the same stores byte for byte.
// fastest, balanced and better stay under 15, 45 and 100 MB on those.
var Levels = map[string]zstd.EncoderLevel{
	"fastest": zstd.SpeedFastest, "default": zstd.SpeedFastest, "balanced": zstd.SpeedDefault,
	"better": zstd.SpeedBetterCompression, "best": zstd.SpeedBestCompression,
}

// DefaultLevel is the level of Create(..., "").
const DefaultLevel = "fastest"

// Writer writes a store during a profiling run: it is the run's
// profiler.PatternSink. Blocks are encoded and compressed in the counting
// goroutines that deliver them, then written in order. The file appears
// under its name only when Close succeeds.
type Writer struct {
	// Sync, set before the first Write, makes the store durable: the
	// writer starts the disk writes of the file as it grows, and Close
	// flushes it to stable storage (fsync) before renaming it into place,
	// so that a crash of the machine right after Close cannot lose it.
	// Without it (the default, as for gzip or zstd) the kernel writes the
	// file back in its own time; a store cut short by a crash fails its
	// footer or checksums when read, it never reads as other patterns.
	Sync bool

	path   string
	f      *os.File
	direct bool // path is not a regular file (/dev/null): written in place, never renamed over
	bw     *bufio.Writer
	enc    *zstd.Encoder // for each layer's block 0 (nil at level fastest)
	coders *coderPool    // the encoders of the other zstd blocks (zstdCoder)
	level  zstd.EncoderLevel
	fast   bool // level fastest: static codes, natural order
	nDict  int  // other levels: the first nDict blocks of a layer are the dictionary of the rest
	hdr    Header
	off    int64 // the file's length so far (blocks are placed under mu)
	synced int64 // bytes of the file whose writeback has been started (under mu)

	mu      sync.Mutex
	err     error
	index   [][]entry
	orders  [][]int32                  // per layer, storage order (set by the layer's chunk 0)
	state   atomic.Pointer[layerState] // the current layer's, once its chunk 0 is coded
	layer   int
	next    int64                   // next observation to write of the layer
	pending map[int64]*encodedChunk // chunks that arrived early, by first obs
	inner   int64                   // the current layer's Geometry.Inner, which chunks are whole multiples of
	scratch freeList[blockScratch]  // coding buffers, one set per goroutine coding
	bufs    bufList                 // stored blocks, recycled once written
}

// layerState is what a layer's chunk 0 sets for its other chunks.
type layerState struct {
	order []int32      // storage order of the units
	dict  *zstdDict    // zstd levels: the dictionary of the layer's later blocks
	codes *staticCodes // level fastest: the layer's static codes
}

// fastSplit: every level stores each span of BlockObs(units) observations
// (blockLen) as fastSplit blocks (about 64 KiB of raw bits each), except
// a span that drifted at level fastest (one planes block).
const fastSplit = 4

// splitLen is the observations of each of the smaller blocks that a block
// of n observations is stored as (the last may hold fewer): n/fastSplit,
// at least 64, so that one observation is found by decoding about 64 KiB.
func splitLen(n int) int { return max(64, (n+fastSplit-1)/fastSplit) }

// blockScratch is one goroutine's buffers for encoding blocks.
type blockScratch struct {
	tiles []uint64 // encodeBlock's transposes
	raw   []byte   // a block's raw payload
	sbuf  []byte   // the static codec's stream B
	pc    planeCoder
}

// encodedChunk is one Write's observations, compressed, or (bits != nil)
// still raw because the layer's chunk 0, which fixes the storage order and
// the dictionary, had not arrived.
type encodedChunk struct {
	first  int64
	nobs   int64
	blocks []encoded
	bits   []uint64
}

type encoded struct {
	first int64
	nobs  int
	data  *[]byte
	crc   uint32 // of *data, computed by the goroutine that coded it
}

// seal computes the checksums of c's blocks.
func (c *encodedChunk) seal() {
	for k := range c.blocks {
		c.blocks[k].crc = checksum(*c.blocks[k].data)
	}
}

// NewHeader describes plans as a store header.
func NewHeader(plans []profiler.Plan, threshold float64) Header {
	h := Header{FormatVersion: FormatVersion, Codec: Codecs, Threshold: threshold}
	for _, p := range plans {
		h.Layers = append(h.Layers, LayerInfo{
			Name: p.Layer.Name, DType: p.Layer.DType.String(), Shape: slices.Clone(p.Layer.Shape),
			UnitAxis: p.Geom.UnitAxis, Units: int(p.Geom.Units), Observations: p.Geom.Observations(),
			ObsPerSample: obsPerSample(p.Layer.Shape, p.Geom.UnitAxis, p.Geom.Observations()),
		})
	}
	return h
}

// Create starts a store at path (written to a temporary file beside it).
// level is a key of Levels ("" means DefaultLevel). It refuses a header
// that CheckHeader refuses, before writing anything.
func Create(path string, h Header, level string) (*Writer, error) {
	if level == "" || level == "default" {
		level = DefaultLevel
	}
	lv, ok := Levels[level]
	if !ok {
		return nil, fmt.Errorf("%w: compression level %q (fastest, balanced, better, best)", profiler.ErrBadOption, level)
	}
	if err := CheckHeader(h); err != nil {
		return nil, err
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	fast := level == "fastest"
	var enc *zstd.Encoder
	if !fast {
		// Block 0 of each layer, one at a time: one encoder (34 MB of
		// tables at level best), with a history buffer of the window's size
		// rather than twice that (the frames are the same).
		enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(lv), zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderCRC(false), zstd.WithZeroFrames(true), zstd.WithLowerEncoderMem(true))
		if err != nil {
			return nil, err
		}
	}
	var f *os.File
	direct := atomicfile.Special(path) // e.g. /dev/null: write through, never rename over it
	if direct {
		f, err = os.OpenFile(path, os.O_WRONLY, 0)
	} else {
		f, err = atomicfile.CreateTemp(path)
	}
	if err != nil {
		if pe, ok := err.(*os.PathError); ok {
			err = fmt.Errorf("%s: %w", pe.Op, pe.Err) // not the temporary name
		}
		return nil, &profiler.FileError{Path: path, Err: err}
	}
	// A regular file takes only the header, index and footer through bw
	// (blocks go by positioned writes): a megabyte buffer there was 1 of
	// the 5.5 MB a fastest run on the digits nets allocated.
	bufSize := 64 << 10
	if direct {
		bufSize = 1 << 20
	}
	w := &Writer{path: path, f: f, direct: direct, bw: bufio.NewWriterSize(f, bufSize), enc: enc, level: lv, fast: fast, nDict: dictBlocks(level), hdr: h,
		index: make([][]entry, len(h.Layers)), orders: make([][]int32, len(h.Layers)), layer: -1}
	if !fast {
		w.coders = newCoderPool(coders(level))
	}
	w.write([]byte(magic))
	w.write(binary.LittleEndian.AppendUint32(nil, uint32(len(hj))))
	w.write(hj)
	if !direct && w.err == nil {
		// Blocks are written at their offsets (writeAt), not through bw.
		if err := w.bw.Flush(); err != nil {
			w.err = &profiler.FileError{Path: path, Err: err}
		}
	}
	if w.err != nil {
		w.Abort()
		return nil, w.err
	}
	return w, nil
}

// write appends b through bw: the header (Create), the index and footer
// (Close), when no Write runs.
func (w *Writer) write(b []byte) {
	if w.err != nil {
		return
	}
	if _, err := w.bw.Write(b); err != nil {
		w.err = &profiler.FileError{Path: w.path, Err: err}
	}
	w.off += int64(len(b))
}

// syncFile flushes the file to stable storage if w.Sync.
func (w *Writer) syncFile() error {
	if !w.Sync {
		return nil
	}
	return w.f.Sync()
}

// writebackBytes: the writer starts the disk writes of the file every
// writebackBytes, a writebackBytes behind its end (startWriteback).
const writebackBytes = 2 << 20

// BeginLayer implements profiler.PatternSink.
func (w *Writer) BeginLayer(i int, p profiler.Plan) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if i < 0 || i >= len(w.hdr.Layers) || w.hdr.Layers[i].Name != p.Layer.Name || w.hdr.Layers[i].Units != int(p.Geom.Units) {
		return fmt.Errorf("%s: layer %d (%s) is not the store header's", w.path, i, p.Layer.Name)
	}
	w.layer, w.next, w.pending, w.inner = i, 0, map[int64]*encodedChunk{}, p.Geom.Inner
	w.state.Store(nil)
	return w.err
}

// Write implements profiler.PatternSink: it encodes and compresses the
// observations in the calling goroutine, then writes them in order.
func (w *Writer) Write(i int, first int64, n int, bits []uint64) error {
	if i != w.layer { // set by BeginLayer, before any Write of the layer
		return fmt.Errorf("%s: patterns of layer %d written during layer %d", w.path, i, w.layer)
	}
	// The layer's order and codes, without the lock once chunk 0 has set
	// them: on 16 cores, goroutines queueing for the writer's lock were a
	// large part of the run.
	st := w.state.Load()
	if st == nil && first != 0 {
		// (profiler.Run holds a layer's other chunks back until chunk 0
		// is written, so this copy is for other callers of Write.)
		clone := slices.Clone(bits)
		w.mu.Lock()
		if st = w.state.Load(); st == nil {
			// Before chunk 0: keep a copy, which chunk 0's writer encodes.
			w.pending[first] = &encodedChunk{first: first, nobs: int64(n), bits: clone}
			err := w.err
			w.mu.Unlock()
			return err
		}
		w.mu.Unlock()
	}
	var order []int32
	var dict *zstdDict
	var codes *staticCodes
	if st != nil {
		order, dict, codes = st.order, st.dict, st.codes
	}

	ch := &encodedChunk{first: first, nobs: int64(n)}
	var deferred []*encodedChunk
	if first == 0 {
		units := w.hdr.Layers[i].Units
		wd := words(units)
		n0 := w.blockLen(i, 0, n)
		sc := w.scratch.get()
		if w.fast {
			order = identityOrder(units)
			codes = w.firstBlockFast(ch, sc, i, bits[:n0*wd], n0)
		} else {
			order = layerOrder(units, n0, bits[:n0*wd])
			var err error
			if dict, n0, err = w.firstBlocks(ch, sc, i, order, bits[:n*wd], n); err != nil {
				w.scratch.put(sc)
				return err
			}
		}
		w.scratch.put(sc)
		w.fail(w.encodeInto(ch, i, order, dict, codes, bits[n0*wd:], n0, n-n0))
		w.mu.Lock()
		w.orders[i] = order
		w.state.Store(&layerState{order, dict, codes})
		for _, c := range w.pending {
			if c.bits != nil {
				deferred = append(deferred, c)
			}
		}
		w.mu.Unlock()
		// Chunks that arrived while chunk 0 was coded (from a caller that
		// does not wait for it, as profiler.Run now does; measured on 16
		// cores before it did: 79 chunks, 130-141 ms to code one after
		// another, half the run). They are coded on all cores.
		var next atomic.Int64
		var wg sync.WaitGroup
		for range min(len(deferred), runtime.GOMAXPROCS(0)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := next.Add(1) - 1; k < int64(len(deferred)); k = next.Add(1) - 1 {
					c := deferred[k]
					w.fail(w.encodeInto(c, i, order, dict, codes, c.bits, 0, int(c.nobs)))
					c.seal()
				}
			}()
		}
		wg.Wait()
	} else {
		w.fail(w.encodeInto(ch, i, order, dict, codes, bits, 0, n))
	}
	ch.seal()

	w.mu.Lock()
	for _, c := range deferred {
		c.bits = nil
	}
	w.pending[first] = ch
	return w.writeAt(i)
}

// fail records err (if not nil) as the writer's error, which its Writes
// and Close return.
func (w *Writer) fail(err error) {
	if err != nil {
		w.mu.Lock()
		w.err = cmp.Or(w.err, err)
		w.mu.Unlock()
	}
}

// writeAt, with w.mu held (and released on return), gives the chunks now
// next in order their places in the file and the index, then writes them
// there with positioned writes, outside the lock: goroutines write their
// chunks at once, in parallel. (Measured on 16 cores: one goroutine writing
// the whole file fell 17 ms behind the coders on a 0.08 s run.) Special
// files (/dev/null, a pipe) take no positioned writes: they are written in
// order, under the lock.
func (w *Writer) writeAt(i int) error {
	type place struct {
		data *[]byte
		off  int64
	}
	var places []place
	for {
		c, ok := w.pending[w.next]
		if !ok || c.bits != nil {
			break
		}
		delete(w.pending, w.next)
		for _, b := range c.blocks {
			w.index[i] = append(w.index[i], entry{Offset: uint64(w.off), Length: uint32(len(*b.data)),
				CRC: b.crc, FirstObs: uint64(b.first), NObs: uint32(b.nobs)})
			places = append(places, place{b.data, w.off})
			w.off += int64(len(*b.data))
		}
		w.next += c.nobs
	}
	if w.direct {
		for _, p := range places {
			if _, err := w.bw.Write(*p.data); err != nil {
				w.err = cmp.Or(w.err, error(&profiler.FileError{Path: w.path, Err: err}))
				break
			}
			w.bufs.put(p.data)
		}
	}
	// Start the disk writes of the file up to writebackBytes before its
	// end (blocks there have been written, or are being), while counting
	// goes on, rather than all in Close's fsync: on the 2 GiB bench file
	// (39 MB store), that fsync went from 45-60 ms to 26-28 ms.
	var wbStart, wbLen int64
	if w.Sync && !w.direct && w.off-w.synced >= 2*writebackBytes {
		wbStart, wbLen = w.synced, w.off-writebackBytes-w.synced
		w.synced += wbLen
	}
	err := w.err
	w.mu.Unlock()
	if wbLen > 0 {
		startWriteback(w.f, wbStart, wbLen)
	}
	if err != nil || len(places) == 0 || w.direct {
		return err
	}
	for _, p := range places {
		if _, err = w.f.WriteAt(*p.data, p.off); err != nil {
			break
		}
		w.bufs.put(p.data)
	}
	if err != nil {
		w.mu.Lock()
		w.err = cmp.Or(w.err, error(&profiler.FileError{Path: w.path, Err: err}))
		err = w.err
		w.mu.Unlock()
		return err
	}
	return nil
}

// dictID names, in a zstd frame of layer i, the dictionary made of the
// layer's first j blocks.
func dictID(i, j int) uint32 { return uint32(i+1) | uint32(j-1)<<24 }

// dictBlocks is the number of blocks that make a layer's zstd dictionary
// at a level: one at balanced (zstd's default level gains nothing from
// more), four at better and best (measured on the digits nets: 5-15%
// smaller on layers of many blocks).
func dictBlocks(level string) int {
	switch level {
	case "fastest":
		return 0
	case "balanced":
		return 1
	}
	return maxDictBlocks / 4
}

// maxDictBlocks bounds the dictionary blocks a reader accepts.
const maxDictBlocks = 16

// firstBlocks codes the dictionary spans at the start of a layer's chunk
// 0 (rows: its n observations): up to nDict spans of BlockObs
// observations, each stored as splitLen parts with parts before it as
// dictionary (below), and returns the dictionary of all later blocks
// (every dictionary part) and the observations coded.
func (w *Writer) firstBlocks(ch *encodedChunk, sc *blockScratch, i int, order []int32, rows []uint64, n int) (*zstdDict, int, error) {
	units := w.hdr.Layers[i].Units
	wd := words(units)
	// The raw payloads first, each block of BlockObs observations stored
	// as splitLen parts (blocks of the format; one observation is found by
	// decoding a part, with the dictionary once made). Then each full
	// block's parts are compressed on a goroutine of their own, with the
	// raw payloads of the parts of the full blocks before it (the first
	// dictLen bytes of dict, j parts) as their dictionary: one encoder per
	// full block, not per part (at level best, an encoder with its
	// dictionary costs as much as coding a part; and coding the blocks one
	// after another took most of a small layer's time). The goroutines
	// share the writer's coders (zstdCoder): at most coders(level) code at
	// once.
	type dictBlock struct {
		raw   []byte
		first int64
		nobs  int
	}
	type group struct {
		parts   []dictBlock
		at      int // index of its first part: the parts before it are its dictionary
		dictLen int // their raw bytes
	}
	var groups []group
	var dict []byte
	nd, parts := 0, 0
	for k := 0; k < max(w.nDict, 1) && nd < n; k++ {
		m := w.blockLen(i, int64(nd), n-nd)
		g := group{at: parts, dictLen: len(dict)}
		q := splitLen(m)
		for p := 0; p < m; p += q {
			mp := min(q, m-p)
			raw := encodeBlock(i, int64(nd+p), mp, order, rows[(nd+p)*wd:(nd+p+mp)*wd], &sc.tiles, nil)
			if k == 0 && p > 0 {
				// Block 0's parts each have the parts before them as
				// dictionary: they have no earlier block to draw on.
				groups = append(groups, g)
				g = group{at: parts, dictLen: len(dict)}
			}
			g.parts = append(g.parts, dictBlock{raw, int64(nd + p), mp})
			dict = append(dict, raw...)
			parts++
		}
		groups = append(groups, g)
		nd += m
	}
	blocks := make([]encoded, parts)
	errs := make([]error, len(groups))
	// A layer of one span (block 0's parts alone, at most 256 KiB of raw
	// bits) codes its parts on one coder, one after another: what coding
	// them at once would save is a few ms, and what it costs at level best
	// is another encoder, 76 MB (1000x256 float32 at best on 2 cores: peak
	// RSS 168 MB on two coders, 100 MB on one).
	one := make(chan struct{}, 1)
	if nd > w.blockLen(i, 0, n) {
		one = nil
	}
	var wg sync.WaitGroup
	for k, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c *zstdCoder // block 0's first part: w.enc, no dictionary
			d := zstdDict{i, g.at, dict[:g.dictLen]}
			if g.at > 0 {
				if one != nil {
					one <- struct{}{}
					defer func() { <-one }()
				}
				c = w.coders.get(d)
				defer w.coders.put(c)
			}
			bsc := w.scratch.get()
			defer w.scratch.put(bsc)
			for t, p := range g.parts {
				data, err := w.compress(bsc, c, d, p.raw, units, p.nobs)
				if err != nil {
					errs[k] = err
					return
				}
				blocks[g.at+t] = encoded{first: p.first, nobs: p.nobs, data: data}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, 0, err
		}
	}
	ch.blocks = append(ch.blocks, blocks...)
	return &zstdDict{i, parts, dict}, nd, nil
}

// firstBlockFast codes the first span of a layer at level fastest (rows:
// its n0 observations): it makes the layer's static codes from the whole
// span, and stores the span as splitLen parts like the later ones, block 0
// (the first part) carrying the codes' tables for every later block. It
// returns the codes.
func (w *Writer) firstBlockFast(ch *encodedChunk, sc *blockScratch, i int, rows []uint64, n0 int) *staticCodes {
	units := w.hdr.Layers[i].Units
	nb := rowBytes(units)
	// Natural order (fastest): the byte planes come straight from the
	// rows, as for the later blocks (encodeInto).
	pl := sc.pc.rowPlanes(rows, words(units), nb, n0)
	codes := newStaticCodes(pl, nb, n0)
	parts := w.staticParts(nil, sc, codes, true, i, 0, pl, nb, n0)
	size := 0
	for _, p := range parts {
		size += len(*p.data)
	}
	if int64(n0) == w.hdr.Layers[i].Observations {
		// The layer's only span: no later block needs the codes, so the
		// planes codec, with no tables to carry for others, may be
		// smaller, as one block.
		var head [blockHead]byte
		putHead(head[:], i, 0, n0)
		own := w.getBufCap(nb*n0 + nb*n0/64 + 128)
		*own = sc.pc.encodePlanes(append((*own)[:0], codecPlanes), head[:], pl, nb, n0)
		if len(*own) < size {
			for _, p := range parts {
				w.bufs.put(p.data)
			}
			parts = append(parts[:0], encoded{first: 0, nobs: n0, data: own})
		} else {
			w.bufs.put(own)
		}
	}
	ch.blocks = append(ch.blocks, parts...)
	return codes
}

// compress codes one block's raw payload into its stored form (levels
// other than fastest): a codec byte, then the smaller of the planes
// encoding and a zstd frame made by c with d as dictionary, or (c nil) by
// w.enc with none. The result is a buffer of w.bufs, given back once
// written.
func (w *Writer) compress(sc *blockScratch, c *zstdCoder, d zstdDict, raw []byte, units, nobs int) (*[]byte, error) {
	out := w.getBuf()
	*out = sc.pc.encode(append((*out)[:0], codecPlanes), raw, rowBytes(units), nobs)
	z := w.getBuf()
	if c == nil {
		*z = w.enc.EncodeAll(raw, append((*z)[:0], codecZstd))
	} else {
		var err error
		if *z, err = c.encode(w, d, raw, append((*z)[:0], codecZstd)); err != nil {
			w.bufs.put(z)
			w.bufs.put(out)
			return nil, err
		}
	}
	if len(*z) < len(*out) {
		out, z = z, out
	}
	w.bufs.put(z)
	return out, nil
}

func (w *Writer) getBuf() *[]byte { return w.bufs.get() }

// getBufCap returns a kept buffer of capacity at least n if there is one,
// else a new one: a block coded into a smaller one would grow it into
// fresh memory, zeroed, page faults and all.
func (w *Writer) getBufCap(n int) *[]byte {
	l := &w.bufs
	l.mu.Lock()
	for i := len(l.free) - 1; i >= 0; i-- {
		if b := l.free[i]; cap(*b) >= n {
			l.free = append(l.free[:i], l.free[i+1:]...)
			l.mu.Unlock()
			return b
		}
	}
	l.mu.Unlock()
	// A new one, in 16 KiB steps: a quarter block's buffer then fits any
	// other's (a smaller one taken and grown cost a fresh allocation,
	// zeroed, each time: a fifth of a fastest run's memclr).
	b := make([]byte, 0, (n+16<<10-1)&^(16<<10-1))
	return &b
}

// freeList keeps buffers for the next blocks: the coded blocks, once
// written (bufList), and the goroutines' coding scratch. Unlike a sync.Pool
// it is not emptied by each garbage collection: new buffers of tens to
// hundreds of KiB cost their zeroing and page faults (7% of a fastest run's
// CPU was runtime.memclrNoHeapPointers under slices.Grow; on the 2-core dev
// VM a page fault costs 15 us).
type freeList[T any] struct {
	mu   sync.Mutex
	free []*T
}

type bufList = freeList[[]byte]

// maxFreeBufs bounds the buffers kept: more than the blocks in flight on
// many cores, a few MiB.
const maxFreeBufs = 512

func (l *freeList[T]) get() *T {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.free); n > 0 {
		b := l.free[n-1]
		l.free = l.free[:n-1]
		return b
	}
	return new(T)
}

func (l *freeList[T]) put(b *T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.free) < maxFreeBufs {
		l.free = append(l.free, b)
	}
}

// encodeInto appends to c the blocks of observations [off, off+n) of c
// (rows holds exactly those), coded with the static codes (level fastest)
// or compressed with dict as dictionary, by one of the writer's coders.
func (w *Writer) encodeInto(c *encodedChunk, i int, order []int32, dict *zstdDict, codes *staticCodes, rows []uint64, off, n int) error {
	units := w.hdr.Layers[i].Units
	wd := words(units)
	sc := w.scratch.get()
	defer w.scratch.put(sc)
	var zc *zstdCoder
	if codes == nil && n > 0 {
		zc = w.coders.get(*dict)
		defer w.coders.put(zc)
	}
	// Where blocks start depends on the layer alone (blockLen), not on how
	// the driver cut it into chunks, so the store's bytes are the same
	// whatever the backend or chunk size.
	for o, k := 0, 0; o < n; o += k {
		first := c.first + int64(off+o)
		k = w.blockLen(i, first, n-o)
		if codes != nil {
			// Level fastest: natural order, so the byte planes come
			// straight from the rows, with no raw payload laid out first.
			var head [blockHead]byte
			putHead(head[:], i, first, k)
			pl := sc.pc.rowPlanes(rows[o*wd:(o+k)*wd], wd, rowBytes(units), k)
			c.blocks = w.appendFast(c.blocks, sc, codes, head[:], pl, units, k)
			continue
		}
		q := splitLen(k)
		for p := 0; p < k; p += q {
			m := min(q, k-p)
			sc.raw = encodeBlock(i, first+int64(p), m, order, rows[(o+p)*wd:(o+p+m)*wd], &sc.tiles, sc.raw)
			data, err := w.compress(sc, zc, *dict, sc.raw, units, m)
			if err != nil {
				return err
			}
			c.blocks = append(c.blocks, encoded{first: first + int64(p), nobs: m, data: data})
		}
	}
	return nil
}

// appendFast codes one block at level fastest, given its head (blockHead
// bytes) and byte planes (pl): if the layer's static codes fit it (their cost, estimated from a sample of its
// bytes, within 10% of what its own codes would cost), as fastSplit smaller
// static blocks, which cost nothing more and decode sooner for one
// observation; else as one planes block, whose codes are its own.
func (w *Writer) appendFast(dst []encoded, sc *blockScratch, codes *staticCodes, head, pl []byte, units, nobs int) []encoded {
	nb := rowBytes(units)
	layer := int(binary.LittleEndian.Uint32(head))
	first := int64(binary.LittleEndian.Uint64(head[4:]))
	if st, own := codes.estimates(pl, nb, nobs); st > 1.1*own {
		out := w.getBufCap(len(pl) + len(pl)/64 + 128)
		*out = sc.pc.encodePlanes(append((*out)[:0], codecPlanes), head, pl, nb, nobs)
		return append(dst, encoded{first: first, nobs: nobs, data: out})
	}
	return w.staticParts(dst, sc, codes, false, layer, first, pl, nb, nobs)
}

// staticParts appends the span of nobs observations at observation first
// of layer i (its byte planes pl, nb of them) as splitLen static blocks
// coded with codes; with tables, the first carries the codes' tables
// (block 0).
func (w *Writer) staticParts(dst []encoded, sc *blockScratch, codes *staticCodes, tables bool, i int, first int64, pl []byte, nb, nobs int) []encoded {
	k := splitLen(nobs)
	for o := 0; o < nobs; o += k {
		m := min(k, nobs-o)
		withTables := tables && o == 0
		n := nb*m + 128 // encodeAt reserves the raw size
		if withTables {
			n += nb * tableBytes
		}
		out := w.getBufCap(n)
		*out = append(append((*out)[:0], codecStatic), make([]byte, blockHead)...)
		putHead((*out)[1:], i, first+int64(o), m)
		if withTables {
			*out = codes.appendTables(*out)
		}
		*out = codes.encodeAt(*out, pl, nobs, o, nb, m, &sc.sbuf)
		dst = append(dst, encoded{first: first + int64(o), nobs: m, data: out})
	}
	return dst
}

// SlowWrites implements profiler.SlowWriter: Writes at levels other than
// fastest (zstd) cost more than counting the observations they carry.
func (w *Writer) SlowWrites() bool { return !w.fast }

// ChunkObservations implements profiler.PatternSink: whole blocks of
// whole groups, and for chunk 0 all the dictionary blocks.
func (w *Writer) ChunkObservations(i int) int {
	return firstBlocksObs(w.hdr.Layers[i].Units, w.inner, max(w.nDict, 1))
}

// blockLen is the length of layer i's block at observation o, at most rem
// (i is the current layer).
func (w *Writer) blockLen(i int, o int64, rem int) int {
	return blockLen(w.hdr.Layers[i].Units, w.inner, o, rem)
}

// EndLayer implements profiler.PatternSink.
func (w *Writer) EndLayer(i int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.next != w.hdr.Layers[i].Observations || len(w.pending) != 0 {
		return fmt.Errorf("%s: layer %s: %d of %d observations written", w.path, w.hdr.Layers[i].Name, w.next, w.hdr.Layers[i].Observations)
	}
	return w.err
}

// Close writes the index and footer and renames the file into place.
func (w *Writer) Close() error {
	for i, l := range w.hdr.Layers {
		var n int64
		for _, e := range w.index[i] {
			n += int64(e.NObs)
		}
		if n != l.Observations {
			w.Abort()
			return fmt.Errorf("%s: layer %s: %d of %d observations written", w.path, l.Name, n, l.Observations)
		}
	}
	var idx []byte
	for i, es := range w.index {
		idx = binary.LittleEndian.AppendUint32(idx, uint32(len(w.orders[i])))
		for _, u := range w.orders[i] {
			idx = binary.LittleEndian.AppendUint32(idx, uint32(u))
		}
		idx = binary.LittleEndian.AppendUint64(idx, uint64(len(es)))
		for _, e := range es {
			var b [entryLen]byte
			e.put(b[:])
			idx = append(idx, b[:]...)
		}
	}
	idxOff := w.off
	if !w.direct && w.err == nil {
		// Blocks went to their offsets with positioned writes; the file's
		// own position is still after the header.
		if _, err := w.f.Seek(idxOff, io.SeekStart); err != nil {
			w.err = &profiler.FileError{Path: w.path, Err: err}
		}
	}
	w.write(idx)
	foot := binary.LittleEndian.AppendUint64(nil, uint64(idxOff))
	foot = binary.LittleEndian.AppendUint64(foot, uint64(len(idx)))
	foot = binary.LittleEndian.AppendUint32(foot, checksum(idx))
	foot = binary.LittleEndian.AppendUint32(foot, FormatVersion)
	foot = append(foot, footerMagic...)
	w.write(foot)
	if w.err == nil && w.direct {
		if err := w.bw.Flush(); err != nil {
			w.err = err
		} else if err := w.f.Close(); err != nil {
			w.err = err
		}
	} else if w.err == nil {
		if err := w.bw.Flush(); err != nil {
			w.err = err
		} else if err := w.syncFile(); err != nil {
			w.err = err
		} else if err := w.f.Close(); err != nil {
			w.err = err
		} else if err := atomicfile.Commit(w.f.Name(), w.path, w.Sync); err != nil {
			w.err = err
		}
	}
	if w.err != nil {
		err := w.err
		w.Abort()
		if _, ok := err.(*profiler.FileError); !ok {
			err = &profiler.FileError{Path: w.path, Err: err}
		}
		return err
	}
	if w.enc != nil {
		w.enc.Close()
	}
	w.coders.release()
	return nil
}

// Abort removes the temporary file; the store is not written.
func (w *Writer) Abort() {
	w.f.Close()
	if !w.direct {
		atomicfile.Discard(w.f.Name())
	}
	if w.enc != nil {
		w.enc.Close()
	}
	w.coders.release()
}
