package profiler_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/profiler/backendtest"
)

type liveBatch struct {
	layer string
	shape []int
	data  []byte
}

// The parts of a distributed live run, merged, are the live profile of
// one process that added rank 0's batches, then rank 1's, ...: counts,
// statistics (first and last fired in that numbering) and shapes, for a
// 2-D layer, a 4-D map, a token layer whose length varies only across
// ranks, and a layer one rank never saw; parts of other runs or settings
// are refused.
func TestLivePartsMergeToOneProcess(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	dt := profiler.Float32
	gen := func(layer string, shape ...int) liveBatch {
		n := 1
		for _, d := range shape {
			n *= d
		}
		return liveBatch{layer, shape, backendtest.Gen(rng, dt, n, 0)}
	}
	ranks := [][]liveBatch{
		{gen("a", 3, 20), gen("m", 2, 4, 3, 3), gen("t", 2, 5, 16), gen("a", 1, 20), gen("t", 1, 5, 16), gen("only0", 4, 9)},
		{gen("a", 5, 20), gen("m", 1, 4, 3, 3), gen("t", 3, 2, 16)},
		{gen("m", 3, 4, 3, 3), gen("a", 2, 20), gen("t", 1, 7, 16)},
	}
	stats := profiler.DefaultStats()
	stats.DeadWindow = 5
	opt := func() profiler.LiveOptions {
		return profiler.LiveOptions{Backend: cpu.New(), Stats: stats, ChunkBytes: 256}
	}
	add := func(lv *profiler.Live, bs []liveBatch) {
		for _, b := range bs {
			if err := lv.Add(b.layer, dt, b.shape, nil, b.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	one, _ := profiler.NewLive(opt())
	var lives []*profiler.Live
	var infos [][]profiler.LiveLayerInfo
	for _, bs := range ranks {
		add(one, bs)
		lv, _ := profiler.NewLive(opt())
		add(lv, bs)
		lives = append(lives, lv)
		li, err := lv.LayerInfos()
		if err != nil {
			t.Fatal(err)
		}
		infos = append(infos, li)
	}
	var parts []*profiler.Profile
	for r, lv := range lives {
		p, err := lv.Part(r, "run-1", infos)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, roundTrip(t, p))
	}
	// merged in any order
	m, err := profiler.Merge(parts[2], parts[0])
	if err != nil {
		t.Fatal(err)
	}
	if m, err = profiler.Merge(parts[1], m); err != nil {
		t.Fatal(err)
	}
	want, err := one.Profile()
	if err != nil {
		t.Fatal(err)
	}
	if m.Shard != nil || len(m.Layers) != len(want.Layers) {
		t.Fatalf("merged: shard %+v, %d layers, want %d", m.Shard, len(m.Layers), len(want.Layers))
	}
	for i := range want.Layers {
		liveEqual(t, m.Layers[i], want.Layers[i])
	}
	if s := m.Layers[3].Shape; len(s) != 2 || s[0] != 10+5+6+7 {
		t.Fatalf("token layer shape %v, want [28 16]", s)
	}

	other, err := lives[1].Part(1, "run-2", infos)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := profiler.Merge(parts[0], other); err == nil || !strings.Contains(err.Error(), "live run run-1 and live run run-2") {
		t.Fatalf("parts of two runs merged: %v", err)
	}
	o2 := opt()
	o2.Threshold = 0.5
	lv, _ := profiler.NewLive(o2)
	add(lv, ranks[1])
	p, err := lv.Part(1, "run-1", infos)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := profiler.Merge(parts[0], p); err == nil || !strings.Contains(err.Error(), "thresholds 0 and 0.5") {
		t.Fatalf("parts of other thresholds merged: %v", err)
	}
	bad := [][]profiler.LiveLayerInfo{infos[0], {{Name: "a", DType: "float16", Shape: []int{5, 20}, Rows: 5}}}
	lv, _ = profiler.NewLive(opt())
	add(lv, ranks[0])
	if _, err := lv.Part(0, "run-1", bad); err == nil || !strings.Contains(err.Error(), "rank 1's batches are float16 [5 20]") {
		t.Fatalf("a layer of other dtypes across ranks: %v", err)
	}
	if _, err := lv.Part(1, "run-1", infos[:2]); err == nil || !strings.Contains(err.Error(), "rank 1's layers are not this profile's") {
		t.Fatalf("another rank's layers: %v", err)
	}
}
