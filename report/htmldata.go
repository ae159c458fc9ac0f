package report

import (
	"math"

	"github.com/actprof/actprof/profiler"
)

// MaxCells bounds the cells of a layer's unit strip: a wider layer is cut
// into runs of equal length (the last may be shorter), one cell a run, so
// that drawing a layer costs the same whatever its width.
const MaxCells = 2000

// RateScale is the log10 firing-rate axis that every layer's histogram and
// strip share, so that colours and bins compare across layers. Rates lie in
// [10^Lo, 1): Lo is at or below log10 of the smallest non-zero rate of any
// layer (1 / its observations). The histogram has Bins bins of Width
// decades between Lo and 0, plus one bin for dead units (rate 0) at the left
// and one for always-on units (rate 1) at the right.
type RateScale struct {
	Lo    float64
	Width float64
	Bins  int
}

// NewRateScale is the scale for p: Lo the floor of the smallest log10
// rate (at most -1), the bin width the narrowest of 0.1, 0.2, 0.25, 0.5, 1
// or 2 decades that needs at most 40 bins.
func NewRateScale(p *profiler.Profile) RateScale {
	lo := -1.0
	for i := range p.Layers {
		if o := p.Layers[i].Observations; o > 1 {
			lo = min(lo, math.Floor(-math.Log10(float64(o))))
		}
	}
	w := 2.0
	for _, c := range []float64{0.1, 0.2, 0.25, 0.5, 1} {
		if math.Ceil(-lo/c) <= 40 {
			w = c
			break
		}
	}
	return RateScale{Lo: lo, Width: w, Bins: int(math.Ceil(-lo / w))}
}

// bin is the histogram index of rate r in (0, 1): 1 to Bins (0 is the dead
// bin, Bins+1 the always-on one).
func (s RateScale) bin(r float64) int {
	k := int(math.Floor((math.Log10(r) - s.Lo) / s.Width))
	return 1 + min(max(k, 0), s.Bins-1)
}

// Level quantises a rate to a byte for the strip's colours: 0 is rate 0
// (dead), 1 to 255 spread log10 rate evenly over [Lo, 0].
func (s RateScale) Level(r float64) byte {
	if !(r > 0) {
		return 0
	}
	f := (math.Log10(r) - s.Lo) / -s.Lo
	return byte(1 + math.Round(min(max(f, 0), 1)*254))
}

// Cell is one run of a strip's units: [First, First+Units).
type Cell struct {
	First, Units int
	Mean, Min    float64 // of the run's rates (count / observations)
	Dead, NaN    int     // units of the run that never fired, that saw a NaN
}

// LayerPlots is what the report draws of one layer: its histogram (index 0
// dead units, 1 to Bins the log10 rate bins, Bins+1 always-on units) and
// its strip, each cell RunUnits units.
type LayerPlots struct {
	Hist     []int
	RunUnits int
	Cells    []Cell
	NaNUnits int // units that saw at least one NaN
}

// runUnits is the units per strip cell of a layer of n units.
func runUnits(n int) int {
	if n > MaxCells {
		return (n + MaxCells - 1) / MaxCells
	}
	return 1
}

// NewLayerPlots aggregates l on scale s in one pass over its units.
func NewLayerPlots(l *profiler.LayerProfile, s RateScale) LayerPlots {
	n := min(l.Units, len(l.Counts))
	run := runUnits(n)
	lp := LayerPlots{Hist: make([]int, s.Bins+2), RunUnits: run, Cells: make([]Cell, 0, (n+run-1)/run)}
	obs := float64(l.Observations)
	for first := 0; first < n; first += run {
		c := Cell{First: first, Units: min(run, n-first), Min: math.Inf(1)}
		var sum float64
		for u := first; u < first+c.Units; u++ {
			cnt := l.Counts[u]
			var r float64
			switch {
			case cnt == 0 || obs == 0:
				lp.Hist[0]++
				c.Dead++
			case cnt >= l.Observations:
				r = 1
				lp.Hist[s.Bins+1]++
			default:
				r = float64(cnt) / obs
				lp.Hist[s.bin(r)]++
			}
			if u < len(l.NaNCounts) && l.NaNCounts[u] > 0 {
				c.NaN++
			}
			sum += r
			c.Min = min(c.Min, r)
		}
		c.Mean = sum / float64(c.Units)
		lp.NaNUnits += c.NaN
		lp.Cells = append(lp.Cells, c)
	}
	return lp
}

// cellMarks is the sparse per-cell count of the units of a (sorted) unit
// list, as the page reads it: cell, units of it, cell, units of it, ...
func cellMarks(units []int, run int) []int {
	out := []int{}
	for i := 0; i < len(units); {
		c := units[i] / run
		j := i
		for j < len(units) && units[j]/run == c {
			j++
		}
		out = append(out, c, j-i)
		i = j
	}
	return out
}
