package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/store"
)

// TestTorchLive builds the library as make python does, runs
// python/tests/live_check.py (live profiles of small trained models
// against torch's own reductions) and compares the live profiles with
// the actprof command's profiles of ap.record's shards of the same
// batches: counts and every integer statistic equal, sums within
// float64 rounding. The live pattern stores are the offline runs' stores,
// byte for byte, and answer every `patterns samples` and `patterns show`
// query asked alike. The parts of two torch.distributed processes, merged
// by `actprof merge`, are the live profile of one process over rank 0's
// batches and then rank 1's.
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
	// no CUDA driver: the library loads and counts host tensors; a CUDA
	// tensor is one line saying so
	nodrv := exec.Command(py, "-c", `from actprof._lib import Profile, Error
import ctypes
p = Profile()
try:
    p.count_cuda("g", 1 << 20, "float32", [2, 3], 0, 0)
except Error as e:
    print(e)
x = (ctypes.c_float * 6)(1, -1, 2, 0, 3, -2)
q = Profile()
q.count("h", ctypes.addressof(x), "float32", [2, 3])
print(q.summary().count("\nh "))`)
	nodrv.Env = append(os.Environ(), "PYTHONPATH=..", "ACTPROF_LIB="+lib, "ACTPROF_LIBCUDA=/nonexistent/libcuda.so.1")
	if b, err := nodrv.CombinedOutput(); err != nil || !strings.HasPrefix(string(b), "actprof: layer g: tensor on cuda:0: no CUDA driver: cannot load /nonexistent/libcuda.so.1 (") || !strings.HasSuffix(string(b), ")\n1\n") {
		t.Fatalf("without a CUDA driver: %v\n%s", err, b)
	}
	for _, model := range []string{"mlp", "cnn"} {
		offline := filepath.Join(dir, model+".json")
		offStore := filepath.Join(dir, model+".actbits")
		if b, err := exec.Command(bin, "profile", "--stats", "--quiet", "-o", offline, "--patterns", offStore, filepath.Join(out, model, "rec")).CombinedOutput(); err != nil {
			t.Fatalf("actprof profile: %v\n%s", err, b)
		}
		sameStores(t, bin, filepath.Join(out, model, "live.actbits"), offStore, decode(t, filepath.Join(out, model, "live.json")))
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

	// merged parts of a distributed run
	d := filepath.Join(out, "dist")
	merged := filepath.Join(dir, "merged.json")
	if b, err := exec.Command(bin, "merge", "-o", merged, filepath.Join(d, "part-1.json"), filepath.Join(d, "part-0.json")).CombinedOutput(); err != nil {
		t.Fatalf("actprof merge: %v\n%s", err, b)
	}
	m, one := decode(t, merged), decode(t, filepath.Join(d, "one.json"))
	if len(m.Layers) != 2 || len(one.Layers) != 2 {
		t.Fatalf("%d merged layers, %d of one process", len(m.Layers), len(one.Layers))
	}
	for i := range m.Layers {
		equalLayer(t, m.Layers[i], one.Layers[i])
	}
	m.Layers, one.Layers = nil, nil
	if !reflect.DeepEqual(m, one) {
		t.Fatalf("merged profile header %+v, one process %+v", m, one)
	}
	// merged stores of the ranks answer as one process's store does, and
	// compacted to level best are its bytes
	mstore := filepath.Join(dir, "merged.actbits")
	if b, err := exec.Command(bin, "patterns", "merge", "-o", mstore, filepath.Join(d, "part-1.actbits"), filepath.Join(d, "part-0.actbits")).CombinedOutput(); err != nil {
		t.Fatalf("actprof patterns merge: %v\n%s", err, b)
	}
	sameQueries(t, bin, mstore, filepath.Join(d, "one.actbits"), decode(t, merged))
	if b, err := exec.Command(bin, "patterns", "verify", mstore, merged).CombinedOutput(); err != nil {
		t.Fatalf("patterns verify of the merged store: %v\n%s", err, b)
	}
	var best [2][]byte
	for k, s := range []string{mstore, filepath.Join(d, "one.actbits")} {
		c := filepath.Join(dir, fmt.Sprintf("best%d.actbits", k))
		if b, err := exec.Command(bin, "patterns", "compact", s, "-o", c).CombinedOutput(); err != nil {
			t.Fatalf("patterns compact %s: %v\n%s", s, err, b)
		}
		best[k], _ = os.ReadFile(c)
	}
	if len(best[0]) == 0 || !bytes.Equal(best[0], best[1]) {
		t.Errorf("compacted merged store (%d bytes) is not the compacted store of one process (%d bytes)", len(best[0]), len(best[1]))
	}
	if b, err := exec.Command(bin, "patterns", "merge", "-o", filepath.Join(dir, "half.actbits"), filepath.Join(d, "part-0.actbits")).CombinedOutput(); err == nil || !strings.Contains(string(b), "missing") {
		t.Fatalf("patterns merge of one part of two: %v\n%s", err, b)
	}
	// one part alone is not the whole run's
	if b, err := exec.Command(bin, "merge", "-o", filepath.Join(dir, "half.json"), filepath.Join(d, "part-0.json")).CombinedOutput(); err == nil || !strings.Contains(string(b), "missing shards 1 of 2") {
		t.Fatalf("merge of one part of two: %v\n%s", err, b)
	}
}

