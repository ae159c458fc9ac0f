package cpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"

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
	var bins [piece]uint8
	units, inner := int(g.Units), int(g.Inner)
	defer k.flushHist()
	if inner == 1 {
		for r := int64(0); r < n/group; r++ {
			var fired uint64
			row := blk.Data[r*group*int64(size):]
			for u0 := 0; u0 < units; u0 += piece {
				m := min(piece, units-u0)
				v, b, finite := decode(blk.DType, row[u0*size:(u0+m)*size], buf[:m], bins[:])
				if finite {
					fired += k.rowFinite(v, b, u0, obs0+r)
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
				v, b, finite := decode(blk.DType, run[i0*size:(i0+m)*size], buf[:m], bins[:])
				if finite {
					k.runFinite(v, b, u, obs0+o*int64(inner)+int64(i0), l0[i0:i0+m])
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
// and their value-histogram bins into bins (meaningless for Inf and NaN),
// and reports whether all are finite.
func decode(dt profiler.DType, data []byte, out []float64, bins []uint8) ([]float64, []uint8, bool) {
	var special uint64 // the elements whose exponent is all ones (Inf, NaN)
	bins = bins[:len(out)]
	switch dt {
	case profiler.Float32, profiler.BFloat16:
		f32Bins := f32Table()
		if dt == profiler.BFloat16 {
			for i := range out {
				h := binary.LittleEndian.Uint16(data[2*i:])
				special += b2u(h&infBF16 == infBF16)
				x := float64(math.Float32frombits(uint32(h) << 16))
				out[i] = x
				bins[i] = f32Bins.bin(h, x)
			}
			break
		}
		for i := range out {
			b := binary.LittleEndian.Uint32(data[4*i:])
			special += b2u(b&inf32 == inf32)
			x := float64(math.Float32frombits(b))
			out[i] = x
			bins[i] = f32Bins.bin(uint16(b>>16), x)
		}
	case profiler.Float64:
		for i := range out {
			b := binary.LittleEndian.Uint64(data[8*i:])
			special += b2u(b&inf64 == inf64)
			x := math.Float64frombits(b)
			out[i] = x
			bins[i] = uint8(finiteBin(x))
		}
	case profiler.Float16:
		f16Bins := f16Table()
		for i := range out {
			h := binary.LittleEndian.Uint16(data[2*i:])
			special += b2u(h&infF16 == infF16)
			x := float64(profiler.F16ToF32(h))
			out[i] = x
			bins[i] = f16Bins.bin(h, x)
		}
	}
	return out, bins, special == 0
}

// levels are the magnitudes at which a value's level (its bin's distance
// from the zero bin) steps up: the smallest positive float64 (from 0 to the
// underflow bin), then ValueEdges, then +Inf (never).
var levels = func() (l [len(profiler.ValueEdges) + 2]float64) {
	l[0] = math.SmallestNonzeroFloat64
	copy(l[1:], profiler.ValueEdges[:])
	l[len(l)-1] = math.Inf(1)
	return
}()

// level is the number of levels at most a (a >= 0).
func level(a float64) int {
	n := 0
	for n < len(levels) && levels[n] <= a {
		n++
	}
	return n
}

// binTable gives the value-histogram bin of an element from a 16-bit key
// (a float16, a bfloat16, or the top half of a float32) and at most one
// comparison: the values of one key lie within 1/128 of an octave, so at
// most one level begins among them.
type binTable struct {
	base [1 << 16]uint8 // the bin of the key's smallest magnitude
	next [1 << 16]uint8 // the level to compare |x| with (len(levels)-1: none)
}

// bin is the bin of finite x, whose key is h.
func (t *binTable) bin(h uint16, x float64) uint8 {
	step := b2u(math.Abs(x) >= levels[t.next[h]])
	if h&0x8000 != 0 {
		return t.base[h] - uint8(step)
	}
	return t.base[h] + uint8(step)
}

// newBinTable builds the table of keys whose values lie in [lo(h), hi(h)]
// (of one sign); non-finite keys are left zero.
func newBinTable(lo, hi func(h uint16) float64) *binTable {
	t := &binTable{}
	for k := range 1 << 16 {
		h := uint16(k)
		a, b := math.Abs(lo(h)), math.Abs(hi(h))
		if math.IsNaN(a) || math.IsInf(a, 0) || math.IsInf(b, 0) {
			continue
		}
		la, lb := level(a), level(b)
		t.next[h] = uint8(len(levels) - 1)
		if lb > la {
			t.next[h] = uint8(la)
		}
		if h&0x8000 != 0 {
			t.base[h] = uint8(profiler.ValueZeroBin - la)
		} else {
			t.base[h] = uint8(profiler.ValueZeroBin + la)
		}
	}
	return t
}

// The tables are built on first use (a few ms), not at start-up.
var (
	f32Table = sync.OnceValue(func() *binTable {
		return newBinTable(
			func(h uint16) float64 { return float64(math.Float32frombits(uint32(h) << 16)) },
			func(h uint16) float64 { return float64(math.Float32frombits(uint32(h)<<16 | 0xffff)) })
	})
	f16Table = sync.OnceValue(func() *binTable {
		return newBinTable(
			func(h uint16) float64 { return float64(profiler.F16ToF32(h)) },
			func(h uint16) float64 { return float64(profiler.F16ToF32(h)) })
	})
)

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
func (k *statsKernel) rowFinite(v []float64, bins []uint8, u0 int, obs int64) uint64 {
	s, n := k.s, len(v)
	bins = bins[:n]
	t := k.t
	hist := &k.hist
	mn, mx, sum, sabs := s.Min[u0:u0+n], s.Max[u0:u0+n], s.Sum[u0:u0+n], s.SumAbs[u0:u0+n]
	first, last := s.First[u0:u0+n], s.Last[u0:u0+n]
	var fired uint64
	for i, x := range v {
		f := int64(b2u(x > t))
		fired += uint64(f)
		m := -f                                            // all ones if it fired
		last[i] = max(last[i], obs&m|^m)                   // obs if fired, else -1
		first[i] = min(first[i], obs&m|(math.MaxInt64&^m)) // obs if fired, else MaxInt64
		if x < mn[i] {
			mn[i] = x
		}
		if x > mx[i] {
			mx[i] = x
		}
		sum[i] += x
		sabs[i] += math.Abs(x)
		hist[i%histCopies][bins[i]]++
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
func (k *statsKernel) runFinite(v []float64, bins []uint8, u int, obs int64, l0 []uint32) {
	s := k.s
	mn, mx, sum, sabs := s.Min[u], s.Max[u], s.Sum[u], s.SumAbs[u]
	// a second pair of sums, so that each add waits on every other one
	var sum2, sabs2 float64
	var fired uint32 // observations of the run on which it fired
	first, last := int64(math.MaxInt64), int64(-1)
	l0 = l0[:len(v)]
	bins = bins[:len(v)]
	t := k.t
	hist := &k.hist
	i := 0
	for ; i+2 <= len(v); i += 2 {
		x, y := v[i], v[i+1]
		f, g := uint32(b2u(x > t)), uint32(b2u(y > t))
		l0[i] += f
		l0[i+1] += g
		fired += f | g
		// compared, not min and max: no NaN here, and new extremes are
		// rare after a run's first values, so the branches predict well
		if x < mn {
			mn = x
		}
		if y < mn {
			mn = y
		}
		if x > mx {
			mx = x
		}
		if y > mx {
			mx = y
		}
		sum += x
		sum2 += y
		sabs += math.Abs(x)
		sabs2 += math.Abs(y)
		hist[0][bins[i]]++
		hist[1][bins[i+1]]++
	}
	for ; i < len(v); i++ {
		x := v[i]
		f := uint32(b2u(x > t))
		l0[i] += f
		fired |= f
		if x < mn {
			mn = x
		}
		if x > mx {
			mx = x
		}
		sum += x
		sabs += math.Abs(x)
		hist[2][bins[i]]++
	}
	sum += sum2
	sabs += sabs2
	if fired != 0 {
		// the first and last observation on which it fired
		for j, x := range v {
			if x > t {
				first = obs + int64(j)
				break
			}
		}
		for j := len(v) - 1; j >= 0; j-- {
			if v[j] > t {
				last = obs + int64(j)
				break
			}
		}
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
