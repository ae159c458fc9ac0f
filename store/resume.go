package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/actprof/actprof/internal/atomicfile"
	"github.com/actprof/actprof/profiler"
)

// Checkpoints. A checkpointed run delivers each layer to the writer in
// pieces (Piece), one profiler run each, cut where PieceCuts allows: at
// the whole layer's block boundaries, after the blocks that make the
// layer's tables or dictionary. Between pieces nothing is pending, so the
// blocks written so far are a prefix of the file an uninterrupted run
// writes. Checkpoint flushes that prefix to stable storage and describes
// it (State); Resume reopens the temporary file, checks the prefix
// against the State (header bytes, block checksums), cuts off what was
// written after it and rebuilds the writer: the index of the blocks kept
// and, for a layer left halfway, its tables or dictionary, made again
// from its first blocks read back from the file exactly as chunk 0 made
// them. The pieces after it then write the bytes an uninterrupted run
// writes, and Close the same index and footer: the store is byte for byte
// that of a run in one go, at the same level.

// State is what a checkpoint keeps of a writer: the temporary file the
// store is written to, and the blocks durably in it.
type State struct {
	// Temp is the temporary file's name, in the store's folder.
	Temp  string `json:"temp"`
	Level string `json:"level"`
	// Offset is the bytes of the file that hold the header and the blocks.
	Offset int64 `json:"offset"`
	// Layer is the run's index of the last layer begun (-1: none), Next
	// its observations written.
	Layer int   `json:"layer"`
	Next  int64 `json:"next"`
	// Index is each store layer's storage order and block entries, as
	// the store's index holds them, for the blocks written.
	Index []byte `json:"index"`
}

// Mark is a point between two pieces: the blocks written up to it.
type Mark struct {
	off    int64
	counts []int
	orders [][]int32
	layer  int
	next   int64
}

// Mark returns the writer's point now, between pieces.
func (w *Writer) Mark() Mark {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := Mark{off: w.off, orders: slices.Clone(w.orders), layer: w.layer, next: w.next}
	for _, es := range w.index {
		m.counts = append(m.counts, len(es))
	}
	return m
}

// Checkpoint flushes the file to stable storage (fsync) and returns the
// state of the blocks up to m, a Mark of this writer: what a later run
// takes to Resume (what was written after m is cut off then).
func (w *Writer) Checkpoint(m Mark) (*State, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.direct {
		return nil, fmt.Errorf("%s: a store written in place is not checkpointed", w.path)
	}
	if w.err != nil {
		return nil, w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = &profiler.FileError{Path: w.path, Err: err}
		return nil, w.err
	}
	if err := w.f.Sync(); err != nil {
		return nil, &profiler.FileError{Path: w.path, Err: err}
	}
	if !w.dirSynced {
		// the temporary file's name, made durable once (best effort: some
		// file systems cannot sync a folder)
		if d, err := os.Open(filepath.Dir(w.f.Name())); err == nil {
			_ = d.Sync()
			d.Close()
		}
		w.dirSynced = true
	}
	index := make([][]entry, len(w.index))
	for h := range index {
		index[h] = w.index[h][:m.counts[h]]
	}
	level := "fastest"
	if w.best {
		level = "best"
	}
	return &State{Temp: filepath.Base(w.f.Name()), Level: level, Offset: m.off, Layer: m.layer, Next: m.next,
		Index: appendIndex(nil, m.orders, index)}, nil
}

// Keep takes the temporary file off those a second stop signal removes
// (atomicfile.RemoveTemps): a checkpoint names it.
func (w *Writer) Keep() {
	if !w.direct {
		atomicfile.Keep(w.f.Name())
	}
}

// Suspend closes the writer and keeps its temporary file, for a later
// Resume from a checkpoint; the store is not written.
func (w *Writer) Suspend() {
	w.mu.Lock()
	if w.err == nil {
		_ = w.bw.Flush()
	}
	w.mu.Unlock()
	w.f.Close()
	w.release()
}

// TempPath is the temporary file a State names, beside the store path, or
// an error when the name is not one of a temporary file of path.
func TempPath(path string, st *State) (string, error) {
	prefix := "." + filepath.Base(path)
	if len(prefix) > 32 {
		prefix = prefix[:32]
	}
	if st.Temp == "" || filepath.Base(st.Temp) != st.Temp || !strings.HasPrefix(st.Temp, prefix) || !strings.Contains(st.Temp, ".tmp-") {
		return "", fmt.Errorf("%s: %q is not a temporary file of the store", path, st.Temp)
	}
	return filepath.Join(filepath.Dir(path), st.Temp), nil
}

