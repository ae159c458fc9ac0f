package profiler_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/profiler/backendtest"
)

// liveEqual checks a live profile's layer against a run's over the
// concatenated batches: everything equal but the sums, which are within
// float64 rounding of each other.
func liveEqual(t *testing.T, got, want profiler.LayerProfile) {
	t.Helper()
	want.Source = ""
	if want.Stats != nil && got.Stats != nil {
		n := want.Observations
		for u := range want.Stats.Sum {
			tol := backendtest.SumTolerance(n, want.Stats.SumAbs[u])
			if math.Abs(got.Stats.Sum[u]-want.Stats.Sum[u]) > tol || math.Abs(got.Stats.SumAbs[u]-want.Stats.SumAbs[u]) > tol {
				t.Fatalf("%s unit %d: sums %g %g, want %g %g", want.Name, u, got.Stats.Sum[u], got.Stats.SumAbs[u], want.Stats.Sum[u], want.Stats.SumAbs[u])
			}
		}
		gs, ws := *got.Stats, *want.Stats
		gs.Sum, gs.SumAbs, ws.Sum, ws.SumAbs = nil, nil, nil, nil
		gs.Dormant, ws.Dormant = nil, nil // reads the sums
		gs.MeanL0, ws.MeanL0 = 0, 0
		got.Stats, want.Stats = &gs, &ws
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("live layer %s differs from the run over the concatenation:\n got %+v\nwant %+v", want.Name, got, want)
	}
}

func TestLiveEqualsRunOfConcatenation(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	batches := []int{3, 1, 7, 2, 5}
	stats := profiler.DefaultStats()
	stats.Saturate = map[string]profiler.Range{"": {Lo: 0.5, Hi: 10}}
	for _, dt := range backendtest.DTypes {
		for _, rest := range [][]int{{37}, {5, 16}, {6, 5, 4}, {70}} {
			for k, so := range []*profiler.StatsOptions{nil, stats, nil, stats} {
				// the last two count asynchronously, through a queue
				// smaller than some batches
				queue := int64(k / 2 * 700)
				lv, err := profiler.NewLive(profiler.LiveOptions{Backend: cpu.New(), Threshold: 0.25, Stats: so, ChunkBytes: 256, QueueBytes: queue})
				if err != nil {
					t.Fatal(err)
				}
				var all []byte
				rows := 0
				for _, n := range batches {
					shape := append([]int{n}, rest...)
					elems := n
					for _, d := range rest {
						elems *= d
					}
					data := backendtest.Gen(rng, dt, elems, 0.25)
					all = append(all, data...)
					rows += n
					if err := lv.Add("l", dt, shape, nil, data); err != nil {
						t.Fatal(err)
					}
					for i := range data { // the caller's buffer is its own again
						data[i] = 0xff
					}
				}
				got, err := lv.Profile()
				if err != nil {
					t.Fatal(err)
				}
				want := run(t, []profiler.Layer{profiler.MemoryLayer("l", dt, append([]int{rows}, rest...), all)},
					profiler.Options{Threshold: 0.25, Stats: so})
				if got.Backend != want.Backend || got.Threshold != want.Threshold || !reflect.DeepEqual(got.Stats, want.Stats) {
					t.Fatalf("profile header %+v, want %+v", got, want)
				}
				liveEqual(t, got.Layers[0], want.Layers[0])
			}
		}
	}
}

