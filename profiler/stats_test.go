package profiler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/profiler/backendtest"
)

// statsOf is the oracle's statistics of a whole array, read as a profile
// reads them.
func statsOf(dt profiler.DType, data []byte, g profiler.Geometry, thr float64, sat *profiler.Range) *profiler.Stats {
	return backendtest.StatsOracle(dt, data, 0, g, thr, sat)
}

// checkStats compares a run's layer statistics with the oracle's: integers
// and extremes exactly, sums within backendtest.SumTolerance.
func checkStats(t *testing.T, lp profiler.LayerProfile, want *profiler.Stats) {
	t.Helper()
	s := lp.Stats
	if s == nil {
		t.Fatalf("layer %s: no stats", lp.Name)
	}
	got := &profiler.Stats{Min: slices.Clone(s.Min), Max: slices.Clone(s.Max), Sum: s.Sum, SumAbs: s.SumAbs, PosInf: s.PosInfCounts,
		NegInf: s.NegInfCounts, Saturated: s.SaturatedCounts, First: slices.Clone(s.FirstFired), Last: s.LastFired, Values: s.ValueHist, L0: s.L0Hist}
	for u := range got.Min {
		if math.IsNaN(got.Min[u]) { // the profile's "no finite value"
			got.Min[u], got.Max[u] = math.Inf(1), math.Inf(-1)
		}
		if got.First[u] < 0 {
			got.First[u] = math.MaxInt64
		}
	}
	if d := backendtest.DiffStats(got, want, lp.Observations); d != "" {
		t.Fatalf("layer %s: %s", lp.Name, d)
	}
}

func TestStatsMatchOracleForAnyWorkersAndChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	sat := &profiler.Range{Lo: -0.9, Hi: 0.9}
	for _, dt := range backendtest.DTypes {
		for _, shape := range [][]int{{333, 37}, {5, 9, 64}, {6, 13, 7, 5}, {1, 1}, {40, 3000}} {
			n := 1
			for _, d := range shape {
				n *= d
			}
			data := backendtest.Gen(rng, dt, n, 0)
			g, err := profiler.NewGeometry(shape, profiler.DefaultUnitAxis(len(shape)))
			if err != nil {
				t.Fatal(err)
			}
			want := statsOf(dt, data, g, 0, sat)
			so := profiler.DefaultStats()
			so.Saturate = map[string]profiler.Range{"": *sat}
			var first *profiler.Profile
			for _, workers := range []int{1, 3} {
				for _, chunk := range []int{1, 4096, 1 << 20} {
					for _, readAt := range []bool{false, true} {
						l := profiler.MemoryLayer("l", dt, shape, data)
						if readAt {
							l = readAtLayer("l", dt, shape, data)
						}
						p := run(t, []profiler.Layer{l}, profiler.Options{Workers: workers, ChunkBytes: chunk, Stats: so})
						checkLayer(t, p.Layers[0], dt, data, g, 0)
						checkStats(t, p.Layers[0], want)
						if first == nil {
							first = p
							continue
						}
						// integers and extremes are the same whatever the
						// workers and chunks; sums differ at most in their
						// last bits (checked above)
						a, b := first.Layers[0].Stats, p.Layers[0].Stats
						if !slices.Equal(a.ValueHist, b.ValueHist) || !slices.Equal(a.L0Hist, b.L0Hist) || !slices.Equal(a.Constant, b.Constant) ||
							!slices.Equal(a.FirstFired, b.FirstFired) || !slices.Equal(a.SaturatedCounts, b.SaturatedCounts) {
							t.Fatalf("%v %v: workers %d chunk %d differ from the first run", dt, shape, workers, chunk)
						}
					}
				}
			}
		}
	}
}

