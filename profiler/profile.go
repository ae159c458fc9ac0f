package profiler

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// FormatVersion is the version of the JSON profile this package writes.
// Readers accept versions up to it.
const FormatVersion = 1

// Profile is the result of a run: per layer, how often each unit fired. Its
// JSON encoding (field names below) is read by other tools: keep it stable.
type Profile struct {
	FormatVersion int     `json:"format_version"`
	Tool          string  `json:"tool"`
	Backend       string  `json:"backend"`
	Threshold     float64 `json:"threshold"`
	RareBelow     float64 `json:"rare_below"`
	// Stats: the readings of the layers' value statistics, when the
	// profile has them (every layer then has its Stats).
	Stats *StatsParams `json:"stats,omitempty"`
	// Shard: set in the profile of a part of a sharded run (profile
	// --shard), or of a merge of some of its parts.
	Shard  *ShardRecord   `json:"shard,omitempty"`
	Layers []LayerProfile `json:"layers"`
}

// LayerProfile is one layer's counts and their reading.
type LayerProfile struct {
	Name     string `json:"name"`
	Source   string `json:"source,omitempty"`
	DType    string `json:"dtype"`
	Shape    []int  `json:"shape"`
	UnitAxis int    `json:"unit_axis"`
	Units    int    `json:"units"`
	// Observations per unit: the product of all axes but the unit axis.
	Observations uint64 `json:"observations"`
	// Ranges: in a part of a sharded run, the observations of the whole
	// layer (whose shape Shape is) that the part holds; their counts add
	// up to Observations.
	Ranges    []ObsRange `json:"ranges,omitempty"`
	Counts    []uint64   `json:"counts"`     // per unit: observations with x > T
	NaNCounts []uint64   `json:"nan_counts"` // per unit: NaN observations
	NaNTotal  uint64     `json:"nan_total"`
	// Dead units never fired; rare ones fired on a fraction in (0,
	// rare_below); always-on ones fired on every observation.
	Dead     []int `json:"dead"`
	Rare     []int `json:"rare"`
	AlwaysOn []int `json:"always_on"`
	// MeanActivationProbability is the mean over units of counts/observations.
	MeanActivationProbability float64 `json:"mean_activation_probability"`
	// Stats: the layer's value statistics, when the run computed them.
	Stats *LayerStats `json:"stats,omitempty"`
}

// NewLayerProfile reads a tally.
func NewLayerProfile(p Plan, t *Tally, rareBelow float64) LayerProfile {
	lp := LayerProfile{
		Name: p.Layer.Name, Source: p.Layer.Path, DType: p.Layer.DType.String(),
		Shape: slices.Clone(p.Layer.Shape), UnitAxis: p.Geom.UnitAxis, Units: int(p.Geom.Units),
		Observations: uint64(p.Geom.Observations()), Counts: t.Counts, NaNCounts: t.NaNs,
	}
	// NaNTotal is at most the layer's element count, below 2^62
	// (NewGeometry): it cannot overflow.
	_ = lp.classify(rareBelow)
	return lp
}

// Unit classes.
const (
	classOther = iota
	classDead
	classRare
	classAlwaysOn
)

// class is the class of a unit that fired c times in obs observations.
func class(c, obs uint64, rareBelow float64) int {
	switch {
	case c == 0:
		return classDead
	case c == obs:
		return classAlwaysOn
	case float64(c) < rareBelow*float64(obs):
		return classRare
	}
	return classOther
}

// classify derives the unit lists and summary figures from the counts. It
// fails, naming the field, when the NaN total does not fit in 64 bits.
func (lp *LayerProfile) classify(rareBelow float64) error {
	// Lists of their exact length: a wide layer's lists are large, and
	// growing them by appends leaves as much again behind.
	var n [4]int
	for _, c := range lp.Counts {
		n[class(c, lp.Observations, rareBelow)]++
	}
	lp.Dead, lp.Rare, lp.AlwaysOn = make([]int, 0, n[classDead]), make([]int, 0, n[classRare]), make([]int, 0, n[classAlwaysOn])
	lp.NaNTotal = 0
	var sum float64
	var carry uint64
	obs := float64(lp.Observations)
	for u, c := range lp.Counts {
		var cy uint64
		lp.NaNTotal, cy = bits.Add64(lp.NaNTotal, lp.NaNCounts[u], 0)
		carry |= cy
		sum += float64(c) / obs
		switch class(c, lp.Observations, rareBelow) {
		case classDead:
			lp.Dead = append(lp.Dead, u)
		case classAlwaysOn:
			lp.AlwaysOn = append(lp.AlwaysOn, u)
		case classRare:
			lp.Rare = append(lp.Rare, u)
		}
	}
	lp.MeanActivationProbability = sum / float64(len(lp.Counts))
	if carry != 0 {
		return fmt.Errorf("layer %q: nan_total overflows 64 bits (the sum of nan_counts exceeds %d)", lp.Name, uint64(math.MaxUint64))
	}
	return nil
}

