package profiler

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// Defaults of the value statistics' readings.
const (
	// DefaultDormantTau: a unit is dormant when its mean |x| is at most
	// this fraction of the layer's mean over units (Sokar et al., ICML
	// 2023).
	DefaultDormantTau = 0.025
	// DefaultSaturatedAbove: a unit is saturated when more than this
	// fraction of its observations lie in the saturation range.
	DefaultSaturatedAbove = 0.99
)

// StatsParams are the profile's readings of its value statistics: present
// when the profile has them.
type StatsParams struct {
	DormantTau     float64 `json:"dormant_tau"`
	SaturatedAbove float64 `json:"saturated_above"`
	// DeadWindow: with N > 0, each layer lists the units silent on its
	// last N observations (window_dead).
	DeadWindow uint64 `json:"dead_window"`
}

// Check tests that the parameters are in range.
func (sp *StatsParams) Check() error {
	if !(sp.DormantTau >= 0 && sp.DormantTau <= 1) {
		return fmt.Errorf("dormant_tau %g not in [0, 1]", sp.DormantTau)
	}
	if !(sp.SaturatedAbove >= 0 && sp.SaturatedAbove < 1) {
		return fmt.Errorf("saturated_above %g not in [0, 1)", sp.SaturatedAbove)
	}
	return nil
}

// describe names the parameters in a message.
func (sp *StatsParams) describe() string {
	if sp == nil {
		return "off"
	}
	return fmt.Sprintf("(dormant_tau %g, saturated_above %g, dead_window %d)", sp.DormantTau, sp.SaturatedAbove, sp.DeadWindow)
}

// Floats is a JSON array of numbers in which null stands for NaN (no
// value).
type Floats []float64

// MarshalJSON writes null for NaN, numbers as encoding/json does.
func (f Floats) MarshalJSON() ([]byte, error) {
	if f == nil {
		return []byte("null"), nil
	}
	b := []byte{'['}
	for i, x := range f {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONFloat(b, x)
	}
	return append(b, ']'), nil
}

// UnmarshalJSON reads null as NaN.
func (f *Floats) UnmarshalJSON(b []byte) error {
	var v []*float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if v == nil {
		*f = nil
		return nil
	}
	out := make(Floats, len(v))
	for i, p := range v {
		out[i] = math.NaN()
		if p != nil {
			out[i] = *p
		}
	}
	*f = out
	return nil
}

// LayerStats are a layer's value statistics in a profile. Per unit, over
// its finite values: min, max (null when it has none), sum and sum of |x|;
// its +Inf and -Inf observations; the first and last observation (in the
// layer's order, as patterns number them) on which it fired, -1 if none;
// with a saturation range [lo, hi], the observations with x <= lo or x >=
// hi. Per layer: the value histogram (ValueBins fixed bins; ValueEdges),
// the histogram of L0, the units that fired on one observation, in bins of
// l0_bin_width, and its mean. The lists are derived: constant units (one
// value, whatever it is, on every non-NaN observation), dormant units
// (mean |x| at most dormant_tau times the layer's mean over units),
// saturated units (more than saturated_above of their observations in the
// range) and, with a dead window of N, the units silent on the last N
// observations.
type LayerStats struct {
	Min             Floats    `json:"min"`
	Max             Floats    `json:"max"`
	Sum             Floats    `json:"sum"`
	SumAbs          Floats    `json:"sum_abs"`
	PosInfCounts    []uint64  `json:"pos_inf_counts"`
	NegInfCounts    []uint64  `json:"neg_inf_counts"`
	FirstFired      []int64   `json:"first_fired"`
	LastFired       []int64   `json:"last_fired"`
	Saturate        []float64 `json:"saturate,omitempty"`
	SaturatedCounts []uint64  `json:"saturated_counts,omitempty"`
	ValueHist       []uint64  `json:"value_hist"`
	L0BinWidth      int       `json:"l0_bin_width"`
	L0Hist          []uint64  `json:"l0_hist"`
	MeanL0          float64   `json:"mean_l0"`
	Constant        []int     `json:"constant"`
	Dormant         []int     `json:"dormant"`
	Saturated       []int     `json:"saturated,omitempty"`
	WindowDead      []int     `json:"window_dead,omitempty"`
}

