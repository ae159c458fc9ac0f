// Package cpu is actprof's reference counting backend: exact, portable Go,
// with vector fast paths (count_amd64.s) where the processor has them. Every
// fast path is cross-checked against the plain-Go kernels in count_generic.go,
// and those against a naive loop, at boundary sizes (see the tests).
package cpu

import (
	"fmt"

	"github.com/actprof/actprof/profiler"
)

// Backend is the CPU backend. The zero value is ready to use and safe for
// concurrent use.
type Backend struct {
	// Generic disables the vector fast paths (for cross-checks and
	// benchmarks).
	Generic bool
}

// New returns the CPU backend, using vector instructions when available.
func New() *Backend { return &Backend{} }

// Name is "cpu", or "cpu-generic" with the fast paths off.
func (b *Backend) Name() string {
	if b.Generic || !haveFast {
		return "cpu-generic"
	}
	return "cpu"
}

// Count implements profiler.Backend.
func (b *Backend) Count(blk *profiler.Block, t *profiler.Tally) error {
	g := blk.Geom
	if !blk.DType.Valid() {
		return fmt.Errorf("%w: cpu: unknown dtype %v", profiler.ErrBackend, blk.DType)
	}
	if len(blk.Data)%blk.DType.Size() != 0 {
		return fmt.Errorf("%w: cpu: block of %d bytes is not whole %v elements", profiler.ErrBackend, len(blk.Data), blk.DType)
	}
	if int64(len(t.Counts)) != g.Units || int64(len(t.NaNs)) != g.Units {
		return fmt.Errorf("%w: cpu: tally has %d units, layer %d", profiler.ErrBackend, len(t.Counts), g.Units)
	}
	if err := b.count(blk, t); err != nil {
		return err
	}
	if t.Stats != nil {
		return AddStats(blk, t.Stats)
	}
	return nil
}

// count adds blk's fire and NaN counts and, when asked, its patterns.
func (b *Backend) count(blk *profiler.Block, t *profiler.Tally) error {
	g := blk.Geom
	if t.Bits != nil && !b.Generic && countBitsFused(blk, t) {
		return nil
	}
	k := kernelsFor(blk.DType, b.Generic)
	if g.Inner > 1 && t.Bits != nil {
		// Runs with patterns: packBits counts from the bits it packs,
		// unless a NaN needs counting.
		counted, err := packBits(blk, t.Bits, t.Counts, b.Generic)
		if err == nil && !counted {
			countRuns(k, blk, t)
		}
		return err
	}
	if g.Inner == 1 {
		countUnitsLast(k, blk, t)
	} else {
		countRuns(k, blk, t)
	}
	if t.Bits != nil {
		_, err := packBits(blk, t.Bits, nil, b.Generic)
		return err
	}
	return nil
}

// kernels are the two shapes of inner loop for one dtype.
type kernels struct {
	size int
	// rows counts rows of a [rows, units] matrix whose rows are stride
	// bytes apart, adding fires and NaNs per unit.
	rows func(data []byte, rows, units, stride int, thr *profiler.Threshold, counts, nans []uint64)
	// run counts one contiguous run of elements of a single unit.
	run func(data []byte, thr *profiler.Threshold) (fired, nan uint64)
}

// countUnitsLast handles Inner == 1: element e belongs to unit e % Units.
func countUnitsLast(k kernels, blk *profiler.Block, t *profiler.Tally) {
	units := int(blk.Geom.Units)
	n := blk.Len()
	data := blk.Data
	u0 := int(blk.Start % int64(units))
	i := 0
	// A leading partial row: units u0.. of one row.
	if u0 != 0 {
		m := min(units-u0, n)
		k.rows(data[:m*k.size], 1, m, 0, &blk.Thr, t.Counts[u0:u0+m], t.NaNs[u0:u0+m])
		i = m
	}
	if full := (n - i) / units; full > 0 {
		k.rows(data[i*k.size:], full, units, units*k.size, &blk.Thr, t.Counts, t.NaNs)
		i += full * units
	}
	if m := n - i; m > 0 {
		k.rows(data[i*k.size:], 1, m, 0, &blk.Thr, t.Counts[:m], t.NaNs[:m])
	}
}

// countRuns handles Inner > 1: runs of Inner elements belong to one unit, unit
// (e / Inner) % Units for element e.
func countRuns(k kernels, blk *profiler.Block, t *profiler.Tally) {
	inner, units := blk.Geom.Inner, blk.Geom.Units
	pos, end := blk.Start, blk.Start+int64(blk.Len())
	data := blk.Data
	for pos < end {
		run := pos / inner
		stop := min((run+1)*inner, end)
		nb := int(stop-pos) * k.size
		f, nan := k.run(data[:nb], &blk.Thr)
		u := run % units
		t.Counts[u] += f
		t.NaNs[u] += nan
		data = data[nb:]
		pos = stop
	}
}