// dtypeNames are the dtype names a profile may hold.
var dtypeNames = []string{Float32.String(), Float16.String(), BFloat16.String(), Float64.String()}

// check tests that p is consistent: every layer's name is its own, its
// shape gives its units and observations (units = shape[unit_axis],
// observations = the product of the other axes, as Run counts them), its
// per-unit arrays have one entry per unit, and no unit has more fires and
// NaNs than observations. With derived, the figures derived from the
// counts must also agree with them: nan_total, the unit lists and the mean
// activation probability. The error names the layer and field; it wraps no
// sentinel.
func (p *Profile) check(derived bool) error {
	if p.Stats != nil {
		if err := p.Stats.Check(); err != nil {
			return fmt.Errorf("stats: %v", err)
		}
	}
	seen := make(map[string]bool, len(p.Layers))
	for i := range p.Layers {
		lp := &p.Layers[i]
		if seen[lp.Name] {
			return fmt.Errorf("layer %q appears twice", lp.Name)
		}
		seen[lp.Name] = true
		if err := lp.check(p.Shard != nil); err != nil {
			return err
		}
		if derived {
			if err := lp.checkDerived(p.RareBelow); err != nil {
				return err
			}
		}
		if (lp.Stats != nil) != (p.Stats != nil) {
			if p.Stats == nil {
				return fmt.Errorf("layer %q: stats without the profile's stats parameters", lp.Name)
			}
			return fmt.Errorf("layer %q: no stats, but the profile has value statistics", lp.Name)
		}
		if err := lp.checkStats(p.Stats, derived); err != nil {
			return err
		}
	}
	return p.checkShard()
}

// check tests a layer; with part, a part of a sharded run's layer, whose
// shape is the whole layer's and whose ranges give its observations.
func (lp *LayerProfile) check(part bool) error {
	if !slices.Contains(dtypeNames, lp.DType) {
		return fmt.Errorf("layer %q: dtype %q is not one of %v", lp.Name, lp.DType, dtypeNames)
	}
	if len(lp.Shape) < 2 {
		return fmt.Errorf("layer %q: shape %v has fewer than 2 axes", lp.Name, lp.Shape)
	}
	if lp.UnitAxis < 0 || lp.UnitAxis >= len(lp.Shape) {
		return fmt.Errorf("layer %q: unit_axis %d out of range for shape %v", lp.Name, lp.UnitAxis, lp.Shape)
	}
	obs := uint64(1)
	for i, d := range lp.Shape {
		if d <= 0 {
			return fmt.Errorf("layer %q: shape %v has an axis of length %d", lp.Name, lp.Shape, d)
		}
		if i == lp.UnitAxis {
			continue
		}
		hi, lo := bits.Mul64(obs, uint64(d))
		if hi != 0 {
			return fmt.Errorf("layer %q: shape %v: observations (the product of the axes but unit axis %d) overflow 64 bits", lp.Name, lp.Shape, lp.UnitAxis)
		}
		obs = lo
	}
	if lp.Units != lp.Shape[lp.UnitAxis] {
		return fmt.Errorf("layer %q: units %d, but shape %v has %d on unit axis %d", lp.Name, lp.Units, lp.Shape, lp.Shape[lp.UnitAxis], lp.UnitAxis)
	}
	if part && lp.Ranges != nil {
		if err := lp.checkRanges(obs); err != nil {
			return err
		}
	} else if lp.Observations != obs {
		return fmt.Errorf("layer %q: observations %d, but shape %v gives %d (the product of the axes but unit axis %d)",
			lp.Name, lp.Observations, lp.Shape, obs, lp.UnitAxis)
	}
	if len(lp.Counts) != lp.Units {
		return fmt.Errorf("layer %q: %d counts for %d units", lp.Name, len(lp.Counts), lp.Units)
	}
	if len(lp.NaNCounts) != lp.Units {
		return fmt.Errorf("layer %q: %d nan_counts for %d units", lp.Name, len(lp.NaNCounts), lp.Units)
	}
	for u, c := range lp.Counts {
		if s, cy := bits.Add64(c, lp.NaNCounts[u], 0); cy != 0 || s > lp.Observations {
			return fmt.Errorf("layer %q: unit %d: counts %d plus nan_counts %d exceed observations %d",
				lp.Name, u, c, lp.NaNCounts[u], lp.Observations)
		}
	}
	return nil
}

