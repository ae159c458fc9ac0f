package profiler

import (
	"bufio"
	"cmp"
	"fmt"
	"os"
	"path"
	"slices"
	"sync"
	"unsafe"
)

// LiveOptions set up a Live profile. The zero value of every field but
// Backend means its default, as in Options.
type LiveOptions struct {
	// Backend counts; required (cpu.New() for tensors in host memory).
	Backend   Backend
	Threshold float64
	RareBelow float64
	// UnitAxis: as Options.UnitAxis (a layer's name, or "" for all).
	UnitAxis map[string]int
	// Stats, if set, adds every layer's value statistics.
	Stats *StatsOptions
	// ChunkBytes is the size of the blocks handed to the backend
	// (default the backend's, else DefaultChunkBytes).
	ChunkBytes int
	// Patterns keeps every observation's fired bits, for WritePatterns.
	// They are appended to one temporary file per layer as batches are
	// counted (memory: a batch's bits), in PatternDir (default
	// os.TempDir()); the files are removed when created where the system
	// allows it (they vanish with the process) and else by Finish.
	Patterns   bool
	PatternDir string
	// QueueBytes > 0 counts asynchronously: Add checks a batch, copies it
	// (to C order) and queues it for a goroutine that counts the queued
	// batches in the order they were added; Add waits while the queue
	// holds QueueBytes (a larger batch waits for an empty queue). An error
	// found in counting is returned by a later Add, Profile or Finish.
	QueueBytes int64
}

// Live profiles layers whose activations arrive batch by batch, as a
// running model produces them: each Add counts one batch of one layer,
// and Profile returns what a run over each layer's batches concatenated
// along axis 0 returns. Observations are numbered in the order the batches
// were added, so first and last fired are those of the concatenation.
//
// Add counts before it returns: the caller may reuse or free its buffer as
// soon as Add returns, and must not write it while Add runs. Memory is
// each layer's tally, whatever the number of batches, plus one contiguous
// copy of a batch that is not C-contiguous. Add and Profile may be called
// from several goroutines; batches of one layer are counted in the order
// their Add calls take the layer's lock.
type Live struct {
	opt    LiveOptions
	thr    Threshold
	mu     sync.Mutex
	layers map[string]*liveLayer
	done   bool
	q      liveQueue
	// devices: those that counted batches (AddCounted); hostBatches: the
	// backend counted some too
	devices     map[string]bool
	hostBatches bool
}

type liveLayer struct {
	mu    sync.Mutex
	name  string
	dtype DType
	shape []int // the first batch's
	axis  int   // non-negative
	units int64
	inner int64
	// rows is the outer extent so far (the concatenation's, axis 0 for a
	// layer whose unit axis is not the last, else all axes before it).
	rows int64
	// varied: a token layer whose middle axes changed between batches;
	// its shape is then given as [rows, units].
	varied bool
	tally  *Tally
	err    error // a failed count leaves the layer unusable
	// With patterns: the fired bits of the layer's observations so far, in
	// order, Words(units) native-endian words each, in spill (through bw).
	spill *os.File
	bw    *bufio.Writer
	bits  []uint64 // one block's
	named bool     // spill still has its name: Finish removes it
}

// NewLive checks opt and returns an empty live profile.
func NewLive(opt LiveOptions) (*Live, error) {
	if opt.Backend == nil {
		return nil, fmt.Errorf("%w: no backend", ErrBadOption)
	}
	if opt.Threshold > maxFinite || opt.Threshold < -maxFinite || opt.Threshold != opt.Threshold {
		return nil, fmt.Errorf("%w: threshold must be finite", ErrBadOption)
	}
	thr, err := NewThreshold(opt.Threshold)
	if err != nil {
		return nil, err
	}
	if opt.RareBelow == 0 {
		opt.RareBelow = DefaultRareBelow
	}
	if !(opt.RareBelow > 0 && opt.RareBelow <= 1) {
		return nil, fmt.Errorf("%w: rare-below %g not in (0, 1]", ErrBadOption, opt.RareBelow)
	}
	if opt.ChunkBytes <= 0 {
		opt.ChunkBytes = DefaultChunkBytes
		if dev, ok := opt.Backend.(Device); ok && dev.ChunkBytes() > 0 {
			opt.ChunkBytes = dev.ChunkBytes()
		}
	}
	if opt.Stats != nil {
		if err := opt.Stats.StatsParams.Check(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadOption, err)
		}
		for pat, r := range opt.Stats.Saturate {
			if !(r.Lo < r.Hi) {
				return nil, fmt.Errorf("%w: saturate %g:%g is not a range lo < hi", ErrBadOption, r.Lo, r.Hi)
			}
			if _, err := path.Match(pat, ""); err != nil {
				return nil, fmt.Errorf("%w: saturate %q: bad layer pattern", ErrBadOption, pat)
			}
		}
	}
	return &Live{opt: opt, thr: thr, layers: map[string]*liveLayer{}}, nil
}

