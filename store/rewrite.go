package store

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/actprof/actprof/profiler"
)

// RewriteOptions are Rewrite's options.
type RewriteOptions struct {
	Level string // a key of Levels ("" means DefaultLevel)
	Sync  bool   // as Writer.Sync
	// Progress, if set, is called from time to time with the raw pattern
	// bytes (ceil(units/8) per observation) rewritten so far and in all.
	Progress func(done, total int64)
}

// Rewrite writes the patterns of the store r to a new store at path, at
// another compression level: a store written at level fastest while
// profiling, whose writing must keep up with the reads, made smaller
// afterwards, without the activations (docs/performance.md gives the
// sizes of both levels). The new store is the one
// profiling at that level would have written, byte for byte. It is written
// to a temporary file and renamed into place when complete (path may be
// r's own: r keeps reading the file it opened).
func Rewrite(ctx context.Context, r *Reader, path string, opt RewriteOptions) error {
	h := r.Header
	if h.Shard != nil {
		return &profiler.FileError{Path: r.path, Err: fmt.Errorf("%w: a part of a sharded run (shards %v of %d): merge the parts first ('actprof patterns merge')", profiler.ErrBadOption, h.Shard.Shards, h.Shard.Count)}
	}
	h.FormatVersion, h.Codec = FormatVersion, Codecs
	h.Layers = slices.Clone(h.Layers)
	w, err := Create(path, h, opt.Level)
	if err != nil {
		return err
	}
	w.Sync = opt.Sync
	var done, total int64
	for _, l := range h.Layers {
		total += l.Observations * int64(rowBytes(l.Units))
	}
	for i, l := range r.Layers() {
		err := rewriteLayer(ctx, w, i, l, func(n int) {
			done += int64(n) * int64(rowBytes(l.Info.Units))
			if opt.Progress != nil {
				opt.Progress(done, total)
			}
		})
		if err != nil {
			w.Abort()
			return err
		}
	}
	return w.Close()
}

// rewriteLayer writes layer i of the new store from l, in chunks as the
// profiler hands them (whole blocks of whole groups, the dictionary blocks
// in the first), the first written before the others, which are written
// on every core.
func rewriteLayer(ctx context.Context, w *Writer, i int, l *Layer, read func(n int)) error {
	info := l.Info
	g, err := profiler.NewGeometry(info.Shape, info.UnitAxis)
	if err != nil || g.Units != int64(info.Units) || g.Observations() != info.Observations {
		return &profiler.FileError{Path: l.r.path, Err: fmt.Errorf("%w: layer %s: shape %v and unit axis %d do not give its %d units and %d observations",
			ErrCorrupt, info.Name, info.Shape, info.UnitAxis, info.Units, info.Observations)}
	}
	plan := profiler.Plan{Layer: profiler.Layer{Name: info.Name, Shape: info.Shape}, Geom: g}
	if err := w.BeginLayer(i, plan); err != nil {
		return err
	}
	wd := words(info.Units)
	// Chunk ends: the first holds what the writer asks of chunk 0; the
	// others 4 blocks each (a few MiB as rows of 64-bit words), at block
	// starts.
	first := int64(w.Layout(i).Chunk)
	var ends []int64
	if n := info.Observations; n > 0 {
		end := min(first, n)
		ends = append(ends, end)
		for end < n {
			for k := 0; k < 4 && end < n; k++ {
				end += int64(blockLen(info.Units, g.Inner, end, math.MaxInt))
			}
			end = min(end, n)
			ends = append(ends, end)
		}
	}

	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		werr   error
		slots  = make(chan struct{}, runtime.GOMAXPROCS(0))
		chunk  []uint64
		start  int64 // first observation of chunk
		next   int   // index in ends of the chunk being filled
		failed = func() error { mu.Lock(); defer mu.Unlock(); return werr }
	)
	write := func(first int64, n int, bits []uint64) {
		defer wg.Done()
		defer func() { <-slots }()
		if err := w.Write(i, first, n, bits); err != nil {
			mu.Lock()
			werr = cmp.Or(werr, err)
			mu.Unlock()
		}
	}
	err = l.Rows(func(f int64, n int, rows []uint64) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		read(n)
		for n > 0 {
			if chunk == nil {
				chunk = make([]uint64, 0, (ends[next]-start)*int64(wd))
			}
			take := min(int64(n), ends[next]-f)
			chunk = append(chunk, rows[:take*int64(wd)]...)
			rows, f, n = rows[take*int64(wd):], f+take, n-int(take)
			if f < ends[next] {
				continue
			}
			// a whole chunk: chunk 0 at once, the others on goroutines
			if err := failed(); err != nil {
				return err
			}
			cn := int(ends[next] - start)
			slots <- struct{}{}
			wg.Add(1)
			if next == 0 {
				write(start, cn, chunk)
			} else {
				go write(start, cn, chunk)
			}
			chunk, start, next = nil, ends[next], next+1
		}
		return nil
	})
	wg.Wait()
	if err == nil {
		err = failed()
	}
	if err != nil {
		return err
	}
	return w.EndLayer(i)
}
