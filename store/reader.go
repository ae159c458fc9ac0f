package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"

	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/store/internal/huff"
)

// Reader reads a store. It is safe for concurrent use.
type Reader struct {
	path        string
	f           *os.File
	size        int64
	footVersion int
	Header      Header
	index       [][]entry
	pos         [][]int32 // per layer: unit -> position in the storage order
	order       [][]int32 // per layer: position -> unit
	dec         *zstd.Decoder

	gmaps []globalMap // per layer: its observations in the whole layer's
	run   []int       // per layer: its index among the run's (Header.runIndex)

	mu    sync.Mutex
	dicts []map[uint32]*dictDecoder // per layer, by base block, made on first use
}

// dictDecoder holds what a layer's blocks after their base may need from
// the first blocks from there: decoders with the raw payloads of the first
// j blocks as zstd dictionary (by j, made on first use), or the base's
// Huffman tables.
type dictDecoder struct {
	mu   sync.Mutex
	decs map[int]*prefixDecoder
	// prefix holds the raw payloads of the layer's first len(ends) blocks,
	// block t ending at ends[t] (dictPrefix).
	prefix []byte
	ends   []int

	codesOnce sync.Once
	codes     *huff.Codes
	codesErr  error
}

// prefixDecoder is a zstd decoder with a layer's first blocks as dictionary.
type prefixDecoder struct {
	once sync.Once
	dec  *zstd.Decoder
	err  error
}

// Open opens a store and checks its footer, header and index.
// A path that is not a regular file (a FIFO, a device, a folder) is
// refused: "PATH: not a regular file (a FIFO)".
func Open(path string) (*Reader, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	r := &Reader{path: path, f: f}
	if err := r.load(); err != nil {
		f.Close()
		return nil, &profiler.FileError{Path: path, Err: err}
	}
	r.dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<30))
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

func (r *Reader) readAt(n, off int64) ([]byte, error) {
	return r.readInto(nil, n, off)
}

// readInto reads n bytes at off into buf (grown if too small).
func (r *Reader) readInto(buf []byte, n, off int64) ([]byte, error) {
	if off < 0 || n < 0 || off+n > r.size {
		return nil, corrupt("truncated: need bytes [%d, %d) of a %d-byte file", off, off+n, r.size)
	}
	b := buf
	if int64(cap(b)) >= n {
		b = b[:n]
	} else {
		b = make([]byte, n)
	}
	if _, err := r.f.ReadAt(b, off); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, corrupt("truncated")
		}
		return nil, err
	}
	return b, nil
}

// load reads and checks the footer, the header and the index.
func (r *Reader) load() error {
	st, err := r.f.Stat()
	if err != nil {
		return err
	}
	r.size = st.Size()
	if r.size < headLen+footerLen {
		return corrupt("not an actprof pattern store (%d bytes)", r.size)
	}
	idxOff, idxLen, idxSum, err := r.readFooter()
	if err != nil {
		return err
	}
	dataStart, err := r.readHeader()
	if err != nil {
		return err
	}
	if idxOff < dataStart || idxOff+idxLen != r.size-footerLen {
		return corrupt("index at %d+%d does not fit the file", idxOff, idxLen)
	}
	return r.readIndex(idxOff, idxLen, idxSum, dataStart)
}

// readFooter returns the index's offset, length and checksum from the
// footer, whose magic and format version it checks.
func (r *Reader) readFooter() (off, n int64, sum uint32, err error) {
	foot, err := r.readAt(footerLen, r.size-footerLen)
	if err != nil {
		return 0, 0, 0, err
	}
	if string(foot[24:]) != footerMagic {
		return 0, 0, 0, corrupt("truncated: no footer (the file was not completely written)")
	}
	if v := binary.LittleEndian.Uint32(foot[20:]); v != FormatVersion && v != oldFormatVersion {
		return 0, 0, 0, corrupt("format version %d in the footer (this actprof reads versions %d and %d)", v, oldFormatVersion, FormatVersion)
	} else {
		r.footVersion = int(v)
	}
	off, n = int64(binary.LittleEndian.Uint64(foot)), int64(binary.LittleEndian.Uint64(foot[8:]))
	if off < 0 || n < 0 || off > r.size || n > r.size {
		return 0, 0, 0, corrupt("index at %d+%d does not fit the file", off, n)
	}
	return off, n, binary.LittleEndian.Uint32(foot[16:]), nil
}

