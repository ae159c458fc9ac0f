package synth

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/actprof/actprof/input"
	"github.com/actprof/actprof/profiler"
)

func TestDeterministicAndReadable(t *testing.T) {
	write := func(seed uint64, workers int) (string, *Manifest) {
		c := DefaultConfig(t.TempDir())
		c.Rows, c.Seed, c.Workers = 700, seed, workers
		c.Layers = []LayerSpec{{"a", []int{33}}, {"b", []int{5, 3, 2}}}
		m, err := Write(c)
		if err != nil {
			t.Fatal(err)
		}
		return c.Dir, m
	}
	d1, m1 := write(7, 1)
	d2, m2 := write(7, 3)
	d3, _ := write(8, 2)
	for _, f := range []string{"a.npy", "b.npy"} {
		b1, _ := os.ReadFile(filepath.Join(d1, f))
		b2, _ := os.ReadFile(filepath.Join(d2, f))
		b3, _ := os.ReadFile(filepath.Join(d3, f))
		if !bytes.Equal(b1, b2) {
			t.Errorf("%s: same seed, different bytes with other worker counts", f)
		}
		if bytes.Equal(b1, b3) {
			t.Errorf("%s: different seeds, same bytes", f)
		}
		h, err := input.ParseNpyHeader(bytes.NewReader(b1))
		if err != nil {
			t.Fatal(err)
		}
		if h.DataOffset%64 != 0 || h.DataOffset+h.DataBytes != int64(len(b1)) || h.DType != profiler.Float32 {
			t.Errorf("%s: header %+v for %d bytes", f, h, len(b1))
		}
	}
	if !slices.Equal(m1.Layers[0].Dead, m2.Layers[0].Dead) || m1.Layers[1].UnitAxis != 1 || !slices.Equal(m1.Layers[1].Shape, []int{700, 5, 3, 2}) {
		t.Errorf("manifest %+v", m1.Layers)
	}
}

func TestParseLayerSpec(t *testing.T) {
	ls, err := ParseLayerSpec("conv1:64x8x8")
	if err != nil || ls.Name != "conv1" || !slices.Equal(ls.Dims, []int{64, 8, 8}) {
		t.Fatalf("%+v %v", ls, err)
	}
	for _, bad := range []string{"", "x", ":5", "a:0", "a:5x", "a/b:3"} {
		if _, err := ParseLayerSpec(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Each planted kind, read back from the file value by value: dormant units
// fire with values below 1e-3, constant units hold ConstantValue, saturated
// units SaturatedValue on more than 99% of observations and a positive
// value on the rest; the other units never take those values.
func TestPlantedValues(t *testing.T) {
	c := DefaultConfig(t.TempDir())
	c.Rows = 3000
	c.Dormant, c.Constant, c.Saturated = 0.1, 0.1, 0.1
	c.Layers = []LayerSpec{{"a", []int{200}}, {"b", []int{40, 3, 3}}, {"c", []int{5, 60}}}
	m, err := Write(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, ml := range m.Layers {
		raw, err := os.ReadFile(filepath.Join(c.Dir, ml.File))
		if err != nil {
			t.Fatal(err)
		}
		h, err := input.ParseNpyHeader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		x := raw[h.DataOffset:]
		outer, units, inner := 1, ml.Shape[ml.UnitAxis], 1
		for _, d := range ml.Shape[:ml.UnitAxis] {
			outer *= d
		}
		for _, d := range ml.Shape[ml.UnitAxis+1:] {
			inner *= d
		}
		obs := outer * inner
		at := func(o, u int) float32 { // observation o = (outer index, inner position)
			i := ((o/inner)*units+u)*inner + o%inner
			return math.Float32frombits(binary.LittleEndian.Uint32(x[4*i:]))
		}
		if len(ml.Dormant) == 0 || len(ml.Constant) == 0 || len(ml.Saturated) == 0 {
			t.Fatalf("%s: planted %v %v %v", ml.Name, ml.Dormant, ml.Constant, ml.Saturated)
		}
		for u := 0; u < units; u++ {
			var fired, atSat, atConst int
			var top float32
			for o := 0; o < obs; o++ {
				v := at(o, u)
				if v > 0 {
					fired++
				}
				if v == SaturatedValue {
					atSat++
				}
				if v == ConstantValue {
					atConst++
				}
				top = max(top, v)
			}
			switch {
			case slices.Contains(ml.Dormant, u):
				if fired == 0 || top >= 1e-3 {
					t.Errorf("%s: dormant unit %d fired %d times, largest value %g", ml.Name, u, fired, top)
				}
			case slices.Contains(ml.Constant, u):
				if atConst != obs {
					t.Errorf("%s: constant unit %d at %g on %d of %d observations", ml.Name, u, float32(ConstantValue), atConst, obs)
				}
			case slices.Contains(ml.Saturated, u):
				if fired != obs || float64(atSat) <= 0.99*float64(obs) || atSat == obs {
					t.Errorf("%s: saturated unit %d at %g on %d of %d observations, fired %d", ml.Name, u, float32(SaturatedValue), atSat, obs, fired)
				}
			default:
				if atSat > 0 || atConst == obs || top < 1e-3 && fired > 0 && !slices.Contains(ml.Rare, u) {
					t.Errorf("%s: unit %d looks planted: %d at the cap, %d constant, largest %g", ml.Name, u, atSat, atConst, top)
				}
			}
			if always := fired == obs; always != slices.Contains(ml.AlwaysOn, u) {
				t.Errorf("%s: unit %d fired on %d of %d observations; always-on in the manifest: %v", ml.Name, u, fired, obs, !always)
			}
		}
	}
}
