package synth

import (
	"bytes"
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