// Resume reopens the store that a checkpoint's State describes, for a run
// with header h at level: it checks the temporary file's header against
// h and its blocks against their checksums, cuts it to st.Offset and
// returns a writer that goes on after them (Piece). Any mismatch is an
// error, and the file is left as it was.
func Resume(path string, h Header, level string, st *State) (*Writer, error) {
	level, _, err := ResolveLevel(level)
	if err != nil {
		return nil, err
	}
	if st.Level != level {
		return nil, fmt.Errorf("%s: the partial store is at level %s, not %s", path, st.Level, level)
	}
	if err := CheckHeader(h); err != nil {
		return nil, err
	}
	name, err := TempPath(path, st)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, &profiler.FileError{Path: path, Err: fmt.Errorf("the partial store of the checkpoint: %w", err)}
	}
	head, err := headBytes(h)
	if err != nil {
		f.Close()
		return nil, err
	}
	w, err := newWriter(path, f, false, h, level)
	if err != nil {
		f.Close()
		return nil, err
	}
	bad := func(format string, args ...any) (*Writer, error) {
		f.Close()
		w.release()
		return nil, &profiler.FileError{Path: name, Err: fmt.Errorf("%w: the partial store: "+format, append([]any{ErrCorrupt}, args...)...)}
	}
	got := make([]byte, len(head))
	if _, err := f.ReadAt(got, 0); err != nil || !bytes.Equal(got, head) {
		return bad("its header is not this run's (other layers, threshold or shard)")
	}
	index, orders, msg := parseState(st.Index, h, int64(len(head)), st.Offset)
	if msg != "" {
		return bad("%s", msg)
	}
	w.index, w.orders = index, orders
	w.layer, w.cur, w.next = st.Layer, -1, st.Next
	if st.Layer >= 0 {
		w.cur = w.headerIndex(st.Layer)
	}
	var next int64
	for h := range index {
		n := int64(0)
		for _, e := range index[h] {
			n += int64(e.NObs)
		}
		switch {
		case h == w.cur:
			next = n
		case h < w.cur && n != w.hdr.Layers[h].Observations, (w.cur < 0 || h > w.cur) && n != 0:
			return bad("layer %s: blocks of %d observations, not a whole layer before the one in progress", w.hdr.Layers[h].Name, n)
		}
	}
	if w.cur >= 0 && next != st.Next || w.cur < 0 && st.Layer >= 0 && st.Next != 0 {
		return bad("%d observations of the layer in progress recorded, its blocks hold %d", st.Next, next)
	}
	// every block kept, against its checksum
	sr := io.NewSectionReader(f, 0, st.Offset)
	br := bufio.NewReaderSize(sr, 1<<20)
	if _, err := br.Discard(len(head)); err != nil {
		return bad("shorter than its header")
	}
	buf := []byte(nil)
	for h, es := range index {
		for k, e := range es {
			if cap(buf) < int(e.Length) {
				buf = make([]byte, e.Length)
			}
			buf = buf[:e.Length]
			if _, err := io.ReadFull(br, buf); err != nil {
				return bad("layer %s: block %d: the file is shorter than the checkpoint says (%v)", w.hdr.Layers[h].Name, k, err)
			}
			if checksum(buf) != e.CRC {
				return bad("layer %s: block %d: checksum mismatch", w.hdr.Layers[h].Name, k)
			}
		}
	}
	if err := f.Truncate(st.Offset); err != nil {
		return bad("%v", err)
	}
	if _, err := f.Seek(st.Offset, io.SeekStart); err != nil {
		return bad("%v", err)
	}
	w.bw = bufio.NewWriterSize(f, 1<<20)
	w.off, w.synced = st.Offset, st.Offset
	w.restore = w.cur >= 0 && st.Next < w.hdr.Layers[w.cur].Observations
	return w, nil
}

