package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/actprof/actprof/internal/synth"
	"github.com/actprof/actprof/profiler"
)

// bin is the actprof binary built for the tests that check exit status and
// stderr of the real process.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "actprof-test")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "actprof")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// actprof runs the binary and returns stdout, stderr and the exit status.
func actprof(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runCmd(t, exec.Command(bin, args...))
}

// runCmd runs cmd and returns its stdout, stderr and exit status.
func runCmd(t *testing.T, cmd *exec.Cmd) (string, string, int) {
	t.Helper()
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return so.String(), se.String(), code
}

// runIn runs the command in-process.
func runIn(args ...string) (string, string, int) {
	var so, se bytes.Buffer
	code := run(context.Background(), &env{stdout: &so, stderr: &se}, args)
	return so.String(), se.String(), code
}

// numpyCounts asks NumPy (the independent reference) for each layer's
// per-unit counts of x > 0 over the unit axis.
func numpyCounts(t *testing.T, files map[string]int) map[string][]uint64 {
	t.Helper()
	py := requireNumPy(t)
	script := `
import json, sys, numpy as np
out = {}
for path, axis in json.loads(sys.argv[1]).items():
    x = np.load(path, mmap_mode="r")
    axes = tuple(i for i in range(x.ndim) if i != axis)
    out[path] = [int(c) for c in (x > 0).sum(axis=axes)]
print(json.dumps(out))
`
	arg, _ := json.Marshal(files)
	out, err := exec.Command(py, "-c", script, string(arg)).Output()
	if err != nil {
		t.Fatalf("numpy: %v", err)
	}
	var res map[string][]uint64
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

func TestProfileSynthMatchesNumPyAndPlantedUnits(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "acts")
	if _, se, code := actprof(t, "synth", "-o", data, "--rows", "3000", "--rare-rate", "0.0005",
		"--layer", "fc1:100", "--layer", "tok:7x33", "--layer", "conv:12x5x5", "--dtype", "float32"); code != 0 {
		t.Fatalf("synth: %d %s", code, se)
	}
	var man synth.Manifest
	mb, _ := os.ReadFile(filepath.Join(data, "synth.json"))
	if err := json.Unmarshal(mb, &man); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "p.json")
	so, se, code := actprof(t, "profile", "-o", out, data)
	if code != 0 {
		t.Fatalf("profile: %d %s", code, se)
	}
	if !strings.Contains(so, "Pr[y>0]") || !strings.Contains(so, "fc1") {
		t.Fatalf("table missing:\n%s", so)
	}
	f, _ := os.Open(out)
	p, err := profiler.DecodeProfile(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]int{}
	for _, l := range man.Layers {
		files[filepath.Join(data, l.File)] = l.UnitAxis
	}
	ref := numpyCounts(t, files)
	if len(p.Layers) != len(man.Layers) {
		t.Fatalf("%d layers, want %d", len(p.Layers), len(man.Layers))
	}
	for _, ml := range man.Layers {
		var lp *profiler.LayerProfile
		for i := range p.Layers {
			if p.Layers[i].Name == ml.Name {
				lp = &p.Layers[i]
			}
		}
		if lp == nil {
			t.Fatalf("layer %s missing", ml.Name)
		}
		if want := ref[filepath.Join(data, ml.File)]; !slices.Equal(lp.Counts, want) {
			t.Errorf("%s: counts differ from NumPy:\n%v\n%v", ml.Name, lp.Counts, want)
		}
		if !slices.Equal(lp.Dead, ml.Dead) || !slices.Equal(lp.Rare, ml.Rare) || !slices.Equal(lp.AlwaysOn, ml.AlwaysOn) {
			t.Errorf("%s: dead %v rare %v always %v; planted %v %v %v", ml.Name, lp.Dead, lp.Rare, lp.AlwaysOn, ml.Dead, ml.Rare, ml.AlwaysOn)
		}
		if lp.UnitAxis != ml.UnitAxis || !slices.Equal(lp.Shape, ml.Shape) {
			t.Errorf("%s: axis %d shape %v, want %d %v", ml.Name, lp.UnitAxis, lp.Shape, ml.UnitAxis, ml.Shape)
		}
	}

	// --json prints the same profile; worker and chunk settings change nothing.
	so2, _, code := actprof(t, "profile", "--json", "--quiet", "--workers", "1", "--chunk-size", "4KiB", data)
	if code != 0 {
		t.Fatal("profile --json failed")
	}
	p2, err := profiler.DecodeProfile(strings.NewReader(so2))
	if err != nil {
		t.Fatal(err)
	}
	for i := range p.Layers {
		if !slices.Equal(p.Layers[i].Counts, p2.Layers[i].Counts) {
			t.Fatalf("--workers 1 --chunk-size 4KiB changed %s", p.Layers[i].Name)
		}
	}
}