// newLayerStats reads a tally's statistics.
func newLayerStats(s *Stats) *LayerStats {
	ls := &LayerStats{
		Min: Floats(s.Min), Max: Floats(s.Max), Sum: Floats(s.Sum), SumAbs: Floats(s.SumAbs),
		PosInfCounts: s.PosInf, NegInfCounts: s.NegInf, FirstFired: s.First, LastFired: s.Last,
		SaturatedCounts: s.Saturated, ValueHist: s.Values, L0BinWidth: L0Width(len(s.Min)), L0Hist: s.L0,
	}
	for u := range ls.Min {
		if ls.Min[u] > ls.Max[u] { // no finite value
			ls.Min[u], ls.Max[u] = math.NaN(), math.NaN()
		}
		if ls.FirstFired[u] == math.MaxInt64 {
			ls.FirstFired[u] = -1
		}
	}
	if s.Saturate != nil {
		ls.Saturate = []float64{s.Saturate.Lo, s.Saturate.Hi}
	}
	return ls
}

// finite is the number of unit u's finite observations.
func (lp *LayerProfile) finite(u int) uint64 {
	s := lp.Stats
	return lp.Observations - lp.NaNCounts[u] - s.PosInfCounts[u] - s.NegInfCounts[u]
}

// MeanAbs is unit u's mean |x| over its finite observations (0 when it has
// none). The layer must have statistics.
func (lp *LayerProfile) MeanAbs(u int) float64 {
	if n := lp.finite(u); n > 0 {
		return lp.Stats.SumAbs[u] / float64(n)
	}
	return 0
}

// Mean is unit u's mean x over its finite observations (NaN when it has
// none).
func (lp *LayerProfile) Mean(u int) float64 {
	if n := lp.finite(u); n > 0 {
		return lp.Stats.Sum[u] / float64(n)
	}
	return math.NaN()
}

// derivedStats computes the lists and mean L0 from the statistics.
func (lp *LayerProfile) derivedStats(sp *StatsParams) (constant, dormant, saturated, windowDead []int, meanL0 float64) {
	s := lp.Stats
	var total float64
	for u := range lp.Units {
		total += lp.MeanAbs(u)
	}
	constant, dormant = []int{}, []int{}
	if s.SaturatedCounts != nil {
		saturated = []int{}
	}
	if sp.DeadWindow > 0 {
		windowDead = []int{}
	}
	var fires uint64
	whole := lp.wholeObservations() // the window is the whole layer's last observations
	for u := range lp.Units {
		fires += lp.Counts[u]
		kinds := 0
		if s.PosInfCounts[u] > 0 {
			kinds++
		}
		if s.NegInfCounts[u] > 0 {
			kinds++
		}
		if !math.IsNaN(s.Min[u]) {
			kinds++
			if s.Min[u] != s.Max[u] {
				kinds++
			}
		}
		if kinds == 1 {
			constant = append(constant, u)
		}
		// s_u = E|h_u| / ((1/H) sum_k E|h_k|) <= tau, without the division
		if lp.MeanAbs(u)*float64(lp.Units) <= sp.DormantTau*total {
			dormant = append(dormant, u)
		}
		if saturated != nil && float64(s.SaturatedCounts[u]) > sp.SaturatedAbove*float64(lp.Observations) {
			saturated = append(saturated, u)
		}
		if windowDead != nil && (whole <= sp.DeadWindow || s.LastFired[u] < int64(whole-sp.DeadWindow)) {
			windowDead = append(windowDead, u)
		}
	}
	if lp.Observations > 0 {
		meanL0 = float64(fires) / float64(lp.Observations)
	}
	// omitted from the JSON when empty: nil, as a decoded profile has them
	if len(saturated) == 0 {
		saturated = nil
	}
	if len(windowDead) == 0 {
		windowDead = nil
	}
	return
}

// classifyStats sets the derived lists of a layer with statistics.
func (lp *LayerProfile) classifyStats(sp *StatsParams) {
	if lp.Stats == nil || sp == nil {
		return
	}
	s := lp.Stats
	s.Constant, s.Dormant, s.Saturated, s.WindowDead, s.MeanL0 = lp.derivedStats(sp)
}

