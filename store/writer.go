package store

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"

	"github.com/actprof/actprof/internal/atomicfile"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/store/internal/huff"
)

// Levels are the compression levels a writer takes. fastest, the default,
// codes blocks over the natural unit order with the layer's Huffman tables
// (made from its first blocks, carried by block 0), or with tables of
// their own where those cost ownTablesMargin less. best sorts units by
// firing rate and keeps, per block, the smaller of zstd at its best level
// (with the layer's first blocks as dictionary) and Huffman tables of the
// block's own: about 0.75-0.85x of plain zstd on real activations, several
// times slower to write (`patterns compact` rewrites a store at best).
//
// Memory: at level best each zstd encoder has 34 MB of hash tables, and
// one with a dictionary 76 MB, whatever the input (zstdCoder); a writer at
// best holds at most 34 MB + 76 MB x min(GOMAXPROCS, 4) of them
// (maxBestCoders).
var Levels = []string{"fastest", "best"}

// DefaultLevel is the level of Create(..., "").
const DefaultLevel = "fastest"

// levelAliases are the names of earlier levels, taken as the nearest level
// there is.
var levelAliases = map[string]string{"default": DefaultLevel, "": DefaultLevel, "balanced": "fastest", "better": "best"}

// ResolveLevel returns the level that name means: a key of Levels, "" or
// "default" (DefaultLevel), or the earlier levels balanced (fastest) and
// better (best), for which note says so; other names are an
// ErrBadOption naming the levels.
func ResolveLevel(name string) (level, note string, err error) {
	if slices.Contains(Levels, name) {
		return name, "", nil
	}
	if lv, ok := levelAliases[name]; ok {
		if name == "balanced" || name == "better" {
			note = fmt.Sprintf("level %s is now %s (the levels are fastest and best)", name, lv)
		}
		return lv, note, nil
	}
	return "", "", fmt.Errorf("%w: compression level %q (fastest or best)", profiler.ErrBadOption, name)
}

// Writer writes a store during a profiling run: it is the run's
// profiler.PatternSink. Blocks are coded in the goroutines that deliver
// them, then written in order. The file appears under its name only when
// Close succeeds.
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
	best   bool
	enc    *zstd.Encoder // level best: each layer's block 0
	coders *coderPool    // level best: the encoders of the other blocks (zstdCoder)
	hdr    Header
	off    int64 // the file's length so far (blocks are placed under mu)
	synced int64 // bytes of the file whose writeback has been started (under mu)

	mu        sync.Mutex
	err       error
	index     [][]entry
	orders    [][]int32                  // per layer, storage order (set by the layer's chunk 0)
	state     atomic.Pointer[layerState] // the current layer's, once its chunk 0 is coded
	layer     int                        // the current layer's index among the run's layers
	cur       int                        // its index in the header (-1: a layer a part holds nothing of)
	g0        int64                      // in a part, the whole layer's observation of the layer's first
	next      int64                      // next observation to write of the layer
	pending   map[int64]*encodedChunk    // chunks coded out of order, by first obs
	inner     int64                      // the current layer's Geometry.Inner
	dirSynced bool                       // the temporary file's folder was fsynced (Checkpoint)
	restore   bool                       // resumed: the current layer's state is made again before its next piece (restoreLayer)
	scratch   freeList[blockScratch]     // coding buffers, one set per goroutine coding
	bufs      bufList                    // stored blocks, recycled once written
}

// layerState is what a layer's chunk 0 sets for its other chunks.
type layerState struct {
	order []int32     // storage order of the units
	dict  zstdDict    // level best: the first dictBlocks blocks, the dictionary of the others
	codes *huff.Codes // level fastest: the layer's tables
}

// blockScratch is one goroutine's buffers for encoding blocks.
type blockScratch struct {
	tiles []uint64 // encodeBlock's transposes
	raw   []byte   // a block's raw payload
	pl    []byte   // its byte planes
	sbuf  []byte   // the Huffman coder's stream B
	hist  []huff.Hist
	hist0 []huff.Hist // blockCodes: the histograms of the finest own tables
}

