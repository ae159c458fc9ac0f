package profiler

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
)

// FormatVersion is the version of the JSON profile this package writes.
// Readers accept versions up to it.
const FormatVersion = 1

// Profile is the result of a run: per layer, how often each unit fired. Its
// JSON encoding (field names below) is read by other tools: keep it stable.
type Profile struct {
	FormatVersion int            `json:"format_version"`
	Tool          string         `json:"tool"`
	Backend       string         `json:"backend"`
	Threshold     float64        `json:"threshold"`
	RareBelow     float64        `json:"rare_below"`
	Layers        []LayerProfile `json:"layers"`
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
	Observations uint64   `json:"observations"`
	Counts       []uint64 `json:"counts"`     // per unit: observations with x > T
	NaNCounts    []uint64 `json:"nan_counts"` // per unit: NaN observations
	NaNTotal     uint64   `json:"nan_total"`
	// Dead units never fired; rare ones fired on a fraction in (0,
	// rare_below); always-on ones fired on every observation.
	Dead     []int `json:"dead"`
	Rare     []int `json:"rare"`
	AlwaysOn []int `json:"always_on"`
	// MeanActivationProbability is the mean over units of counts/observations.
	MeanActivationProbability float64 `json:"mean_activation_probability"`
}

// NewLayerProfile reads a tally.
func NewLayerProfile(p Plan, t *Tally, rareBelow float64) LayerProfile {
	lp := LayerProfile{
		Name: p.Layer.Name, Source: p.Layer.Path, DType: p.Layer.DType.String(),
		Shape: slices.Clone(p.Layer.Shape), UnitAxis: p.Geom.UnitAxis, Units: int(p.Geom.Units),
		Observations: uint64(p.Geom.Observations()), Counts: t.Counts, NaNCounts: t.NaNs,
	}
	lp.classify(rareBelow)
	return lp
}

// classify derives the unit lists and summary figures from the counts.
func (lp *LayerProfile) classify(rareBelow float64) {
	lp.Dead, lp.Rare, lp.AlwaysOn = []int{}, []int{}, []int{}
	lp.NaNTotal = 0
	var sum float64
	obs := float64(lp.Observations)
	for u, c := range lp.Counts {
		lp.NaNTotal += lp.NaNCounts[u]
		sum += float64(c) / obs
		switch {
		case c == 0:
			lp.Dead = append(lp.Dead, u)
		case c == lp.Observations:
			lp.AlwaysOn = append(lp.AlwaysOn, u)
		case float64(c) < rareBelow*obs:
			lp.Rare = append(lp.Rare, u)
		}
	}
	lp.MeanActivationProbability = sum / float64(len(lp.Counts))
}

// Encode writes p as indented JSON.
func (p *Profile) Encode(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// DecodeProfile reads a JSON profile and checks it is whole and consistent.
func DecodeProfile(r io.Reader) (*Profile, error) {
	var p Profile
	dec := json.NewDecoder(r)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: not a profile: %v", ErrFormat, err)
	}
	if p.FormatVersion < 1 || p.FormatVersion > FormatVersion {
		return nil, fmt.Errorf("%w: profile format_version %d (this actprof reads 1 to %d)", ErrFormat, p.FormatVersion, FormatVersion)
	}
	for i := range p.Layers {
		lp := &p.Layers[i]
		if lp.Units <= 0 || len(lp.Counts) != lp.Units || len(lp.NaNCounts) != lp.Units || lp.Observations == 0 {
			return nil, fmt.Errorf("%w: profile layer %q: units, counts and observations disagree", ErrFormat, lp.Name)
		}
		for u, c := range lp.Counts {
			if c+lp.NaNCounts[u] > lp.Observations {
				return nil, fmt.Errorf("%w: profile layer %q: unit %d counts exceed observations", ErrFormat, lp.Name, u)
			}
		}
	}
	return &p, nil
}

// Merge returns the profile of the union of the datasets that a and b were
// taken over: counts and observations add, layer by layer, matched by name.
// Threshold and rare-below must agree, and so must a shared layer's units,
// unit axis, dtype and every axis but the first (which adds). A layer in one
// profile only is kept as it is.
func Merge(a, b *Profile) (*Profile, error) {
	if a.Threshold != b.Threshold {
		return nil, fmt.Errorf("%w: thresholds %g and %g", ErrMerge, a.Threshold, b.Threshold)
	}
	if a.RareBelow != b.RareBelow {
		return nil, fmt.Errorf("%w: rare-below %g and %g", ErrMerge, a.RareBelow, b.RareBelow)
	}
	out := &Profile{FormatVersion: FormatVersion, Tool: ToolVersion, Backend: a.Backend,
		Threshold: a.Threshold, RareBelow: a.RareBelow}
	if b.Backend != a.Backend {
		out.Backend = a.Backend + "+" + b.Backend
	}
	idx := map[string]int{}
	for _, l := range b.Layers {
		idx[l.Name] = len(idx)
	}
	used := make([]bool, len(b.Layers))
	for _, la := range a.Layers {
		i, ok := idx[la.Name]
		if !ok {
			out.Layers = append(out.Layers, cloneLayer(la))
			continue
		}
		lb := b.Layers[i]
		used[i] = true
		m, err := mergeLayer(la, lb, a.RareBelow)
		if err != nil {
			return nil, err
		}
		out.Layers = append(out.Layers, m)
	}
	for i, lb := range b.Layers {
		if !used[i] {
			out.Layers = append(out.Layers, cloneLayer(lb))
		}
	}
	return out, nil
}

func cloneLayer(l LayerProfile) LayerProfile {
	l.Shape = slices.Clone(l.Shape)
	l.Counts, l.NaNCounts = slices.Clone(l.Counts), slices.Clone(l.NaNCounts)
	l.Dead, l.Rare, l.AlwaysOn = slices.Clone(l.Dead), slices.Clone(l.Rare), slices.Clone(l.AlwaysOn)
	return l
}

func mergeLayer(a, b LayerProfile, rareBelow float64) (LayerProfile, error) {
	if a.Units != b.Units || a.UnitAxis != b.UnitAxis || a.DType != b.DType || len(a.Shape) != len(b.Shape) ||
		len(a.Shape) == 0 || !slices.Equal(a.Shape[1:], b.Shape[1:]) {
		return LayerProfile{}, fmt.Errorf("%w: layer %q: shapes %v and %v (%s, %s; unit axis %d, %d) do not concatenate",
			ErrMerge, a.Name, a.Shape, b.Shape, a.DType, b.DType, a.UnitAxis, b.UnitAxis)
	}
	if a.UnitAxis == 0 {
		return LayerProfile{}, fmt.Errorf("%w: layer %q: unit axis 0 is the axis datasets concatenate on", ErrMerge, a.Name)
	}
	m := cloneLayer(a)
	if a.Source != b.Source {
		m.Source = ""
	}
	m.Shape[0] += b.Shape[0]
	m.Observations += b.Observations
	for u := range m.Counts {
		m.Counts[u] += b.Counts[u]
		m.NaNCounts[u] += b.NaNCounts[u]
	}
	m.classify(rareBelow)
	return m, nil
}