// readHeader reads the magic and the header, checks the header's checksum
// and its fields against each other (checkHeader), and returns where the
// blocks start.
func (r *Reader) readHeader() (int64, error) {
	head, err := r.readAt(headLen, 0)
	if err != nil || string(head[:8]) != magic {
		return 0, corrupt("not an actprof pattern store (bad magic)")
	}
	hl := int64(binary.LittleEndian.Uint32(head[8:]))
	if hl > maxHeader || headLen+hl+footerLen > r.size {
		return 0, corrupt("header: length %d does not fit the file", hl)
	}
	hj, err := r.readAt(hl, headLen)
	if err != nil {
		return 0, err
	}
	if checksum(hj) != binary.LittleEndian.Uint32(head[12:]) {
		return 0, corrupt("header checksum mismatch")
	}
	var h Header
	if err := json.Unmarshal(hj, &h); err != nil {
		return 0, corrupt("header: %v", err)
	}
	if msg := checkHeader(h); msg != "" {
		return 0, corrupt("header: %s", msg)
	}
	if h.FormatVersion != r.footVersion {
		return 0, corrupt("format version %d in the header, %d in the footer", h.FormatVersion, r.footVersion)
	}
	r.Header = h
	return headLen + hl, nil
}

// readIndex reads the index at off (n bytes, checksum sum) and checks it
// against the header (parseIndex).
func (r *Reader) readIndex(off, n int64, sum uint32, dataStart int64) error {
	idx, err := r.readAt(n, off)
	if err != nil {
		return err
	}
	if checksum(idx) != sum {
		return corrupt("index checksum mismatch")
	}
	pos, index, msg := parseIndex(idx, r.Header, dataStart, off)
	if msg != "" {
		return corrupt("%s", msg)
	}
	r.pos, r.index = pos, index
	for _, p := range pos {
		r.order = append(r.order, inverse(p))
	}
	r.dicts = make([]map[uint32]*dictDecoder, len(r.Header.Layers))
	for i, l := range r.Header.Layers {
		r.dicts[i] = map[uint32]*dictDecoder{}
		r.gmaps = append(r.gmaps, newGlobalMap(l))
		r.run = append(r.run, r.Header.runIndex(i))
	}
	return nil
}

// Close closes the file.
func (r *Reader) Close() error {
	r.dec.Close()
	for _, ds := range r.dicts {
		for _, d := range ds {
			for _, p := range d.decs {
				if p.dec != nil {
					p.dec.Close()
				}
			}
		}
	}
	return r.f.Close()
}

// Layer returns the reader of the layer named name.
func (r *Reader) Layer(name string) (*Layer, error) {
	for i, l := range r.Header.Layers {
		if l.Name == name {
			return &Layer{r: r, i: i, Info: l}, nil
		}
	}
	names := make([]string, len(r.Header.Layers))
	for i, l := range r.Header.Layers {
		names[i] = l.Name
	}
	return nil, &profiler.FileError{Path: r.path, Err: fmt.Errorf("%w: no layer %q (layers: %v)", ErrRange, name, names)}
}

// Layers returns a reader for every layer, in store order.
func (r *Reader) Layers() []*Layer {
	out := make([]*Layer, len(r.Header.Layers))
	for i, l := range r.Header.Layers {
		out[i] = &Layer{r: r, i: i, Info: l}
	}
	return out
}