// encodedChunk is one Write's observations, coded.
type encodedChunk struct {
	first  int64
	nobs   int64
	blocks []encoded
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

// NewPartHeader describes a shard's plans as the header of its part: the
// layers of which it holds rows (rows, from profiler.ShardRows), each with
// its range, and the shard record rec.
func NewPartHeader(plans []profiler.Plan, threshold float64, rows []profiler.RowRange, rec *profiler.ShardRecord) Header {
	h := NewHeader(plans, threshold)
	h.Layers = h.Layers[:0]
	for i, l := range NewHeader(plans, threshold).Layers {
		if rows[i].Count == 0 {
			continue
		}
		inner := plans[i].Geom.Inner
		l.Observations = rows[i].Count * inner
		l.Ranges = []profiler.ObsRange{{First: uint64(rows[i].First * inner), Count: uint64(l.Observations)}}
		h.Layers = append(h.Layers, l)
	}
	sr := *rec
	h.Shard = &sr
	return h
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

// Create starts a store at path (written to a temporary file beside it)
// at level (ResolveLevel's names). It refuses a header that CheckHeader
// refuses, before writing anything.
func Create(path string, h Header, level string) (*Writer, error) {
	if _, _, err := ResolveLevel(level); err != nil {
		return nil, err
	}
	if err := CheckHeader(h); err != nil {
		return nil, err
	}
	for _, l := range h.Layers {
		if len(l.Ranges) > 1 {
			return nil, fmt.Errorf("%w: layer %s: a writer writes a part of one range a layer", profiler.ErrBadOption, l.Name)
		}
	}
	return create(path, h, level)
}

// create is Create for a header checked by the caller (Merge, whose parts
// may hold several ranges of a layer: it writes their blocks itself).
func create(path string, h Header, level string) (*Writer, error) {
	head, err := headBytes(h)
	if err != nil {
		return nil, err
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
	w, err := newWriter(path, f, direct, h, level)
	if err != nil {
		f.Close()
		if !direct {
			atomicfile.Discard(f.Name())
		}
		return nil, err
	}
	w.write(head)
	if w.err != nil {
		w.Abort()
		return nil, w.err
	}
	return w, nil
}

// headBytes is the start of a store of header h: the magic, the header's
// length and checksum, and the header.
func headBytes(h Header) ([]byte, error) {
	h.FormatVersion, h.Codec = FormatVersion, Codecs
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	b := []byte(magic)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(hj)))
	b = binary.LittleEndian.AppendUint32(b, checksum(hj))
	return append(b, hj...), nil
}

// newWriter is a writer of header h at level into f, with nothing
// written yet.
func newWriter(path string, f *os.File, direct bool, h Header, level string) (*Writer, error) {
	level, _, err := ResolveLevel(level)
	if err != nil {
		return nil, err
	}
	h.FormatVersion, h.Codec = FormatVersion, Codecs
	best := level == "best"
	var enc *zstd.Encoder
	if best {
		// Block 0 of each layer, one at a time: one encoder (34 MB of
		// tables), with a history buffer of the window's size rather
		// than twice that (the frames are the same).
		enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderCRC(false), zstd.WithZeroFrames(true), zstd.WithLowerEncoderMem(true))
		if err != nil {
			return nil, err
		}
	}
	w := &Writer{path: path, f: f, direct: direct, bw: bufio.NewWriterSize(f, 1<<20), enc: enc, best: best, hdr: h,
		index: make([][]entry, len(h.Layers)), orders: make([][]int32, len(h.Layers)), layer: -1}
	if best {
		w.coders = newCoderPool(coders())
	}
	return w, nil
}

// write appends b through bw (under mu, or when no Write runs).
func (w *Writer) write(b []byte) {
	if w.err != nil {
		return
	}
	if _, err := w.bw.Write(b); err != nil {
		w.err = &profiler.FileError{Path: w.path, Err: err}
	}
	w.off += int64(len(b))
}

// writebackBytes: with Sync the writer starts the disk writes of the file
// every writebackBytes, a writebackBytes behind its end (startWriteback),
// while counting goes on, rather than all in Close's fsync.
const writebackBytes = 2 << 20

// BeginLayer implements profiler.PatternSink.
func (w *Writer) BeginLayer(i int, p profiler.Plan) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	h := w.headerIndex(i)
	if h < 0 && w.hdr.Shard != nil && i < len(w.hdr.Shard.Layers) && w.hdr.Shard.Layers[i] == p.Layer.Name {
		// a layer of the run of which the part holds nothing: no Write comes
		w.layer, w.cur = i, -1
		return w.err
	}
	if h < 0 || w.hdr.Layers[h].Name != p.Layer.Name || w.hdr.Layers[h].Units != int(p.Geom.Units) {
		return fmt.Errorf("%s: layer %d (%s) is not the store header's", w.path, i, p.Layer.Name)
	}
	w.layer, w.cur, w.next, w.pending, w.inner = i, h, 0, map[int64]*encodedChunk{}, p.Geom.Inner
	w.g0 = 0
	if r := w.hdr.Layers[h].Ranges; len(r) > 0 {
		w.g0 = int64(r[0].First)
	}
	w.state.Store(nil)
	return w.err
}

