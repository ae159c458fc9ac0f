package report

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/actprof/actprof/profiler"
)

// Diff is what changed between two profiles of one model (checkpoints, or
// datasets), layer by layer.
type Diff struct {
	Threshold float64     `json:"threshold"`
	RareBelow float64     `json:"rare_below"`
	Factor    float64     `json:"factor"`
	Layers    []LayerDiff `json:"layers"`
	// Layers of one profile only, by name.
	OnlyOld []string `json:"only_old"`
	OnlyNew []string `json:"only_new"`
}

// LayerDiff is one layer's changes. Unit lists are ascending.
type LayerDiff struct {
	Layer   string  `json:"layer"`
	Units   int     `json:"units"`
	RateOld float64 `json:"mean_activation_probability_old"`
	RateNew float64 `json:"mean_activation_probability_new"`
	DeadOld int     `json:"dead_old"`
	DeadNew int     `json:"dead_new"`
	// Died fired in the old profile and never in the new; Revived the
	// reverse.
	Died    []int `json:"died"`
	Revived []int `json:"revived"`
	// BecameRare is rare in the new profile, not in the old (nor dead
	// there); NoLongerRare the reverse (and not dead now).
	BecameRare   []int `json:"became_rare"`
	NoLongerRare []int `json:"no_longer_rare"`
	// BecameDormant is dormant in the new profile, not in the old, and not
	// dead now (those died); empty unless both profiles have value
	// statistics.
	BecameDormant []int `json:"became_dormant"`
	// Rose and Fell: units firing in both whose rate changed by Factor or
	// more.
	Rose []RateChange `json:"rose"`
	Fell []RateChange `json:"fell"`
}

// RateChange is a unit's firing rate (counts / observations) in both.
type RateChange struct {
	Unit int     `json:"unit"`
	Old  float64 `json:"old"`
	New  float64 `json:"new"`
}

// DiffProfiles compares old and new. Layers are matched by name; a layer
// in both must have the same units on the same axis and the same shape but
// for axis 0 (the dataset's length may differ), and both profiles the same
// threshold and rare fraction, else the comparison means nothing: an
// error naming what differs.
func DiffProfiles(old, new *profiler.Profile, factor float64) (*Diff, error) {
	if !(factor > 1) {
		return nil, fmt.Errorf("factor %g: want a ratio above 1", factor)
	}
	if old.Threshold != new.Threshold {
		return nil, fmt.Errorf("counted at different thresholds (%g, %g): the rates do not compare", old.Threshold, new.Threshold)
	}
	if old.RareBelow != new.RareBelow {
		return nil, fmt.Errorf("different rare fractions (%g, %g): reprofile one with --rare-below", old.RareBelow, new.RareBelow)
	}
	d := &Diff{Threshold: new.Threshold, RareBelow: new.RareBelow, Factor: factor, Layers: []LayerDiff{}, OnlyOld: []string{}, OnlyNew: []string{}}
	byName := map[string]*profiler.LayerProfile{}
	for i := range old.Layers {
		byName[old.Layers[i].Name] = &old.Layers[i]
	}
	inNew := map[string]bool{}
	for i := range new.Layers {
		n := &new.Layers[i]
		inNew[n.Name] = true
		o, ok := byName[n.Name]
		if !ok {
			d.OnlyNew = append(d.OnlyNew, n.Name)
			continue
		}
		if o.Units != n.Units || o.UnitAxis != n.UnitAxis || len(o.Shape) != len(n.Shape) || (len(o.Shape) > 0 && !slices.Equal(o.Shape[1:], n.Shape[1:]) && o.UnitAxis != 0) {
			return nil, fmt.Errorf("layer %s: shape %v (unit axis %d), was %v (unit axis %d)", SafeName(n.Name), n.Shape, n.UnitAxis, o.Shape, o.UnitAxis)
		}
		if len(o.Counts) != o.Units || len(n.Counts) != n.Units {
			return nil, fmt.Errorf("layer %s: counts do not match its units", SafeName(n.Name))
		}
		d.Layers = append(d.Layers, diffLayer(o, n, factor))
	}
	for _, l := range old.Layers {
		if !inNew[l.Name] {
			d.OnlyOld = append(d.OnlyOld, l.Name)
		}
	}
	return d, nil
}