// Layer reads one layer's patterns.
type Layer struct {
	r    *Reader
	i    int
	Info LayerInfo

	mu    sync.Mutex
	cache *block
	ck    int
}

// Blocks is the number of blocks of the layer.
func (l *Layer) Blocks() int { return len(l.r.index[l.i]) }

// Codecs counts the layer's blocks by the codec that stores them ("zstd",
// "huffman": with the layer's tables, "huffman-own": with tables of their
// own), reading one byte of each.
func (l *Layer) Codecs() (map[string]int, error) {
	names := map[byte]string{codecZstd: "zstd", codecHuff: "huffman", codecHuffOwn: "huffman-own"}
	out := map[string]int{}
	for k, e := range l.r.index[l.i] {
		b, err := l.r.readAt(1, int64(e.Offset))
		if err != nil {
			return nil, l.errorf(err, "block %d: reading its codec", k)
		}
		name, ok := names[b[0]]
		if !ok {
			return nil, l.errorf(ErrCorrupt, "block %d: unknown codec %d", k, b[0])
		}
		out[name]++
	}
	return out, nil
}

// StoredBytes is the compressed size of the layer's blocks.
func (l *Layer) StoredBytes() int64 {
	var n int64
	for _, e := range l.r.index[l.i] {
		n += int64(e.Length)
	}
	return n
}

func (l *Layer) errorf(kind error, format string, args ...any) error {
	return &profiler.FileError{Path: l.r.path, Err: fmt.Errorf("layer %s: %w: "+format, append([]any{l.Info.Name, kind}, args...)...)}
}

// block reads, checks and decodes block k, or returns the Layer's cached
// copy. The caller holds a reference to it and must release it when done;
// the cache holds another until it moves to another block. The last
// release returns the block's buffers to blockBufs, so that a Layer
// queried over and over decodes into the same memory and a query allocates
// next to nothing (no garbage collection to wait for: bench/bigstore).
func (l *Layer) block(k int) (*block, error) {
	l.mu.Lock()
	if b := l.cache; b != nil && l.ck == k {
		b.refs.Add(1)
		l.mu.Unlock()
		return b, nil
	}
	l.mu.Unlock()
	raw, planes, err := l.readPayload(k, true)
	if err != nil {
		return nil, err
	}
	e := l.r.index[l.i][k]
	b, err := decodeBlock(raw, planes, l.r.run[l.i], int64(l.r.gmaps[l.i].global(e.FirstObs)), int64(e.FirstObs), int(e.NObs), l.r.pos[l.i], l.r.order[l.i])
	if err != nil {
		return nil, &profiler.FileError{Path: l.r.path, Err: fmt.Errorf("layer %s: block %d: %w", l.Info.Name, k, err)}
	}
	b.refs.Store(2) // the caller's and the cache's
	l.mu.Lock()
	old := l.cache
	l.cache, l.ck = b, k
	l.mu.Unlock()
	if old != nil {
		old.release()
	}
	return b, nil
}

// readBufs recycles the compressed bytes of blocks (decompressed blocks are
// kept by their decoder and cache, compressed ones only while decoding).
var readBufs sync.Pool

// seg returns the decoding state of the blocks from base block.
func (l *Layer) seg(base uint32) *dictDecoder {
	l.r.mu.Lock()
	defer l.r.mu.Unlock()
	d := l.r.dicts[l.i][base]
	if d == nil {
		d = &dictDecoder{}
		l.r.dicts[l.i][base] = d
	}
	return d
}

// dictDec returns the decoder of the layer's zstd blocks whose dictionary
// is the first j blocks from base.
func (l *Layer) dictDec(base uint32, j int) (*zstd.Decoder, error) {
	d := l.seg(base)
	d.mu.Lock()
	if d.decs == nil {
		d.decs = map[int]*prefixDecoder{}
	}
	p := d.decs[j]
	if p == nil {
		p = &prefixDecoder{}
		d.decs[j] = p
	}
	d.mu.Unlock()
	p.once.Do(func() {
		var dict []byte
		if dict, p.err = l.dictPrefix(base, j); p.err == nil {
			p.dec, p.err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<30),
				zstd.WithDecoderDictRaw(dictID(l.r.run[l.i], j), dict))
		}
	})
	return p.dec, p.err
}

