package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/actprof/actprof/profiler"
)

// The value statistics end to end, on the activations of small nets that
// PyTorch trains (testdata/train_nets.py: tanh, sigmoid and ReLU MLPs, a
// ReLU convolution in NCHW, a float64 layer, a bfloat16 one in a
// .safetensors file and a float16 one with +-Inf and NaN), against NumPy's
// reading of the same files (testdata/stats_reference.py).

// statsFlags are the statistics flags of the test's profiles, and
// statsParams the same for the reference.
// A layer's range: its exact name's, else its pattern's, else the one for
// all layers.
var statsFlags = []string{"--stats", "--saturate", "tanh_layer=-0.99:0.99", "--saturate", "tanh_f*=-0.99:0.99",
	"--saturate", "sigmoid*=0.01:0.99", "--saturate", "-3e4:3e4", "--dead-window", "256"}

const statsParams = `{"threshold": %g, "dormant_tau": 0.025, "saturated_above": 0.99, "dead_window": 256,
 "saturate": {"tanh_layer": [-0.99, 0.99], "tanh_f*": [-0.99, 0.99], "sigmoid*": [0.01, 0.99], "": [-3e4, 3e4]}}`

// refStats is one layer as the reference computes it: sums exactly
// (math.fsum, correctly rounded), finite the number of finite values.
type refStats struct {
	Units             int        `json:"units"`
	Observations      uint64     `json:"observations"`
	Counts            []uint64   `json:"counts"`
	NaNCounts         []uint64   `json:"nan_counts"`
	PosInf            []uint64   `json:"pos_inf"`
	NegInf            []uint64   `json:"neg_inf"`
	Min               []*float64 `json:"min"`
	Max               []*float64 `json:"max"`
	Sum               []float64  `json:"sum"`
	SumAbs            []float64  `json:"sum_abs"`
	Finite            []uint64   `json:"finite"`
	First             []int64    `json:"first"`
	Last              []int64    `json:"last"`
	Saturate          []float64  `json:"saturate"`
	SaturatedCounts   []uint64   `json:"saturated_counts"`
	ValueHist         []uint64   `json:"value_hist"`
	L0BinWidth        int        `json:"l0_bin_width"`
	L0Hist            []uint64   `json:"l0_hist"`
	MeanL0            float64    `json:"mean_l0"`
	Constant          []int      `json:"constant"`
	Dormant           []int      `json:"dormant"`
	DormantBorderline []int      `json:"dormant_borderline"`
	Saturated         []int      `json:"saturated"`
	WindowDead        []int      `json:"window_dead"`
}

// sumBound is how far actprof's float64 sum of n finite values may be
// from the correctly rounded exact sum ref: n*2^-53*sum|x| (the error of
// any order of n-1 float64 additions, to first order) plus the rounding
// of ref itself.
func sumBound(n uint64, sumAbs, ref float64) float64 {
	const u = 0x1p-53
	return float64(n)*u*sumAbs + u*math.Abs(ref)
}

// sumsErr records the largest deviations of sums from the reference, as
// fractions of sum |x|.
type sumsErr struct{ sum, sumAbs float64 }

