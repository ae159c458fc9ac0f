package cpu

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/actprof/actprof/profiler"
)

// The value statistics (profiler.Stats), in plain Go for every dtype:
// elements are decoded to float64 (exactly: every float16, bfloat16 and
// float32 is a float64), a piece at a time, and each piece is folded into
// the per-unit extremes, sums and counts and the layer's histograms.

// piece is how many elements are decoded at a time.
const piece = 512

// AddStats adds blk's value statistics to s, as Backend.Count does when a
// tally has Stats: for a backend that counts elsewhere and leaves the
// statistics to the CPU. blk holds whole observation groups.
func AddStats(blk *profiler.Block, s *profiler.Stats) error {
	g := blk.Geom
	group := g.Units * g.Inner
	n := int64(blk.Len())
	if blk.Start%group != 0 || n%group != 0 {
		return fmt.Errorf("%w: cpu: value statistics need whole observation groups (block of %d elements at %d, groups of %d)",
			profiler.ErrBackend, n, blk.Start, group)
	}
	if len(s.Min) != int(g.Units) || len(s.L0) != profiler.L0BinCount(int(g.Units)) {
		return fmt.Errorf("%w: cpu: statistics of %d units, layer %d", profiler.ErrBackend, len(s.Min), g.Units)
	}
	k := statsKernel{s: s, t: blk.Thr.T, w: uint64(profiler.L0Width(int(g.Units)))}
	if s.Saturate != nil {
		k.sat, k.lo, k.hi = true, s.Saturate.Lo, s.Saturate.Hi
	}
	size := blk.DType.Size()
	obs0 := blk.Start / group * g.Inner
	var buf [piece]float64
	units, inner := int(g.Units), int(g.Inner)
	defer k.flushHist()
	if inner == 1 {
		for r := int64(0); r < n/group; r++ {
			var fired uint64
			row := blk.Data[r*group*int64(size):]
			for u0 := 0; u0 < units; u0 += piece {
				m := min(piece, units-u0)
				v, finite := decode(blk.DType, row[u0*size:(u0+m)*size], buf[:m])
				if finite {
					fired += k.rowFinite(v, u0, obs0+r)
				} else {
					fired += k.row(v, u0, obs0+r)
				}
			}
			s.L0[fired/k.w]++
		}
		return nil
	}
	l0 := make([]uint32, inner)
	for o := int64(0); o < n/group; o++ {
		clear(l0)
		for u := 0; u < units; u++ {
			run := blk.Data[(o*group+int64(u)*int64(inner))*int64(size):]
			for i0 := 0; i0 < inner; i0 += piece {
				m := min(piece, inner-i0)
				v, finite := decode(blk.DType, run[i0*size:(i0+m)*size], buf[:m])
				if finite {
					k.runFinite(v, u, obs0+o*int64(inner)+int64(i0), l0[i0:i0+m])
				} else {
					k.run(v, u, obs0+o*int64(inner)+int64(i0), l0[i0:i0+m])
				}
			}
		}
		for _, f := range l0 {
			s.L0[uint64(f)/k.w]++
		}
	}
	return nil
}

