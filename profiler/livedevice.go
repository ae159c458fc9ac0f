package profiler

import (
	"fmt"
	"slices"
	"strings"
)

// Batches counted on a device (a CUDA tensor counted in place by the
// caller's kernels): AddCounted registers the batch with the layer, as Add
// does, and hands its geometry to the caller's count, which enqueues the
// counting; the counts come back later, summed over many batches, through
// AddCounts. Counts are sums, so the order of batches does not change
// them. With patterns, count also fills the batch's fired bits before it
// returns, which are kept in order as Add's are. Value statistics, which
// need every value, are not kept for such batches (AddCounted refuses
// them).

// AddCounted registers a batch of layer name, of dtype and shape, counted
// by count on device (its name, e.g. cuda:0), which is called with the
// batch's geometry with the layer locked; its counts are to be added with
// AddCounts before the profile is read. With patterns, bits is the
// batch's fired bits, Words(units) words an observation (the layout of
// Tally.Bits), which count must fill before it returns; else nil.
func (lv *Live) AddCounted(name string, dtype DType, shape []int, device string, count func(g Geometry, bits []uint64) error) error {
	if lv.opt.Stats != nil {
		return fmt.Errorf("%w: layer %s: value statistics of a tensor on %s are not computed (profile it on the CPU, or without stats)", ErrUnsupported, name, device)
	}
	if lv.opt.Patterns {
		// the bits go to the layer's file in the order of the batches:
		// after those queued before
		if err := lv.q.drain(); err != nil {
			return err
		}
	}
	l, g, err := lv.lockBatch(name, dtype, shape)
	if err != nil {
		return err
	}
	defer l.mu.Unlock()
	if g.Elements() > 0 {
		var bits []uint64
		if l.spill != nil {
			nw := g.Observations() * int64(Words(int(g.Units)))
			if int64(cap(l.bits)) < nw {
				l.bits = make([]uint64, nw)
			}
			bits = l.bits[:nw]
			clear(bits)
		}
		err := count(g, bits)
		if err == nil && bits != nil {
			if _, werr := l.bw.Write(wordBytes(bits)); werr != nil {
				err = fmt.Errorf("patterns: %w", werr)
			}
		}
		if err != nil {
			l.err = fmt.Errorf("layer %s: %w", name, err)
			return l.err
		}
	}
	lv.mu.Lock()
	if lv.devices == nil {
		lv.devices = map[string]bool{}
	}
	lv.devices[device] = true
	lv.mu.Unlock()
	l.added(g, shape)
	return nil
}

// AddCounts adds counts and NaN counts (one per unit) to layer name's,
// which AddCounted made.
func (lv *Live) AddCounts(name string, counts, nans []uint64) error {
	lv.mu.Lock()
	l := lv.layers[name]
	lv.mu.Unlock()
	if l == nil {
		return fmt.Errorf("%w: no layer %s", ErrBadOption, name)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(counts) != int(l.units) || len(nans) != int(l.units) {
		return fmt.Errorf("%w: layer %s: %d counts for %d units", ErrBadOption, name, len(counts), l.units)
	}
	for u := range counts {
		l.tally.Counts[u] += counts[u]
		l.tally.NaNs[u] += nans[u]
	}
	return nil
}

// backendName is the profile's backend: the live profile's, or with
// batches counted on devices, theirs (and the backend's where it counted
// batches too).
func (lv *Live) backendName() string {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	if len(lv.devices) == 0 {
		return lv.opt.Backend.Name()
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for d := range lv.devices {
			if !yield(d) {
				return
			}
		}
	})
	if lv.hostBatches {
		names = append([]string{lv.opt.Backend.Name()}, names...)
	}
	return strings.Join(names, "+")
}
