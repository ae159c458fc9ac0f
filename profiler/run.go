package profiler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
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
	// Workers is the number of counting goroutines; default GOMAXPROCS.
	Workers int
	// ChunkBytes is the size of the blocks handed to the backend; default
	// DefaultChunkBytes. Results do not depend on it.
	ChunkBytes int
	// Progress, if set, is called after each chunk is read with the bytes
	// read so far and in all. It may be called from several goroutines at
	// once.
	Progress func(done, total int64)
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
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	if opt.ChunkBytes <= 0 {
		opt.ChunkBytes = DefaultChunkBytes
	}
	plans, err := PlanLayers(layers, opt.UnitAxis)
	if err != nil {
		return nil, err
	}
	var total int64
	var done atomic.Int64
	for _, p := range plans {
		total += p.Bytes()
	}
	prof := &Profile{FormatVersion: FormatVersion, Tool: ToolVersion, Backend: opt.Backend.Name(),
		Threshold: opt.Threshold, RareBelow: opt.RareBelow}
	for _, p := range plans {
		tally, err := countLayer(ctx, p, thr, &opt, func(n int64) {
			d := done.Add(n)
			if opt.Progress != nil {
				opt.Progress(d, total)
			}
		})
		if err != nil {
			return nil, err
		}
		prof.Layers = append(prof.Layers, NewLayerProfile(p, tally, opt.RareBelow))
	}
	return prof, nil
}

const maxFinite = 1.7976931348623157e308

// chunkElems picks the elements per block: about ChunkBytes, rounded down to
// whole observation groups ([Units, Inner]) or else whole unit runs (Inner),
// so most blocks take the kernels' fast shape.
func chunkElems(g Geometry, size, chunkBytes int) int64 {
	n := max(int64(chunkBytes/size), 1)
	if group := g.Units * g.Inner; group <= n {
		return n / group * group
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

func countLayer(ctx context.Context, p Plan, thr Threshold, opt *Options, progress func(int64)) (*Tally, error) {
	src, err := p.Layer.Open()
	if err != nil {
		return nil, err
	}
	defer src.Close()
	if ra, ok := src.(ReaderAtSource); ok {
		return countReadAt(ctx, p, thr, opt, progress, ra)
	}
	return countStream(ctx, p, thr, opt, progress, src)
}

// countReadAt: each worker claims the next chunk, reads it into its own
// buffer and counts it.
func countReadAt(ctx context.Context, p Plan, thr Threshold, opt *Options, progress func(int64), src ReaderAtSource) (*Tally, error) {
	l := p.Layer
	size := int64(l.DType.Size())
	want := p.Geom.Elements()
	step := chunkElems(p.Geom, int(size), opt.ChunkBytes)
	var next atomic.Int64
	errs := make([]error, opt.Workers)
	tallies := make([]*Tally, opt.Workers)
	var failed atomic.Bool
	var wg sync.WaitGroup
	for w := range tallies {
		tallies[w] = NewTally(int(p.Geom.Units))
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			buf := make([]byte, step*size)
			for !failed.Load() {
				if err := ctx.Err(); err != nil {
					errs[w] = err
					failed.Store(true)
					return
				}
				pos := next.Add(step) - step
				if pos >= want {
					return
				}
				n := min(step, want-pos)
				b := buf[:n*size]
				if _, err := src.ReadAt(b, pos*size); err != nil {
					if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
						err = FileErrorf(l.Path, ErrTruncated, "layer %s: data ends before byte %d of %d", l.Name, (pos+n)*size, want*size)
					}
					errs[w] = err
					failed.Store(true)
					return
				}
				blk := Block{DType: l.DType, Thr: thr, Geom: p.Geom, Data: b, Start: pos}
				if err := opt.Backend.Count(&blk, tallies[w]); err != nil {
					errs[w] = &FileError{Path: l.Path, Err: fmt.Errorf("layer %s: %w", l.Name, err)}
					failed.Store(true)
					return
				}
				progress(n * size)
			}
		}(w)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	sum := tallies[0]
	for _, t := range tallies[1:] {
		sum.Add(t)
	}
	return sum, nil
}

// countStream: one goroutine reads the source in order, the workers count.
func countStream(ctx context.Context, p Plan, thr Threshold, opt *Options, progress func(int64), src Source) (*Tally, error) {
	l := p.Layer
	size := l.DType.Size()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan job, opt.Workers)
	tallies := make([]*Tally, opt.Workers)
	var wg sync.WaitGroup
	for w := range tallies {
		tallies[w] = NewTally(int(p.Geom.Units))
		wg.Add(1)
		go func(t *Tally) {
			defer wg.Done()
			for j := range jobs {
				if ctx.Err() == nil {
					blk := Block{DType: l.DType, Thr: thr, Geom: p.Geom, Data: j.chunk.Data, Start: j.start}
					if err := opt.Backend.Count(&blk, t); err != nil {
						cancel(&FileError{Path: l.Path, Err: fmt.Errorf("layer %s: %w", l.Name, err)})
					}
				}
				j.chunk.Release()
			}
		}(tallies[w])
	}

	want := p.Geom.Elements()
	step := chunkElems(p.Geom, size, opt.ChunkBytes)
	var pos int64
	var readErr error
	for pos < want && ctx.Err() == nil {
		n := min(step, want-pos)
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
		case jobs <- job{c, pos}:
		case <-ctx.Done():
			c.Release()
		}
		pos += n
		progress(n * int64(size))
	}
	close(jobs)
	wg.Wait()
	if readErr != nil {
		return nil, readErr
	}
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	sum := tallies[0]
	for _, t := range tallies[1:] {
		sum.Add(t)
	}
	return sum, nil
}