// headerIndex is the index in the header of the run's layer i, or -1.
func (w *Writer) headerIndex(i int) int {
	for h := range w.hdr.Layers {
		if w.hdr.runIndex(h) == i {
			return h
		}
	}
	return -1
}

// Layout implements profiler.PatternSink: chunks of whole multiples of
// the blocks that chunk 0 needs to make the layer's tables (fastest) or
// dictionary (best); at best Writes cost more than counting. In a part
// whose layer starts inside one of the whole layer's blocks, the first
// chunk is shorter by the observations of that block before it, so that
// the others start where the whole layer's blocks do.
func (w *Writer) Layout(i int) profiler.PatternLayout {
	units := w.hdr.Layers[w.cur].Units
	shift := 0
	if n := int64(blockLen(units, w.inner, 0, math.MaxInt)); w.inner <= int64(BlockObs(units)) {
		shift = int(w.g0 % n)
	}
	return profiler.PatternLayout{Chunk: firstBlocksObs(units, w.inner, w.firstBlocks()), Slow: w.best, Shift: shift}
}

// firstBlocks is the number of a layer's first blocks that its chunk 0
// must hold.
func (w *Writer) firstBlocks() int {
	if w.best {
		return dictBlocks
	}
	return tableBlocks
}

// Write implements profiler.PatternSink: it codes the observations in the
// calling goroutine, then writes them in order.
func (w *Writer) Write(i int, first int64, n int, bits []uint64) error {
	if i != w.layer { // set by BeginLayer, before any Write of the layer
		return fmt.Errorf("%s: patterns of layer %d written during layer %d", w.path, i, w.layer)
	}
	if w.cur < 0 {
		return fmt.Errorf("%s: patterns of layer %d, of which the part holds nothing", w.path, i)
	}
	ch := &encodedChunk{first: first, nobs: int64(n)}
	st := w.state.Load()
	n0 := 0
	if first == 0 {
		var err error
		if st, n0, err = w.firstChunk(ch, i, bits, n); err != nil {
			w.fail(err)
			return err
		}
		w.mu.Lock()
		w.orders[w.cur] = st.order
		w.state.Store(st)
		w.mu.Unlock()
	} else if st == nil {
		return fmt.Errorf("%s: layer %d: observations from %d written before chunk 0", w.path, i, first)
	}
	w.fail(w.encodeInto(ch, i, st, bits[n0*words(w.hdr.Layers[w.cur].Units):], n0, n-n0))
	ch.seal()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending[first] = ch
	w.flushInOrder(i)
	return w.err
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

// flushInOrder, with w.mu held, writes the chunks now next in order and
// gives them their places in the index.
func (w *Writer) flushInOrder(i int) {
	for {
		c, ok := w.pending[w.next]
		if !ok {
			break
		}
		delete(w.pending, w.next)
		for _, b := range c.blocks {
			w.index[w.cur] = append(w.index[w.cur], entry{Offset: uint64(w.off), Length: uint32(len(*b.data)),
				CRC: b.crc, FirstObs: uint64(b.first), NObs: uint32(b.nobs)})
			w.write(*b.data)
			w.bufs.put(b.data)
		}
		w.next += c.nobs
	}
	if w.Sync && !w.direct && w.err == nil && w.off-w.synced >= 2*writebackBytes {
		if err := w.bw.Flush(); err != nil {
			w.err = &profiler.FileError{Path: w.path, Err: err}
			return
		}
		n := w.off - writebackBytes - w.synced
		startWriteback(w.f, w.synced, n)
		w.synced += n
	}
}

// firstChunk codes the start of a layer's chunk 0 (rows: its n
// observations): it fixes the storage order and, from the layer's first
// blocks, the tables (fastest) or the dictionary (best) of the others,
// and codes those first blocks. It returns the layer's state and the
// observations coded.
func (w *Writer) firstChunk(ch *encodedChunk, i int, rows []uint64, n int) (*layerState, int, error) {
	l := w.hdr.Layers[w.cur]
	units, wd, nb := l.Units, words(l.Units), rowBytes(l.Units)
	var ends []int // the first blocks' ends
	for o, k := 0, 0; k < w.firstBlocks() && o < n; k++ {
		o += w.blockLen(i, int64(o), n-o)
		ends = append(ends, o)
	}
	if last := ends[len(ends)-1]; len(ends) < w.firstBlocks() && int64(last) < l.Observations {
		return nil, 0, fmt.Errorf("%s: layer %s: chunk 0 of %d observations, the layout needs %d", w.path, l.Name, n, w.Layout(i).Chunk)
	}
	sc := w.scratch.get()
	defer w.scratch.put(sc)
	if !w.best {
		// The tables from the first blocks' planes, with an escape for
		// the bytes they never had; block 0 carries them.
		t0 := ends[len(ends)-1]
		pl := rowPlanes(&sc.pl, rows[:t0*wd], wd, nb, t0)
		g := huff.Group(nb, t0)
		codes := huff.New(huff.Histograms(sc.hist, pl, nb, t0, g), g, true)
		b0 := ends[0]
		out := w.getBufCap(1 + blockHead + codes.TablesLen() + nb*b0 + 64)
		*out = append(append((*out)[:0], codecHuffOwn), make([]byte, blockHead)...)
		putHead((*out)[1:], i, w.g0, b0)
		*out = codes.AppendTables(*out)
		*out = codes.Encode(*out, pl, t0, 0, nb, b0, &sc.sbuf)
		ch.blocks = append(ch.blocks, encoded{first: 0, nobs: b0, data: out})
		return &layerState{order: identityOrder(units), codes: codes}, b0, nil
	}
	// Level best: the first blocks' raw payloads make the dictionaries;
	// blocks of one dictionary (dictOf) are coded on a goroutine of their
	// own, sharing the writer's coders (at most coders() at once).
	order := layerOrder(units, ends[len(ends)-1], rows[:ends[len(ends)-1]*wd])
	var dict []byte
	var raws [][]byte
	var rawEnds []int // in dict, of each block
	for k, e := range ends {
		o := 0
		if k > 0 {
			o = ends[k-1]
		}
		raw := encodeBlock(i, w.g0+int64(o), e-o, order, rows[o*wd:e*wd], &sc.tiles, nil)
		raws = append(raws, raw)
		dict = append(dict, raw...)
		rawEnds = append(rawEnds, len(dict))
	}
	blocks := make([]encoded, len(ends))
	errs := make([]error, len(ends))
	var wg sync.WaitGroup
	for k := 0; k < len(ends); {
		j := dictOf(k)
		k1 := k + 1
		for k1 < len(ends) && dictOf(k1) == j {
			k1++
		}
		wg.Add(1)
		go func(k0, k1, j int) {
			defer wg.Done()
			var c *zstdCoder // block 0: w.enc, no dictionary
			d := zstdDict{i: i, j: j}
			if j > 0 {
				d.raw = dict[:rawEnds[j-1]]
				c = w.coders.get(d)
				defer w.coders.put(c)
			}
			bsc := w.scratch.get()
			defer w.scratch.put(bsc)
			for k := k0; k < k1; k++ {
				o := 0
				if k > 0 {
					o = ends[k-1]
				}
				data, err := w.compress(bsc, c, d, raws[k], units, ends[k]-o)
				if err != nil {
					errs[k] = err
					return
				}
				blocks[k] = encoded{first: int64(o), nobs: ends[k] - o, data: data}
			}
		}(k, k1, j)
		k = k1
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, 0, err
		}
	}
	ch.blocks = append(ch.blocks, blocks...)
	return &layerState{order: order, dict: zstdDict{i, len(ends), dict}}, ends[len(ends)-1], nil
}