// checkStatsAgainst compares every statistic of lp with the reference and
// returns the largest deviations of its sums.
func checkStatsAgainst(t *testing.T, what string, lp *profiler.LayerProfile, ref *refStats) sumsErr {
	t.Helper()
	var e sumsErr
	s := lp.Stats
	if s == nil {
		t.Fatalf("%s: layer %s has no stats", what, lp.Name)
	}
	fail := func(field string, got, want any) {
		t.Helper()
		t.Errorf("%s: layer %s: %s = %v, NumPy gives %v", what, lp.Name, field, got, want)
	}
	if lp.Units != ref.Units || lp.Observations != ref.Observations {
		t.Fatalf("%s: layer %s: %d units x %d observations, NumPy %d x %d", what, lp.Name, lp.Units, lp.Observations, ref.Units, ref.Observations)
	}
	for _, c := range []struct {
		name      string
		got, want []uint64
	}{
		{"counts", lp.Counts, ref.Counts}, {"nan_counts", lp.NaNCounts, ref.NaNCounts},
		{"pos_inf_counts", s.PosInfCounts, ref.PosInf}, {"neg_inf_counts", s.NegInfCounts, ref.NegInf},
		{"saturated_counts", s.SaturatedCounts, ref.SaturatedCounts},
		{"value_hist", s.ValueHist, ref.ValueHist}, {"l0_hist", s.L0Hist, ref.L0Hist},
	} {
		if !slices.Equal(c.got, c.want) {
			fail(c.name, c.got, c.want)
		}
	}
	for _, c := range []struct {
		name      string
		got, want []int64
	}{{"first_fired", s.FirstFired, ref.First}, {"last_fired", s.LastFired, ref.Last}} {
		if !slices.Equal(c.got, c.want) {
			fail(c.name, c.got, c.want)
		}
	}
	if !slices.Equal(s.Saturate, ref.Saturate) {
		fail("saturate", s.Saturate, ref.Saturate)
	}
	if s.L0BinWidth != ref.L0BinWidth {
		fail("l0_bin_width", s.L0BinWidth, ref.L0BinWidth)
	}
	if s.MeanL0 != ref.MeanL0 { // fires / observations, both exact in float64: correctly rounded on both sides
		fail("mean_l0", s.MeanL0, ref.MeanL0)
	}
	for u := range lp.Units {
		for _, c := range []struct {
			name string
			got  float64
			want *float64
		}{{"min", s.Min[u], ref.Min[u]}, {"max", s.Max[u], ref.Max[u]}} {
			if c.want == nil && !math.IsNaN(c.got) || c.want != nil && c.got != *c.want {
				t.Errorf("%s: layer %s unit %d: %s %v, NumPy %v", what, lp.Name, u, c.name, c.got, c.want)
			}
		}
		for _, c := range []struct {
			name      string
			got, want float64
			worst     *float64
		}{{"sum", s.Sum[u], ref.Sum[u], &e.sum}, {"sum_abs", s.SumAbs[u], ref.SumAbs[u], &e.sumAbs}} {
			d := math.Abs(c.got - c.want)
			if d > sumBound(ref.Finite[u], ref.SumAbs[u], c.want) {
				t.Errorf("%s: layer %s unit %d: %s %v, exact %v: off by %g, beyond the bound %g",
					what, lp.Name, u, c.name, c.got, c.want, d, sumBound(ref.Finite[u], ref.SumAbs[u], c.want))
			}
			if ref.SumAbs[u] > 0 {
				*c.worst = max(*c.worst, d/ref.SumAbs[u])
			}
		}
	}
	if len(ref.DormantBorderline) > 0 {
		t.Fatalf("layer %s: units %v are within rounding of the dormant threshold: the data cannot test it", lp.Name, ref.DormantBorderline)
	}
	for _, c := range []struct {
		name      string
		got, want []int
	}{{"constant", s.Constant, ref.Constant}, {"dormant", s.Dormant, ref.Dormant},
		{"saturated", s.Saturated, ref.Saturated}, {"window_dead", s.WindowDead, ref.WindowDead}} {
		if !slices.Equal(c.got, c.want) {
			fail(c.name, c.got, c.want)
		}
	}
	return e
}

// loadProfile decodes a profile file.
func loadProfile(t *testing.T, path string) *profiler.Profile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := profiler.DecodeProfile(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p
}

// valueEdges is the golden file of the value histogram's edges.
var valueEdges = filepath.Join("..", "..", "profiler", "testdata", "value_edges.txt")

