package report

import (
	"bytes"
	"testing"

	"github.com/actprof/actprof/profiler"
)

// checkpoints are three profiles of one small model: fc1 loses units as
// training goes on, conv2 is absent from the first, head changes width.
func checkpoints() []*profiler.Profile {
	p1 := &profiler.Profile{FormatVersion: 1, RareBelow: 1e-3, Layers: []profiler.LayerProfile{
		layerOf("fc1", 1000, []uint64{500, 400, 300, 200}, nil, 1e-3),
		layerOf("head", 1000, []uint64{10, 0}, nil, 1e-3),
	}}
	p2 := &profiler.Profile{FormatVersion: 1, RareBelow: 1e-3, Layers: []profiler.LayerProfile{
		layerOf("fc1", 1000, []uint64{500, 0, 300, 1}, nil, 1e-3),
		layerOf("conv2", 1000, []uint64{1000, 20, 0, 0, 5, 6, 7, 8}, nil, 1e-3),
		layerOf("head", 1000, []uint64{10, 0}, nil, 1e-3),
	}}
	p3 := &profiler.Profile{FormatVersion: 1, RareBelow: 1e-3, Layers: []profiler.LayerProfile{
		layerOf("conv2", 1000, []uint64{1000, 0, 0, 0, 5, 6, 7, 8}, nil, 1e-3),
		layerOf("fc1", 1000, []uint64{0, 0, 300, 0}, nil, 1e-3),
		layerOf("head", 1000, []uint64{10, 20, 30}, nil, 1e-3),
	}}
	return []*profiler.Profile{p1, p2, p3}
}

func TestTimeline(t *testing.T) {
	tl, err := NewTimeline(checkpoints(), []string{"step 1k", "step 2k", "step <3k>"})
	if err != nil {
		t.Fatal(err)
	}
	// layers in the order they first appear; conv2 absent at the first
	if len(tl.Layers) != 3 || tl.Layers[0].Name != "fc1" || tl.Layers[1].Name != "head" || tl.Layers[2].Name != "conv2" {
		t.Fatalf("layers %+v", tl.Layers)
	}
	fc1 := tl.Layers[0]
	for k, want := range []float64{0, 0.25, 0.75} {
		if *fc1.DeadFrac[k] != want {
			t.Errorf("fc1 dead at %d: %g, want %g", k, *fc1.DeadFrac[k], want)
		}
	}
	// a rate of 1e-3 is not below rare_below 1e-3: not rare
	if *fc1.RareFrac[1] != 0 {
		t.Errorf("fc1 rare at 1: %g, want 0", *fc1.RareFrac[1])
	}
	if conv := tl.Layers[2]; conv.Units[0] != nil || *conv.Units[1] != 8 || *conv.DeadFrac[2] != 3.0/8 {
		t.Errorf("conv2 %+v", conv)
	}
	// the model: dead units over all units of each checkpoint
	for k, want := range []float64{1.0 / 6, 4.0 / 14, 6.0 / 15} {
		if got := tl.Model.DeadFrac[k]; got != want {
			t.Errorf("model dead at %d: %g, want %g", k, got, want)
		}
	}
	// Pr[y>0] of the model: the mean over all its units of the rate
	want := (0.5 + 0.4 + 0.3 + 0.2 + 0.01 + 0) / 6
	if got := tl.Model.MeanActivationProbability[0]; got < want-1e-15 || got > want+1e-15 {
		t.Errorf("model Pr[y>0] at 0: %g, want %g", got, want)
	}
	var j, h bytes.Buffer
	if err := WriteTimelineJSON(&j, tl); err != nil {
		t.Fatal(err)
	}
	golden(t, "timeline.json.golden", j.Bytes())
	if err := WriteTimelineHTML(&h, tl); err != nil {
		t.Fatal(err)
	}
	golden(t, "timeline.html.golden", h.Bytes())
	if _, err := NewTimeline(checkpoints(), []string{"a"}); err == nil {
		t.Error("3 profiles and 1 label: no error")
	}
}

// With value statistics: the dormant fraction per layer and of the model
// (over the units of layers with statistics), null at a checkpoint
// without them.
func TestTimelineWithStats(t *testing.T) {
	d1 := statsData(50)
	d2 := statsData(50)
	for o := 0; o < d2[0].obs; o++ {
		d2[0].x[o*d2[0].units+5] *= 1e-6 // unit 5 of act falls dormant
	}
	p1, p2 := dataProfile(t, d1), dataProfile(t, d2)
	p3 := &profiler.Profile{FormatVersion: 1, RareBelow: 1e-3, Layers: []profiler.LayerProfile{layerOf("act", 1000, []uint64{0, 5, 10, 20, 30, 40, 50, 60}, nil, 1e-3)}}
	tl, err := NewTimeline([]*profiler.Profile{p1, p2, p3}, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.Layers) != 2 || tl.Layers[0].Name != "act" || len(tl.Model.DormantFrac) != 3 || tl.Model.DormantFrac[2] != nil {
		t.Fatalf("timeline %+v", tl)
	}
	for k, p := range []*profiler.Profile{p1, p2} {
		var dormant, units int
		for i, l := range p.Layers {
			want := float64(len(l.Stats.Dormant)) / float64(l.Units)
			if got := tl.Layers[i].DormantFrac[k]; got == nil || *got != want {
				t.Errorf("%s at %d: dormant %v, want %g", l.Name, k, got, want)
			}
			dormant += len(l.Stats.Dormant)
			units += l.Units
		}
		if got := tl.Model.DormantFrac[k]; *got != float64(dormant)/float64(units) {
			t.Errorf("model at %d: dormant %g, want %d/%d", k, *got, dormant, units)
		}
	}
	if a := p1.Layers[0].Stats.Dormant; len(p2.Layers[0].Stats.Dormant) != len(a)+1 {
		t.Errorf("act: dormant %v then %v: unit 5 should join", a, p2.Layers[0].Stats.Dormant)
	}
	if tl.Layers[0].DormantFrac[2] != nil || tl.Layers[1].DormantFrac[2] != nil || tl.Layers[1].Units[2] != nil {
		t.Errorf("checkpoint c has no statistics: %+v", tl.Layers)
	}
	var j, h bytes.Buffer
	if err := WriteTimelineJSON(&j, tl); err != nil {
		t.Fatal(err)
	}
	golden(t, "timeline-stats.json.golden", j.Bytes())
	if err := WriteTimelineHTML(&h, tl); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`<th data-k="dormant_last">`, `<path class="line dormant"`, `"dormant_last":`} {
		if !bytes.Contains(h.Bytes(), []byte(s)) {
			t.Errorf("the page lacks %s", s)
		}
	}
}
