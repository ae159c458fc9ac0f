// Package backendtest is the conformance suite every profiler.Backend must
// pass: the same cases, the same naive oracle, for the CPU reference and for
// the CUDA backend. Call Run from a backend's tests.
package backendtest

import (
	"encoding/binary"
	"math"

	"github.com/actprof/actprof/profiler"
)

// Value decodes element i of data as a float64, exactly. It shares no code
// with any backend's comparison.
func Value(dt profiler.DType, data []byte, i int) float64 {
	switch dt {
	case profiler.Float32:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])))
	case profiler.Float64:
		return math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
	case profiler.BFloat16:
		return float64(math.Float32frombits(uint32(binary.LittleEndian.Uint16(data[2*i:])) << 16))
	case profiler.Float16:
		return halfToFloat64(binary.LittleEndian.Uint16(data[2*i:]))
	}
	panic("backendtest: unknown dtype")
}

// halfToFloat64 decodes binary16 by its definition, (-1)^s * 2^(e-15) *
// 1.m, independently of profiler.F16ToF32.
func halfToFloat64(h uint16) float64 {
	s := 1.0
	if h&0x8000 != 0 {
		s = -1
	}
	e := int(h>>10) & 0x1f
	m := float64(h & 0x3ff)
	switch e {
	case 0x1f:
		if m != 0 {
			return math.NaN()
		}
		return math.Inf(int(s))
	case 0:
		return s * math.Ldexp(m, -24)
	}
	return s * math.Ldexp(1+m/1024, e-15)
}

// Result is what a backend computes for a layer.
type Result struct {
	Counts, NaNs []uint64
	Bits         []uint64 // per observation, profiler.Words(units) words each
}

// Oracle counts data, the elements [start, start+n) of an array of geometry
// g, with the plainest loop there is: x > T as float64, NaN never fires.
// Bits are filled when the elements are whole [Units, Inner] groups.
func Oracle(dt profiler.DType, data []byte, start int64, g profiler.Geometry, t float64) Result {
	n := len(data) / dt.Size()
	u := int(g.Units)
	r := Result{Counts: make([]uint64, u), NaNs: make([]uint64, u)}
	group := g.Units * g.Inner
	whole := start%group == 0 && int64(n)%group == 0
	w := int64(profiler.Words(u))
	if whole {
		r.Bits = make([]uint64, int64(n)/group*g.Inner*w)
	}
	for i := 0; i < n; i++ {
		e := start + int64(i)
		unit := (e / g.Inner) % g.Units
		v := Value(dt, data, i)
		if math.IsNaN(v) {
			r.NaNs[unit]++
			continue
		}
		if v > t {
			r.Counts[unit]++
			if whole {
				rel := int64(i)
				obs := rel/group*g.Inner + rel%g.Inner
				r.Bits[obs*w+unit/64] |= 1 << (unit % 64)
			}
		}
	}
	return r
}

// StatsOracle computes the value statistics of data, whole [Units, Inner]
// groups of an array of geometry g starting at element start, with plain
// loops: every element decoded by Value, its bin found by scanning the
// edges, sums in observation order.
func StatsOracle(dt profiler.DType, data []byte, start int64, g profiler.Geometry, t float64, sat *profiler.Range) *profiler.Stats {
	units := int(g.Units)
	s := profiler.NewStats(units, sat)
	n := len(data) / dt.Size()
	group := g.Units * g.Inner
	fired := make([]uint64, int64(n)/group*g.Inner)
	obs0 := start / group * g.Inner
	for i := 0; i < n; i++ {
		e := int64(i)
		u := int((e / g.Inner) % g.Units)
		obsRel := e/group*g.Inner + e%g.Inner
		obs := obs0 + obsRel
		v := Value(dt, data, i)
		if v > t {
			fired[obsRel]++
			if s.First[u] == math.MaxInt64 {
				s.First[u] = obs
			}
			s.Last[u] = obs
		}
		if math.IsNaN(v) {
			continue
		}
		if sat != nil && (v <= sat.Lo || v >= sat.Hi) {
			s.Saturated[u]++
		}
		if math.IsInf(v, 1) {
			s.PosInf[u]++
			continue
		}
		if math.IsInf(v, -1) {
			s.NegInf[u]++
			continue
		}
		if v < s.Min[u] {
			s.Min[u] = v
		}
		if v > s.Max[u] {
			s.Max[u] = v
		}
		s.Sum[u] += v
		s.SumAbs[u] += math.Abs(v)
		s.Values[naiveBin(v)]++
	}
	w := uint64(profiler.L0Width(units))
	for _, f := range fired {
		s.L0[f/w]++
	}
	return s
}

// naiveBin is the value histogram's bin of finite x, by its definition:
// the edges at most |x|, counted one by one.
func naiveBin(x float64) int {
	if x == 0 {
		return profiler.ValueZeroBin
	}
	k := 0
	for k < len(profiler.ValueEdges) && math.Abs(x) >= profiler.ValueEdges[k] {
		k++
	}
	if x > 0 {
		return profiler.ValueZeroBin + 1 + k
	}
	return profiler.ValueZeroBin - 1 - k
}
