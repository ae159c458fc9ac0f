package profiler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Options control a profiling run. The zero value of every field but Backend
// means its default.
type Options struct {
	// Backend counts; required (cpu.New() is the reference).
	Backend Backend
	// Threshold T: a unit fires when x > T. Must be finite.
	Threshold float64
	// RareBelow: a unit that fires on a fraction of observations in (0,
	// RareBelow) is rare. Default DefaultRareBelow.
	RareBelow float64
	// UnitAxis maps a layer name to its unit axis (negative counts from the
	// end); the key "" applies to every layer not named. Layers in neither
	// take DefaultUnitAxis(ndim).
	UnitAxis map[string]int
	// Workers is the number of counting goroutines; default the backend's
	// Device.Workers (a GPU backend wants two per core), else GOMAXPROCS.
	// At most MaxWorkers.
	Workers int
	// ChunkBytes is the size of the blocks handed to the backend; default
	// the backend's Device.ChunkBytes, else DefaultChunkBytes. Results do
	// not depend on it.
	ChunkBytes int
	// Progress, if set, is called after each chunk is read with the bytes
	// read so far and in all. It may be called from several goroutines at
	// once.
	Progress func(done, total int64)
	// Patterns, if set, receives every observation's fired bits. Blocks
	// then hold whole observation groups ([Units, Inner] elements).
	Patterns PatternSink
	// Stats, if set, has the run compute every layer's value statistics in
	// the same pass: blocks then hold whole observation groups.
	Stats *StatsOptions
	// Shard, if set, has the run count only its shard's rows of the
	// layers (ShardRows) and return a part: a profile with a shard record
	// (listing Inputs, the input set's files, for the merge to check) and
	// each layer's observation ranges. With Patterns, the sink gets the
	// layers of which the shard holds rows, numbered from the first.
	Shard  *ShardSpec
	Inputs []InputFile
	// Rows, with Shard, replaces the rows ShardRows gives the shard by
	// these, one per layer (Count 0: none of the layer): a piece of a
	// shard's rows, numbered and recorded as the shard's part.
	Rows []RowRange
}

// StatsOptions set up the value statistics of a run. Its fields are used
// as given: DefaultStats returns the defaults.
type StatsOptions struct {
	StatsParams
	// Saturate maps a layer pattern (path.Match syntax; a plain name
	// matches itself) to its saturation range; the key "" applies to every
	// layer no other key matches. A layer in none has no saturation
	// counts; a layer that two patterns match, neither of them its exact
	// name, is an error.
	Saturate map[string]Range
}

// DefaultStats returns the default statistics options: dormant at
// DefaultDormantTau, saturated above DefaultSaturatedAbove, no dead
// window, no saturation ranges.
func DefaultStats() *StatsOptions {
	return &StatsOptions{StatsParams: StatsParams{DormantTau: DefaultDormantTau, SaturatedAbove: DefaultSaturatedAbove}}
}

// saturateFor is layer name's saturation range (nil: none), or an error
// when two patterns claim it.
func (so *StatsOptions) saturateFor(name string) (*Range, error) {
	if r, ok := so.Saturate[name]; ok {
		return &r, nil
	}
	var found string
	var out *Range
	for _, pat := range slices.Sorted(maps.Keys(so.Saturate)) {
		if pat == "" {
			continue
		}
		if ok, _ := path.Match(pat, name); ok {
			if out != nil {
				return nil, fmt.Errorf("%w: layer %q matches saturate patterns %q and %q: give one range", ErrBadOption, name, found, pat)
			}
			r := so.Saturate[pat]
			found, out = pat, &r
		}
	}
	if out == nil {
		if r, ok := so.Saturate[""]; ok {
			out = &r
		}
	}
	return out, nil
}

func (so *StatsOptions) check(plans []Plan) error {
	if err := so.StatsParams.Check(); err != nil {
		return fmt.Errorf("%w: %v", ErrBadOption, err)
	}
	for pat, r := range so.Saturate {
		if !(r.Lo < r.Hi) {
			return fmt.Errorf("%w: saturate %g:%g is not a range lo < hi", ErrBadOption, r.Lo, r.Hi)
		}
		if _, err := path.Match(pat, ""); err != nil {
			return fmt.Errorf("%w: saturate %q: bad layer pattern", ErrBadOption, pat)
		}
		if pat == "" {
			continue
		}
		found := false
		for _, p := range plans {
			ok, _ := path.Match(pat, p.Layer.Name)
			found = found || ok || p.Layer.Name == pat
		}
		if !found {
			return fmt.Errorf("%w: saturate %s=%g:%g: the pattern matches no layer", ErrBadOption, pat, r.Lo, r.Hi)
		}
	}
	for _, p := range plans {
		if _, err := so.saturateFor(p.Layer.Name); err != nil {
			return err
		}
	}
	return nil
}