// Add counts one batch of layer name (with QueueBytes, queues it): an array of dtype and shape whose
// element i0, i1, ... is at byte offset i0*strides[0] + i1*strides[1] + ...
// of data (strides nil: C order). A batch that is not C-contiguous is
// copied to a contiguous buffer first. Every batch of a layer has the
// layer's dtype, number of axes and unit count; axis 0 may vary, and for a
// layer whose units are on the last axis, every axis before it.
func (lv *Live) Add(name string, dtype DType, shape []int, strides []int64, data []byte) error {
	lv.mu.Lock()
	lv.hostBatches = true
	lv.mu.Unlock()
	if lv.opt.QueueBytes > 0 {
		return lv.enqueue(name, dtype, shape, strides, data)
	}
	return lv.addNow(name, dtype, shape, strides, data)
}

// addNow counts a batch before it returns.
func (lv *Live) addNow(name string, dtype DType, shape []int, strides []int64, data []byte) error {
	l, g, err := lv.lockBatch(name, dtype, shape)
	if err != nil {
		return err
	}
	defer l.mu.Unlock()
	size := int64(dtype.Size())
	contig, err := contiguous(shape, strides, size, len(data))
	if err != nil {
		return fmt.Errorf("layer %s: %w", name, err)
	}
	if !contig {
		data = gather(data, shape, strides, size)
	} else {
		data = data[:g.Elements()*size]
	}
	// The block's geometry is the concatenation's so far: its elements
	// start where the earlier batches' end.
	whole := Geometry{Outer: l.rows + g.Outer, Units: g.Units, Inner: g.Inner, UnitAxis: g.UnitAxis}
	step := chunkElems(whole, int(size), lv.opt.ChunkBytes, true)
	start := l.rows * g.Units * g.Inner
	wd := int64(Words(int(g.Units)))
	for off := int64(0); off < g.Elements(); off += step {
		n := min(step, g.Elements()-off)
		blk := Block{DType: dtype, Thr: lv.thr, Geom: whole, Data: data[off*size : (off+n)*size], Start: start + off}
		if l.spill != nil {
			nw := n / (g.Units * g.Inner) * g.Inner * wd // blocks of whole groups
			if int64(cap(l.bits)) < nw {
				l.bits = make([]uint64, nw)
			}
			l.tally.Bits = l.bits[:nw]
		}
		err := lv.opt.Backend.Count(&blk, l.tally)
		if err == nil && l.spill != nil {
			if _, werr := l.bw.Write(wordBytes(l.tally.Bits)); werr != nil {
				err = fmt.Errorf("patterns: %w", werr)
			}
		}
		l.tally.Bits = nil
		if err != nil {
			l.err = fmt.Errorf("layer %s: %w", name, err)
			return l.err
		}
	}
	l.added(g, shape)
	return nil
}

// lockBatch returns the layer of a batch of name, dtype and shape, locked
// (the caller unlocks it), and the batch's geometry, once the layer takes
// the batch.
func (lv *Live) lockBatch(name string, dtype DType, shape []int) (*liveLayer, Geometry, error) {
	l, err := lv.layer(name, dtype, shape)
	if err != nil {
		return nil, Geometry{}, err
	}
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return nil, Geometry{}, l.err
	}
	g, err := l.check(dtype, shape)
	if err != nil {
		l.mu.Unlock()
		return nil, Geometry{}, fmt.Errorf("layer %s: %w", name, err)
	}
	return l, g, nil
}