// writeNpy writes a little-endian float32 .npy of shape with values.
func writeNpy(t *testing.T, path string, shape []int, vals []float32) {
	t.Helper()
	b := synth.NpyHeader(profiler.Float32, shape)
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestShardsAndMerge(t *testing.T) {
	dir := t.TempDir()
	ds := filepath.Join(dir, "ds")
	os.MkdirAll(filepath.Join(ds, "fc"), 0o755)
	vals := make([]float32, 60*5)
	for i := range vals {
		vals[i] = float32(math.Sin(float64(i)))
	}
	writeNpy(t, filepath.Join(ds, "fc", "000.npy"), []int{20, 5}, vals[:100])
	writeNpy(t, filepath.Join(ds, "fc", "001.npy"), []int{40, 5}, vals[100:])
	// The same two halves as separate datasets, profiled apart and merged.
	os.MkdirAll(filepath.Join(dir, "partA"), 0o755)
	os.MkdirAll(filepath.Join(dir, "partB"), 0o755)
	writeNpy(t, filepath.Join(dir, "partA", "fc.npy"), []int{20, 5}, vals[:100])
	writeNpy(t, filepath.Join(dir, "partB", "fc.npy"), []int{40, 5}, vals[100:])
	a, b, w, m := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json"), filepath.Join(dir, "w.json"), filepath.Join(dir, "m.json")
	for _, c := range [][]string{
		{"profile", "--quiet", "-o", a, filepath.Join(dir, "partA")},
		{"profile", "--quiet", "-o", b, filepath.Join(dir, "partB", "fc.npy")},
		{"profile", "--quiet", "-o", w, ds},
		{"merge", "-o", m, a, b},
	} {
		if _, se, code := runIn(c...); code != 0 {
			t.Fatalf("%v: %d %s", c, code, se)
		}
	}
	load := func(p string) *profiler.Profile {
		f, _ := os.Open(p)
		defer f.Close()
		pr, err := profiler.DecodeProfile(f)
		if err != nil {
			t.Fatal(err)
		}
		return pr
	}
	pw, pm := load(w), load(m)
	want := make([]uint64, 5)
	for i, v := range vals {
		if v > 0 {
			want[i%5]++
		}
	}
	if pw.Layers[0].Name != "fc" || !slices.Equal(pw.Layers[0].Counts, want) || pw.Layers[0].Observations != 60 {
		t.Fatalf("sharded layer: %+v", pw.Layers[0])
	}
	if len(pm.Layers) != 1 || pm.Layers[0].Name != "fc" || !slices.Equal(pm.Layers[0].Counts, want) ||
		pm.Layers[0].Observations != 60 || !slices.Equal(pm.Layers[0].Shape, []int{60, 5}) {
		t.Fatalf("merged: %+v", pm.Layers)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.npy")
	writeNpy(t, good, []int{4, 3}, make([]float32, 12))
	gb, _ := os.ReadFile(good)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	oneD := filepath.Join(dir, "oned.npy")
	writeNpy(t, oneD, []int{12}, make([]float32, 12))
	zeroRows := filepath.Join(dir, "zero.npy")
	writeNpy(t, zeroRows, []int{0, 3}, nil)
	ints := append([]byte(nil), gb...)
	copy(ints[bytes.Index(ints, []byte("<f4")):], "<i4")
	shards := filepath.Join(dir, "sh")
	os.MkdirAll(filepath.Join(shards, "l"), 0o755)
	writeNpy(t, filepath.Join(shards, "l", "0.npy"), []int{2, 3}, make([]float32, 6))
	writeNpy(t, filepath.Join(shards, "l", "1.npy"), []int{2, 4}, make([]float32, 8))
	cases := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope.npy"), "nope.npy"},
		{"truncated", write("trunc.npy", gb[:len(gb)-5]), "trunc.npy"},
		{"shape mismatch", write("long.npy", append(append([]byte(nil), gb...), 0, 0, 0, 0)), "long.npy"},
		{"dtype", write("ints.npy", ints), "ints.npy"},
		{"1-D", oneD, "oned.npy"},
		{"0 rows", zeroRows, "zero.npy"},
		{"shards", shards, "1.npy"},
		{"corrupt npz", write("bad.npz", append([]byte("PK\x03\x04"), gb...)), "bad.npz"},
		{"not npy", write("junk.npy", []byte("hello world, not an array")), "junk.npy"},
	}
	for _, c := range cases {
		out := filepath.Join(dir, "out-"+strings.ReplaceAll(c.name, " ", "_")+".json")
		so, se, code := actprof(t, "profile", "-o", out, c.path)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1 (stderr %q)", c.name, code, se)
		}
		lines := strings.Split(strings.TrimRight(se, "\n"), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "actprof: ") || !strings.Contains(lines[0], c.want) {
			t.Errorf("%s: stderr %q: want one line 'actprof: ...%s...: problem'", c.name, se, c.want)
		}
		if strings.Contains(se, "goroutine") || strings.Contains(se, "panic") {
			t.Errorf("%s: panic trace: %s", c.name, se)
		}
		if so != "" {
			t.Errorf("%s: stdout %q", c.name, so)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: wrote %s", c.name, out)
		}
	}
	// An unwritable profile fails before anything is counted or stored.
	st := filepath.Join(dir, "early.actbits")
	if _, se, code := actprof(t, "profile", "-o", filepath.Join(dir, "no", "such", "p.json"), "--patterns", st, good); code != 1 ||
		!strings.Contains(se, "does not exist") || strings.Count(se, "\n") != 1 {
		t.Errorf("unwritable -o: exit %d, %q", code, se)
	}
	if _, err := os.Stat(st); err == nil {
		t.Errorf("store written although the profile could not be")
	}
	// So does an unwritable store, and the profile is not written either.
	prof := filepath.Join(dir, "early.json")
	if _, se, code := actprof(t, "profile", "-o", prof, "--patterns", filepath.Join(dir, "no", "such", "s.actbits"), good); code != 1 ||
		!strings.Contains(se, "cannot write the pattern store: folder") || strings.Count(se, "\n") != 1 {
		t.Errorf("unwritable --patterns: exit %d, %q", code, se)
	}
	if _, err := os.Stat(prof); err == nil {
		t.Errorf("profile written although the store could not be")
	}
	// No temporary files left behind.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("left %s", e.Name())
		}
	}
}

func TestUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
	}{
		{nil, 2},
		{[]string{"frobnicate"}, 2},
		{[]string{"profile"}, 2},
		{[]string{"profile", "--bogus", "x.npy"}, 2},
		{[]string{"profile", "--unit-axis", "fc=x", "x.npy"}, 2},
		{[]string{"profile", "--threshold", "NaN", "x.npy"}, 2},
		{[]string{"profile", "--rare-below", "0", "x.npy"}, 2},
		{[]string{"synth"}, 2},
		{[]string{"synth", "-o", "x", "--layer", "bad"}, 2},
		{[]string{"profile", "--help"}, 0},
		{[]string{"synth", "--help"}, 0},
		{[]string{"--help"}, 0},
		{[]string{"version"}, 0},
	} {
		so, se, code := actprof(t, c.args...)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d (%s)", c.args, code, c.code, se)
		}
		if c.code == 0 && so == "" {
			t.Errorf("%v: no output", c.args)
		}
		if n := strings.Count(so, "usage:"); n > 1 {
			t.Errorf("%v: the usage printed %d times", c.args, n)
		}
	}
	for _, args := range [][]string{{"merge", "--help"}, {"patterns", "show", "--help"}, {"patterns", "export", "--help"}} {
		so, _, code := actprof(t, args...)
		if code != 0 || strings.Count(so, "usage:") != 1 || !strings.Contains(so, "-o") && !strings.Contains(so, "-layer") {
			t.Errorf("%v: exit %d, usage %d times:\n%s", args, code, strings.Count(so, "usage:"), so)
		}
	}
}