// Defaults.
const (
	DefaultRareBelow  = 1e-3
	DefaultChunkBytes = 1 << 20
)

// Plan is a checked layer, ready to count.
type Plan struct {
	Layer Layer
	Geom  Geometry
}

// Bytes is the layer's size in bytes.
func (p Plan) Bytes() int64 { return p.Geom.Elements() * int64(p.Layer.DType.Size()) }

// PlanLayers checks every layer's shape and unit axis before any counting,
// so a bad layer fails the run at once.
func PlanLayers(layers []Layer, unitAxis map[string]int) ([]Plan, error) {
	plans := make([]Plan, 0, len(layers))
	seen := map[string]bool{}
	for _, l := range layers {
		if seen[l.Name] {
			return nil, FileErrorf(l.Path, ErrShape, "duplicate layer name %q", l.Name)
		}
		seen[l.Name] = true
		if !l.DType.Valid() {
			return nil, FileErrorf(l.Path, ErrUnsupported, "layer %s: unknown dtype", l.Name)
		}
		axis, ok := unitAxis[l.Name]
		if !ok {
			axis, ok = unitAxis[""]
		}
		if !ok {
			axis = DefaultUnitAxis(len(l.Shape))
		}
		g, err := l.Geometry(axis)
		if err != nil {
			return nil, &FileError{Path: l.Path, Err: fmt.Errorf("layer %s: %w", l.Name, err)}
		}
		plans = append(plans, Plan{Layer: l, Geom: g})
	}
	return plans, nil
}

