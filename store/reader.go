package store

import (
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
)

// Reader reads a store. It is safe for concurrent use.
type Reader struct {
	path   string
	f      *os.File
	size   int64
	Header Header
	index  [][]entry
	pos    [][]int32 // per layer: unit -> position in the storage order
	order  [][]int32 // per layer: position -> unit
	dec    *zstd.Decoder

	mu    sync.Mutex
	dicts []*dictDecoder // per layer, made on first use
}

// dictDecoder holds what a layer's blocks after block 0 may need from the
// first blocks: decoders with the raw payloads of the first j blocks as zstd
// dictionary (by j, made on first use), or block 0's static codes.
type dictDecoder struct {
	mu   sync.Mutex
	decs map[int]*prefixDecoder
	// prefix holds the raw payloads of the layer's first len(ends) blocks,
	// block t ending at ends[t] (dictPrefix).
	prefix []byte
	ends   []int

	codesOnce sync.Once
	codes     *staticCodes
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

func (r *Reader) load() error {
	st, err := r.f.Stat()
	if err != nil {
		return err
	}
	r.size = st.Size()
	head, err := r.readAt(12, 0)
	if err != nil || string(head[:8]) != magic {
		return corrupt("not an actprof pattern store (bad magic)")
	}
	hl := int64(binary.LittleEndian.Uint32(head[8:]))
	if hl > maxHeader || 12+hl+footerLen > r.size {
		return corrupt("truncated or bad header length %d", hl)
	}
	hj, err := r.readAt(hl, 12)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(hj, &r.Header); err != nil {
		return corrupt("header: %v", err)
	}
	if v, c := r.Header.FormatVersion, r.Header.Codec; !(v == 1 && c == "zstd" || v == FormatVersion && c == Codecs) {
		return corrupt("format version %d codec %q (this actprof reads version 1 with codec zstd and version %d with %s)", v, c, FormatVersion, Codecs)
	}
	dataStart := 12 + hl
	foot, err := r.readAt(footerLen, r.size-footerLen)
	if err != nil {
		return err
	}
	if string(foot[24:]) != footerMagic {
		return corrupt("truncated: no footer (the file was not completely written)")
	}
	idxOff := int64(binary.LittleEndian.Uint64(foot))
	idxLen := int64(binary.LittleEndian.Uint64(foot[8:]))
	if idxOff < dataStart || idxLen < 0 || idxOff+idxLen != r.size-footerLen {
		return corrupt("index at %d+%d does not fit the file", idxOff, idxLen)
	}
	idx, err := r.readAt(idxLen, idxOff)
	if err != nil {
		return err
	}
	if checksum(idx) != binary.LittleEndian.Uint32(foot[16:]) {
		return corrupt("index checksum mismatch")
	}
	r.index = make([][]entry, len(r.Header.Layers))
	for i, l := range r.Header.Layers {
		if l.UnitAxis == 0 && len(l.Shape) > 0 && l.Shape[0] > 0 && l.ObsPerSample == l.Observations/int64(l.Shape[0]) {
			// Written before 2026-12-07, when a layer of unit axis 0 got
			// observations / shape[0] (its units): often 0, which no
			// reader took. Such a layer is one sample (obsPerSample).
			l.ObsPerSample = l.Observations
			r.Header.Layers[i].ObsPerSample = l.ObsPerSample
		}
		if msg := checkLayer(l); msg != "" {
			return corrupt("layer %q: %s", l.Name, msg)
		}
		if len(idx) < 4 || int(binary.LittleEndian.Uint32(idx)) != l.Units || len(idx) < 4+4*l.Units+8 {
			return corrupt("index too short or wrong unit count for layer %q", l.Name)
		}
		pos := make([]int32, l.Units)
		for u := range pos {
			pos[u] = -1
		}
		for p := 0; p < l.Units; p++ {
			u := binary.LittleEndian.Uint32(idx[4+4*p:])
			if u >= uint32(l.Units) || pos[u] >= 0 {
				return corrupt("layer %q: storage order is not a permutation", l.Name)
			}
			pos[u] = int32(p)
		}
		r.pos, r.order = append(r.pos, pos), append(r.order, inverse(pos))
		idx = idx[4+4*l.Units:]
		n := binary.LittleEndian.Uint64(idx)
		idx = idx[8:]
		if n > uint64(len(idx)/entryLen) {
			return corrupt("index too short for layer %q", l.Name)
		}
		es := make([]entry, n)
		var next uint64
		for k := range es {
			e := getEntry(idx[k*entryLen:])
			if e.FirstObs != next || e.NObs == 0 || int(e.NObs) > BlockObs(l.Units) || int64(e.Offset) < dataStart || int64(e.Offset)+int64(e.Length) > idxOff {
				return corrupt("layer %q: index entry %d is inconsistent", l.Name, k)
			}
			next += uint64(e.NObs)
			es[k] = e
		}
		if next != uint64(l.Observations) {
			return corrupt("layer %q: index covers %d of %d observations", l.Name, next, l.Observations)
		}
		idx = idx[n*entryLen:]
		r.index[i] = es
	}
	if len(idx) != 0 {
		return corrupt("index has %d extra bytes", len(idx))
	}
	r.dicts = make([]*dictDecoder, len(r.Header.Layers))
	for i := range r.dicts {
		r.dicts[i] = &dictDecoder{}
	}
	return nil
}

// Close closes the file.
func (r *Reader) Close() error {
	r.dec.Close()
	for _, d := range r.dicts {
		for _, p := range d.decs {
			if p.dec != nil {
				p.dec.Close()
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
// "planes", "static"), reading one byte of each.
func (l *Layer) Codecs() (map[string]int, error) {
	names := map[byte]string{codecZstd: "zstd", codecPlanes: "planes", codecStatic: "static"}
	out := map[string]int{}
	for k, e := range l.r.index[l.i] {
		if l.r.Header.FormatVersion < 2 {
			out["zstd"]++
			continue
		}
		b, err := l.r.readAt(1, int64(e.Offset))
		if err != nil || e.Length == 0 {
			return nil, l.errorf(ErrCorrupt, "block %d: cannot read its codec", k)
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
	b, err := decodeBlock(raw, planes, l.i, int64(e.FirstObs), int(e.NObs), l.r.pos[l.i], l.r.order[l.i])
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

// planeCoders recycles the planes codec's buffers.
var planeCoders = sync.Pool{New: func() any { return new(planeCoder) }}

// dictDec returns the decoder of the layer's zstd blocks whose dictionary
// is the layer's first j blocks.
func (l *Layer) dictDec(j int) (*zstd.Decoder, error) {
	d := l.r.dicts[l.i]
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
		if dict, p.err = l.dictPrefix(j); p.err == nil {
			p.dec, p.err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<30),
				zstd.WithDecoderDictRaw(dictID(l.i, j), dict))
		}
	})
	return p.dec, p.err
}

// dictPrefix returns the raw payloads of the layer's first j blocks,
// concatenated: decoded once for all the dictionaries that share them
// (at level best a layer's parts use j = 1, 2, 3, 4, 8, 12 and 16).
// Blocks are added in order, so a block's own dictionary, a prefix
// shorter than its index, is there before it is read.
func (l *Layer) dictPrefix(j int) ([]byte, error) {
	d := l.r.dicts[l.i]
	for {
		d.mu.Lock()
		t := len(d.ends)
		if t >= j {
			p := d.prefix[:d.ends[j-1]:d.ends[j-1]]
			d.mu.Unlock()
			return p, nil
		}
		d.mu.Unlock()
		raw, err := l.readBlock(t)
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
	if h.DictionaryID&0xffffff != uint32(l.i+1) || j > k || j > maxDictBlocks {
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
	codec := byte(codecZstd)
	if l.r.Header.FormatVersion >= 2 {
		if len(data) == 0 {
			return nil, nil, l.errorf(ErrCorrupt, "block %d: empty", k)
		}
		codec, data = data[0], data[1:]
	}
	want := rawLen(l.Info.Units, int(e.NObs))
	switch codec {
	case codecZstd:
		dec := l.r.dec
		var j int
		if j, err = l.frameDict(k, data); err == nil && j > 0 {
			if dec, err = l.dictDec(j); err != nil {
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
	case codecPlanes:
		pc := planeCoders.Get().(*planeCoder)
		if forBlock && len(data) >= blockHead {
			nb := rowBytes(l.Info.Units)
			raw, planes = slices.Clone(data[:blockHead]), getBuf(nb*int(e.NObs))
			if err = pc.decodePlanes(planes, data[blockHead:], nb, int(e.NObs)); err == nil {
				planeCoders.Put(pc)
				return raw, planes, nil
			}
		} else {
			raw, err = pc.decode(make([]byte, want), data, rowBytes(l.Info.Units), int(e.NObs))
		}
		planeCoders.Put(pc)
	case codecStatic:
		var head []byte
		if head, planes, err = l.decodeStatic(k, data); err == nil {
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
	if err != nil {
		return nil, nil, l.errorf(ErrCorrupt, "block %d: %v", k, err)
	}
	if len(raw) != want {
		return nil, nil, l.errorf(ErrCorrupt, "block %d: %d bytes, want %d", k, len(raw), want)
	}
	return raw, nil, nil
}

// staticCodes returns the layer's static codes, from block 0's table
// section.
func (l *Layer) staticCodes() (*staticCodes, error) {
	d := l.r.dicts[l.i]
	d.codesOnce.Do(func() {
		e := l.r.index[l.i][0]
		data, err := l.r.readAt(int64(e.Length), int64(e.Offset))
		switch {
		case err != nil:
			d.codesErr = err
		case checksum(data) != e.CRC:
			d.codesErr = fmt.Errorf("block 0: checksum mismatch")
		case len(data) < 1+blockHead || data[0] != codecStatic:
			d.codesErr = fmt.Errorf("block 0 has no static codes")
		default:
			d.codes, _, d.codesErr = readStaticCodes(data[1+blockHead:], rowBytes(l.Info.Units))
		}
	})
	return d.codes, d.codesErr
}

// decodeStatic decodes static-coded block k (data after the codec byte) to
// its head and byte planes (from blockBufs).
func (l *Layer) decodeStatic(k int, data []byte) (head, planes []byte, err error) {
	if len(data) < blockHead {
		return nil, nil, fmt.Errorf("static block shorter than its head")
	}
	nb, nobs := rowBytes(l.Info.Units), int(l.r.index[l.i][k].NObs)
	head = slices.Clone(data[:blockHead])
	data = data[blockHead:]
	var codes *staticCodes
	if k == 0 {
		codes, data, err = readStaticCodes(data, nb)
	} else if codes, err = l.staticCodes(); err != nil {
		err = fmt.Errorf("its codes: %w", err)
	}
	if err != nil {
		return nil, nil, err
	}
	planes = getBuf(nb * nobs)
	if err := codes.decode(planes, data, nb, nobs); err != nil {
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
	if u < 0 || u >= l.Info.Units {
		return nil, l.errorf(ErrRange, "unit %d (the layer has %d)", u, l.Info.Units)
	}
	out := []int64{}
	for k := range l.r.index[l.i] {
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
func (l *Layer) Counts() ([]uint64, error) {
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