// added records a counted batch of shape, of geometry g (l.mu held).
func (l *liveLayer) added(g Geometry, shape []int) {
	if g.UnitAxis == len(shape)-1 && !slices.Equal(shape[1:], l.shape[1:]) {
		l.varied = true
	}
	l.rows += g.Outer
}

// layer returns name's layer, creating it on its first batch.
func (lv *Live) layer(name string, dtype DType, shape []int) (*liveLayer, error) {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	if lv.done {
		return nil, fmt.Errorf("%w: the live profile is finished", ErrBadOption)
	}
	if l := lv.layers[name]; l != nil {
		return l, nil
	}
	if name == "" {
		return nil, fmt.Errorf("%w: empty layer name", ErrBadOption)
	}
	if !dtype.Valid() {
		return nil, fmt.Errorf("%w: layer %s: unknown dtype", ErrUnsupported, name)
	}
	axis, ok := lv.opt.UnitAxis[name]
	if !ok {
		axis, ok = lv.opt.UnitAxis[""]
	}
	if !ok {
		axis = DefaultUnitAxis(len(shape))
	}
	g, err := NewGeometry(shape, axis)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", name, err)
	}
	if g.UnitAxis == 0 {
		return nil, fmt.Errorf("%w: layer %s: unit axis 0 is the batch axis, which varies between batches", ErrShape, name)
	}
	l := &liveLayer{name: name, dtype: dtype, shape: slices.Clone(shape), axis: g.UnitAxis, units: g.Units, inner: g.Inner,
		tally: NewTally(int(g.Units))}
	if so := lv.opt.Stats; so != nil {
		sat, err := so.saturateFor(name)
		if err != nil {
			return nil, err
		}
		l.tally.Stats = NewStats(int(g.Units), sat)
	}
	if lv.opt.Patterns {
		f, err := os.CreateTemp(lv.opt.PatternDir, ".actprof-patterns-*")
		if err != nil {
			return nil, fmt.Errorf("layer %s: patterns: %w", name, err)
		}
		l.spill, l.bw = f, bufio.NewWriterSize(f, 1<<16)
		l.named = os.Remove(f.Name()) != nil // an open file outlives its name on Unix, not on Windows

	}
	lv.layers[name] = l
	return l, nil
}

// wordBytes is w's memory as bytes.
func wordBytes(w []uint64) []byte {
	if len(w) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), len(w)*8)
}

// check returns the geometry of a batch of l.
func (l *liveLayer) check(dtype DType, shape []int) (Geometry, error) {
	if dtype != l.dtype {
		return Geometry{}, fmt.Errorf("%w: batch of dtype %s, the layer's is %s", ErrShape, dtype, l.dtype)
	}
	if len(shape) != len(l.shape) {
		return Geometry{}, fmt.Errorf("%w: %d-D batch %v, the layer's batches are %d-D %v", ErrShape, len(shape), shape, len(l.shape), l.shape)
	}
	g, err := NewGeometry(shape, l.axis)
	if err != nil {
		return Geometry{}, err
	}
	fixed := l.shape[1:]
	got := shape[1:]
	if l.axis == len(shape)-1 {
		fixed, got = l.shape[l.axis:], shape[l.axis:]
	}
	if !slices.Equal(fixed, got) {
		return Geometry{}, fmt.Errorf("%w: batch %v does not match the layer's batches %v: only axis 0%s may vary", ErrShape, shape, l.shape,
			cmp.Or(map[bool]string{true: " and the axes before the unit axis"}[l.axis == len(shape)-1], ""))
	}
	const limit = int64(1) << 62
	if l.rows > limit/g.Units/g.Inner-g.Outer {
		return Geometry{}, fmt.Errorf("%w: layer too large", ErrShape)
	}
	return g, nil
}