// dictPrefix returns the raw payloads of the layer's first j blocks,
// concatenated: decoded once for all the dictionaries that share them
// (dictOf: j = 1, 2, 4, 8 and 16).
// Blocks are added in order, so a block's own dictionary, a prefix
// shorter than its index, is there before it is read.
func (l *Layer) dictPrefix(base uint32, j int) ([]byte, error) {
	d := l.seg(base)
	for {
		d.mu.Lock()
		t := len(d.ends)
		if t >= j {
			p := d.prefix[:d.ends[j-1]:d.ends[j-1]]
			d.mu.Unlock()
			return p, nil
		}
		d.mu.Unlock()
		raw, err := l.readBlock(int(base) + t)
		if err != nil {
			return nil, err
		}
		d.mu.Lock()
		if len(d.ends) == t { // else another goroutine added the same block
			d.prefix = append(d.prefix, raw...)
			d.ends = append(d.ends, len(d.prefix))
		}
		d.mu.Unlock()
	}
}

// frameDict returns how many of the layer's first blocks the zstd frame
// data of block k uses as dictionary (0: none).
func (l *Layer) frameDict(k int, data []byte) (int, error) {
	var h zstd.Header
	if err := h.Decode(data); err != nil {
		return 0, err
	}
	if h.DictionaryID == 0 {
		return 0, nil
	}
	j := int(h.DictionaryID>>24) + 1
	if h.DictionaryID&0xffffff != uint32(l.r.run[l.i]+1) || j != dictOf(k-int(l.r.index[l.i][k].Base)) {
		return 0, fmt.Errorf("dictionary %#x is not one of blocks before it", h.DictionaryID)
	}
	return j, nil
}

// readBlock reads block k, checks its checksum and decompresses it.
func (l *Layer) readBlock(k int) ([]byte, error) {
	raw, _, err := l.readPayload(k, false)
	return raw, err
}

// readPayload is readBlock; with forBlock (for Layer.block), a planes- or
// static-coded block comes back as its head (raw) and its byte planes, not
// transposed to rows, and what it decodes into comes from blockBufs.
func (l *Layer) readPayload(k int, forBlock bool) (raw, planes []byte, err error) {
	e := l.r.index[l.i][k]
	bp, _ := readBufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer readBufs.Put(bp)
	data, err := l.r.readInto(*bp, int64(e.Length), int64(e.Offset))
	if err == nil {
		*bp = data
	}
	if err != nil {
		return nil, nil, &profiler.FileError{Path: l.r.path, Err: fmt.Errorf("layer %s: block %d: %w", l.Info.Name, k, err)}
	}
	if checksum(data) != e.CRC {
		return nil, nil, l.errorf(ErrCorrupt, "block %d: checksum mismatch", k)
	}
	if len(data) == 0 {
		return nil, nil, l.errorf(ErrCorrupt, "block %d: empty", k)
	}
	codec, data := data[0], data[1:]
	want := rawLen(l.Info.Units, int(e.NObs))
	switch codec {
	case codecZstd:
		dec := l.r.dec
		var j int
		if j, err = l.frameDict(k, data); err == nil && j > 0 {
			if dec, err = l.dictDec(e.Base, j); err != nil {
				return nil, nil, err
			}
		}
		if err == nil {
			dst := make([]byte, 0, want)
			if forBlock {
				dst = getBuf(want)[:0]
			}
			raw, err = dec.DecodeAll(data, dst)
		}
	case codecHuff, codecHuffOwn:
		var head []byte
		if head, planes, err = l.decodeHuff(k, codec, data); err == nil {
			if forBlock {
				return head, planes, nil
			}
			raw = make([]byte, want)
			copy(raw, head)
			fromPlanes(raw[blockHead:], planes, rowBytes(l.Info.Units), int(e.NObs))
			putBuf(planes)
			planes = nil
		}
	default:
		err = fmt.Errorf("unknown codec %d", codec)
	}
	var fe *profiler.FileError
	if errors.As(err, &fe) {
		return nil, nil, err // reading another block (its dictionary or tables) failed
	}
	if err != nil {
		return nil, nil, l.errorf(ErrCorrupt, "block %d: %v", k, err)
	}
	if len(raw) != want {
		return nil, nil, l.errorf(ErrCorrupt, "block %d: %d bytes, want %d", k, len(raw), want)
	}
	return raw, nil, nil
}