// Run profiles layers: it streams each through opt.Backend on a pool of
// workers, in chunks, and returns the profile. Memory use is bounded by about
// 2*Workers+1 chunks whatever the layer sizes. Counts are exact and do not
// depend on Workers, ChunkBytes or the backend.
func Run(ctx context.Context, layers []Layer, opt Options) (*Profile, error) {
	if opt.Backend == nil {
		return nil, fmt.Errorf("%w: no backend", ErrBadOption)
	}
	thr, err := NewThreshold(opt.Threshold)
	if err != nil {
		return nil, err
	}
	if opt.Threshold > maxFinite || opt.Threshold < -maxFinite {
		return nil, fmt.Errorf("%w: threshold must be finite", ErrBadOption)
	}
	if opt.RareBelow == 0 {
		opt.RareBelow = DefaultRareBelow
	}
	if !(opt.RareBelow > 0 && opt.RareBelow <= 1) {
		return nil, fmt.Errorf("%w: rare-below %g not in (0, 1]", ErrBadOption, opt.RareBelow)
	}
	dev, _ := opt.Backend.(Device)
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
		if dev != nil && dev.Workers() > 0 {
			opt.Workers = dev.Workers()
		}
	}
	opt.Workers = min(opt.Workers, MaxWorkers())
	if opt.ChunkBytes <= 0 {
		opt.ChunkBytes = DefaultChunkBytes
		if dev != nil && dev.ChunkBytes() > 0 {
			opt.ChunkBytes = dev.ChunkBytes()
		}
	}
	plans, err := PlanLayers(layers, opt.UnitAxis)
	if err != nil {
		return nil, err
	}
	if opt.Patterns != nil {
		if err := CheckPatternOrder(plans); err != nil {
			return nil, err
		}
	}
	if opt.Stats != nil {
		if err := opt.Stats.check(plans); err != nil {
			return nil, err
		}
	}
	prof := &Profile{FormatVersion: FormatVersion, Tool: ToolVersion, Backend: opt.Backend.Name(),
		Threshold: opt.Threshold, RareBelow: opt.RareBelow}
	if opt.Stats != nil {
		sp := opt.Stats.StatsParams
		prof.Stats = &sp
	}
	var rows []RowRange // with a shard: per plan, its rows
	if opt.Shard != nil {
		if rows, err = ShardRows(plans, *opt.Shard); err != nil {
			return nil, err
		}
		if opt.Rows != nil {
			if len(opt.Rows) != len(plans) {
				return nil, fmt.Errorf("%w: rows of %d layers for a run of %d", ErrBadOption, len(opt.Rows), len(plans))
			}
			for i, r := range opt.Rows {
				if r.First < 0 || r.Count < 0 || r.First+r.Count > plans[i].Geom.Outer {
					return nil, fmt.Errorf("%w: layer %s: rows [%d, +%d) outside its %d", ErrBadOption, plans[i].Layer.Name, r.First, r.Count, plans[i].Geom.Outer)
				}
			}
			rows = opt.Rows
		}
		prof.Shard = NewShardRecord(plans, &opt)
	}
	var total int64
	var done atomic.Int64
	for i, p := range plans {
		if rows != nil {
			total += rows[i].Count * (p.Bytes() / p.Geom.Outer)
		} else {
			total += p.Bytes()
		}
	}
	pool := newBufPool()
	defer pool.release() // after every layer's goroutines are done
	for i, p := range plans {
		if opt.Patterns != nil {
			if err := opt.Patterns.BeginLayer(i, p); err != nil {
				return nil, err
			}
		}
		lc := &layerCount{plan: p, index: i, thr: thr, opt: &opt, pool: pool, elems: p.Geom.Elements()}
		if rows != nil {
			if rows[i].Count == 0 {
				continue // none of this layer's rows are the shard's
			}
			group := p.Geom.Units * p.Geom.Inner
			lc.first, lc.elems = rows[i].First*group, rows[i].Count*group
		}
		tally, err := lc.run(ctx, func(n int64) {
			d := done.Add(n)
			if opt.Progress != nil {
				opt.Progress(d, total)
			}
		})
		if err != nil {
			return nil, err
		}
		if opt.Patterns != nil {
			if err := opt.Patterns.EndLayer(i); err != nil {
				return nil, err
			}
		}
		lp := NewLayerProfile(p, tally, opt.RareBelow)
		if rows != nil {
			r := rows[i]
			lp.Observations = uint64(r.Count * p.Geom.Inner)
			lp.Ranges = []ObsRange{{First: uint64(r.First * p.Geom.Inner), Count: lp.Observations}}
			_ = lp.classify(opt.RareBelow)
		}
		if tally.Stats != nil {
			lp.Stats = newLayerStats(tally.Stats)
			lp.classifyStats(prof.Stats)
		}
		prof.Layers = append(prof.Layers, lp)
	}
	return prof, nil
}

const maxFinite = 1.7976931348623157e308

// MaxWorkers is the most counting goroutines a run uses: four per core (at
// least 16), beyond which each only costs its buffers' memory.
func MaxWorkers() int { return max(16, 4*runtime.NumCPU()) }

// chunkElems picks the elements per block: about ChunkBytes, rounded down to
// whole observation groups ([Units, Inner]) or else whole unit runs (Inner),
// so most blocks take the kernels' fast shape.
func chunkElems(g Geometry, size, chunkBytes int, wholeGroups bool) int64 {
	// never more than the layer holds: a chunk size of gigabytes on a small
	// file takes the file's bytes, not the chunk's
	n := min(max(int64(chunkBytes/size), 1), g.Elements())
	if group := g.Units * g.Inner; group <= n || wholeGroups {
		return max(n/group, 1) * group
	}
	if g.Inner > 1 && g.Inner <= n {
		return n / g.Inner * g.Inner
	}
	return n
}

type job struct {
	chunk Chunk
	start int64
}

// layerCount counts one layer.
type layerCount struct {
	plan  Plan
	index int
	// The elements counted: [first, first+elems) of the layer (whole
	// outer rows; all of it but for a shard).
	first, elems int64
	thr          Threshold
	opt          *Options
	step         int64 // elements per block
	nwork        int   // workers: no more than the layer has parts
	// shared, when set, is the layer's one tally: blocks shorter than an
	// [Units, Inner] group are counted by unit span into a worker's small
	// scratch tally and added here, so that a layer of millions of units
	// costs its counts once, not once per worker.
	shared   *Tally
	sharedMu sync.Mutex
	shift    int64         // elements chunk 0 is shorter than a step (PatternLayout.Shift)
	pipe     *patternPipe  // with patterns on
	layout   PatternLayout // the sink's, with patterns on
	pool     *bufPool      // the run's buffers, kept from layer to layer
}