// TestMemoryBounded profiles a 768 MiB file and checks the process's peak
// resident memory stays far below the file size: windows are unmapped as
// they are counted.
func TestMemoryBounded(t *testing.T) {
	bigTest(t, "writes a 768 MiB file")
	dir := t.TempDir()
	if _, se, code := actprof(t, "synth", "-o", dir, "--layer", "big:1024", "--rows", "196608"); code != 0 {
		t.Fatalf("synth: %s", se)
	}
	cmd := exec.Command(bin, "profile", "--quiet", "-o", filepath.Join(dir, "p.json"), filepath.Join(dir, "big.npy"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("profile: %v %s", err, out)
	}
	peak, ok := peakRSS(cmd.ProcessState)
	if !ok {
		t.Skip("no rusage on this platform")
	}
	t.Logf("peak RSS %.1f MiB for a 768 MiB file", float64(peak)/(1<<20))
	if peak > 160<<20 {
		t.Fatalf("peak RSS %d MiB, want < 160 MiB", peak>>20)
	}
}

// TestPatternsAgainstNumPy writes a store while profiling and checks every
// query against NumPy reading the same .npy files.
func TestPatternsAgainstNumPy(t *testing.T) {
	py := requireNumPy(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "acts")
	if _, se, code := actprof(t, "synth", "-o", data, "--rows", "700", "--layer", "fc:77", "--layer", "conv:5x3x4"); code != 0 {
		t.Fatalf("synth: %s", se)
	}
	st, prof := filepath.Join(dir, "a.actbits"), filepath.Join(dir, "p.json")
	if _, se, code := actprof(t, "profile", "--quiet", "--chunk-size", "3000", "--patterns", st, "-o", prof, data); code != 0 {
		t.Fatalf("profile: %s", se)
	}
	if so, se, code := actprof(t, "patterns", "verify", st, prof); code != 0 || !strings.HasPrefix(so, "ok:") {
		t.Fatalf("verify: %d %s %s", code, so, se)
	}
	// --sync (fsync before the renames) writes the same bytes
	stSync, profSync := filepath.Join(dir, "s.actbits"), filepath.Join(dir, "s.json")
	if _, se, code := actprof(t, "profile", "--quiet", "--sync", "--chunk-size", "3000", "--patterns", stSync, "-o", profSync, data); code != 0 {
		t.Fatalf("profile --sync: %s", se)
	}
	for _, p := range [][2]string{{st, stSync}, {prof, profSync}} {
		a, _ := os.ReadFile(p[0])
		b, err := os.ReadFile(p[1])
		if err != nil || !bytes.Equal(a, b) {
			t.Fatalf("%s differs from %s written without --sync (%v)", p[1], p[0], err)
		}
	}
	out := func(args ...string) string {
		so, se, code := actprof(t, args...)
		if code != 0 {
			t.Fatalf("%v: %d %s", args, code, se)
		}
		return so
	}
	exp := filepath.Join(dir, "fc.bits.npy")
	out("patterns", "export", st, "--layer", "fc", "-o", exp)
	showFC := out("patterns", "show", st, "--layer", "fc", "--sample", "123", "--json")
	samplesFC := out("patterns", "samples", st, "--layer", "fc", "--unit", "5", "--limit", "20", "--json")
	showConv := out("patterns", "show", st, "--layer", "conv", "--sample", "7", "--json")
	stats := out("patterns", "stats", st, "--top", "3", "--json")
	if text := out("patterns", "stats", st, "--top", "50"); strings.Contains(text, "fired: \n") || !strings.Contains(text, "fired: none") {
		t.Errorf("stats: a pattern with no unit fired is not shown as none:\n%s", text)
	}
	// the same data at level balanced (rate-sorted order, zstd and planes
	// blocks; the default, fastest, wrote st)
	stBal := filepath.Join(dir, "b.actbits")
	if _, se, code := actprof(t, "profile", "--quiet", "--chunk-size", "3000", "--patterns", stBal, "--patterns-level", "balanced", "-o", prof, data); code != 0 {
		t.Fatalf("profile balanced: %s", se)
	}
	statsBal := out("patterns", "stats", stBal, "--top", "3", "--json")
	script := `
import json, sys, numpy as np
d, exp, show_fc, samples_fc, show_conv, stats, stats_bal = sys.argv[1:]
fc = np.load(d + "/fc.npy") > 0
conv = np.load(d + "/conv.npy") > 0
bad = []
if not np.array_equal(np.load(exp), np.packbits(fc, axis=1)): bad.append("export")
s = json.loads(show_fc)
if s != {"layer": "fc", "sample": 123, "fired": [int(u) for u in np.nonzero(fc[123])[0]]}: bad.append("show fc")
s = json.loads(samples_fc)
if s["observations"] != [int(o) for o in np.nonzero(fc[:, 5])[0][:20]]: bad.append("samples")
s = json.loads(show_conv)
want = [[int(u) for u in np.nonzero(conv[7, :, h, w])[0]] for h in range(3) for w in range(4)]
if [p["fired"] for p in s["positions"]] != want or s["positions"][5]["index"] != [1, 1]: bad.append("show conv")
rows = {"fc": fc, "conv": conv.transpose(0, 2, 3, 1).reshape(-1, conv.shape[1])}
for name, st in (("stats", stats), ("stats balanced", stats_bal)):
    for l in json.loads(st):
        r = rows[l["layer"]]
        u, c = np.unique(r, axis=0, return_counts=True)
        top = sorted(c, reverse=True)[:3]
        if l["distinct_patterns"] != len(u) or [m["count"] for m in l["most_common"]] != top: bad.append(name + " " + l["layer"])
        for m in l["most_common"]:
            fired = np.zeros(r.shape[1], bool); fired[m["fired"]] = True
            if (r == fired).all(1).sum() != m["count"]: bad.append(name + " pattern " + l["layer"])
        if sum(l["blocks"].values()) < 1: bad.append(name + " blocks")
print(" ".join(bad) or "ok")
`
	res, err := exec.Command(py, "-c", script, data, exp, showFC, samplesFC, showConv, stats, statsBal).CombinedOutput()
	if err != nil || strings.TrimSpace(string(res)) != "ok" {
		t.Fatalf("NumPy disagrees: %s %v", res, err)
	}

	// A damaged store: verify and queries fail with one line naming the file.
	b, _ := os.ReadFile(st)
	bad := filepath.Join(dir, "bad.actbits")
	b2 := append([]byte(nil), b...)
	b2[len(b2)/3] ^= 0x40
	os.WriteFile(bad, b2, 0o644)
	if _, se, code := actprof(t, "patterns", "verify", bad, prof); code != 1 || !strings.HasPrefix(se, "actprof: "+bad) || strings.Count(se, "\n") != 1 {
		t.Errorf("verify of a damaged store: %d %q", code, se)
	}
	os.WriteFile(bad, b[:len(b)-7], 0o644)
	if _, se, code := actprof(t, "patterns", "stats", bad); code != 1 || !strings.Contains(se, "truncated") {
		t.Errorf("stats of a truncated store: %d %q", code, se)
	}
	// Out of range queries.
	for _, args := range [][]string{
		{"patterns", "show", st, "--layer", "nope", "--sample", "1"},
		{"patterns", "show", st, "--layer", "fc", "--sample", "700"},
		{"patterns", "samples", st, "--layer", "fc", "--unit", "77"},
	} {
		if _, se, code := actprof(t, args...); code != 1 || strings.Count(se, "\n") != 1 {
			t.Errorf("%v: %d %q", args, code, se)
		}
	}
	// A different profile does not verify.
	other := filepath.Join(dir, "q.json")
	if _, _, code := actprof(t, "profile", "--quiet", "--threshold", "0.5", "-o", other, data); code != 0 {
		t.Fatal("profile")
	}
	if _, _, code := actprof(t, "patterns", "verify", st, other); code != 1 {
		t.Errorf("verify against another threshold's profile passed")
	}
}

// TestOutputToDevNull: -o /dev/null and --patterns /dev/null write through
// the device instead of renaming a file over it.
func TestOutputToDevNull(t *testing.T) {
	before, err := os.Stat(os.DevNull)
	if err != nil || before.Mode().IsRegular() {
		t.Skipf("no %s device here", os.DevNull)
	}
	dir := t.TempDir()
	writeNpy(t, filepath.Join(dir, "a.npy"), []int{3, 2}, []float32{1, 0, 0, 1, 1, 1})
	if _, se, code := actprof(t, "profile", "--quiet", "-o", os.DevNull, "--patterns", os.DevNull, filepath.Join(dir, "a.npy")); code != 0 {
		t.Fatalf("profile: %s", se)
	}
	after, err := os.Stat(os.DevNull)
	if err != nil || !os.SameFile(before, after) || after.Mode() != before.Mode() {
		t.Fatalf("%s was replaced", os.DevNull)
	}
}

// TestDeviceAutoFallsBack: with actprof-cuda installed and no GPU,
// --device auto counts a small input on the CPU by the rule, saying so in
// one line without probing, and an input above the rule's size probes the
// GPU, falls back with one notice line and gives the profile of --device
// cpu; --device cuda is exit 1; actprof devices says why there is no GPU.
func TestDeviceAutoFallsBack(t *testing.T) {
	if _, err := os.Stat("/usr/include/cuda.h"); err != nil {
		missingReference(t, "CUDA headers not installed (Debian's nvidia-cuda-toolkit; make deps installs it): cannot build actprof-cuda")
	}
	cudaBin := filepath.Join(filepath.Dir(bin), "actprof-cuda")
	if out, err := exec.Command("go", "build", "-tags", "cuda", "-o", cudaBin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building actprof-cuda: %v\n%s", err, out)
	}
	defer os.Remove(cudaBin)
	dir := t.TempDir()
	if _, se, code := actprof(t, "synth", "-o", dir, "--rows", "500", "--layer", "fc:40", "--layer", "conv:6x3x3"); code != 0 {
		t.Fatal(se)
	}
	sameCounts := func(what, cpuOut, autoOut string) *profiler.Profile {
		t.Helper()
		pc, err1 := profiler.DecodeProfile(strings.NewReader(cpuOut))
		pa, err2 := profiler.DecodeProfile(strings.NewReader(autoOut))
		if err1 != nil || err2 != nil {
			t.Fatal(what, err1, err2)
		}
		if !slices.EqualFunc(pa.Layers, pc.Layers, func(a, b profiler.LayerProfile) bool {
			return slices.Equal(a.Counts, b.Counts) && slices.Equal(a.NaNCounts, b.NaNCounts) && a.Observations == b.Observations
		}) {
			t.Fatalf("%s: --device auto (%s) differs from --device cpu", what, pa.Backend)
		}
		return pa
	}
	cpuOut, _, code := actprof(t, "profile", "--quiet", "--device", "cpu", "--json", dir)
	if code != 0 {
		t.Fatal("cpu profile failed")
	}
	autoOut, autoErr, code := actprof(t, "profile", "--device", "auto", "--json", dir)
	if code != 0 {
		t.Fatalf("auto: %d %s", code, autoErr)
	}
	if pa := sameCounts("small input", cpuOut, autoOut); pa.Backend != "cpu" && !strings.HasPrefix(pa.Backend, "cpu") {
		t.Errorf("small input counted on %s", pa.Backend)
	}
	if !strings.Contains(autoErr, "actprof: --device auto: counting on the CPU: 0.00 GB of input, at most ") || strings.Contains(autoErr, "no usable GPU") {
		t.Errorf("small input: no rule line, or a probe: %q", autoErr)
	}
	if _, se, code := actprof(t, "profile", "--device", "auto", "--stats", "-o", os.DevNull, dir); code != 0 || !strings.Contains(se, "counting on the CPU: --stats") {
		t.Errorf("--stats: exit %d, %q", code, se)
	}

	// A sparse float32 .npy of 2.05 GB of zeros, above the rule's size on
	// one worker (1.96 GB): auto tries the GPU, finds none, falls back.
	big := filepath.Join(t.TempDir(), "big.npy")
	rows, units := 500_000, 1024
	hdr := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, units)
	hdr += strings.Repeat(" ", 63-(10+len(hdr))%64) + "\n"
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)), byte(len(hdr)>>8)))
	f.WriteString(hdr)
	err = f.Truncate(int64(10+len(hdr)) + int64(rows*units*4))
	if cerr := f.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	// out of the page cache (where the system can say so: Linux, not on
	// tmpfs), it is read from disk either way: the CPU, no probe
	if dropPages(t, big) {
		_, se, code := actprof(t, "profile", "--device", "auto", "--workers", "1", "-o", os.DevNull, big)
		if code != 0 || !strings.Contains(se, "--device auto: counting on the CPU: 0% of the input is in the page cache: reads from disk bound both") || strings.Contains(se, "no usable GPU") {
			t.Errorf("a large input out of the page cache: exit %d, %q", code, se)
		}
	}
	cpuOut, _, code = actprof(t, "profile", "--quiet", "--device", "cpu", "--workers", "1", "--json", big)
	if code != 0 {
		t.Fatal("cpu profile of the large file failed")
	}
	// the file was just read; should the system drop some of its pages
	// meanwhile, auto counts on the CPU, saying so: read it again and retry
	for try := 0; ; try++ {
		autoOut, autoErr, code = actprof(t, "profile", "--device", "auto", "--workers", "1", "--json", big)
		if code != 0 {
			t.Fatalf("auto, large file: %d %s", code, autoErr)
		}
		if !strings.Contains(autoErr, "in the page cache: reads from disk bound both") || try == 3 {
			break
		}
		readAll(t, big)
	}
	pa := sameCounts("large input", cpuOut, autoOut)
	if strings.HasPrefix(pa.Backend, "cuda") {
		return // a GPU is here after all: it counted, and equally
	}
	if !strings.Contains(autoErr, "no usable GPU") || !strings.Contains(autoErr, "counting on the CPU") || strings.Count(autoErr, "no usable GPU") != 1 || strings.Contains(autoErr, "device auto: counting on the CPU") {
		t.Errorf("large input: no single fallback notice: %q", autoErr)
	}
	if _, se, code := actprof(t, "profile", "--device", "cuda", dir); code != 1 || strings.Count(se, "\n") != 1 {
		t.Errorf("--device cuda without a GPU: exit %d, %q", code, se)
	}
	if so, _, code := actprof(t, "devices"); code != 0 || !strings.Contains(so, "cuda    unavailable") || !strings.Contains(so, "auto    counts on the CPU (no GPU)") {
		t.Errorf("devices: %d %q", code, so)
	}
}