// sameStores compares two pattern stores: bytes; every observation's
// fired units, every unit's observations and the counts (those of the live
// profile p); and the answers of `patterns samples` and `patterns show`
// for the first and last unit and sample of every layer.
func sameStores(t *testing.T, bin, live, offline string, p *profiler.Profile) {
	t.Helper()
	a, err := os.ReadFile(live)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(offline)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("%s (%d bytes) is not %s (%d bytes)", live, len(a), offline, len(b))
	}
	sameQueries(t, bin, live, offline, p)
}

// sameQueries is sameStores but for the bytes.
func sameQueries(t *testing.T, bin, live, offline string, p *profiler.Profile) {
	t.Helper()
	var err error
	var rs [2]*store.Reader
	for k, s := range []string{live, offline} {
		if rs[k], err = store.Open(s); err != nil {
			t.Fatal(err)
		}
		defer rs[k].Close()
	}
	if len(rs[0].Header.Layers) != len(p.Layers) {
		t.Fatalf("%s: %d layers, the profile %d", live, len(rs[0].Header.Layers), len(p.Layers))
	}
	for i, info := range rs[0].Header.Layers {
		var ls [2]*store.Layer
		for k := range rs {
			if ls[k], err = rs[k].Layer(info.Name); err != nil {
				t.Fatal(err)
			}
		}
		c, err := ls[0].Counts()
		if err != nil || !slices.Equal(c, p.Layers[i].Counts) {
			t.Fatalf("%s layer %s: counts %v (%v), the live profile's %v", live, info.Name, c, err, p.Layers[i].Counts)
		}
		if ls[0].Blocks() != ls[1].Blocks() {
			t.Fatalf("layer %s: %d blocks in %s, %d in %s", info.Name, ls[0].Blocks(), live, ls[1].Blocks(), offline)
		}
		for o := range info.Observations {
			if b0, b1 := must(ls[0].BlockOf(o)), must(ls[1].BlockOf(o)); b0 != b1 {
				t.Fatalf("layer %s observation %d: in block %d of %s, block %d of %s", info.Name, o, b0, live, b1, offline)
			}
			f0, err0 := ls[0].Fired(o)
			f1, err1 := ls[1].Fired(o)
			if err0 != nil || err1 != nil || !slices.Equal(f0, f1) {
				t.Fatalf("layer %s observation %d: live %v (%v), offline %v (%v)", info.Name, o, f0, err0, f1, err1)
			}
		}
		for u := range info.Units {
			o0, err0 := ls[0].UnitObservations(u, 0)
			o1, err1 := ls[1].UnitObservations(u, 0)
			if err0 != nil || err1 != nil || !slices.Equal(o0, o1) {
				t.Fatalf("layer %s unit %d: live %v (%v), offline %v (%v)", info.Name, u, o0, err0, o1, err1)
			}
		}
	}
	ask := func(args ...string) {
		t.Helper()
		var got [2]string
		for k, s := range []string{live, offline} {
			out, err := exec.Command(bin, append([]string{"patterns", args[0], s}, args[1:]...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("patterns %v: %v\n%s", args, err, out)
			}
			got[k] = string(out)
		}
		if got[0] != got[1] || len(got[0]) < 3 {
			t.Fatalf("patterns %v: live store answers\n%s\noffline store\n%s", args, got[0], got[1])
		}
	}
	for _, l := range rs[0].Header.Layers {
		for _, u := range []int{0, l.Units - 1} {
			ask("samples", "--layer", l.Name, "--unit", strconv.Itoa(u), "--json")
		}
		for _, s := range []int{0, l.Shape[0] - 1} {
			ask("show", "--layer", l.Name, "--sample", strconv.Itoa(s), "--json")
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
	equalLayer(t, got, want)
}

// equalLayer compares two layers: the sums within float64 rounding, all
// else equal.
func equalLayer(t *testing.T, got, want profiler.LayerProfile) {
	t.Helper()
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

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