// A transposed (non-contiguous) batch counts as its logical array; a token
// layer whose sequence length varies counts as its rows of units.
func TestLiveStridedAndVaryingTokens(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	dt := profiler.Float32
	lv, err := profiler.NewLive(profiler.LiveOptions{Backend: cpu.New(), Stats: profiler.DefaultStats()})
	if err != nil {
		t.Fatal(err)
	}
	// layer a: [n, 9] batches given as the transpose of a [9, n] buffer
	var allA []byte
	rowsA := 0
	for _, n := range []int{4, 11} {
		buf := backendtest.Gen(rng, dt, 9*n, 0)
		logical := make([]byte, 0, len(buf))
		for i := range n {
			for u := range 9 {
				logical = append(logical, buf[(u*n+i)*4:(u*n+i)*4+4]...)
			}
		}
		allA = append(allA, logical...)
		rowsA += n
		if err := lv.Add("a", dt, []int{n, 9}, []int64{4, int64(4 * n)}, buf); err != nil {
			t.Fatal(err)
		}
	}
	// layer b: [2, T, 6] batches, T varying
	var allB []byte
	rowsB := 0
	for _, T := range []int{3, 8, 1} {
		data := backendtest.Gen(rng, dt, 2*T*6, 0)
		allB = append(allB, data...)
		rowsB += 2 * T
		if err := lv.Add("b", dt, []int{2, T, 6}, nil, data); err != nil {
			t.Fatal(err)
		}
	}
	got, err := lv.Profile()
	if err != nil {
		t.Fatal(err)
	}
	want := run(t, []profiler.Layer{profiler.MemoryLayer("a", dt, []int{rowsA, 9}, allA), profiler.MemoryLayer("b", dt, []int{rowsB, 6}, allB)},
		profiler.Options{Stats: profiler.DefaultStats()})
	if len(got.Layers) != 2 {
		t.Fatalf("%d layers", len(got.Layers))
	}
	liveEqual(t, got.Layers[0], want.Layers[0])
	liveEqual(t, got.Layers[1], want.Layers[1])
	ga := backendtest.Oracle(dt, allA, 0, profiler.Geometry{Outer: int64(rowsA), Units: 9, Inner: 1, UnitAxis: 1}, 0)
	if !slices.Equal(ga.Counts, got.Layers[0].Counts) {
		t.Fatalf("strided counts %v, oracle %v", got.Layers[0].Counts, ga.Counts)
	}
}

func TestLiveRefusals(t *testing.T) {
	lv, err := profiler.NewLive(profiler.LiveOptions{Backend: cpu.New()})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 4*2*3*4*5)
	if err := lv.Add("c", profiler.Float32, []int{2, 3, 4, 5}, nil, data); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		dt    profiler.DType
		shape []int
		str   []int64
		n     int
		want  string
	}{
		{"c", profiler.Float16, []int{2, 3, 4, 5}, nil, len(data), "dtype float16"},
		{"c", profiler.Float32, []int{2, 3, 5, 4}, nil, len(data), "only axis 0 may vary"},
		{"c", profiler.Float32, []int{2, 3, 20}, nil, len(data), "3-D batch"},
		{"c", profiler.Float32, []int{3, 3, 4, 5}, nil, len(data), "needs 720 bytes, given 480"},
		{"c", profiler.Float32, []int{2, 3, 4, 5}, []int64{240, 80, 20}, len(data), "3 strides for 4 axes"},
		{"c", profiler.Float32, []int{2, 3, 4, 5}, []int64{480, 80, 20, 4}, len(data), "reaches byte 720"},
		{"d", profiler.Float32, []int{6}, nil, len(data), "need at least 2 axes"},
	} {
		err := lv.Add(c.name, c.dt, c.shape, c.str, data[:c.n])
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Add(%s %v %v): %v, want an error with %q", c.dt, c.shape, c.str, err, c.want)
		}
	}
	p, err := lv.Profile()
	if err != nil {
		t.Fatal(err)
	}
	if p.Layers[0].Observations != 2*4*5 {
		t.Fatalf("observations %d after refused batches", p.Layers[0].Observations)
	}
}