// parseState reads a State's index against the header: per layer its
// storage order (none or a permutation) and entries, in order, the
// blocks end to end from dataStart to end.
func parseState(idx []byte, h Header, dataStart, end int64) (index [][]entry, orders [][]int32, msg string) {
	off := dataStart
	for _, l := range h.Layers {
		if len(idx) < 4 {
			return nil, nil, "index too short"
		}
		nu := int(binary.LittleEndian.Uint32(idx))
		idx = idx[4:]
		var order []int32
		if nu != 0 {
			if nu != l.Units || len(idx) < 4*nu {
				return nil, nil, fmt.Sprintf("layer %s: storage order of %d units", l.Name, nu)
			}
			seen := make([]bool, nu)
			for k := range nu {
				u := binary.LittleEndian.Uint32(idx[4*k:])
				if u >= uint32(nu) || seen[u] {
					return nil, nil, fmt.Sprintf("layer %s: storage order is not a permutation", l.Name)
				}
				seen[u] = true
				order = append(order, int32(u))
			}
			idx = idx[4*nu:]
		}
		if len(idx) < 8 {
			return nil, nil, "index too short"
		}
		n := binary.LittleEndian.Uint64(idx)
		idx = idx[8:]
		if n > uint64(len(idx)/entryLen) || n > 0 && order == nil {
			return nil, nil, fmt.Sprintf("layer %s: index too short", l.Name)
		}
		es := make([]entry, n)
		var next uint64
		for k := range es {
			e := getEntry(idx[k*entryLen:])
			if e.FirstObs != next || e.NObs == 0 || int(e.NObs) > BlockObs(l.Units) || int64(e.Offset) != off || e.Length == 0 || e.Base != 0 ||
				next+uint64(e.NObs) > uint64(l.Observations) {
				return nil, nil, fmt.Sprintf("layer %s: index entry %d is inconsistent", l.Name, k)
			}
			next += uint64(e.NObs)
			off += int64(e.Length)
			es[k] = e
		}
		idx = idx[n*entryLen:]
		index, orders = append(index, es), append(orders, order)
	}
	if len(idx) != 0 || off != end {
		return nil, nil, fmt.Sprintf("its blocks end at %d, the checkpoint says %d", off, end)
	}
	return index, orders, ""
}

// Piece returns the sink of one piece of run layer i: its observations
// [from, to), in the writer's numbering (from the layer's first in a
// part). A profiler run delivers it as the piece's own layer (rows cut by
// PieceCuts), the layers of other pieces ignored; a layer's pieces come
// in order, the first with from 0.
func (w *Writer) Piece(i int, from, to int64) profiler.PatternSink {
	return &piece{w: w, i: i, from: from, to: to}
}

type piece struct {
	w        *Writer
	i        int
	from, to int64
}

func (p *piece) BeginLayer(i int, plan profiler.Plan) error {
	if i != p.i {
		return nil
	}
	w := p.w
	if p.from == 0 {
		return w.BeginLayer(i, plan)
	}
	w.mu.Lock()
	ok := w.layer == i && w.cur >= 0 && w.next == p.from && len(w.pending) == 0 && w.err == nil
	restore := w.restore
	err := w.err
	w.mu.Unlock()
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: layer %d (%s): a piece from observation %d, the store holds %d", w.path, i, plan.Layer.Name, p.from, w.next)
	}
	if restore {
		return w.restoreLayer(plan)
	}
	return nil
}

func (p *piece) Layout(i int) profiler.PatternLayout {
	w := p.w
	if p.from == 0 {
		return w.Layout(i)
	}
	units := w.hdr.Layers[w.cur].Units
	shift := 0
	if n := int64(blockLen(units, w.inner, 0, math.MaxInt)); w.inner <= int64(BlockObs(units)) {
		shift = int((w.g0 + p.from) % n)
	}
	return profiler.PatternLayout{Chunk: firstBlocksObs(units, w.inner, w.firstBlocks()), Slow: w.best, Shift: shift}
}

func (p *piece) Write(i int, first int64, n int, bits []uint64) error {
	return p.w.Write(i, p.from+first, n, bits)
}