// layerCodes returns the Huffman tables that block base carries: the
// layer's (block 0's), or in a merge of parts those of a part's blocks.
func (l *Layer) layerCodes(base uint32) (*huff.Codes, error) {
	d := l.seg(base)
	d.codesOnce.Do(func() {
		e := l.r.index[l.i][base]
		data, err := l.r.readAt(int64(e.Length), int64(e.Offset))
		switch {
		case err != nil:
			d.codesErr = l.errorf(err, "block %d, reading the layer's tables", base)
		case checksum(data) != e.CRC:
			d.codesErr = l.errorf(ErrCorrupt, "block %d: checksum mismatch", base)
		case data[0] != codecHuffOwn || len(data) < 1+blockHead:
			d.codesErr = l.errorf(ErrCorrupt, "block %d has no Huffman tables", base)
		default:
			if d.codes, _, err = huff.ReadTables(data[1+blockHead:], rowBytes(l.Info.Units)); err != nil {
				d.codesErr = l.errorf(ErrCorrupt, "block %d: %v", base, err)
			}
		}
	})
	return d.codes, d.codesErr
}

// decodeHuff decodes Huffman-coded block k (data after the codec byte) to
// its head and byte planes (from blockBufs).
func (l *Layer) decodeHuff(k int, codec byte, data []byte) (head, planes []byte, err error) {
	if len(data) < blockHead {
		return nil, nil, fmt.Errorf("block shorter than its head")
	}
	nb, nobs := rowBytes(l.Info.Units), int(l.r.index[l.i][k].NObs)
	head = slices.Clone(data[:blockHead])
	data = data[blockHead:]
	var codes *huff.Codes
	if codec == codecHuffOwn {
		codes, data, err = huff.ReadTables(data, nb)
	} else if base := l.r.index[l.i][k].Base; int(base) == k {
		err = fmt.Errorf("a block with the tables of its base is its own base")
	} else {
		codes, err = l.layerCodes(base)
	}
	if err != nil {
		return nil, nil, err
	}
	planes = getBuf(nb * nobs)
	if err := codes.Decode(planes, data, nb, nobs); err != nil {
		putBuf(planes)
		return nil, nil, err
	}
	return head, planes, nil
}

// find returns the block holding observation o.
func (l *Layer) find(o int64) (int, error) {
	if o < 0 || o >= l.Info.Observations {
		return 0, l.errorf(ErrRange, "observation %d (the layer has %d)", o, l.Info.Observations)
	}
	es := l.r.index[l.i]
	k := sort.Search(len(es), func(k int) bool { return int64(es[k].FirstObs) > o }) - 1
	return k, nil
}

// BlockOf returns the block holding observation o (ErrRange past the
// layer). A Layer keeps its last decoded block, so queries in one block
// decode it once: order queries by block where many are to be made.
func (l *Layer) BlockOf(o int64) (int, error) { return l.find(o) }