// checkDerived tests nan_total, dead, rare, always_on and
// mean_activation_probability against the counts, without building them
// again.
func (lp *LayerProfile) checkDerived(rareBelow float64) error {
	var total, carry uint64
	var sum float64
	next := [4]int{} // per class, the list position of the next unit
	lists := [4]struct {
		name  string
		units []int
	}{classDead: {"dead", lp.Dead}, classRare: {"rare", lp.Rare}, classAlwaysOn: {"always_on", lp.AlwaysOn}}
	obs := float64(lp.Observations)
	for u, c := range lp.Counts {
		var cy uint64
		total, cy = bits.Add64(total, lp.NaNCounts[u], 0)
		carry |= cy
		sum += float64(c) / obs
		k := class(c, lp.Observations, rareBelow)
		for j := classDead; j <= classAlwaysOn; j++ {
			l := &lists[j]
			in := next[j] < len(l.units) && l.units[next[j]] == u
			if in != (j == k) {
				if in {
					return fmt.Errorf("layer %q: %s lists unit %d, whose count %d of %d observations puts it elsewhere", lp.Name, l.name, u, c, lp.Observations)
				}
				return fmt.Errorf("layer %q: %s lacks unit %d (count %d of %d observations)", lp.Name, l.name, u, c, lp.Observations)
			}
			if in {
				next[j]++
			}
		}
	}
	for j := classDead; j <= classAlwaysOn; j++ {
		if l := lists[j]; next[j] != len(l.units) {
			return fmt.Errorf("layer %q: %s holds %d, not a unit in ascending order below %d", lp.Name, l.name, l.units[next[j]], lp.Units)
		}
	}
	if carry != 0 {
		return fmt.Errorf("layer %q: the sum of nan_counts overflows 64 bits", lp.Name)
	}
	if total != lp.NaNTotal {
		return fmt.Errorf("layer %q: nan_total %d, but nan_counts sum to %d", lp.Name, lp.NaNTotal, total)
	}
	// A writer that sums in another order may differ in the last bits.
	if mean := sum / float64(len(lp.Counts)); !(math.Abs(mean-lp.MeanActivationProbability) <= 1e-9) {
		return fmt.Errorf("layer %q: mean_activation_probability %g, but the counts give %g", lp.Name, lp.MeanActivationProbability, mean)
	}
	return nil
}

// Merge returns the profile of the union of the datasets that a and b were
// taken over: counts and observations add, layer by layer, matched by name.
// Threshold and rare-below must agree, both profiles must hold the same
// layers (in any order; the result has a's), and a layer's units, unit
// axis, dtype and every axis but the first (which adds) must agree. A sum
// that does not fit in 64 bits is an error naming the layer and field.
//
// Parts of a sharded run (profiles with a shard record) merge by their
// recorded observation ranges instead: they must come from the same input
// set and settings and hold distinct shards; once every shard is merged
// the result is the profile of the whole run.
func Merge(a, b *Profile) (*Profile, error) {
	if a.Shard != nil || b.Shard != nil {
		return mergeParts(a, b)
	}
	if a.Threshold != b.Threshold {
		return nil, fmt.Errorf("%w: thresholds %g and %g", ErrMerge, a.Threshold, b.Threshold)
	}
	if a.RareBelow != b.RareBelow {
		return nil, fmt.Errorf("%w: rare-below %g and %g", ErrMerge, a.RareBelow, b.RareBelow)
	}
	if (a.Stats == nil) != (b.Stats == nil) || a.Stats != nil && *a.Stats != *b.Stats {
		return nil, fmt.Errorf("%w: value statistics %s and %s (profile both with the same --stats settings)", ErrMerge, a.Stats.describe(), b.Stats.describe())
	}
	for _, s := range []struct {
		p    *Profile
		side string
	}{{a, "first"}, {b, "second"}} {
		if err := s.p.check(false); err != nil {
			return nil, fmt.Errorf("%w: the %s profile: %v", ErrMerge, s.side, err)
		}
	}
	out := &Profile{FormatVersion: FormatVersion, Tool: ToolVersion, Backend: a.Backend,
		Threshold: a.Threshold, RareBelow: a.RareBelow}
	if a.Stats != nil {
		sp := *a.Stats
		out.Stats = &sp
	}
	if b.Backend != a.Backend {
		out.Backend = a.Backend + "+" + b.Backend
	}
	idx := make(map[string]int, len(b.Layers))
	for i, l := range b.Layers {
		idx[l.Name] = i
	}
	for _, la := range a.Layers {
		if _, ok := idx[la.Name]; !ok {
			return nil, fmt.Errorf("%w: layer %q is missing from the second profile (the first has it; merge takes profiles of the same layers)", ErrMerge, la.Name)
		}
	}
	if len(b.Layers) != len(a.Layers) { // a's names are distinct and all in b
		inA := make(map[string]bool, len(a.Layers))
		for _, l := range a.Layers {
			inA[l.Name] = true
		}
		for _, l := range b.Layers {
			if !inA[l.Name] {
				return nil, fmt.Errorf("%w: layer %q is missing from the first profile (the second has it; merge takes profiles of the same layers)", ErrMerge, l.Name)
			}
		}
	}
	for _, la := range a.Layers {
		m, err := mergeLayer(la, b.Layers[idx[la.Name]], a.RareBelow, out.Stats)
		if err != nil {
			return nil, err
		}
		out.Layers = append(out.Layers, m)
	}
	return out, nil
}