// decode decodes the elements of data into out (len(data)/size of them)
// and reports whether all are finite.
func decode(dt profiler.DType, data []byte, out []float64) ([]float64, bool) {
	var special uint64 // the elements whose exponent is all ones (Inf, NaN)
	switch dt {
	case profiler.Float32:
		for i := range out {
			b := binary.LittleEndian.Uint32(data[4*i:])
			special += b2u(b&inf32 == inf32)
			out[i] = float64(math.Float32frombits(b))
		}
	case profiler.Float64:
		for i := range out {
			b := binary.LittleEndian.Uint64(data[8*i:])
			special += b2u(b&inf64 == inf64)
			out[i] = math.Float64frombits(b)
		}
	case profiler.BFloat16:
		for i := range out {
			h := binary.LittleEndian.Uint16(data[2*i:])
			special += b2u(h&infBF16 == infBF16)
			out[i] = float64(math.Float32frombits(uint32(h) << 16))
		}
	case profiler.Float16:
		for i := range out {
			h := binary.LittleEndian.Uint16(data[2*i:])
			special += b2u(h&infF16 == infF16)
			out[i] = float64(profiler.F16ToF32(h))
		}
	}
	return out, special == 0
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// histCopies is how many value histograms a kernel fills in turn: runs
// of equal bins (zeros, mostly) then do not wait on one counter.
const histCopies = 4

// edges are ValueEdges followed by two +Inf, so that a bin search may
// look two past the last edge.
var edges = func() (e [len(profiler.ValueEdges) + 2]float64) {
	copy(e[:], profiler.ValueEdges[:])
	e[len(e)-2], e[len(e)-1] = math.Inf(1), math.Inf(1)
	return
}()

// octave[x] is the magnitude bin of the smallest float64 of biased exponent
// x (profiler.MagnitudeBin).
var octave = func() (o [2048]uint8) {
	for x := range o {
		o[x] = uint8(profiler.MagnitudeBin(math.Float64frombits(uint64(x) << 52)))
	}
	o[0] = 0 // subnormals and zero
	return
}()

// finiteBin is ValueBin(x) for finite x, without branches.
func finiteBin(x float64) int {
	a := math.Abs(x)
	k := int(octave[math.Float64bits(a)>>52])
	k += int(b2u(a >= edges[k]))
	k += int(b2u(a >= edges[k]))
	sign := int(b2u(x > 0)) - int(b2u(x < 0))
	return profiler.ValueZeroBin + sign*(1+k)
}

// flushHist adds the kernel's histogram copies to the statistics.
func (k *statsKernel) flushHist() {
	for c := range histCopies {
		for b, n := range k.hist[c] {
			k.s.Values[b] += uint64(n)
		}
	}
}

type statsKernel struct {
	s      *profiler.Stats
	t      float64 // the threshold: x fires when x > t
	w      uint64  // L0 bin width
	sat    bool
	lo, hi float64
	// hist are the value histograms of the finite fast paths (a block has
	// fewer than 2^32 elements a copy).
	hist [histCopies][profiler.ValueBins]uint32
}

// value folds x, unit u's value on observation obs, into the unit's
// statistics and the value histogram, and reports whether it fired.
func (k *statsKernel) value(x float64, u int, obs int64) bool {
	s := k.s
	fired := x > k.t
	if fired {
		s.First[u] = min(s.First[u], obs)
		s.Last[u] = max(s.Last[u], obs)
	}
	if x != x { // NaN: counted by Count, no statistics
		return false
	}
	if k.sat && (x <= k.lo || x >= k.hi) {
		s.Saturated[u]++
	}
	switch {
	case x > math.MaxFloat64:
		s.PosInf[u]++
		return fired
	case x < -math.MaxFloat64:
		s.NegInf[u]++
		return fired
	}
	s.Min[u] = min(s.Min[u], x)
	s.Max[u] = max(s.Max[u], x)
	s.Sum[u] += x
	s.SumAbs[u] += math.Abs(x)
	s.Values[profiler.ValueBin(x)]++
	return fired
}

// row folds v, the values of units u0.. on observation obs, and returns
// how many fired.
func (k *statsKernel) row(v []float64, u0 int, obs int64) uint64 {
	var fired uint64
	for i, x := range v {
		if k.value(x, u0+i, obs) {
			fired++
		}
	}
	return fired
}

// run folds v, unit u's values on observations obs.., adding its fires to
// l0 (one entry per observation).
func (k *statsKernel) run(v []float64, u int, obs int64, l0 []uint32) {
	for i, x := range v {
		if k.value(x, u, obs+int64(i)) {
			l0[i]++
		}
	}
}

// rowFinite is row for values that are all finite, without branches on
// the data.
func (k *statsKernel) rowFinite(v []float64, u0 int, obs int64) uint64 {
	s, n := k.s, len(v)
	mn, mx, sum, sabs := s.Min[u0:u0+n], s.Max[u0:u0+n], s.Sum[u0:u0+n], s.SumAbs[u0:u0+n]
	first, last := s.First[u0:u0+n], s.Last[u0:u0+n]
	var fired uint64
	for i, x := range v {
		f := int64(b2u(x > k.t))
		fired += uint64(f)
		last[i] = max(last[i], f*(obs+1)-1)                     // obs if fired, else -1
		first[i] = min(first[i], obs+(1-f)*(math.MaxInt64-obs)) // obs if fired, else MaxInt64
		mn[i] = min(mn[i], x)
		mx[i] = max(mx[i], x)
		sum[i] += x
		sabs[i] += math.Abs(x)
		k.hist[i%histCopies][finiteBin(x)]++
	}
	if k.sat {
		sat := s.Saturated[u0 : u0+n]
		for i, x := range v {
			sat[i] += b2u(x <= k.lo) | b2u(x >= k.hi)
		}
	}
	return fired
}

// runFinite is run for values that are all finite: one unit's extremes
// and sums are kept in registers over the run.
func (k *statsKernel) runFinite(v []float64, u int, obs int64, l0 []uint32) {
	s := k.s
	mn, mx, sum, sabs := s.Min[u], s.Max[u], s.Sum[u], s.SumAbs[u]
	first, last := int64(math.MaxInt64), int64(-1)
	l0 = l0[:len(v)]
	for i, x := range v {
		f := b2u(x > k.t)
		l0[i] += uint32(f)
		o := obs + int64(i)
		last = max(last, int64(f)*(o+1)-1)
		first = min(first, o+int64(1-f)*(math.MaxInt64-o))
		mn = min(mn, x)
		mx = max(mx, x)
		sum += x
		sabs += math.Abs(x)
		k.hist[i%histCopies][finiteBin(x)]++
	}
	s.Min[u], s.Max[u], s.Sum[u], s.SumAbs[u] = mn, mx, sum, sabs
	s.First[u], s.Last[u] = min(s.First[u], first), max(s.Last[u], last)
	if k.sat {
		var n uint64
		for _, x := range v {
			n += b2u(x <= k.lo) | b2u(x >= k.hi)
		}
		s.Saturated[u] += n
	}
}