// The derived lists on values planted for them, against their definitions.
func TestStatsClassification(t *testing.T) {
	const obs = 200
	const units = 7
	v := make([]float64, obs*units)
	for o := 0; o < obs; o++ {
		row := v[o*units:]
		row[0] = 3.5                       // constant, positive: fires always
		row[1] = 0                         // constant 0: dead, dormant
		row[2] = float64(o%10) - 4.5       // healthy
		row[3] = 1e-4 * float64(o%3)       // dormant (tiny), fires
		row[4] = math.Tanh(float64(o) + 3) // beyond 0.99 on every observation
		row[5] = float64(o%2) * 2          // fires on odd observations
		row[6] = 0
		if o == 20 {
			row[6] = 1 // fires once, early: window-dead
		}
	}
	so := profiler.DefaultStats()
	so.DeadWindow = 100
	so.Saturate = map[string]profiler.Range{"fc": {Lo: -0.99, Hi: 0.99}}
	p := run(t, []profiler.Layer{profiler.MemoryLayer("fc", profiler.Float64, []int{obs, units}, backendtest.Encode(profiler.Float64, v))},
		profiler.Options{Stats: so})
	l := p.Layers[0]
	s := l.Stats
	check := func(name string, got, want []int) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	check("constant", s.Constant, []int{0, 1})
	// mean |x| per unit: 3.5, 0, 2.5, 1e-4, ~0.99, 1, 0.005; tau 0.025 of
	// the mean over units (~1.14) is ~0.029
	check("dormant", s.Dormant, []int{1, 3, 6})
	check("saturated", s.Saturated, []int{0, 4}) // 3.5 >= 0.99 too
	check("window_dead", s.WindowDead, []int{1, 6})
	if s.FirstFired[6] != 20 || s.LastFired[6] != 20 || s.FirstFired[5] != 1 || s.LastFired[5] != obs-1 || s.FirstFired[1] != -1 {
		t.Errorf("first/last fired: %v %v", s.FirstFired, s.LastFired)
	}
	if l.Mean(2) != 0 || l.MeanAbs(0) != 3.5 || s.Min[1] != 0 || s.Max[1] != 0 {
		t.Errorf("mean of unit 2 %g, mean |x| of unit 0 %g", l.Mean(2), l.MeanAbs(0))
	}
	var fires uint64
	for _, c := range l.Counts {
		fires += c
	}
	if s.MeanL0 != float64(fires)/obs {
		t.Errorf("mean_l0 %g, want %g", s.MeanL0, float64(fires)/obs)
	}
	// tau 0: the units whose every value is 0
	so.DormantTau = 0
	p = run(t, []profiler.Layer{profiler.MemoryLayer("fc", profiler.Float64, []int{obs, units}, backendtest.Encode(profiler.Float64, v))},
		profiler.Options{Stats: so})
	check("dormant at tau 0", p.Layers[0].Stats.Dormant, []int{1})
}

func TestStatsJSONAndMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	shape := []int{300, 3, 4, 5}
	data := backendtest.Gen(rng, profiler.Float32, 300*60, 0)
	so := profiler.DefaultStats()
	so.DeadWindow = 50
	so.Saturate = map[string]profiler.Range{"": {Lo: -1, Hi: 1}}
	whole := run(t, []profiler.Layer{profiler.MemoryLayer("c", profiler.Float32, shape, data)}, profiler.Options{Stats: so})
	// Encode writes encoding/json's bytes, and decodes back to the profile
	var got bytes.Buffer
	if err := whole.Encode(&got); err != nil {
		t.Fatal(err)
	}
	if want := stdEncode(t, whole); !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("Encode differs from encoding/json:\n--- got\n%.3000s\n--- want\n%.3000s", got.Bytes(), want)
	}
	q, err := profiler.DecodeProfile(bytes.NewReader(got.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var std profiler.Profile
	if err := json.Unmarshal(got.Bytes(), &std); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(norm(q), norm(&std)) {
		t.Fatalf("DecodeProfile differs from encoding/json:\n%+v\n%+v", norm(q).Layers[0].Stats, norm(&std).Layers[0].Stats)
	}
	if !reflect.DeepEqual(norm(q), norm(whole)) {
		t.Fatalf("round trip differs:\n%+v\n%+v", norm(q).Layers[0].Stats, norm(whole).Layers[0].Stats)
	}
	// two parts merged: the whole's integers and extremes, sums within
	// rounding, observation indices of the second part after the first's
	cut := 120 * 60 * 4
	a := run(t, []profiler.Layer{profiler.MemoryLayer("c", profiler.Float32, []int{120, 3, 4, 5}, data[:cut])}, profiler.Options{Stats: so})
	b := run(t, []profiler.Layer{profiler.MemoryLayer("c", profiler.Float32, []int{180, 3, 4, 5}, data[cut:])}, profiler.Options{Stats: so})
	m, err := profiler.Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := profiler.NewGeometry(shape, 1)
	sr := so.Saturate[""]
	checkStats(t, m.Layers[0], statsOf(profiler.Float32, data, g, 0, &sr))
	ws, ms := whole.Layers[0].Stats, m.Layers[0].Stats
	if !slices.Equal(ws.Constant, ms.Constant) || !slices.Equal(ws.WindowDead, ms.WindowDead) || !slices.Equal(ws.Saturated, ms.Saturated) {
		t.Fatalf("merged lists differ from the whole's")
	}
	// a profile without stats does not merge with one with them
	plain := run(t, []profiler.Layer{profiler.MemoryLayer("c", profiler.Float32, []int{180, 3, 4, 5}, data[cut:])}, profiler.Options{})
	if _, err := profiler.Merge(a, plain); err == nil || !strings.Contains(err.Error(), "value statistics") {
		t.Fatalf("merge with and without stats: %v", err)
	}
}

// norm maps NaN entries (null in JSON) to a value DeepEqual can compare.
func norm(p *profiler.Profile) *profiler.Profile {
	q := *p
	q.Layers = slices.Clone(p.Layers)
	for i := range q.Layers {
		if s := q.Layers[i].Stats; s != nil {
			c := *s
			for _, f := range []*profiler.Floats{&c.Min, &c.Max, &c.Sum, &c.SumAbs} {
				v := slices.Clone(*f)
				for k := range v {
					if math.IsNaN(v[k]) || math.IsInf(v[k], 0) {
						v[k] = -12345
					}
				}
				*f = v
			}
			q.Layers[i].Stats = &c
		}
	}
	q.Backend, q.Tool = "", ""
	return &q
}

func TestStatsDecodeRefusesInconsistent(t *testing.T) {
	so := profiler.DefaultStats()
	p := run(t, []profiler.Layer{profiler.MemoryLayer("fc", profiler.Float32, []int{4, 3},
		f32bytes([]float32{1, 0, -1, 2, 0, -1, 3, 0, 2, 4, 0, -1}))}, profiler.Options{Stats: so})
	var doc bytes.Buffer
	if err := p.Encode(&doc); err != nil {
		t.Fatal(err)
	}
	good := doc.String()
	for _, c := range []struct{ from, to, want string }{
		{`"l0_bin_width": 1`, `"l0_bin_width": 2`, "l0_bin_width"},
		{`"first_fired": [`, `"first_fired": [7,`, "first_fired"},
		{`"constant": [`, `"constant": [2,`, "constant lists"},
		{`"dormant_tau": 0.025`, `"dormant_tau": 3`, "dormant_tau"},
		{`"mean_l0": 1.25`, `"mean_l0": 1`, "mean_l0"},
	} {
		bad := strings.Replace(good, c.from, c.to, 1)
		if bad == good {
			t.Fatalf("%q not in the document:\n%s", c.from, good)
		}
		_, err := profiler.DecodeProfile(strings.NewReader(bad))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s -> %s: %v", c.from, c.to, err)
		}
	}
	_ = cpu.New()
}

