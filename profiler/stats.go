package profiler

import (
	"math"
	"math/big"
)

// Value statistics: what a unit's values were, beyond whether it fired.
// They are computed in the counting pass when Options.Stats is set, by the
// backend, into a Tally's Stats. Every count and histogram is an exact
// integer; sums are float64 and depend, in their last bits, on the order in
// which blocks are added (see docs/format.md).

// The value histogram: fixed bins over the finite values, the same for
// every layer and dtype, so that histograms add exactly across parts,
// shards and backends. Magnitudes are binned on a log scale, four bins a
// decade from 1e-8 to 1e8: edge k (k = 0..64) is ValueEdges[k], the
// float64 nearest 10^(k/4 - 8). Bins, in order of value:
//
//	0        x <= -1e8 (negative overflow)
//	1..64    -E[65-i] < x <= -E[64-i] ... that is, |x| in [E[64-i], E[65-i])
//	65       -1e-8 < x < 0 (negative underflow)
//	66       x == 0 (either sign)
//	67       0 < x < 1e-8 (positive underflow)
//	68..131  |x| in [E[i-68], E[i-67])
//	132      x >= 1e8 (positive overflow)
//
// ±Inf and NaN are not in the histogram (Stats.PosInf, NegInf; Tally.NaNs).
const (
	ValueBins      = 133
	ValueZeroBin   = 66
	valueEdgeCount = 65
)

// ValueEdges are the magnitude edges of the value histogram: edge k is
// 10^(k/4 - 8) correctly rounded to float64 (testdata/value_edges.txt
// lists them, as Python's decimal module computes them).
var ValueEdges = func() (e [valueEdgeCount]float64) {
	const prec = 256 // far beyond float64: rounding the result is exact
	one := new(big.Float).SetPrec(prec).SetInt64(1)
	ten := new(big.Float).SetPrec(prec).SetInt64(10)
	sqrt10 := new(big.Float).SetPrec(prec).Sqrt(ten)
	root4 := new(big.Float).SetPrec(prec).Sqrt(sqrt10)
	for k := range e {
		q, r := k/4-8, k%4
		x := new(big.Float).SetPrec(prec).Set(one)
		for range max(q, -q) {
			x.Mul(x, ten)
		}
		if q < 0 {
			x.Quo(one, x)
		}
		if r&1 != 0 {
			x.Mul(x, root4)
		}
		if r&2 != 0 {
			x.Mul(x, sqrt10)
		}
		e[k], _ = x.Float64()
	}
	return
}()

// octaveBin[x] is the number of edges at most 2^(x-1023): the magnitude
// bin of the smallest value with biased exponent x. A binary octave spans
// 1.2 quarter-decades, so a value's bin is octaveBin plus at most two
// comparisons.
var octaveBin = func() (o [2048]uint8) {
	for x := range o {
		v := math.Ldexp(1, x-1023)
		n := 0
		for n < valueEdgeCount && ValueEdges[n] <= v {
			n++
		}
		o[x] = uint8(n)
	}
	return
}()

// MagnitudeBin is the magnitude bin of a > 0 finite: 0 below ValueEdges[0],
// k for ValueEdges[k-1] <= a < ValueEdges[k], 65 from ValueEdges[64] on.
func MagnitudeBin(a float64) int {
	k := int(octaveBin[math.Float64bits(a)>>52&0x7ff])
	for k < valueEdgeCount && a >= ValueEdges[k] {
		k++
	}
	return k
}

// ValueBin is the histogram bin of a finite x.
func ValueBin(x float64) int {
	switch {
	case x > 0:
		return ValueZeroBin + 1 + MagnitudeBin(x)
	case x < 0:
		return ValueZeroBin - 1 - MagnitudeBin(-x)
	}
	return ValueZeroBin
}

// MaxL0Bins is the most bins an L0 histogram has: a layer of U units
// counts L0 (the units that fired on one observation, 0..U) in bins of
// width L0Width(U).
const MaxL0Bins = 1024

// L0Width is the width of the L0 histogram's bins for a layer of units:
// bin k holds the observations on which k*w to k*w+w-1 units fired.
func L0Width(units int) int { return (units + MaxL0Bins) / MaxL0Bins }

// L0BinCount is the number of bins of the L0 histogram of a layer of units.
func L0BinCount(units int) int { return units/L0Width(units) + 1 }

// Range is a closed saturation range: a value x <= Lo or x >= Hi is
// saturated.
type Range struct{ Lo, Hi float64 }

// Stats are one layer's value statistics as a backend accumulates them.
// Per unit: Min and Max of its finite values (+Inf and -Inf while it has
// none), Sum and SumAbs of them, its +Inf and -Inf observations, the
// observations in the saturation range (when Saturate is set), and the
// first and last observation on which it fired (First = MaxInt64 and Last
// = -1 while it has not). Per layer: the value histogram and the L0
// histogram (bins of L0Width(units)).
type Stats struct {
	Saturate *Range // nil: saturation is not counted

	Min, Max, Sum, SumAbs []float64
	PosInf, NegInf        []uint64
	Saturated             []uint64 // nil without Saturate
	First, Last           []int64
	Values                []uint64 // ValueBins
	L0                    []uint64 // L0BinCount(units)
}

// NewStats allocates the empty statistics of a layer of units.
func NewStats(units int, saturate *Range) *Stats {
	s := &Stats{
		Min: make([]float64, units), Max: make([]float64, units), Sum: make([]float64, units), SumAbs: make([]float64, units),
		PosInf: make([]uint64, units), NegInf: make([]uint64, units),
		First: make([]int64, units), Last: make([]int64, units),
		Values: make([]uint64, ValueBins), L0: make([]uint64, L0BinCount(units)),
	}
	if saturate != nil {
		r := *saturate
		s.Saturate = &r
		s.Saturated = make([]uint64, units)
	}
	s.Reset()
	return s
}

// Reset empties s.
func (s *Stats) Reset() {
	for u := range s.Min {
		s.Min[u], s.Max[u] = math.Inf(1), math.Inf(-1)
		s.First[u], s.Last[u] = math.MaxInt64, -1
	}
	clear(s.Sum)
	clear(s.SumAbs)
	clear(s.PosInf)
	clear(s.NegInf)
	clear(s.Saturated)
	clear(s.Values)
	clear(s.L0)
}

// Add adds o (of a disjoint set of observations of the same layer) into s.
func (s *Stats) Add(o *Stats) {
	for u := range s.Min {
		s.Min[u] = min(s.Min[u], o.Min[u])
		s.Max[u] = max(s.Max[u], o.Max[u])
		s.Sum[u] += o.Sum[u]
		s.SumAbs[u] += o.SumAbs[u]
		s.PosInf[u] += o.PosInf[u]
		s.NegInf[u] += o.NegInf[u]
		s.First[u] = min(s.First[u], o.First[u])
		s.Last[u] = max(s.Last[u], o.Last[u])
	}
	for u := range s.Saturated {
		s.Saturated[u] += o.Saturated[u]
	}
	for i := range s.Values {
		s.Values[i] += o.Values[i]
	}
	for i := range s.L0 {
		s.L0[i] += o.L0[i]
	}
}