// worker is one counting goroutine's state.
type worker struct {
	tally *Tally
	bits  []uint64 // streamed sources: its pattern buffer for one block, when patterns are on
}

func (lc *layerCount) newWorker() *worker {
	if lc.shared != nil {
		// a block of step elements, split at group boundaries, spans at
		// most step/Inner+2 units in each part
		return &worker{tally: NewTally(int(min(lc.plan.Geom.Units, lc.step/lc.plan.Geom.Inner+2)))}
	}
	t := NewTally(int(lc.plan.Geom.Units))
	if so := lc.opt.Stats; so != nil {
		sat, _ := so.saturateFor(lc.plan.Layer.Name) // checked by Run
		t.Stats = NewStats(int(lc.plan.Geom.Units), sat)
	}
	return &worker{tally: t}
}

// countSpans counts data, elements [start, ...) of a layer whose blocks
// are shorter than a group, as blocks of the units they span (split where
// a group ends), and adds their counts to the shared tally.
func (lc *layerCount) countSpans(w *worker, data []byte, start int64) error {
	l, g := lc.plan.Layer, lc.plan.Geom
	size := int64(l.DType.Size())
	group := g.Units * g.Inner
	for len(data) > 0 {
		e := start % group
		n := min(int64(len(data))/size, group-e)
		u0, u1 := e/g.Inner, (e+n-1)/g.Inner
		span := u1 - u0 + 1
		t := &Tally{Counts: w.tally.Counts[:span], NaNs: w.tally.NaNs[:span]}
		clear(t.Counts)
		clear(t.NaNs)
		blk := Block{DType: l.DType, Thr: lc.thr, Geom: Geometry{Outer: 1, Units: span, Inner: g.Inner, UnitAxis: g.UnitAxis},
			Data: data[:n*size], Start: e - u0*g.Inner}
		if err := lc.opt.Backend.Count(&blk, t); err != nil {
			return &FileError{Path: l.Path, Err: fmt.Errorf("layer %s: %w", l.Name, err)}
		}
		lc.sharedMu.Lock()
		for i, c := range t.Counts {
			lc.shared.Counts[u0+int64(i)] += c
		}
		for i, c := range t.NaNs {
			lc.shared.NaNs[u0+int64(i)] += c
		}
		lc.sharedMu.Unlock()
		data = data[n*size:]
		start += n
	}
	return nil
}

// newBits returns a pattern buffer for one step (from the run's pool: its
// contents are whatever it last held).
func (lc *layerCount) newBits() []uint64 {
	g := lc.plan.Geom
	return lc.pool.words.Get(int(lc.step / (g.Units * g.Inner) * g.Inner * int64(Words(int(g.Units)))))
}

// count counts one block of whole elements starting at element start, and
// hands its patterns to the sink.
func (lc *layerCount) count(w *worker, data []byte, start int64) error {
	if err := lc.countPart(w, w.bits, data, start, start); err != nil {
		return err
	}
	if lc.pipe == nil {
		return nil
	}
	if err := lc.emit(w.bits, start-lc.first, int64(len(data)/lc.plan.Layer.DType.Size())); err != nil {
		return err
	}
	w.bits = <-lc.pipe.free
	return nil
}

// countPart counts data, elements [start, ...) of a block that starts at
// element first, writing its patterns to their place in the block's
// pattern buffer bits. Both start and first begin whole observation groups.
func (lc *layerCount) countPart(w *worker, bits []uint64, data []byte, start, first int64) error {
	if lc.shared != nil {
		return lc.countSpans(w, data, start)
	}
	l, g := lc.plan.Layer, lc.plan.Geom
	blk := Block{DType: l.DType, Thr: lc.thr, Geom: g, Data: data, Start: start}
	if lc.opt.Patterns != nil {
		group := g.Units * g.Inner
		wd := int64(Words(int(g.Units)))
		off := (start - first) / group * g.Inner * wd
		nobs := int64(len(data)/l.DType.Size()) / group * g.Inner
		w.tally.Bits = bits[off : off+nobs*wd]
	}
	if err := lc.opt.Backend.Count(&blk, w.tally); err != nil {
		return &FileError{Path: l.Path, Err: fmt.Errorf("layer %s: %w", l.Name, err)}
	}
	return nil
}

