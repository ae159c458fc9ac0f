package main

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/actprof/actprof/profiler"
)

// TestTorchLive builds the library as make python does, runs
// python/tests/live_check.py (live profiles of small trained models
// against torch's own reductions) and compares the live profiles with
// the actprof command's profiles of ap.record's shards of the same
// batches: counts and every integer statistic equal, sums within
// float64 rounding.
func TestTorchLive(t *testing.T) {
	py := requireTorch(t)
	dir := t.TempDir()
	lib := filepath.Join(dir, "_libactprof.so")
	bin := filepath.Join(dir, "actprof")
	for _, args := range [][]string{{"build", "-buildmode=c-shared", "-o", lib, "."}, {"build", "-o", bin, "../../cmd/actprof"}} {
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", args, err, out)
		}
	}
	out := filepath.Join(dir, "out")
	cmd := exec.Command(py, "../tests/live_check.py", out)
	cmd.Env = append(os.Environ(), "PYTHONPATH=..", "ACTPROF_LIB="+lib)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("live_check.py: %v\n%s", err, b)
	}
	for _, model := range []string{"mlp", "cnn"} {
		offline := filepath.Join(dir, model+".json")
		if b, err := exec.Command(bin, "profile", "--stats", "--quiet", "-o", offline, filepath.Join(out, model, "rec")).CombinedOutput(); err != nil {
			t.Fatalf("actprof profile: %v\n%s", err, b)
		}
		live, off := decode(t, filepath.Join(out, model, "live.json")), decode(t, offline)
		if len(live.Layers) != 2 || len(off.Layers) != 2 {
			t.Fatalf("%s: %d live layers, %d offline", model, len(live.Layers), len(off.Layers))
		}
		for i := range live.Layers {
			sameLayer(t, live.Layers[i], off.Layers[i])
		}
		live.Layers, off.Layers = nil, nil
		if !reflect.DeepEqual(live, off) {
			t.Fatalf("%s: profile header %+v, offline %+v", model, live, off)
		}
	}
}

func decode(t *testing.T, path string) *profiler.Profile {
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

func sameLayer(t *testing.T, got, want profiler.LayerProfile) {
	t.Helper()
	if want.Source == "" {
		t.Fatalf("offline layer %s has no source", want.Name)
	}
	want.Source = ""
	gs, ws := *got.Stats, *want.Stats
	for u := range ws.Sum {
		tol := 1e-12 * (ws.SumAbs[u] + 1)
		if math.Abs(gs.Sum[u]-ws.Sum[u]) > tol || math.Abs(gs.SumAbs[u]-ws.SumAbs[u]) > tol {
			t.Fatalf("layer %s unit %d: sums %g %g, offline %g %g", want.Name, u, gs.Sum[u], gs.SumAbs[u], ws.Sum[u], ws.SumAbs[u])
		}
	}
	gs.Sum, gs.SumAbs, ws.Sum, ws.SumAbs = nil, nil, nil, nil
	gs.MeanL0, ws.MeanL0 = 0, 0
	gs.Dormant, ws.Dormant = nil, nil // from the sums
	got.Stats, want.Stats = &gs, &ws
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("layer %s: live %+v\noffline %+v", want.Name, got, want)
	}
}
