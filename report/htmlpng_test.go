package report

import (
	"bytes"
	"image/color"
	"image/png"
	"math"
	"slices"
	"testing"
)

// The PNG plots: the expected files, each a PNG; the strip's cells of the
// colour of their unit's rate, dead units red, checked unit by unit.
func TestPNGPlots(t *testing.T) {
	p := smallProfile()
	plots := PNGPlots(p)
	var names []string
	for _, pl := range plots {
		names = append(names, pl.Name)
	}
	want := []string{"depth-activation-probability.png", "depth-dead-fraction.png",
		"layer-0000-enc.fc1-rates.png", "layer-0000-enc.fc1-units.png",
		"layer-0001-enc._conv2___x_-rates.png", "layer-0001-enc._conv2___x_-units.png",
		"layer-0002-dec.wide-rates.png", "layer-0002-dec.wide-units.png",
		"layer-0003-dec.ok-rates.png", "layer-0003-dec.ok-units.png"}
	if !slices.Equal(names, want) {
		t.Fatalf("files %q, want %q", names, want)
	}
	s := NewRateScale(p)
	for k, pl := range plots {
		var b bytes.Buffer
		if err := pl.Write(&b); err != nil {
			t.Fatalf("%s: %v", pl.Name, err)
		}
		img, err := png.Decode(&b)
		if err != nil {
			t.Fatalf("%s: %v", pl.Name, err)
		}
		if k < 2 || k%2 == 0 {
			if r := img.Bounds(); r.Dx() < 400 || r.Dy() < 100 {
				t.Errorf("%s: %v", pl.Name, r)
			}
			continue
		}
		// the strip of layer (k-2)/2: 100 cells a row of 6 pixels
		l := &p.Layers[(k-2)/2]
		run := runUnits(l.Units)
		for c := 0; c*run < l.Units; c++ {
			var sum float64
			dead := 0
			for u := c * run; u < min(l.Units, (c+1)*run); u++ {
				sum += float64(l.Counts[u]) / float64(l.Observations)
				if l.Counts[u] == 0 {
					dead++
				}
			}
			mean := sum / float64(min(l.Units, (c+1)*run)-c*run)
			top := img.At((c%100)*6, (c/100)*6).(color.RGBA)
			bottom := img.At((c%100)*6, (c/100)*6+4).(color.RGBA)
			red := color.RGBA{214, 39, 40, 255}
			switch {
			case mean == 0:
				if top != red {
					t.Errorf("%s: cell %d (all dead) is %v", l.Name, c, top)
				}
			default:
				if want := levelColour(s.Level(mean)); top != want {
					t.Errorf("%s: cell %d is %v, want %v", l.Name, c, top, want)
				}
				if (dead > 0) != (bottom == red) {
					t.Errorf("%s: cell %d with %d dead units: bottom %v", l.Name, c, dead, bottom)
				}
			}
		}
	}
}

// With statistics: the dormant fraction by depth and each layer's value
// histogram too; the value bars are the histogram's counts, split by sign.
func TestPNGPlotsWithStats(t *testing.T) {
	p := dataProfile(t, statsData(50))
	var names []string
	for _, pl := range PNGPlots(p) {
		names = append(names, pl.Name)
		var b bytes.Buffer
		if err := pl.Write(&b); err != nil {
			t.Fatalf("%s: %v", pl.Name, err)
		}
		if img, err := png.Decode(&b); err != nil || img.Bounds().Dx() < 100 {
			t.Fatalf("%s: not a PNG image (%v)", pl.Name, err)
		}
	}
	want := []string{"depth-activation-probability.png", "depth-dead-fraction.png", "depth-dormant-fraction.png",
		"layer-0000-act-rates.png", "layer-0000-act-units.png", "layer-0000-act-values.png",
		"layer-0001-wide-rates.png", "layer-0001-wide-units.png", "layer-0001-wide-values.png"}
	if !slices.Equal(names, want) {
		t.Fatalf("files %q, want %q", names, want)
	}
	for _, l := range p.Layers {
		neg, zero, pos := valueBars(l.Stats.ValueHist)
		for k, c := range l.Stats.ValueHist {
			var n, z, q uint64
			for _, x := range []struct {
				h float64
				c *uint64
			}{{neg[k], &n}, {zero[k], &z}, {pos[k], &q}} {
				*x.c = uint64(math.Round(math.Pow(10, x.h) - 1))
			}
			want := [3]uint64{}
			switch {
			case k < 66:
				want[0] = c
			case k == 66:
				want[1] = c
			default:
				want[2] = c
			}
			if [3]uint64{n, z, q} != want {
				t.Errorf("%s: bin %d bars %d %d %d, want %v", l.Name, k, n, z, q, want)
			}
		}
	}
}