func mergeLayer(a, b LayerProfile, rareBelow float64, sp *StatsParams) (LayerProfile, error) {
	if a.Units != b.Units || a.UnitAxis != b.UnitAxis || a.DType != b.DType || len(a.Shape) != len(b.Shape) ||
		len(a.Shape) == 0 || !slices.Equal(a.Shape[1:], b.Shape[1:]) {
		return LayerProfile{}, fmt.Errorf("%w: layer %q: shapes %v and %v (%s, %s; unit axis %d, %d) do not concatenate",
			ErrMerge, a.Name, a.Shape, b.Shape, a.DType, b.DType, a.UnitAxis, b.UnitAxis)
	}
	if a.UnitAxis == 0 {
		return LayerProfile{}, fmt.Errorf("%w: layer %q: unit axis 0 is the axis datasets concatenate on", ErrMerge, a.Name)
	}
	overflow := func(field string, x, y uint64) error {
		return fmt.Errorf("%w: layer %q: %s overflows 64 bits (%d + %d)", ErrMerge, a.Name, field, x, y)
	}
	m := a
	m.Shape = slices.Clone(a.Shape)
	if a.Source != b.Source {
		m.Source = ""
	}
	if a.Shape[0] > math.MaxInt-b.Shape[0] { // both positive (check)
		return LayerProfile{}, fmt.Errorf("%w: layer %q: shape[0] overflows (%d + %d rows)", ErrMerge, a.Name, a.Shape[0], b.Shape[0])
	}
	m.Shape[0] += b.Shape[0]
	var cy uint64
	if m.Observations, cy = bits.Add64(a.Observations, b.Observations, 0); cy != 0 {
		return LayerProfile{}, overflow("observations", a.Observations, b.Observations)
	}
	// Counts plus NaNs are at most the observations on each side (check),
	// so these sums fit when the observations' does; they are checked all
	// the same.
	m.Counts, m.NaNCounts = make([]uint64, a.Units), make([]uint64, a.Units)
	for u := range m.Counts {
		if m.Counts[u], cy = bits.Add64(a.Counts[u], b.Counts[u], 0); cy != 0 {
			return LayerProfile{}, overflow(fmt.Sprintf("counts of unit %d", u), a.Counts[u], b.Counts[u])
		}
		if m.NaNCounts[u], cy = bits.Add64(a.NaNCounts[u], b.NaNCounts[u], 0); cy != 0 {
			return LayerProfile{}, overflow(fmt.Sprintf("nan_counts of unit %d", u), a.NaNCounts[u], b.NaNCounts[u])
		}
	}
	if err := m.classify(rareBelow); err != nil {
		return LayerProfile{}, fmt.Errorf("%w: %v", ErrMerge, err)
	}
	if err := mergeStats(a.Name, &a, &b, &m, int64(a.Observations)); err != nil {
		return LayerProfile{}, err
	}
	m.classifyStats(sp)
	return m, nil
}