// contiguous checks that shape and strides lie within n bytes and reports
// whether they are C order.
func contiguous(shape []int, strides []int64, size int64, n int) (bool, error) {
	if strides != nil && len(strides) != len(shape) {
		return false, fmt.Errorf("%w: %d strides for %d axes", ErrShape, len(strides), len(shape))
	}
	elems := int64(1)
	for _, d := range shape {
		elems *= int64(d)
	}
	if strides == nil {
		if elems*size > int64(n) {
			return false, fmt.Errorf("%w: batch %v needs %d bytes, given %d", ErrShape, shape, elems*size, n)
		}
		return true, nil
	}
	contig := true
	want := size
	var hi int64 // the last element's offset
	for i := len(shape) - 1; i >= 0; i-- {
		if strides[i] < 0 {
			return false, fmt.Errorf("%w: negative stride %d", ErrUnsupported, strides[i])
		}
		if shape[i] != 1 && strides[i] != want {
			contig = false
		}
		hi += int64(shape[i]-1) * strides[i]
		want *= int64(shape[i])
	}
	if elems > 0 && hi+size > int64(n) {
		return false, fmt.Errorf("%w: batch %v with strides %v reaches byte %d, given %d", ErrShape, shape, strides, hi+size, n)
	}
	return contig, nil
}

// gather copies a strided array into a new C-order buffer.
func gather(data []byte, shape []int, strides []int64, size int64) []byte {
	elems := int64(1)
	for _, d := range shape {
		elems *= int64(d)
	}
	out := make([]byte, elems*size)
	idx := make([]int, len(shape))
	var off int64
	last := len(shape) - 1
	for o := int64(0); o < elems*size; {
		// copy a run along the last axis
		p := off
		for range shape[last] {
			copy(out[o:o+size], data[p:p+size])
			o += size
			p += strides[last]
		}
		// advance the outer index
		k := last - 1
		for ; k >= 0; k-- {
			idx[k]++
			off += strides[k]
			if idx[k] < shape[k] {
				break
			}
			off -= int64(idx[k]) * strides[k]
			idx[k] = 0
		}
		if k < 0 {
			break
		}
	}
	return out
}

// Profile returns the profile of every batch added so far, layers in name
// order (as a folder of layers is read). A layer whose middle axes varied
// is given as the 2-D [observations, units]. The live profile stays usable:
// later batches add to it.
func (lv *Live) Profile() (*Profile, error) {
	if err := lv.q.drain(); err != nil {
		return nil, err
	}
	lv.mu.Lock()
	names := make([]string, 0, len(lv.layers))
	for n := range lv.layers {
		names = append(names, n)
	}
	lv.mu.Unlock()
	slices.Sort(names)
	prof := &Profile{FormatVersion: FormatVersion, Tool: ToolVersion, Backend: lv.backendName(),
		Threshold: lv.opt.Threshold, RareBelow: lv.opt.RareBelow}
	if lv.opt.Stats != nil {
		sp := lv.opt.Stats.StatsParams
		prof.Stats = &sp
	}
	for _, n := range names {
		lv.mu.Lock()
		l := lv.layers[n]
		lv.mu.Unlock()
		lp, err := l.profile(lv.opt.RareBelow, prof.Stats)
		if err != nil {
			return nil, err
		}
		prof.Layers = append(prof.Layers, lp)
	}
	return prof, nil
}

func (l *liveLayer) profile(rareBelow float64, sp *StatsParams) (LayerProfile, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return LayerProfile{}, l.err
	}
	t := &Tally{Counts: slices.Clone(l.tally.Counts), NaNs: slices.Clone(l.tally.NaNs)}
	lp := NewLayerProfile(l.plan(), t, rareBelow)
	if l.tally.Stats != nil {
		s := NewStats(int(l.units), l.tally.Stats.Saturate)
		s.Add(l.tally.Stats)
		lp.Stats = newLayerStats(s)
		lp.classifyStats(sp)
	}
	return lp, nil
}

// plan is the layer as one array: the concatenation of its batches along
// axis 0, or [observations, units] where its middle axes varied (l.mu
// held).
func (l *liveLayer) plan() Plan {
	shape := slices.Clone(l.shape)
	axis := l.axis
	if l.varied {
		shape, axis = []int{int(l.rows), int(l.units)}, 1
	} else {
		// the concatenation's axis 0
		shape[0] = int(l.rows / outerPerRow(l.shape, l.axis))
	}
	g := Geometry{Outer: l.rows, Units: l.units, Inner: l.inner, UnitAxis: axis}
	return Plan{Layer: Layer{Name: l.name, DType: l.dtype, Shape: shape}, Geom: g}
}