// emit hands the patterns of the block of n elements at element start,
// counted into the pattern buffer bits, to the sink, and (unless it fails)
// the buffer to the pipe, which gives it back to p.free once written.
func (lc *layerCount) emit(bits []uint64, start, n int64) error {
	g := lc.plan.Geom
	group := g.Units * g.Inner
	nobs := n / group * g.Inner
	first := start / group * g.Inner
	p := lc.pipe
	if err := p.error(); err != nil {
		return err
	}
	if first == 0 {
		// The layer's first chunk is written here, at once, not queued
		// behind others: the sink learns its codes from it. The pipe's
		// goroutines write the others once it is written.
		defer p.firstDone()
		wd := Words(int(g.Units))
		if err := lc.opt.Patterns.Write(lc.index, 0, int(nobs), bits[:nobs*int64(wd)]); err != nil {
			p.mu.Lock()
			p.err = cmp.Or(p.err, err)
			p.mu.Unlock()
			return err
		}
		p.free <- bits
		return nil
	}
	p.jobs <- patternJob{first, int(nobs), bits}
	return nil
}

// patternPipe runs the sink's Writes on goroutines of their own (one fewer
// than the workers, at least one, so that a worker back from a read finds a
// free core; as many as the workers for a sink whose Layout is Slow), so that the counting
// workers go on reading while blocks are compressed: from a disk, reads are
// then not held up by the compression.
// There are two buffers per worker: each is being filled (for a streamed
// source, one per worker; read at offsets, one per block being counted),
// waits to be written, is being written, or is free. Two per worker are
// needed, not more: until chunk 0 is written nothing else is, and the
// other workers can hold at most 2n-1 buffers meanwhile (n chunks queued in
// jobs, n-1 more waiting to queue), which leaves one for chunk 0. More
// would only put more blocks in flight and more memory out of cache.
type patternPipe struct {
	jobs chan patternJob
	free chan []uint64
	// first is closed once the layer's first chunk is written (or will
	// not be: a failed run): the goroutines write no other chunk before,
	// so a sink never has to copy chunks that arrive ahead of the one its
	// codes are learnt from.
	first     chan struct{}
	firstOnce sync.Once
	wg        sync.WaitGroup
	mu        sync.Mutex
	err       error
}

type patternJob struct {
	first int64
	nobs  int
	bits  []uint64 // the buffer; the first nobs*Words(units) words are the patterns
}

func (lc *layerCount) startPipe() {
	n, wd := lc.nwork, Words(int(lc.plan.Geom.Units))
	p := &patternPipe{jobs: make(chan patternJob, n), free: make(chan []uint64, 2*n), first: make(chan struct{})}
	for i := 0; i < 2*n; i++ {
		p.free <- lc.newBits()
	}
	writers := max(1, n-1)
	if lc.layout.Slow {
		writers = n
	}
	for i := 0; i < writers; i++ {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			<-p.first
			for j := range p.jobs {
				if p.error() == nil {
					if err := lc.opt.Patterns.Write(lc.index, j.first, j.nobs, j.bits[:j.nobs*wd]); err != nil {
						p.mu.Lock()
						p.err = cmp.Or(p.err, err)
						p.mu.Unlock()
					}
				}
				p.free <- j.bits
			}
		}()
	}
	lc.pipe = p
}

// firstDone lets the pipe's goroutines write: the first chunk is written,
// or the layer failed.
func (p *patternPipe) firstDone() { p.firstOnce.Do(func() { close(p.first) }) }

func (p *patternPipe) error() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// stop waits for the Writes handed over and returns the first error.
func (p *patternPipe) stop() error {
	p.firstDone()
	close(p.jobs)
	p.wg.Wait()
	return p.err
}