func diffLayer(o, n *profiler.LayerProfile, factor float64) LayerDiff {
	ld := LayerDiff{Layer: n.Name, Units: n.Units, RateOld: o.MeanActivationProbability, RateNew: n.MeanActivationProbability,
		DeadOld: len(o.Dead), DeadNew: len(n.Dead), Died: []int{}, Revived: []int{}, BecameRare: []int{}, NoLongerRare: []int{},
		BecameDormant: []int{}, Rose: []RateChange{}, Fell: []RateChange{}}
	if o.Stats != nil && n.Stats != nil {
		dormantOld := member(o.Stats.Dormant, o.Units)
		for _, u := range n.Stats.Dormant {
			if u >= 0 && u < n.Units && !dormantOld[u] && n.Counts[u] > 0 {
				ld.BecameDormant = append(ld.BecameDormant, u)
			}
		}
	}
	rareOld, rareNew := member(o.Rare, o.Units), member(n.Rare, n.Units)
	for u := 0; u < n.Units; u++ {
		co, cn := o.Counts[u], n.Counts[u]
		switch {
		case co > 0 && cn == 0:
			ld.Died = append(ld.Died, u)
		case co == 0 && cn > 0:
			ld.Revived = append(ld.Revived, u)
		}
		if rareNew[u] && !rareOld[u] && co > 0 {
			ld.BecameRare = append(ld.BecameRare, u)
		}
		if rareOld[u] && !rareNew[u] && cn > 0 {
			ld.NoLongerRare = append(ld.NoLongerRare, u)
		}
		if co > 0 && cn > 0 {
			ro, rn := float64(co)/float64(o.Observations), float64(cn)/float64(n.Observations)
			switch {
			case rn >= ro*factor:
				ld.Rose = append(ld.Rose, RateChange{u, ro, rn})
			case ro >= rn*factor:
				ld.Fell = append(ld.Fell, RateChange{u, ro, rn})
			}
		}
	}
	return ld
}

func member(units []int, n int) []bool {
	m := make([]bool, n)
	for _, u := range units {
		if u >= 0 && u < n {
			m[u] = true
		}
	}
	return m
}

// WriteDiff writes the human-readable comparison.
func WriteDiff(w io.Writer, d *Diff) error {
	var b strings.Builder
	fmt.Fprintf(&b, "threshold T = %g; rare = fires on < %g of observations; rate changes of %gx or more\n\n", d.Threshold, d.RareBelow, d.Factor)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\tunits\tPr[y>0] old -> new\tdead old -> new\tdied\trevived\tbecame rare\trare no more\tbecame dormant\trose\tfell")
	var died, revived int
	for _, l := range d.Layers {
		fmt.Fprintf(tw, "%s\t%d\t%.4f -> %.4f\t%d -> %d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", SafeName(l.Layer), l.Units, l.RateOld, l.RateNew,
			l.DeadOld, l.DeadNew, len(l.Died), len(l.Revived), len(l.BecameRare), len(l.NoLongerRare), len(l.BecameDormant), len(l.Rose), len(l.Fell))
		died += len(l.Died)
		revived += len(l.Revived)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\n%d layers compared: %d units died, %d revived\n", len(d.Layers), died, revived)
	for _, l := range d.Layers {
		for _, list := range []struct {
			what  string
			units []int
		}{{"died", l.Died}, {"revived", l.Revived}, {"became rare", l.BecameRare}, {"rare no more", l.NoLongerRare}, {"became dormant", l.BecameDormant},
			{"rose", changed(l.Rose)}, {"fell", changed(l.Fell)}} {
			if len(list.units) > 0 {
				fmt.Fprintf(&b, "  %s: %s: %s\n", SafeName(l.Layer), list.what, Ranges(list.units, MaxListed))
			}
		}
	}
	for _, n := range d.OnlyOld {
		fmt.Fprintf(&b, "  %s: only in the old profile\n", SafeName(n))
	}
	for _, n := range d.OnlyNew {
		fmt.Fprintf(&b, "  %s: only in the new profile\n", SafeName(n))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func changed(cs []RateChange) []int {
	out := make([]int, len(cs))
	for i, c := range cs {
		out[i] = c.Unit
	}
	return out
}