// TestPatternsCompact: 'patterns compact' turns the store of a default
// (fastest) profile into the very store 'profile --patterns-level best'
// writes, which verifies against the profile; a bad level is a usage error
// (exit 2), a corrupt store exit 1 with one line naming it and no output.
func TestPatternsCompact(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "acts")
	if _, se, code := actprof(t, "synth", "-o", data, "--rows", "3000", "--layer", "fc:77", "--layer", "conv:5x3x4"); code != 0 {
		t.Fatalf("synth: %s", se)
	}
	fast, best, prof := filepath.Join(dir, "f.actbits"), filepath.Join(dir, "b.actbits"), filepath.Join(dir, "p.json")
	if _, se, code := actprof(t, "profile", "--quiet", "--patterns", fast, "-o", prof, data); code != 0 {
		t.Fatalf("profile: %s", se)
	}
	if _, se, code := actprof(t, "profile", "--quiet", "--patterns", best, "--patterns-level", "best", "-o", os.DevNull, data); code != 0 {
		t.Fatalf("profile best: %s", se)
	}
	out := filepath.Join(dir, "c.actbits")
	if _, se, code := actprof(t, "patterns", "compact", fast, "-o", out); code != 0 || !strings.Contains(se, "wrote "+out+" at level best") {
		t.Fatalf("compact: exit %d, %q", code, se)
	}
	got, _ := os.ReadFile(out)
	want, err := os.ReadFile(best)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("compacted store (%d bytes) differs from the level-best one (%d bytes, %v)", len(got), len(want), err)
	}
	if so, se, code := actprof(t, "patterns", "verify", out, prof); code != 0 || !strings.HasPrefix(so, "ok:") {
		t.Fatalf("verify: %d %s %s", code, so, se)
	}
	if _, se, code := actprof(t, "patterns", "compact", fast, "-o", out, "--level", "huge"); code != 2 || !strings.Contains(se, `"huge"`) {
		t.Errorf("bad level: exit %d, %q", code, se)
	}
	bad, out2 := filepath.Join(dir, "bad.actbits"), filepath.Join(dir, "o.actbits")
	b, _ := os.ReadFile(fast)
	b[len(b)/2] ^= 0xff
	os.WriteFile(bad, b, 0o644)
	_, se, code := actprof(t, "patterns", "compact", bad, "-o", out2)
	if code != 1 || strings.Count(strings.TrimSpace(se), "\n") != 0 || !strings.Contains(se, bad) || !strings.Contains(se, "block") {
		t.Errorf("corrupt store: exit %d, %q", code, se)
	}
	if _, err := os.Stat(out2); err == nil {
		t.Error("a failed compact left its output")
	}
}