func (lc *layerCount) run(ctx context.Context, progress func(int64)) (*Tally, error) {
	lc.step = chunkElems(lc.plan.Geom, lc.plan.Layer.DType.Size(), lc.opt.ChunkBytes, lc.opt.Patterns != nil || lc.opt.Stats != nil)
	if lc.opt.Patterns != nil {
		// At least the sink's preferred observations per Write.
		g := lc.plan.Geom
		lc.layout = lc.opt.Patterns.Layout(lc.index)
		if want := int64(lc.layout.Chunk); want > 0 {
			// A whole number of the sink's blocks (as near as whole
			// observation groups allow) per Write.
			block := max(1, want/g.Inner) * g.Units * g.Inner
			lc.step = max(1, lc.step/block) * block
		}
		lc.shift = int64(lc.layout.Shift) / g.Inner * g.Units * g.Inner
	}
	src, err := lc.plan.Layer.Open()
	if err != nil {
		return nil, err
	}
	defer src.Close()
	// A worker more than the layer's parts (read at offsets) or steps
	// (streamed) would only hold buffers.
	part := lc.step
	if _, ok := src.(ReaderAtSource); ok {
		part = min(lc.step, chunkElems(lc.plan.Geom, lc.plan.Layer.DType.Size(), lc.opt.ChunkBytes, true))
	}
	parts := (lc.elems + part - 1) / part
	lc.nwork = int(min(int64(lc.opt.Workers), max(parts, 1)))
	if g := lc.plan.Geom; lc.opt.Patterns == nil && lc.opt.Stats == nil && lc.nwork > 1 && g.Units*g.Inner > lc.step && g.Units > lc.step/g.Inner+2 {
		lc.shared = NewTally(int(g.Units))
	}
	workers := make([]*worker, lc.nwork)
	for i := range workers {
		workers[i] = lc.newWorker()
	}
	if lc.opt.Patterns != nil {
		lc.startPipe()
	}
	if ra, ok := src.(ReaderAtSource); ok {
		err = lc.readAt(ctx, progress, ra, workers)
	} else {
		err = lc.stream(ctx, progress, src, workers)
	}
	if lc.pipe != nil {
		err = cmp.Or(err, lc.pipe.stop())
		// every Write is done: the buffers are the workers' and the
		// spare ones
		for len(lc.pipe.free) > 0 {
			lc.pool.words.Put(<-lc.pipe.free)
		}
		for _, w := range workers {
			if w.bits != nil {
				lc.pool.words.Put(w.bits)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if lc.shared != nil {
		return lc.shared, nil
	}
	sum := workers[0].tally
	for _, w := range workers[1:] {
		sum.Add(w.tally)
	}
	sum.Bits = nil
	return sum, nil
}

// readAt: each worker claims the next part (about ChunkBytes), reads it
// into its own buffer and counts it. With patterns on, the parts of a step
// (whole blocks of the sink, megabytes) are counted into the step's pattern
// buffer by whichever workers claim them, and the worker that counts a
// step's last part hands it to the sink: a layer of one or two steps is
// counted on every core, not one step per worker.
func (lc *layerCount) readAt(ctx context.Context, progress func(int64), src ReaderAtSource, workers []*worker) error {
	l := lc.plan.Layer
	size := int64(l.DType.Size())
	want, base := lc.elems, lc.first
	step := lc.step
	// Parts are counted while still in cache.
	part := min(step, chunkElems(lc.plan.Geom, int(size), lc.opt.ChunkBytes, true))
	perStep := (step + part - 1) / part
	// step s is elements [stepAt(s), stepAt(s+1)): step 0 is lc.shift
	// shorter than the others
	nsteps := (want + lc.shift + step - 1) / step
	stepAt := func(s int64) int64 { return min(max(s*step-lc.shift, 0), want) }
	var steps []stepState // with patterns on
	if lc.pipe != nil {
		steps = make([]stepState, nsteps)
		for s := range steps {
			n := stepAt(int64(s)+1) - stepAt(int64(s))
			steps[s].left.Store((n + part - 1) / part)
		}
	}
	var next atomic.Int64 // the next part slot: step slot/perStep, part slot%perStep
	errs := make([]error, len(workers))
	var failed atomic.Bool
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Add(1)
		go func(i int, w *worker) {
			defer wg.Done()
			buf, free := lc.readBuffer(int(part * size))
			defer free()
			fail := func(err error) {
				errs[i] = err
				failed.Store(true)
				if lc.pipe != nil {
					lc.pipe.firstDone() // chunk 0 may never come: let queued chunks go
				}
			}
			for !failed.Load() {
				if err := ctx.Err(); err != nil {
					fail(err)
					return
				}
				slot := next.Add(1) - 1
				s, k := slot/perStep, slot%perStep
				if s >= nsteps {
					return
				}
				pos, off := stepAt(s), k*part
				n := stepAt(s+1) - pos
				if off >= n {
					continue // the last step is shorter
				}
				m := min(part, n-off)
				b := buf[:m*size]
				if _, err := src.ReadAt(b, (base+pos+off)*size); err != nil {
					if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
						err = FileErrorf(l.Path, ErrTruncated, "layer %s: data ends before byte %d of %d", l.Name, (base+pos+off+m)*size, lc.plan.Bytes())
					}
					fail(err)
					return
				}
				var bits []uint64
				if steps != nil {
					bits = steps[s].buffer(lc.pipe.free)
				}
				if err := lc.countPart(w, bits, b, base+pos+off, base+pos); err != nil {
					fail(err)
					return
				}
				progress(m * size)
				if steps != nil && steps[s].left.Add(-1) == 0 {
					if err := lc.emit(bits, pos, n); err != nil {
						fail(err)
						return
					}
				}
			}
		}(i, w)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// stepState is a step being counted from parts by several workers.
type stepState struct {
	left atomic.Int64 // parts not yet counted
	once sync.Once
	bits []uint64 // its pattern buffer, from the pipe's free ones (set once)
}

// buffer returns the step's pattern buffer, taking a free one (waiting for
// one if need be) for the first of its parts.
func (st *stepState) buffer(free chan []uint64) []uint64 {
	st.once.Do(func() { st.bits = <-free })
	return st.bits
}

// readBuffer returns a worker's read buffer of n bytes, from the backend
// when it is a Device (else, or if that fails, from the run's pool), and
// the function that gives it back.
func (lc *layerCount) readBuffer(n int) ([]byte, func()) {
	if h, ok := lc.opt.Backend.(Device); ok {
		if buf, err := h.AllocHost(n); err == nil {
			return buf, func() { h.FreeHost(buf) }
		}
	}
	buf := lc.pool.bytes.Get(n)
	return buf, func() { lc.pool.bytes.Put(buf) }
}

// stream: one goroutine reads the source in order, the workers count.
func (lc *layerCount) stream(ctx context.Context, progress func(int64), src Source, workers []*worker) error {
	l := lc.plan.Layer
	size := l.DType.Size()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan job, len(workers))
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			if lc.pipe != nil {
				w.bits = <-lc.pipe.free
			}
			for j := range jobs {
				if ctx.Err() == nil {
					if err := lc.count(w, j.chunk.Data, j.start); err != nil {
						cancel(err)
					}
				}
				if ctx.Err() != nil && lc.pipe != nil {
					lc.pipe.firstDone() // chunk 0 may never come: let queued chunks go
				}
				j.chunk.Release()
			}
		}(w)
	}
	want := lc.elems
	var pos int64
	var readErr error
	// A shard's rows start further in: the bytes before are read and
	// dropped (a stream cannot seek), a chunk at a time.
	for skip := lc.first; skip > 0 && ctx.Err() == nil; {
		n := min(lc.step, skip)
		c, err := src.Next(int(n) * size)
		if err == nil && len(c.Data) != int(n)*size {
			c.Release()
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				err = FileErrorf(l.Path, ErrTruncated, "layer %s: data ends before byte %d of %d", l.Name, lc.first*int64(size), lc.plan.Bytes())
			}
			readErr = err
			break
		}
		c.Release()
		skip -= n
	}
	for readErr == nil && pos < want && ctx.Err() == nil {
		n := min(lc.step, want-pos)
		if pos == 0 {
			n = min(lc.step-lc.shift, want)
		}
		c, err := src.Next(int(n) * size)
		if err == nil && len(c.Data) != int(n)*size {
			c.Release()
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				err = FileErrorf(l.Path, ErrTruncated, "layer %s: data ends after %d of %d bytes", l.Name, pos*int64(size), want*int64(size))
			}
			readErr = err
			break
		}
		select {
		case jobs <- job{c, lc.first + pos}:
		case <-ctx.Done():
			c.Release()
		}
		pos += n
		progress(n * int64(size))
	}
	close(jobs)
	wg.Wait()
	if readErr != nil {
		return readErr
	}
	return context.Cause(ctx)
}