// checkStats tests a layer's statistics: one entry per unit, the
// histograms of their fixed sizes and totals, observation indices in
// range, no unit with more of anything than observations; with derived,
// the lists and mean L0 too.
func (lp *LayerProfile) checkStats(sp *StatsParams, derived bool) error {
	s := lp.Stats
	if s == nil {
		return nil
	}
	if sp == nil {
		return fmt.Errorf("layer %q: stats without the profile's stats parameters", lp.Name)
	}
	for _, a := range []struct {
		name string
		n    int
	}{{"min", len(s.Min)}, {"max", len(s.Max)}, {"sum", len(s.Sum)}, {"sum_abs", len(s.SumAbs)},
		{"pos_inf_counts", len(s.PosInfCounts)}, {"neg_inf_counts", len(s.NegInfCounts)},
		{"first_fired", len(s.FirstFired)}, {"last_fired", len(s.LastFired)}} {
		if a.n != lp.Units {
			return fmt.Errorf("layer %q: stats: %d %s for %d units", lp.Name, a.n, a.name, lp.Units)
		}
	}
	if (s.Saturate == nil) != (s.SaturatedCounts == nil) || s.Saturate != nil && (len(s.Saturate) != 2 || len(s.SaturatedCounts) != lp.Units) {
		return fmt.Errorf("layer %q: stats: saturate %v with %d saturated_counts for %d units", lp.Name, s.Saturate, len(s.SaturatedCounts), lp.Units)
	}
	if s.Saturate != nil && !(s.Saturate[0] < s.Saturate[1]) {
		return fmt.Errorf("layer %q: stats: saturate %v is not a range lo < hi", lp.Name, s.Saturate)
	}
	if len(s.ValueHist) != ValueBins {
		return fmt.Errorf("layer %q: stats: value_hist has %d bins, want %d", lp.Name, len(s.ValueHist), ValueBins)
	}
	if s.L0BinWidth != L0Width(lp.Units) || len(s.L0Hist) != L0BinCount(lp.Units) {
		return fmt.Errorf("layer %q: stats: l0_bin_width %d and %d l0_hist bins, want %d and %d for %d units",
			lp.Name, s.L0BinWidth, len(s.L0Hist), L0Width(lp.Units), L0BinCount(lp.Units), lp.Units)
	}
	obs := lp.Observations
	whole := lp.wholeObservations() // observation indices number the whole layer
	var finite, carry uint64
	for u := range lp.Units {
		inf, cy := bits.Add64(s.PosInfCounts[u], s.NegInfCounts[u], 0)
		all, cy2 := bits.Add64(inf, lp.NaNCounts[u], 0)
		if cy|cy2 != 0 || all > obs {
			return fmt.Errorf("layer %q: unit %d: inf counts %d, %d and nan_counts %d exceed observations %d",
				lp.Name, u, s.PosInfCounts[u], s.NegInfCounts[u], lp.NaNCounts[u], obs)
		}
		var c uint64
		finite, c = bits.Add64(finite, obs-all, 0)
		carry |= c
		if math.IsNaN(s.Min[u]) != math.IsNaN(s.Max[u]) || s.Min[u] > s.Max[u] || math.IsInf(s.Min[u], 0) || math.IsInf(s.Max[u], 0) ||
			math.IsNaN(s.Min[u]) != (obs == all) {
			return fmt.Errorf("layer %q: unit %d: min %g and max %g do not fit its %d finite observations", lp.Name, u, s.Min[u], s.Max[u], obs-all)
		}
		f, l := s.FirstFired[u], s.LastFired[u]
		if (f < 0) != (lp.Counts[u] == 0) || (l < 0) != (f < 0) || f < -1 || l < f || l >= 0 && uint64(l) >= whole {
			return fmt.Errorf("layer %q: unit %d: first_fired %d and last_fired %d do not fit its count %d of %d observations",
				lp.Name, u, f, l, lp.Counts[u], obs)
		}
		if s.SaturatedCounts != nil && s.SaturatedCounts[u] > obs {
			return fmt.Errorf("layer %q: unit %d: saturated_counts %d exceed observations %d", lp.Name, u, s.SaturatedCounts[u], obs)
		}
	}
	var inHist, inL0, c2 uint64
	for _, c := range s.ValueHist {
		var cy uint64
		inHist, cy = bits.Add64(inHist, c, 0)
		c2 |= cy
	}
	for _, c := range s.L0Hist {
		var cy uint64
		inL0, cy = bits.Add64(inL0, c, 0)
		c2 |= cy
	}
	if carry|c2 != 0 || inHist != finite {
		return fmt.Errorf("layer %q: stats: value_hist holds %d values, but the layer has %d finite ones", lp.Name, inHist, finite)
	}
	if inL0 != obs {
		return fmt.Errorf("layer %q: stats: l0_hist holds %d observations, want %d", lp.Name, inL0, obs)
	}
	if !derived {
		return nil
	}
	constant, dormant, saturated, windowDead, meanL0 := lp.derivedStats(sp)
	for _, l := range []struct {
		name      string
		got, want []int
	}{{"constant", s.Constant, constant}, {"dormant", s.Dormant, dormant}, {"saturated", s.Saturated, saturated}, {"window_dead", s.WindowDead, windowDead}} {
		if !slices.Equal(l.got, l.want) {
			return fmt.Errorf("layer %q: stats: %s lists %d units, but the statistics give %d", lp.Name, l.name, len(l.got), len(l.want))
		}
	}
	if !(math.Abs(meanL0-s.MeanL0) <= 1e-9*max(1, meanL0)) {
		return fmt.Errorf("layer %q: stats: mean_l0 %g, but the counts give %g", lp.Name, s.MeanL0, meanL0)
	}
	return nil
}