// compress codes one block's raw payload at level best: a codec byte, then
// the smaller of a zstd frame made by c with d as dictionary, or (c nil)
// by w.enc with none, and the Huffman coding of its planes with tables of
// its own. The result is a buffer of w.bufs, given back once written.
func (w *Writer) compress(sc *blockScratch, c *zstdCoder, d zstdDict, raw []byte, units, nobs int) (*[]byte, error) {
	nb := rowBytes(units)
	if cap(sc.pl) < nb*nobs {
		sc.pl = make([]byte, nb*nobs)
	}
	pl := sc.pl[:nb*nobs]
	toPlanes(pl, raw[blockHead:], nb, nobs)
	out := w.getBuf()
	*out = w.appendOwn(append((*out)[:0], codecHuffOwn), sc, raw[:blockHead], pl, nb, nobs, nil)
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

// ownCodes returns the tables of the block's own that code its nb planes
// of nobs bytes (pl) in the fewest bytes, tables included, and that size:
// of one table per Group(nb, nobs) planes, or per 2 or 4 times as many
// (fewer tables to store), each size exact from the planes' histograms,
// the first of them where two tie. h is the histograms of the groups of
// Group(nb, nobs) planes. Coarser tables are not built where a lower
// bound on their size (huff.MinBits) is above the best size so far.
func ownCodes(h []huff.Hist, pl []byte, nb, nobs int) (*huff.Codes, int) {
	g0 := huff.Group(nb, nobs)
	var best *huff.Codes
	size := 0
	for k := 1; k <= 4 && (k == 1 || g0*k/2 < nb); k *= 2 {
		hk := h
		if k > 1 {
			hk = huff.Merge(h, k)
			tables := 4 + len(hk)*huff.TableBytes
			// (1 - 1e-9): the bound's rounding never takes it above an
			// exact size
			if float64(tables+4)+huff.MinBits(hk)*(1-1e-9)/8 > float64(size) {
				continue
			}
		}
		c := huff.New(hk, g0*k, false)
		if n := c.TablesLen() + c.Size(hk, pl, nb, nobs); best == nil || n < size {
			best, size = c, n
		}
	}
	return best, size
}

// appendOwn appends the head and the Huffman coding of pl (nb planes of
// nobs bytes) with tables of its own (ownCodes; h the histograms of its
// groups of Group(nb, nobs) planes, or nil to count them).
func (w *Writer) appendOwn(dst []byte, sc *blockScratch, head, pl []byte, nb, nobs int, h []huff.Hist) []byte {
	if h == nil {
		sc.hist = huff.Histograms(sc.hist, pl, nb, nobs, huff.Group(nb, nobs))
		h = sc.hist
	}
	c, _ := ownCodes(h, pl, nb, nobs)
	dst = append(dst, head...)
	dst = c.AppendTables(dst)
	return c.Encode(dst, pl, nobs, 0, nb, nobs, &sc.sbuf)
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
	// A new one, in 16 KiB steps: one block's buffer then fits another's.
	b := make([]byte, 0, (n+16<<10-1)&^(16<<10-1))
	return &b
}

// freeList keeps buffers for the next blocks: the coded blocks, once
// written (bufList), and the goroutines' coding scratch. Unlike a sync.Pool
// it is not emptied by each garbage collection: new buffers of tens to
// hundreds of KiB cost their zeroing and page faults.
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
// (rows holds exactly those), coded with the layer's tables or tables of
// their own (fastest) or compressed with the layer's dictionary (best).
// Where blocks start depends on the layer alone (blockLen), not on how the
// driver cut it into chunks.
func (w *Writer) encodeInto(c *encodedChunk, i int, st *layerState, rows []uint64, off, n int) error {
	units := w.hdr.Layers[w.cur].Units
	wd, nb := words(units), rowBytes(units)
	sc := w.scratch.get()
	defer w.scratch.put(sc)
	var zc *zstdCoder
	if w.best && n > 0 {
		zc = w.coders.get(st.dict)
		defer w.coders.put(zc)
	}
	for o, k := 0, 0; o < n; o += k {
		first := c.first + int64(off+o)
		k = w.blockLen(i, first, n-o)
		if w.best {
			sc.raw = encodeBlock(i, w.g0+first, k, st.order, rows[o*wd:(o+k)*wd], &sc.tiles, sc.raw)
			data, err := w.compress(sc, zc, st.dict, sc.raw, units, k)
			if err != nil {
				return err
			}
			c.blocks = append(c.blocks, encoded{first: first, nobs: k, data: data})
			continue
		}
		// Level fastest: natural order, so the byte planes come straight
		// from the rows.
		pl := rowPlanes(&sc.pl, rows[o*wd:(o+k)*wd], wd, nb, k)
		codec, codes := w.blockCodes(sc, st.codes, pl, nb, k)
		out := w.getBufCap(1 + blockHead + nb*k + 64)
		*out = append((*out)[:0], codec)
		*out = (*out)[:1+blockHead]
		putHead((*out)[1:], i, w.g0+first, k)
		if codec == codecHuffOwn {
			*out = codes.AppendTables(*out)
		}
		*out = codes.Encode(*out, pl, k, 0, nb, k, &sc.sbuf)
		c.blocks = append(c.blocks, encoded{first: first, nobs: k, data: out})
	}
	return nil
}

// blockCodes returns the codec and the codes of a block's nb planes of
// nobs bytes (pl) at level fastest: the layer's (codecHuff), or where they
// code it in more than ownTablesMargin times the bytes of tables of its
// own, tables included, those (codecHuffOwn). Both sizes are exact, from
// the block's histograms (Codes.Size, ownCodes); a lower bound on the
// size of its own tables (huff.MinBits), below which no coding goes,
// spares building them for most blocks.
func (w *Writer) blockCodes(sc *blockScratch, layer *huff.Codes, pl []byte, nb, nobs int) (byte, *huff.Codes) {
	gl, g0 := layer.Group, huff.Group(nb, nobs)
	sc.hist = huff.Histograms(sc.hist, pl, nb, nobs, gl)
	size := layer.Size(sc.hist, pl, nb, nobs)
	// the histograms of the groups of g0 planes, the finest own tables
	// have: unions of the layer's groups where g0 is a multiple of gl (as
	// both are powers of two but where clamped to nb, almost always)
	switch {
	case g0 == gl:
		sc.hist0 = append(sc.hist0[:0], sc.hist...)
	case g0%gl == 0:
		sc.hist0 = huff.MergeInto(sc.hist0, sc.hist, g0/gl)
	case g0 == nb:
		sc.hist0 = huff.MergeInto(sc.hist0, sc.hist, len(sc.hist))
	default:
		sc.hist0 = huff.Histograms(sc.hist0, pl, nb, nobs, g0)
	}
	minTables := 4 + huff.TableBytes*((nb+4*g0-1)/(4*g0))
	// (1 - 1e-9): the bound's rounding never takes it above an exact size
	if float64(size) <= ownTablesMargin*(huff.MinBits(sc.hist0)*(1-1e-9)/8+4+float64(minTables)) {
		return codecHuff, layer
	}
	own, osize := ownCodes(sc.hist0, pl, nb, nobs)
	if float64(size) <= ownTablesMargin*float64(osize) {
		return codecHuff, layer
	}
	return codecHuffOwn, own
}

// rowPlanes returns the byte planes of nobs rows of w words, truncated to
// nb bytes each (rowsToPlanes), in *buf.
func rowPlanes(buf *[]byte, rows []uint64, w, nb, nobs int) []byte {
	if cap(*buf) < nb*nobs {
		*buf = make([]byte, nb*nobs)
	}
	pl := (*buf)[:nb*nobs]
	rowsToPlanes(pl, rows, w, nb, nobs)
	return pl
}

// blockLen is the length of the current layer's block at its observation
// o, at most rem.
func (w *Writer) blockLen(i int, o int64, rem int) int {
	return blockLen(w.hdr.Layers[w.cur].Units, w.inner, w.g0+o, rem)
}

// EndLayer implements profiler.PatternSink.
func (w *Writer) EndLayer(i int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cur < 0 {
		return w.err
	}
	if l := w.hdr.Layers[w.cur]; w.next != l.Observations || len(w.pending) != 0 {
		return fmt.Errorf("%s: layer %s: %d of %d observations written", w.path, l.Name, w.next, l.Observations)
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
	idx := appendIndex(nil, w.orders, w.index)
	idxOff := w.off
	w.write(idx)
	w.write(appendFooter(nil, idxOff, idx))
	if w.err == nil {
		if err := w.bw.Flush(); err != nil {
			w.err = err
		} else if w.direct {
			w.err = w.f.Close()
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
	w.release()
	return nil
}

// syncFile flushes the file to stable storage if w.Sync.
func (w *Writer) syncFile() error {
	if !w.Sync {
		return nil
	}
	return w.f.Sync()
}

func (w *Writer) release() {
	if w.enc != nil {
		w.enc.Close()
	}
	w.coders.release()
}

// Abort removes the temporary file; the store is not written.
func (w *Writer) Abort() {
	w.f.Close()
	if !w.direct {
		atomicfile.Discard(w.f.Name())
	}
	w.release()
}
