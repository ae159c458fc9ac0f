package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/profiler/backendtest"
	"github.com/actprof/actprof/store"
)

// unitAxis0Layers: layers counted with unit axis 0, more units than
// observations, observations that units do not divide, and a 3-D one.
func unitAxis0Layers() []layerData {
	rng := rand.New(rand.NewPCG(71, 72))
	var ls []layerData
	for i, s := range [][]int{{1000, 256}, {4, 10}, {3, 5, 7}, {1, 9}} {
		n := 1
		for _, d := range s {
			n *= d
		}
		ls = append(ls, layerData{fmt.Sprintf("u%d", i), s, sparse(rng, n, s[0], n/s[0])})
	}
	return ls
}

// writeAxis0 profiles layers with unit axis 0 and patterns on, into path.
func writeAxis0(t *testing.T, path string, layers []layerData, level string) {
	t.Helper()
	var ls []profiler.Layer
	for _, l := range layers {
		ls = append(ls, profiler.MemoryLayer(l.name, profiler.Float32, l.shape, l.data))
	}
	axes := map[string]int{"": 0}
	plans, err := profiler.PlanLayers(ls, axes)
	if err != nil {
		t.Fatal(err)
	}
	w, err := store.Create(path, store.NewHeader(plans, 0), level)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := profiler.Run(context.Background(), ls, profiler.Options{Backend: cpu.New(), Patterns: w, UnitAxis: axes, Workers: 2}); err != nil {
		w.Abort()
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestUnitAxis0: a store of layers whose unit axis is axis 0 reads back
// (their header said observations / shape[0] observations per sample,
// 0 where units outnumber observations, which Open refused); such a layer
// has no sample axis and is one sample.
func TestUnitAxis0(t *testing.T) {
	layers := unitAxis0Layers()
	dir := t.TempDir()
	for _, level := range []string{"fastest", "best"} {
		path := filepath.Join(dir, level+".actbits")
		writeAxis0(t, path, layers, level)
		r, err := store.Open(path)
		if err != nil {
			t.Fatalf("%s: %v", level, err)
		}
		for _, ld := range layers {
			g, _ := profiler.NewGeometry(ld.shape, 0)
			want := backendtest.Oracle(profiler.Float32, ld.data, 0, g, 0)
			l, err := r.Layer(ld.name)
			if err != nil {
				t.Fatal(err)
			}
			if l.Info.ObsPerSample != l.Info.Observations || l.Info.Observations != g.Observations() || l.Info.Units != int(g.Units) {
				t.Errorf("%s %s: %d units, %d observations, %d per sample; want %d, %d, %d",
					level, ld.name, l.Info.Units, l.Info.Observations, l.Info.ObsPerSample, g.Units, g.Observations(), g.Observations())
			}
			var rows []uint64
			if err := l.Rows(func(first int64, n int, b []uint64) error {
				rows = append(rows, b...)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rows, want.Bits) {
				t.Errorf("%s %s: rows differ from the oracle's", level, ld.name)
			}
		}
		r.Close()
	}
}

// TestCreateRefusesUnreadable: Create refuses, before writing anything, a
// header that Open would refuse.
func TestCreateRefusesUnreadable(t *testing.T) {
	dir := t.TempDir()
	for _, ops := range []int64{0, -1, 3, 11} {
		h := store.Header{FormatVersion: store.FormatVersion, Codec: store.Codecs, Layers: []store.LayerInfo{{
			Name: "x", DType: "float32", Shape: []int{10, 4}, UnitAxis: 1, Units: 4, Observations: 10, ObsPerSample: ops}}}
		if err := store.CheckHeader(h); !errors.Is(err, profiler.ErrShape) {
			t.Errorf("CheckHeader, %d observations per sample: %v", ops, err)
		}
		w, err := store.Create(filepath.Join(dir, "x.actbits"), h, "best")
		if err == nil {
			w.Abort()
			t.Errorf("Create took %d observations per sample of 10", ops)
		}
	}
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Errorf("Create left %d files", len(es))
	}
	h := store.Header{Layers: []store.LayerInfo{{Name: "x", DType: "float32", Shape: []int{2, 5, 4}, UnitAxis: 2, Units: 4, Observations: 10, ObsPerSample: 5}}}
	if err := store.CheckHeader(h); err != nil {
		t.Errorf("CheckHeader: %v", err)
	}
}