// mergeStats combines the statistics of disjoint observations a and b:
// extremes and counts exactly, sums in float64, observation indices by
// their least and greatest, b's shifted by off (a's observations when b's
// follow a's; 0 for parts of one layer, numbered in the whole layer).
func mergeStats(name string, a, b *LayerProfile, m *LayerProfile, off int64) error {
	if (a.Stats == nil) != (b.Stats == nil) {
		return fmt.Errorf("%w: layer %q: one profile has value statistics, the other not", ErrMerge, name)
	}
	if a.Stats == nil {
		return nil
	}
	x, y := a.Stats, b.Stats
	if !slices.Equal(x.Saturate, y.Saturate) {
		return fmt.Errorf("%w: layer %q: saturation ranges %v and %v", ErrMerge, name, x.Saturate, y.Saturate)
	}
	n := a.Units
	s := &LayerStats{
		Min: make(Floats, n), Max: make(Floats, n), Sum: make(Floats, n), SumAbs: make(Floats, n),
		PosInfCounts: make([]uint64, n), NegInfCounts: make([]uint64, n), FirstFired: make([]int64, n), LastFired: make([]int64, n),
		Saturate: slices.Clone(x.Saturate), ValueHist: make([]uint64, ValueBins), L0BinWidth: x.L0BinWidth, L0Hist: make([]uint64, len(x.L0Hist)),
	}
	if off < 0 {
		return fmt.Errorf("%w: layer %q: observations beyond 2^63", ErrMerge, name)
	}
	nanMin := func(p, q float64) float64 {
		switch {
		case math.IsNaN(p):
			return q
		case math.IsNaN(q):
			return p
		}
		return min(p, q)
	}
	nanMax := func(p, q float64) float64 {
		switch {
		case math.IsNaN(p):
			return q
		case math.IsNaN(q):
			return p
		}
		return max(p, q)
	}
	for u := range n {
		s.Min[u], s.Max[u] = nanMin(x.Min[u], y.Min[u]), nanMax(x.Max[u], y.Max[u])
		s.Sum[u], s.SumAbs[u] = x.Sum[u]+y.Sum[u], x.SumAbs[u]+y.SumAbs[u]
		s.PosInfCounts[u], s.NegInfCounts[u] = x.PosInfCounts[u]+y.PosInfCounts[u], x.NegInfCounts[u]+y.NegInfCounts[u]
		s.FirstFired[u], s.LastFired[u] = x.FirstFired[u], x.LastFired[u]
		if y.FirstFired[u] >= 0 {
			if f := y.FirstFired[u] + off; s.FirstFired[u] < 0 || f < s.FirstFired[u] {
				s.FirstFired[u] = f
			}
			s.LastFired[u] = max(s.LastFired[u], y.LastFired[u]+off)
		}
	}
	if x.SaturatedCounts != nil {
		s.SaturatedCounts = make([]uint64, n)
		for u := range n {
			s.SaturatedCounts[u] = x.SaturatedCounts[u] + y.SaturatedCounts[u]
		}
	}
	for i := range s.ValueHist {
		s.ValueHist[i] = x.ValueHist[i] + y.ValueHist[i]
	}
	for i := range s.L0Hist {
		s.L0Hist[i] = x.L0Hist[i] + y.L0Hist[i]
	}
	m.Stats = s
	return nil
}