// The histogram's edges are the golden file's: 10^(k/4-8) correctly
// rounded, as Python's decimal module computes it (60 digits, then
// float()).
func TestValueEdgesGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/value_edges.txt")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(b))
	if len(lines) != len(profiler.ValueEdges) {
		t.Fatalf("%d edges in the golden file, %d in the package", len(lines), len(profiler.ValueEdges))
	}
	for k, l := range lines {
		want, err := strconv.ParseFloat(l, 64)
		if err != nil || profiler.ValueEdges[k] != want {
			t.Errorf("edge %d: %v, want %s", k, profiler.ValueEdges[k], l)
		}
	}
	// every bin's lower edge is in it, the float just below is not
	for k, e := range profiler.ValueEdges {
		if profiler.MagnitudeBin(e) != k+1 || profiler.MagnitudeBin(math.Nextafter(e, 0)) != k {
			t.Errorf("edge %d (%v): bins %d and %d", k, e, profiler.MagnitudeBin(e), profiler.MagnitudeBin(math.Nextafter(e, 0)))
		}
	}
}

// --saturate patterns: an exact name wins, a glob applies to the layers it
// matches, "" to the rest; two globs on one layer are an error.
func TestSaturatePatterns(t *testing.T) {
	data := f32bytes([]float32{-2, 0.5, 2, 0.1, 3, -3})
	layers := func(names ...string) []profiler.Layer {
		var out []profiler.Layer
		for _, n := range names {
			out = append(out, profiler.MemoryLayer(n, profiler.Float32, []int{3, 2}, data))
		}
		return out
	}
	so := profiler.DefaultStats()
	so.Saturate = map[string]profiler.Range{"tanh*": {Lo: -1, Hi: 1}, "tanh2": {Lo: -2.5, Hi: 2.5}, "": {Lo: -10, Hi: 10}}
	p := run(t, layers("tanh1", "tanh2", "relu"), profiler.Options{Stats: so})
	for i, want := range [][]uint64{{3, 1}, {1, 1}, {0, 0}} {
		if got := p.Layers[i].Stats.SaturatedCounts; !slices.Equal(got, want) {
			t.Errorf("%s: saturated counts %v, want %v", p.Layers[i].Name, got, want)
		}
	}
	so.Saturate = map[string]profiler.Range{"tanh*": {Lo: -1, Hi: 1}, "*1": {Lo: -2, Hi: 2}}
	if _, err := profiler.Run(context.Background(), layers("tanh1"), profiler.Options{Backend: cpu.New(), Stats: so}); err == nil || !strings.Contains(err.Error(), "give one range") {
		t.Errorf("two patterns on one layer: %v", err)
	}
	so.Saturate = map[string]profiler.Range{"gelu*": {Lo: -1, Hi: 1}}
	if _, err := profiler.Run(context.Background(), layers("tanh1"), profiler.Options{Backend: cpu.New(), Stats: so}); err == nil || !strings.Contains(err.Error(), "matches no layer") {
		t.Errorf("a pattern that matches no layer: %v", err)
	}
}
