package report

import (
	"fmt"
	"math"

	"github.com/actprof/actprof/profiler"
)

// HTMLStatRows bounds the units of a statistics list (dormant, saturated,
// constant, window-dead) shown with their mean and mean |x|; the list's
// text still names up to HTMLListed items.
const HTMLStatRows = 20

// HTMLL0Bins bounds the bars of a layer's L0 histogram on the page: the
// profile's bins between the first and last that hold an observation are
// merged in groups of equal width so that at most this many remain.
const HTMLL0Bins = 100

// htmlStats is what the page shows of a layer's value statistics.
type htmlStats struct {
	Dormant    int `json:"dormant"`
	Constant   int `json:"constant"`
	Saturated  int `json:"saturated"`  // 0 without a saturation range
	WindowDead int `json:"windowDead"` // 0 without a dead window
	// Saturate is the saturation range, when counted.
	Saturate []float64 `json:"sat,omitempty"`
	// Min and Max of the layer's finite values (null when it has none),
	// its +Inf and -Inf values.
	Min    *float64 `json:"min"`
	Max    *float64 `json:"max"`
	PosInf uint64   `json:"pinf"`
	NegInf uint64   `json:"ninf"`
	// Values is the value histogram (profiler.ValueBins bins).
	Values []uint64 `json:"vhist"`
	L0     htmlL0   `json:"l0"`
}

// htmlL0 is a layer's L0 histogram as the page draws it: bar k holds the
// observations on which Lo+k*Width to Lo+(k+1)*Width-1 units fired.
type htmlL0 struct {
	Lo     int      `json:"lo"`
	Width  int      `json:"w"`
	Counts []uint64 `json:"counts"`
	Mean   float64  `json:"mean"`
}

// newHTMLStats reads a layer's statistics for the page.
func newHTMLStats(l *profiler.LayerProfile) *htmlStats {
	s := l.Stats
	h := &htmlStats{Dormant: len(s.Dormant), Constant: len(s.Constant), Saturated: len(s.Saturated), WindowDead: len(s.WindowDead),
		Saturate: s.Saturate, Values: s.ValueHist, L0: pageL0(s.L0Hist, s.L0BinWidth)}
	h.L0.Mean = round6(s.MeanL0)
	lo, hi := math.Inf(1), math.Inf(-1)
	for u := range s.Min {
		if !math.IsNaN(s.Min[u]) {
			lo, hi = min(lo, s.Min[u]), max(hi, s.Max[u])
		}
	}
	if lo <= hi {
		h.Min, h.Max = &lo, &hi
	}
	for u := range s.PosInfCounts {
		h.PosInf += s.PosInfCounts[u]
		h.NegInf += s.NegInfCounts[u]
	}
	return h
}

// pageL0 merges an L0 histogram of bins of width w into at most
// HTMLL0Bins bars over the bins that hold observations.
func pageL0(hist []uint64, w int) htmlL0 {
	first, last := -1, -1
	for k, c := range hist {
		if c > 0 {
			if first < 0 {
				first = k
			}
			last = k
		}
	}
	if first < 0 {
		return htmlL0{Width: w, Counts: []uint64{}}
	}
	g := (last - first + HTMLL0Bins) / HTMLL0Bins
	out := htmlL0{Lo: first * w, Width: g * w, Counts: make([]uint64, (last-first)/g+1)}
	for k := first; k <= last; k++ {
		out.Counts[(k-first)/g] += hist[k]
	}
	return out
}

// unitStats are the first HTMLStatRows units of a list with their mean
// and mean |x| (6 significant digits; the mean null for a unit with no
// finite value): [unit, mean, mean |x|] each.
func unitStats(l *profiler.LayerProfile, units []int) []profiler.Floats {
	out := make([]profiler.Floats, 0, min(len(units), HTMLStatRows))
	for _, u := range units[:min(len(units), HTMLStatRows)] {
		m := l.Mean(u)
		if !math.IsNaN(m) {
			m = round6(m)
		}
		out = append(out, profiler.Floats{float64(u), m, round6(l.MeanAbs(u))})
	}
	return out
}

// statsAlert tells whether a layer has dormant, saturated or constant
// units (the index lists it among the alerts).
func statsAlert(l *profiler.LayerProfile) bool {
	s := l.Stats
	return s != nil && (len(s.Dormant) > 0 || len(s.Saturated) > 0 || len(s.Constant) > 0)
}

// dormantFrac is the share of a layer's units that are dormant, NaN
// without statistics.
func dormantFrac(l *profiler.LayerProfile) float64 {
	if l.Stats == nil {
		return math.NaN()
	}
	return frac(len(l.Stats.Dormant), l.Units)
}

// statsCells are a layer's statistics columns of the index (dormant,
// dormant %, saturated, constant; "–" where it has none) and its badges.
func statsCells(l *profiler.LayerProfile, badges string) (string, string) {
	s := l.Stats
	if s == nil {
		return "<td>&ndash;</td><td>&ndash;</td><td>&ndash;</td><td>&ndash;</td>", badges
	}
	sat := "&ndash;"
	if s.Saturate != nil {
		sat = fmt.Sprint(len(s.Saturated))
	}
	for _, b := range []struct {
		class string
		n     int
	}{{"dormant", len(s.Dormant)}, {"saturated", len(s.Saturated)}, {"constant", len(s.Constant)}} {
		if b.n > 0 {
			badges += " <span class=\"badge " + b.class + "\">" + b.class + "</span>"
		}
	}
	return fmt.Sprintf("<td>%d</td><td>%s</td><td>%s</td><td>%d</td>", len(s.Dormant), pct(len(s.Dormant), l.Units), sat, len(s.Constant)), badges
}