func (p *piece) EndLayer(i int) error {
	if i != p.i {
		return nil
	}
	w := p.w
	if w.cur >= 0 && p.to == w.hdr.Layers[w.cur].Observations {
		return w.EndLayer(i)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil && (w.next != p.to || len(w.pending) != 0) {
		return fmt.Errorf("%s: layer %d: %d observations written, the piece ends at %d", w.path, i, w.next, p.to)
	}
	return w.err
}

// restoreLayer rebuilds the state of the layer in progress of a resumed
// writer: its first blocks read back and coded again as chunk 0 codes
// them, which must give the same bytes.
func (w *Writer) restoreLayer(plan profiler.Plan) error {
	h := w.cur
	l := w.hdr.Layers[h]
	w.mu.Lock()
	w.inner, w.pending, w.g0 = plan.Geom.Inner, map[int64]*encodedChunk{}, 0
	if r := l.Ranges; len(r) > 0 {
		w.g0 = int64(r[0].First)
	}
	w.mu.Unlock()
	es := w.index[h]
	k := w.firstBlocks()
	if len(es) < k || w.orders[h] == nil {
		return fmt.Errorf("%s: layer %s: %d blocks kept, chunk 0 made %d", w.path, l.Name, len(es), k)
	}
	if err := w.bw.Flush(); err != nil {
		return &profiler.FileError{Path: w.path, Err: err}
	}
	r := &Reader{path: w.f.Name(), f: w.f, size: w.off, Header: w.hdr, index: make([][]entry, len(w.hdr.Layers)),
		pos: make([][]int32, len(w.hdr.Layers)), order: make([][]int32, len(w.hdr.Layers)), dicts: make([]map[uint32]*dictDecoder, len(w.hdr.Layers))}
	for t, li := range w.hdr.Layers {
		r.gmaps = append(r.gmaps, newGlobalMap(li))
		r.run = append(r.run, w.hdr.runIndex(t))
		r.dicts[t] = map[uint32]*dictDecoder{}
	}
	r.index[h], r.order[h], r.pos[h] = es[:k], w.orders[h], inverse(w.orders[h])
	var err error
	if r.dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30)); err != nil {
		return err
	}
	defer func() {
		r.dec.Close()
		for _, d := range r.dicts[h] {
			for _, p := range d.decs {
				if p.dec != nil {
					p.dec.Close()
				}
			}
		}
	}()
	rl := &Layer{r: r, i: h, Info: l}
	var rows []uint64
	n := 0
	for t := range k {
		b, err := rl.block(t)
		if err != nil {
			return err
		}
		rows = append(rows, b.rows()...)
		n += b.nobs
		b.release()
	}
	ch := &encodedChunk{first: 0, nobs: int64(n)}
	st, n0, err := w.firstChunk(ch, w.layer, rows, n)
	if err != nil {
		return err
	}
	// the rest of chunk 0's blocks, as Write codes them
	if err := w.encodeInto(ch, w.layer, st, rows[n0*words(l.Units):], n0, n-n0); err != nil {
		return err
	}
	ch.seal()
	same := len(ch.blocks) == k && slices.Equal(st.order, w.orders[h])
	for t, b := range ch.blocks {
		same = same && t < k && uint32(len(*b.data)) == es[t].Length && b.crc == es[t].CRC
		w.bufs.put(b.data)
	}
	if !same {
		return &profiler.FileError{Path: w.path, Err: fmt.Errorf("%w: layer %s: the partial store's first blocks code to other bytes (another actprof version?): remove the checkpoint to start again", ErrCorrupt, l.Name)}
	}
	w.mu.Lock()
	w.state.Store(st)
	w.restore = false
	w.mu.Unlock()
	return nil
}

// PieceCuts returns where a checkpointed run may cut its delivery of a
// layer of units (Inner observations a row) to a writer at level into
// pieces of about target rows: row offsets from firstRow, ascending,
// within (0, rows), each at a block boundary of the whole layer and the
// first after the blocks that chunk 0 must hold.
func PieceCuts(units int, inner, firstRow, rows, target int64, level string) []int64 {
	inner = max(inner, 1)
	fb := tableBlocks
	if lv, _, _ := ResolveLevel(level); lv == "best" {
		fb = dictBlocks
	}
	a := int64(1) // rows between block boundaries
	if bo := int64(BlockObs(units)); inner <= bo {
		a = bo / inner
	}
	minFirst := (int64(firstBlocksObs(units, inner, fb)) + inner - 1) / inner
	step := max((target+a-1)/a*a, a)
	c := firstRow + max(minFirst, target)
	c = (c + a - 1) / a * a
	var cuts []int64
	for ; c < firstRow+rows; c += step {
		cuts = append(cuts, c-firstRow)
	}
	return cuts
}