// Plans returns the layers of the batches added so far, in name order
// (Profile's), each as one array: the plans a pattern store of the
// concatenated batches is made for (WritePatterns).
func (lv *Live) Plans() ([]Plan, error) {
	if err := lv.q.drain(); err != nil {
		return nil, err
	}
	var plans []Plan
	for _, l := range lv.sorted() {
		l.mu.Lock()
		err := l.err
		plans = append(plans, l.plan())
		l.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	return plans, nil
}

func (lv *Live) sorted() []*liveLayer {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	ls := make([]*liveLayer, 0, len(lv.layers))
	for _, l := range lv.layers {
		ls = append(ls, l)
	}
	slices.SortFunc(ls, func(a, b *liveLayer) int { return cmp.Compare(a.name, b.name) })
	return ls
}

// patternChunkBytes is about the bits WritePatterns hands the sink at once.
const patternChunkBytes = 4 << 20

// WritePatterns hands sink every observation's fired bits, layer by layer
// in Plans' order (sink's layer i is Plans()[i]), as a run over the
// concatenated batches does: the sink sees the PatternSink calls of such
// a run, in the order of its contract, so a store written this way is the
// store of that run. Batches must not be added meanwhile (the bits are
// read back from the layers' temporary files).
func (lv *Live) WritePatterns(sink PatternSink) error {
	if !lv.opt.Patterns {
		return fmt.Errorf("%w: the live profile keeps no patterns", ErrBadOption)
	}
	if err := lv.q.drain(); err != nil {
		return err
	}
	ls := lv.sorted()
	for i, l := range ls {
		if err := l.writePatterns(i, sink); err != nil {
			return err
		}
	}
	return nil
}

func (l *liveLayer) writePatterns(i int, sink PatternSink) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	if l.spill == nil {
		return fmt.Errorf("%w: the live profile is finished", ErrBadOption)
	}
	p := l.plan()
	if err := l.bw.Flush(); err != nil {
		return fmt.Errorf("layer %s: patterns: %w", l.name, err)
	}
	if err := sink.BeginLayer(i, p); err != nil {
		return err
	}
	wd := int64(Words(int(l.units)))
	obs := p.Geom.Observations()
	chunk := max(patternChunkBytes/8/wd, 1)
	lay := sink.Layout(i)
	shift := int64(0)
	if c := int64(lay.Chunk); c > 0 {
		chunk = max(chunk/c, 1) * c
		shift = int64(lay.Shift) // a part's chunk 0 is that much shorter
	}
	buf := make([]uint64, min(chunk, obs)*wd)
	for first := int64(0); first < obs; {
		n := min(chunk, obs-first)
		if first == 0 {
			n = min(chunk-shift, obs)
		}
		b := wordBytes(buf[:n*wd])
		if _, err := l.spill.ReadAt(b, first*wd*8); err != nil {
			return fmt.Errorf("layer %s: patterns: reading back observations %d to %d: %w", l.name, first, first+n, err)
		}
		if err := sink.Write(i, first, int(n), buf[:n*wd]); err != nil {
			return err
		}
		first += n
	}
	return sink.EndLayer(i)
}

// outerPerRow is the outer extent of one index of axis 0: the product of
// the axes between axis 0 and the unit axis.
func outerPerRow(shape []int, axis int) int64 {
	n := int64(1)
	for _, d := range shape[1:axis] {
		n *= int64(d)
	}
	return n
}

// Finish ends the live profile: later Adds are refused, and the
// patterns' temporary files are removed.
func (lv *Live) Finish() {
	lv.q.stop()
	lv.mu.Lock()
	lv.done = true
	lv.mu.Unlock()
	for _, l := range lv.sorted() {
		l.mu.Lock()
		if l.spill != nil {
			l.spill.Close()
			if l.named {
				os.Remove(l.spill.Name())
			}
			l.spill, l.bw = nil, nil
		}
		l.mu.Unlock()
	}
}