// statsReference runs the NumPy reference on the layers in dir, with the
// readings params (as statsParams).
func statsReference(t *testing.T, py, dir, params string) map[string]*refStats {
	t.Helper()
	cmd := exec.Command(py, filepath.Join("testdata", "stats_reference.py"), "stats", dir, valueEdges, params)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("stats_reference.py: %v", err)
	}
	ref := map[string]*refStats{}
	if err := json.Unmarshal(out, &ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestStatsRealNets(t *testing.T) {
	py := requireTorch(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "nets")
	if out, err := exec.Command(py, filepath.Join("testdata", "train_nets.py"), data).CombinedOutput(); err != nil {
		t.Fatalf("train_nets.py: %v\n%s", err, out)
	}
	ref := statsReference(t, py, data, fmt.Sprintf(statsParams, 0.0))
	if len(ref) != 7 {
		t.Fatalf("reference: %d layers, want 7", len(ref))
	}
	profile := func(name string, extra ...string) *profiler.Profile {
		t.Helper()
		o := filepath.Join(dir, name+".json")
		args := append(append([]string{"profile", "--quiet", "-o", o}, statsFlags...), extra...)
		if so, se, code := actprof(t, append(args, data)...); code != 0 {
			t.Fatalf("%v: exit %d %s %s", args, code, so, se)
		}
		return loadProfile(t, o)
	}
	check := func(what string, p *profiler.Profile, ref map[string]*refStats) (e sumsErr) {
		t.Helper()
		if p.Stats == nil || p.Stats.DormantTau != 0.025 || p.Stats.SaturatedAbove != 0.99 || p.Stats.DeadWindow != 256 {
			t.Fatalf("%s: profile stats parameters %+v", what, p.Stats)
		}
		if len(p.Layers) != len(ref) {
			t.Fatalf("%s: %d layers, NumPy %d", what, len(p.Layers), len(ref))
		}
		for i := range p.Layers {
			lp := &p.Layers[i]
			r := ref[lp.Name]
			if r == nil {
				t.Fatalf("%s: layer %q not in the reference", what, lp.Name)
			}
			le := checkStatsAgainst(t, what, lp, r)
			e.sum, e.sumAbs = max(e.sum, le.sum), max(e.sumAbs, le.sumAbs)
		}
		return e
	}
	whole := profile("whole")
	e := check("default", whole, ref)
	t.Logf("default: largest |sum - exact| / sum|x| %.3g, |sum_abs - exact| / sum|x| %.3g", e.sum, e.sumAbs)

	// The data are not vacuous: each reading occurs where it should.
	layer := func(p *profiler.Profile, name string) *profiler.LayerProfile {
		for i := range p.Layers {
			if p.Layers[i].Name == name {
				return &p.Layers[i]
			}
		}
		t.Fatalf("no layer %s", name)
		return nil
	}
	for _, name := range []string{"tanh_layer", "tanh_f64", "sigmoid_layer", "sigmoid_bf16"} {
		if len(layer(whole, name).Stats.Saturated) == 0 {
			t.Errorf("%s: no saturated unit: the data do not test saturation", name)
		}
	}
	relu := layer(whole, "relu_layer")
	firedDormant, firedWindowDead := false, false
	for _, u := range relu.Stats.Dormant {
		firedDormant = firedDormant || relu.Counts[u] > 0
	}
	for _, u := range relu.Stats.WindowDead {
		firedWindowDead = firedWindowDead || relu.Stats.LastFired[u] >= 0
	}
	if len(relu.Dead) == 0 || len(relu.Stats.Constant) == 0 || !firedDormant || !firedWindowDead {
		t.Errorf("relu_layer: dead %v, constant %v, dormant %v, window_dead %v: want dead units and dormant and window-dead units that fired",
			relu.Dead, relu.Stats.Constant, relu.Stats.Dormant, relu.Stats.WindowDead)
	}
	if tl := layer(whole, "tanh_layer"); len(tl.Stats.Constant) == 0 {
		t.Errorf("tanh_layer: no constant unit (tanh at exactly +-1 in float32)")
	}
	if c := layer(whole, "conv_layer"); len(c.Shape) != 4 || c.UnitAxis != 1 || len(c.Stats.Dormant) == 0 {
		t.Errorf("conv_layer: shape %v, unit axis %d, dormant %v", c.Shape, c.UnitAxis, c.Stats.Dormant)
	}
	f16 := layer(whole, "preact_f16")
	var pos, neg uint64
	for u := range f16.Units {
		pos, neg = pos+f16.Stats.PosInfCounts[u], neg+f16.Stats.NegInfCounts[u]
	}
	if f16.DType != "float16" || pos == 0 || neg == 0 || f16.NaNTotal == 0 || layer(whole, "tanh_f64").DType != "float64" ||
		layer(whole, "sigmoid_bf16").DType != "bfloat16" {
		t.Errorf("preact_f16: dtype %s, +Inf %d, -Inf %d, NaN %d", f16.DType, pos, neg, f16.NaNTotal)
	}

	// Another threshold moves what fired: counts, first and last fired,
	// L0, the dead window.
	check("--threshold 0.5", profile("t05", "--threshold", "0.5"), statsReference(t, py, data, fmt.Sprintf(statsParams, 0.5)))

	// Workers and chunk sizes change only the order of the float64
	// additions: every run is within the bound of the exact sums.
	runs := map[string]*profiler.Profile{"default": whole}
	for _, c := range []struct {
		name  string
		extra []string
	}{{"workers1", []string{"--workers", "1"}}, {"workers2", []string{"--workers", "2"}}, {"chunk4KiB", []string{"--chunk-size", "4KiB"}}} {
		runs[c.name] = profile(c.name, c.extra...)
		e := check(c.name, runs[c.name], ref)
		t.Logf("%s: largest |sum - exact| / sum|x| %.3g, |sum_abs - exact| / sum|x| %.3g", c.name, e.sum, e.sumAbs)
	}
	for _, pair := range [][2]string{{"workers1", "workers2"}, {"default", "chunk4KiB"}, {"workers1", "chunk4KiB"}} {
		a, b := runs[pair[0]], runs[pair[1]]
		var dSum, dAbs, relSum, relAbs float64
		for i := range a.Layers {
			x, y, r := a.Layers[i].Stats, b.Layers[i].Stats, ref[a.Layers[i].Name]
			for u := range x.Sum {
				if r.SumAbs[u] == 0 {
					continue
				}
				dSum = max(dSum, math.Abs(x.Sum[u]-y.Sum[u])/r.SumAbs[u])
				dAbs = max(dAbs, math.Abs(x.SumAbs[u]-y.SumAbs[u])/r.SumAbs[u])
				if r.Sum[u] != 0 {
					relSum = max(relSum, math.Abs(x.Sum[u]-y.Sum[u])/math.Abs(r.Sum[u]))
				}
				relAbs = max(relAbs, math.Abs(x.SumAbs[u]-y.SumAbs[u])/r.SumAbs[u])
			}
		}
		t.Logf("%s vs %s: largest |difference| / sum|x|: sum %.3g, sum_abs %.3g; relative: sum %.3g, sum_abs %.3g",
			pair[0], pair[1], dSum, dAbs, relSum, relAbs)
	}

	// merge of the two halves of every layer is the whole: exact where the
	// whole is, sums within the bound, the second half's first and last
	// fired offset by the first half's observations.
	partA, partB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if out, err := exec.Command(py, filepath.Join("testdata", "stats_reference.py"), "split", data, partA, partB).CombinedOutput(); err != nil {
		t.Fatalf("split: %v\n%s", err, out)
	}
	pa, pb, pm := filepath.Join(dir, "pa.json"), filepath.Join(dir, "pb.json"), filepath.Join(dir, "pm.json")
	for _, c := range [][]string{
		append(append([]string{"profile", "--quiet", "-o", pa}, statsFlags...), partA),
		append(append([]string{"profile", "--quiet", "-o", pb}, statsFlags...), partB),
		{"merge", "-o", pm, pa, pb},
	} {
		if so, se, code := actprof(t, c...); code != 0 {
			t.Fatalf("%v: exit %d %s %s", c, code, so, se)
		}
	}
	merged := loadProfile(t, pm)
	e = check("merged halves", merged, ref)
	t.Logf("merged halves: largest |sum - exact| / sum|x| %.3g, |sum_abs - exact| / sum|x| %.3g", e.sum, e.sumAbs)
	// --shard I/N parts, merged: the whole again
	var parts []string
	for i := range 3 {
		o := filepath.Join(dir, fmt.Sprintf("shard%d.json", i))
		args := append(append([]string{"profile", "--quiet", "--shard", fmt.Sprintf("%d/3", i), "-o", o}, statsFlags...), data)
		if so, se, code := actprof(t, args...); code != 0 {
			t.Fatalf("%v: exit %d %s %s", args, code, so, se)
		}
		parts = append(parts, o)
	}
	ps := filepath.Join(dir, "shards.json")
	if so, se, code := actprof(t, append([]string{"merge", "-o", ps}, parts...)...); code != 0 {
		t.Fatalf("merge of shards: exit %d %s %s", code, so, se)
	}
	e = check("merged shards", loadProfile(t, ps), ref)
	t.Logf("merged shards: largest |sum - exact| / sum|x| %.3g, |sum_abs - exact| / sum|x| %.3g", e.sum, e.sumAbs)

	// and the same, field by field, as the whole's
	for i := range whole.Layers {
		w, m := whole.Layers[i].Stats, merged.Layers[i].Stats
		ws, ms := *w, *m
		ws.Sum, ws.SumAbs, ms.Sum, ms.SumAbs = nil, nil, nil, nil
		wj, _ := json.Marshal(ws)
		mj, _ := json.Marshal(ms)
		if string(wj) != string(mj) {
			t.Errorf("layer %s: merged halves' statistics (sums aside) differ from the whole's", whole.Layers[i].Name)
		}
	}
	hb := loadProfile(t, pb)
	for i := range hb.Layers {
		hs, ms, off := hb.Layers[i].Stats, merged.Layers[i].Stats, int64(loadProfile(t, pa).Layers[i].Observations)
		for u := range hs.LastFired {
			if hs.LastFired[u] >= 0 && ms.LastFired[u] != hs.LastFired[u]+off {
				t.Errorf("layer %s unit %d: merged last_fired %d, second half's %d + %d", hb.Layers[i].Name, u, ms.LastFired[u], hs.LastFired[u], off)
			}
		}
	}
}

// Every boundary: each histogram edge and its float64 neighbours, in
// float64, float32 (C and Fortran order) and float16; +-0, subnormals,
// +-Inf, NaN, an all-NaN unit, values exactly at the saturation range's
// ends (testdata/edge_values.py), against the NumPy reference.
func TestStatsEdgeValues(t *testing.T) {
	py := requireNumPy(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "edges")
	if out, err := exec.Command(py, filepath.Join("testdata", "edge_values.py"), data, valueEdges).CombinedOutput(); err != nil {
		t.Fatalf("edge_values.py: %v\n%s", err, out)
	}
	ref := statsReference(t, py, data, `{"threshold": 0, "dormant_tau": 0.025, "saturated_above": 0.99, "dead_window": 3, "saturate": {"edges*": [-1, 1]}}`)
	o := filepath.Join(dir, "p.json")
	for _, workers := range []string{"1", "2"} {
		if so, se, code := actprof(t, "profile", "--quiet", "--stats", "--saturate", "edges*=-1:1", "--dead-window", "3",
			"--workers", workers, "--chunk-size", "4KiB", "-o", o, data); code != 0 {
			t.Fatalf("profile: exit %d %s %s", code, so, se)
		}
		p := loadProfile(t, o)
		if len(p.Layers) != 4 || len(ref) != 4 {
			t.Fatalf("%d layers, reference %d, want 4", len(p.Layers), len(ref))
		}
		for i := range p.Layers {
			lp := &p.Layers[i]
			checkStatsAgainst(t, "edges, --workers "+workers, lp, ref[lp.Name])
			if lp.Name == "edges_f64" && slices.Contains(lp.Stats.ValueHist, 0) {
				t.Errorf("edges_f64: value_hist %v: every bin should hold values", lp.Stats.ValueHist)
			}
		}
	}
}

// Bad statistics flags: exit 2, the problem named on the first line of
// stderr (then only the pointer to --help), nothing on stdout, no profile
// written.
func TestStatsBadFlags(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "fc.npy")
	writeNpy(t, in, []int{4, 3}, []float32{1, -1, 0.5, 2, 0, -3, 1, 1, 1, 0, 0.25, -0.5})
	out := filepath.Join(dir, "p.json")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--saturate", "abc"}, `--saturate "abc": want LO:HI or LAYER=LO:HI`},
		{[]string{"--saturate", "1:"}, `--saturate "1:": want LO:HI`},
		{[]string{"--saturate", "0.5:0.1"}, `--saturate "0.5:0.1": LO must be below HI`},
		{[]string{"--saturate", "x=1"}, `--saturate "x=1": want LO:HI`},
		{[]string{"--saturate", "fc=nan:1"}, `--saturate "fc=nan:1": want LO:HI`},
		{[]string{"--saturate", "nosuchlayer=0:1"}, "--saturate nosuchlayer=0:1: the pattern matches no layer"},
		{[]string{"--saturate", "[=0:1"}, `--saturate "[=0:1": bad layer pattern "["`},
		{[]string{"--dormant-tau", "-1"}, "--dormant-tau must be in [0, 1]"},
		{[]string{"--dormant-tau", "1.5"}, "--dormant-tau must be in [0, 1]"},
		{[]string{"--saturated-above", "1"}, "--saturated-above must be in [0, 1)"},
		{[]string{"--saturated-above", "-0.1"}, "--saturated-above must be in [0, 1)"},
	} {
		args := append(append([]string{"profile", "--quiet", "-o", out}, c.args...), in)
		so, se, code := actprof(t, args...)
		lines := strings.Split(strings.TrimSuffix(se, "\n"), "\n")
		if code != 2 || so != "" || !strings.HasPrefix(lines[0], "actprof profile: ") || !strings.Contains(lines[0], c.want) ||
			len(lines) > 2 || len(lines) == 2 && !strings.Contains(lines[1], "--help") || strings.Contains(se, "panic") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q: want exit 2 and one line naming %q", c.args, code, so, se, c.want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%v: %s written", c.args, out)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, "p.json*")); len(left) > 0 {
			t.Errorf("%v: left behind %v", c.args, left)
		}
	}
	// two patterns for one layer: a usage error naming both
	so, se, code := actprof(t, "profile", "--quiet", "-o", out, "--saturate", "f*=0:1", "--saturate", "*c=0:1", in)
	if code != 2 || so != "" || !strings.Contains(strings.SplitN(se, "\n", 2)[0], `"*c" and "f*"`) {
		t.Errorf("two --saturate patterns on one layer: exit %d, stdout %q, stderr %q", code, so, se)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("two --saturate patterns on one layer: %s written", out)
	}
	// a good run, so that the flags above failed for their own reason
	if so, se, code := actprof(t, "profile", "--quiet", "-o", out, "--saturate", "fc=-1:1", "--dormant-tau", "0", "--saturated-above", "0", in); code != 0 {
		t.Fatalf("good flags: exit %d %s %s", code, so, se)
	}
}
