package profiler_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/profiler/backendtest"
)

// Batches counted on a device (AddCounted, their counts added later with
// AddCounts) make the profile of the same batches added with Add: counts
// summed by a naive loop over the values, observations and shapes (a
// token layer whose length varies, a 4-D map), mixed with host batches of
// the same layer; with patterns, their bits are those of Add's batches, in
// order; statistics are refused for them.
func TestLiveCountedOnDevice(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	dt := profiler.Float32
	type batch struct {
		layer string
		shape []int
		data  []byte
		host  bool
	}
	var bs []batch
	for k, n := range []int{3, 1, 4, 2} {
		for _, b := range []batch{{layer: "a", shape: []int{n, 70}}, {layer: "m", shape: []int{n, 5, 3, 2}}, {layer: "t", shape: []int{n, 1 + k, 33}}} {
			elems := 1
			for _, d := range b.shape {
				elems *= d
			}
			b.data = backendtest.Gen(rng, dt, elems, 0.1)
			b.host = k == 2
			bs = append(bs, b)
		}
	}
	const thr = 0.05
	want, _ := profiler.NewLive(profiler.LiveOptions{Backend: cpu.New(), Threshold: thr, Patterns: true, PatternDir: t.TempDir()})
	got, _ := profiler.NewLive(profiler.LiveOptions{Backend: cpu.New(), Threshold: thr, Patterns: true, PatternDir: t.TempDir()})
	defer want.Finish()
	defer got.Finish()
	pending := map[string][2][]uint64{} // the "device's" tallies
	for _, b := range bs {
		if err := want.Add(b.layer, dt, b.shape, nil, b.data); err != nil {
			t.Fatal(err)
		}
		if b.host {
			if err := got.Add(b.layer, dt, b.shape, nil, b.data); err != nil {
				t.Fatal(err)
			}
			continue
		}
		err := got.AddCounted(b.layer, dt, b.shape, "cuda:0", func(g profiler.Geometry, bits []uint64) error {
			wd := int64(profiler.Words(int(g.Units)))
			if int64(len(bits)) != g.Observations()*wd {
				t.Fatalf("%d words of bits for %d observations", len(bits), g.Observations())
			}
			p := pending[b.layer]
			if p[0] == nil {
				p = [2][]uint64{make([]uint64, g.Units), make([]uint64, g.Units)}
			}
			for i := range g.Elements() {
				x := math.Float32frombits(uint32(b.data[4*i]) | uint32(b.data[4*i+1])<<8 | uint32(b.data[4*i+2])<<16 | uint32(b.data[4*i+3])<<24)
				u := (i / g.Inner) % g.Units
				o := i/(g.Units*g.Inner)*g.Inner + i%g.Inner
				if x != x {
					p[1][u]++
				} else if float64(x) > thr {
					p[0][u]++
					bits[o*wd+u/64] |= 1 << (u % 64)
				}
			}
			pending[b.layer] = p
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for name, p := range pending {
		if err := got.AddCounts(name, p[0], p[1]); err != nil {
			t.Fatal(err)
		}
	}
	pw, err1 := want.Profile()
	pg, err2 := got.Profile()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if pg.Backend != "cpu+cuda:0" {
		t.Errorf("backend %q", pg.Backend)
	}
	pg.Backend = pw.Backend
	if len(pg.Layers) != 3 {
		t.Fatalf("%d layers", len(pg.Layers))
	}
	for i := range pw.Layers {
		w, g := pw.Layers[i], pg.Layers[i]
		if !slices.Equal(w.Counts, g.Counts) || !slices.Equal(w.NaNCounts, g.NaNCounts) || w.Observations != g.Observations || !slices.Equal(w.Shape, g.Shape) {
			t.Fatalf("layer %s: counted on the device %v %v obs %d shape %v, on the host %v %v obs %d shape %v", w.Name,
				g.Counts, g.NaNCounts, g.Observations, g.Shape, w.Counts, w.NaNCounts, w.Observations, w.Shape)
		}
	}
	cw, cg := &collect{}, &collect{}
	if err := want.WritePatterns(cw); err != nil {
		t.Fatal(err)
	}
	if err := got.WritePatterns(cg); err != nil {
		t.Fatal(err)
	}
	for i := range cw.bits {
		if !slices.Equal(cw.bits[i], cg.bits[i]) {
			t.Fatalf("layer %d: the patterns of batches counted on the device differ from Add's", i)
		}
	}
	// refusals
	lv, _ := profiler.NewLive(profiler.LiveOptions{Backend: cpu.New(), Stats: profiler.DefaultStats()})
	err := lv.AddCounted("a", dt, []int{2, 3}, "cuda:1", func(profiler.Geometry, []uint64) error { t.Fatal("counted"); return nil })
	if err == nil || !strings.Contains(err.Error(), "on cuda:1") {
		t.Errorf("stats on a device: %v", err)
	}
	lv.Finish()
	if err := got.AddCounts("nope", nil, nil); err == nil {
		t.Error("counts of an unknown layer taken")
	}
	if err := got.AddCounts("a", make([]uint64, 3), make([]uint64, 3)); err == nil {
		t.Error("3 counts for 70 units taken")
	}
	if err := got.AddCounted("a", dt, []int{2, 71}, "cuda:0", func(profiler.Geometry, []uint64) error { return nil }); err == nil {
		t.Error("a batch of 71 units taken for a layer of 70")
	}
}