// A live profile's patterns are those of a run over the concatenated
// batches: every layer's bits, layer by layer in the same order (a 2-D
// layer, a 4-D map with units on axis 1, a token layer of varying length),
// delivered in chunks the sink's layout asks for.
func TestLivePatternsEqualRun(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	dt := profiler.Float32
	for _, chunkObs := range []int{0, 3} {
		lv, err := profiler.NewLive(profiler.LiveOptions{Backend: cpu.New(), Threshold: 0.1, Patterns: true, PatternDir: t.TempDir(), ChunkBytes: 512,
			QueueBytes: int64(chunkObs) * 1000})
		if err != nil {
			t.Fatal(err)
		}
		var all [3][]byte
		var rows [3]int
		for _, n := range []int{3, 1, 6, 2} {
			for k, shape := range [][]int{{n, 70}, {n, 5, 3, 2}, {n, 1 + n%3, 130}} {
				elems := 1
				for _, d := range shape {
					elems *= d
				}
				data := backendtest.Gen(rng, dt, elems, 0.1)
				all[k] = append(all[k], data...)
				rows[k] += n * map[bool]int{true: shape[1], false: 1}[k == 2]
				if err := lv.Add([]string{"a", "b", "c"}[k], dt, shape, nil, data); err != nil {
					t.Fatal(err)
				}
			}
		}
		got := &collect{chunkObs: chunkObs}
		if err := lv.WritePatterns(got); err != nil {
			t.Fatal(err)
		}
		plans, err := lv.Plans()
		if err != nil {
			t.Fatal(err)
		}
		want := &collect{chunkObs: chunkObs}
		layers := []profiler.Layer{profiler.MemoryLayer("a", dt, []int{rows[0], 70}, all[0]),
			profiler.MemoryLayer("b", dt, []int{rows[1], 5, 3, 2}, all[1]), profiler.MemoryLayer("c", dt, []int{rows[2], 130}, all[2])}
		run(t, layers, profiler.Options{Threshold: 0.1, Patterns: want, ChunkBytes: 512})
		for i := range layers {
			if !slices.Equal(plans[i].Layer.Shape, layers[i].Shape) {
				t.Fatalf("layer %s: plan shape %v, want %v", layers[i].Name, plans[i].Layer.Shape, layers[i].Shape)
			}
			if !got.ended[i] || !slices.Equal(got.bits[i], want.bits[i]) {
				t.Fatalf("layer %s (chunk %d): live patterns differ from the run's", layers[i].Name, chunkObs)
			}
		}
		lv.Finish()
		if err := lv.WritePatterns(got); err == nil {
			t.Fatal("patterns written after Finish")
		}
	}
	lv, _ := profiler.NewLive(profiler.LiveOptions{Backend: cpu.New()})
	if err := lv.WritePatterns(&collect{}); err == nil || !strings.Contains(err.Error(), "keeps no patterns") {
		t.Fatalf("WritePatterns without Patterns: %v", err)
	}
}

// failAfter counts with the CPU backend until a block starts at or after
// element from.
type failAfter struct {
	profiler.Backend
	from int64
}

func (f failAfter) Count(b *profiler.Block, t *profiler.Tally) error {
	if b.Start >= f.from {
		return errors.New("device lost")
	}
	return f.Backend.Count(b, t)
}

// With a queue, a batch refused by its layer's checks is refused by its
// Add; one that fails in counting by a later call (Add or Profile); Finish
// counts what is queued.
func TestLiveQueueErrors(t *testing.T) {
	lv, err := profiler.NewLive(profiler.LiveOptions{Backend: cpu.New(), QueueBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 4*6*5)
	if err := lv.Add("a", profiler.Float32, []int{6, 5}, nil, data); err != nil {
		t.Fatal(err)
	}
	if err := lv.Add("a", profiler.Float32, []int{6, 4}, nil, data); err == nil || !strings.Contains(err.Error(), "does not match the layer's batches") {
		t.Fatalf("a batch of other units: %v", err)
	}
	if err := lv.Add("a", profiler.Float32, []int{7, 5}, nil, data); err == nil || !strings.Contains(err.Error(), "needs 140 bytes, given 120") {
		t.Fatalf("a short buffer: %v", err)
	}
	for range 50 {
		if err := lv.Add("a", profiler.Float32, []int{2, 5}, []int64{40, 4}, data); err != nil {
			t.Fatal(err)
		}
	}
	p, err := lv.Profile()
	if err != nil {
		t.Fatal(err)
	}
	if p.Layers[0].Observations != 6+100 {
		t.Fatalf("%d observations, want 106", p.Layers[0].Observations)
	}
	lv.Add("b", profiler.Float32, []int{6, 5}, nil, data)
	lv.Finish()
	if p, err := lv.Profile(); err != nil || p.Layers[1].Observations != 6 {
		t.Fatalf("after Finish: %v, %+v", err, p)
	}
	if err := lv.Add("b", profiler.Float32, []int{6, 5}, nil, data); err == nil || !strings.Contains(err.Error(), "finished") {
		t.Fatalf("Add after Finish: %v", err)
	}

	lv, _ = profiler.NewLive(profiler.LiveOptions{Backend: failAfter{cpu.New(), 30}, QueueBytes: 1 << 20})
	if err := lv.Add("a", profiler.Float32, []int{6, 5}, nil, data); err != nil {
		t.Fatal(err)
	}
	var errs []error
	for range 3 {
		errs = append(errs, lv.Add("a", profiler.Float32, []int{6, 5}, nil, data))
	}
	_, err = lv.Profile()
	errs = append(errs, err)
	if !slices.ContainsFunc(errs, func(e error) bool { return e != nil && strings.Contains(e.Error(), "layer a: device lost") }) || err == nil {
		t.Fatalf("a failed count: errors %v", errs)
	}
}