// Fired returns the units that fired on observation o, ascending.
func (l *Layer) Fired(o int64) ([]int, error) {
	k, err := l.find(o)
	if err != nil {
		return nil, err
	}
	b, err := l.block(k)
	if err != nil {
		return nil, err
	}
	defer b.release()
	rel := int(o - b.first)
	fired := make([]int, 0, b.firedCount(rel))
	for u := 0; u < l.Info.Units; u++ {
		if b.fired(u, rel) {
			fired = append(fired, u)
		}
	}
	return fired, nil
}

// UnitObservations returns the observations on which unit u fired,
// ascending, at most limit of them (limit <= 0: all).
func (l *Layer) UnitObservations(u int, limit int) ([]int64, error) {
	return l.UnitObservationsContext(context.Background(), u, limit)
}

// UnitObservationsContext is UnitObservations, stopped (ctx's error)
// when ctx is done.
func (l *Layer) UnitObservationsContext(ctx context.Context, u int, limit int) ([]int64, error) {
	if u < 0 || u >= l.Info.Units {
		return nil, l.errorf(ErrRange, "unit %d (the layer has %d)", u, l.Info.Units)
	}
	out := []int64{}
	for k := range l.r.index[l.i] {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, err := l.block(k)
		if err != nil {
			return nil, err
		}
		for wi, x := range b.column(u) {
			for ; x != 0 && (limit <= 0 || len(out) < limit); x &= x - 1 {
				out = append(out, b.first+int64(wi*64+bits.TrailingZeros64(x)))
			}
		}
		b.release()
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	return out, nil
}

// Counts recounts each unit's fires from the stored patterns, decoding
// blocks on all cores.
func (l *Layer) Counts() ([]uint64, error) { return l.CountsContext(context.Background()) }

// CountsContext is Counts, stopped (ctx's error) when ctx is done.
func (l *Layer) CountsContext(ctx context.Context) ([]uint64, error) {
	n := len(l.r.index[l.i])
	workers := max(1, min(runtime.GOMAXPROCS(0), n))
	partial := make([][]uint64, workers)
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range partial {
		partial[w] = make([]uint64, l.Info.Units)
		wg.Add(1)
		go func(counts []uint64) {
			defer wg.Done()
			for k := int(next.Add(1) - 1); k < n; k = int(next.Add(1) - 1) {
				if err := ctx.Err(); err != nil {
					errs[k] = err
					next.Store(int64(n))
					return
				}
				b, err := l.block(k)
				if err != nil {
					errs[k] = err
					next.Store(int64(n)) // stop the others
					return
				}
				b.unitCounts(counts)
				b.release()
			}
		}(partial[w])
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	counts := partial[0]
	for _, p := range partial[1:] {
		for u, c := range p {
			counts[u] += c
		}
	}
	return counts, nil
}

// Rows calls f with the row bits of each block's observations in order:
// first observation, count, and n*W words (W = ceil(units/64)). Blocks are
// decoded ahead on all cores, a batch at a time.
func (l *Layer) Rows(f func(first int64, n int, rows []uint64) error) error {
	return l.RowsContext(context.Background(), f)
}

// RowsContext is Rows, stopped (ctx's error) when ctx is done.
func (l *Layer) RowsContext(ctx context.Context, f func(first int64, n int, rows []uint64) error) error {
	n := len(l.r.index[l.i])
	batch := max(1, runtime.GOMAXPROCS(0))
	type decoded struct {
		first int64
		n     int
		rows  []uint64
		err   error
	}
	out := make([]decoded, batch)
	for k0 := 0; k0 < n; k0 += batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		m := min(batch, n-k0)
		var wg sync.WaitGroup
		for i := range m {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				b, err := l.block(k0 + i)
				if err == nil {
					out[i] = decoded{first: b.first, n: b.nobs, rows: b.rows()}
					b.release()
				} else {
					out[i] = decoded{err: err}
				}
			}(i)
		}
		wg.Wait()
		for _, d := range out[:m] {
			if d.err != nil {
				return d.err
			}
			if err := f(d.first, d.n, d.rows); err != nil {
				return err
			}
		}
	}
	return nil
}
