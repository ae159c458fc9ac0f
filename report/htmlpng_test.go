package report

import (
	"bytes"
	"image/color"
	"image/png"
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
