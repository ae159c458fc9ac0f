package main

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/actprof/actprof/internal/synth"
	"github.com/actprof/actprof/profiler"
)

// shardLayer is one layer of the sharding dataset and its values.
type shardLayer struct {
	name  string
	shape []int
	vals  []float32
}

func npyBytes(shape []int, vals []float32) []byte {
	b := synth.NpyHeader(profiler.Float32, shape)
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// writeShardDataset writes layers whose files, layers and rows divide
// evenly by no shard count: .npy files ([37, 5]; [3, 4, 7] tokens; NCHW
// maps of 2 rows, fewer than most shard counts), an .npz archive with a
// stored and a deflated member, and a folder of three .npy shards of
// 7, 1 and 12 rows.
func writeShardDataset(t *testing.T, dir string) []shardLayer {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	mk := func(name string, shape ...int) shardLayer {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			switch k := rng.IntN(20); {
			case k == 0:
				v[i] = float32(math.NaN())
			case k < 6:
				v[i] = 0
			default:
				v[i] = float32(rng.NormFloat64())
			}
		}
		return shardLayer{name, shape, v}
	}
	ls := []shardLayer{mk("fc1", 37, 5), mk("conv", 2, 3, 4, 5), mk("tok", 3, 4, 7),
		mk("arch/stored", 11, 6), mk("arch/deflated", 29, 4), mk("sh", 20, 3)}
	os.MkdirAll(filepath.Join(dir, "sh"), 0o755)
	for _, l := range ls[:3] {
		if err := os.WriteFile(filepath.Join(dir, l.name+".npy"), npyBytes(l.shape, l.vals), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Create(filepath.Join(dir, "arch.npz"))
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for i, l := range ls[3:5] {
		method := zip.Store
		if i == 1 {
			method = zip.Deflate
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: strings.TrimPrefix(l.name, "arch/") + ".npy", Method: method})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(npyBytes(l.shape, l.vals))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	sh := ls[5]
	for i, r := range [][2]int{{0, 7}, {7, 8}, {8, 20}} {
		p := filepath.Join(dir, "sh", fmt.Sprintf("%03d.npy", i))
		if err := os.WriteFile(p, npyBytes([]int{r[1] - r[0], 3}, sh.vals[r[0]*3:r[1]*3]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// npz members are named without the archive's name
	ls[3].name, ls[4].name = "stored", "deflated"
	return ls
}

// naiveCounts counts x > 0 per unit with a plain loop (unit axis: the
// last, or 1 for 4-D maps).
func naiveCounts(l shardLayer) []uint64 {
	axis := len(l.shape) - 1
	if len(l.shape) >= 4 {
		axis = 1
	}
	inner := 1
	for _, d := range l.shape[axis+1:] {
		inner *= d
	}
	c := make([]uint64, l.shape[axis])
	for i, v := range l.vals {
		if v > 0 {
			c[i/inner%l.shape[axis]]++
		}
	}
	return c
}

// actprofEnv runs the binary with extra environment variables (the
// scheduler's) and with the scheduler's variables of this process
// removed.
func actprofEnv(t *testing.T, vars []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLURM_") && !strings.HasPrefix(kv, "JOB_COMPLETION_INDEX=") && !strings.HasPrefix(kv, "ACTPROF_SHARDS=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, vars...)
	return runCmd(t, cmd)
}

// sameProfileFile compares a merged profile with the single run's: the
// same bytes, but for the value sums with statistics, which are compared
// within the float64 error of adding in another order and then set equal.
func sameProfileFile(t *testing.T, what, got, want string) {
	t.Helper()
	g, w := loadProfile(t, got), loadProfile(t, want)
	for i := range w.Layers {
		gs, ws := g.Layers[i].Stats, w.Layers[i].Stats
		if ws == nil {
			continue
		}
		for u := range ws.Sum {
			tol := 2 * float64(w.Layers[i].Observations+1) * ws.SumAbs[u] * 0x1p-53
			if math.Abs(gs.Sum[u]-ws.Sum[u]) > tol || math.Abs(gs.SumAbs[u]-ws.SumAbs[u]) > tol {
				t.Fatalf("%s: layer %s unit %d: sums %g, %g, want %g, %g", what, w.Layers[i].Name, u, gs.Sum[u], gs.SumAbs[u], ws.Sum[u], ws.SumAbs[u])
			}
		}
		gs.Sum, gs.SumAbs = ws.Sum, ws.SumAbs
	}
	var a, b bytes.Buffer
	g.Encode(&a)
	w.Encode(&b)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("%s: the merge differs from one run:\n--- merged\n%s\n--- run\n%s", what, a.Bytes(), b.Bytes())
	}
	if w.Layers[0].Stats == nil {
		ga, _ := os.ReadFile(got)
		wa, _ := os.ReadFile(want)
		if !bytes.Equal(ga, wa) {
			t.Fatalf("%s: the merged file's bytes differ from the run's", what)
		}
	}
}

func TestShardedRunsMergeToOneRun(t *testing.T) {
	dir := t.TempDir()
	ds := filepath.Join(dir, "ds")
	os.MkdirAll(ds, 0o755)
	layers := writeShardDataset(t, ds)
	for _, stats := range []bool{false, true} {
		var extra []string
		if stats {
			extra = []string{"--stats", "--saturate", "-0.5:0.5", "--dead-window", "3"}
		}
		one := filepath.Join(dir, fmt.Sprintf("one-%v.json", stats))
		if _, se, code := actprofEnv(t, nil, append(append([]string{"profile", "--quiet", "-o", one}, extra...), ds)...); code != 0 {
			t.Fatalf("one run: %d %s", code, se)
		}
		p := loadProfile(t, one)
		if len(p.Layers) != len(layers) {
			t.Fatalf("%d layers, want %d", len(p.Layers), len(layers))
		}
		for _, l := range layers {
			i := slices.IndexFunc(p.Layers, func(lp profiler.LayerProfile) bool { return lp.Name == l.name })
			if i < 0 || !slices.Equal(p.Layers[i].Counts, naiveCounts(l)) {
				t.Fatalf("layer %s: the run's counts differ from the plain loop's", l.name)
			}
		}
		for _, n := range []int{1, 2, 3, 7} {
			var parts []string
			for s := range n {
				part := filepath.Join(dir, fmt.Sprintf("part-%v-%d-%d.json", stats, n, s))
				args := append(append([]string{"profile", "-o", part, "--shard", fmt.Sprintf("%d/%d", s, n)}, extra...), ds)
				_, se, code := actprofEnv(t, nil, args...)
				if code != 0 || !strings.Contains(se, fmt.Sprintf("actprof: shard %d/%d (from --shard %d/%d)\n", s, n, s, n)) {
					t.Fatalf("shard %d/%d: %d %s", s, n, code, se)
				}
				parts = append(parts, part)
			}
			// in an order of their own
			slices.Reverse(parts)
			if n > 2 {
				parts[0], parts[n/2] = parts[n/2], parts[0]
			}
			merged := filepath.Join(dir, fmt.Sprintf("merged-%v-%d.json", stats, n))
			if _, se, code := actprofEnv(t, nil, append([]string{"merge", "-o", merged}, parts...)...); code != 0 {
				t.Fatalf("merge of %d: %d %s", n, code, se)
			}
			sameProfileFile(t, fmt.Sprintf("stats=%v N=%d", stats, n), merged, one)
			if n == 7 {
				// merges of merges: three parts with --partial, then the rest
				sub := filepath.Join(dir, fmt.Sprintf("sub-%v.json", stats))
				if _, se, code := actprofEnv(t, nil, append([]string{"merge", "--partial", "-o", sub}, parts[:3]...)...); code != 0 {
					t.Fatalf("partial merge: %d %s", code, se)
				}
				if sp := loadProfile(t, sub); sp.Shard == nil || len(sp.Shard.Shards) != 3 {
					t.Fatalf("partial merge: shard record %+v", sp.Shard)
				}
				all := filepath.Join(dir, fmt.Sprintf("all-%v.json", stats))
				if _, se, code := actprofEnv(t, nil, append([]string{"merge", "-o", all}, append(parts[3:], sub)...)...); code != 0 {
					t.Fatalf("merge with a partial merge: %d %s", code, se)
				}
				sameProfileFile(t, fmt.Sprintf("stats=%v merges of merges", stats), all, one)
			}
		}
	}
}

func TestShardFromScheduler(t *testing.T) {
	dir := t.TempDir()
	ds := filepath.Join(dir, "ds")
	os.MkdirAll(ds, 0o755)
	writeShardDataset(t, ds)
	want := filepath.Join(dir, "want.json")
	if _, se, code := actprofEnv(t, nil, "profile", "--quiet", "-o", want, "--shard", "2/4", ds); code != 0 {
		t.Fatalf("%d %s", code, se)
	}
	wantBytes, _ := os.ReadFile(want)
	for _, c := range []struct {
		name string
		env  []string
		args []string
		line string // on stderr
	}{
		{"slurm", []string{"SLURM_ARRAY_TASK_ID=2", "SLURM_ARRAY_TASK_MIN=0", "SLURM_ARRAY_TASK_MAX=3", "SLURM_ARRAY_TASK_COUNT=4"}, nil,
			"actprof: shard 2/4 (from Slurm array task SLURM_ARRAY_TASK_ID=2 of 0-3, 4 tasks)"},
		{"slurm offset", []string{"SLURM_ARRAY_TASK_ID=7", "SLURM_ARRAY_TASK_MIN=5", "SLURM_ARRAY_TASK_MAX=8", "SLURM_ARRAY_TASK_COUNT=4", "SLURM_ARRAY_TASK_STEP=1"}, nil,
			"actprof: shard 2/4 (from Slurm array task SLURM_ARRAY_TASK_ID=7 of 5-8, 4 tasks)"},
		{"slurm step", []string{"SLURM_ARRAY_TASK_ID=14", "SLURM_ARRAY_TASK_MIN=10", "SLURM_ARRAY_TASK_MAX=16", "SLURM_ARRAY_TASK_COUNT=4", "SLURM_ARRAY_TASK_STEP=2"}, nil,
			"actprof: shard 2/4 (from Slurm array task SLURM_ARRAY_TASK_ID=14 of 10-16:2, 4 tasks)"},
		{"k8s", []string{"JOB_COMPLETION_INDEX=2", "ACTPROF_SHARDS=4"}, nil,
			"actprof: shard 2/4 (from Kubernetes Indexed Job JOB_COMPLETION_INDEX=2, ACTPROF_SHARDS=4)"},
		{"flag wins", []string{"SLURM_ARRAY_TASK_ID=0", "SLURM_ARRAY_TASK_MIN=0", "SLURM_ARRAY_TASK_MAX=2", "SLURM_ARRAY_TASK_COUNT=3", "JOB_COMPLETION_INDEX=1", "ACTPROF_SHARDS=9"},
			[]string{"--shard", "2/4"}, "actprof: shard 2/4 (from --shard 2/4)"},
	} {
		out := filepath.Join(dir, c.name+".json")
		_, se, code := actprofEnv(t, c.env, append(append([]string{"profile", "-o", out}, c.args...), ds)...)
		if code != 0 || !strings.Contains(se, c.line+"\n") {
			t.Fatalf("%s: exit %d, stderr %q, want the line %q", c.name, code, se, c.line)
		}
		if got, _ := os.ReadFile(out); !bytes.Equal(got, wantBytes) {
			t.Errorf("%s: the part differs from --shard 2/4's", c.name)
		}
	}
	// --shard none, and no scheduler, profile everything
	whole := filepath.Join(dir, "whole.json")
	for _, env := range [][]string{nil, {"JOB_COMPLETION_INDEX=1", "ACTPROF_SHARDS=3"}} {
		args := []string{"profile", "-o", whole, ds}
		if env != nil {
			args = []string{"profile", "--shard", "none", "-o", whole, ds}
		}
		_, se, code := actprofEnv(t, env, args...)
		if code != 0 || strings.Contains(se, "shard") {
			t.Fatalf("%v: exit %d, stderr %q", args, code, se)
		}
		if p := loadProfile(t, whole); p.Shard != nil {
			t.Fatalf("%v: a shard record in a whole run's profile", args)
		}
	}
	// refused, with one line and exit 2
	for _, c := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"slurm gaps", []string{"SLURM_ARRAY_TASK_ID=3", "SLURM_ARRAY_TASK_MIN=0", "SLURM_ARRAY_TASK_MAX=7", "SLURM_ARRAY_TASK_COUNT=3"}, nil,
			"an array with gaps does not number shards"},
		{"slurm no count", []string{"SLURM_ARRAY_TASK_ID=3", "SLURM_ARRAY_TASK_MIN=0", "SLURM_ARRAY_TASK_MAX=7"}, nil,
			"SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not"},
		{"k8s no count", []string{"JOB_COMPLETION_INDEX=3"}, nil, "JOB_COMPLETION_INDEX=3 is set but ACTPROF_SHARDS is not"},
		{"k8s index past", []string{"JOB_COMPLETION_INDEX=3", "ACTPROF_SHARDS=3"}, nil, "JOB_COMPLETION_INDEX=3 is not below ACTPROF_SHARDS=3"},
		{"count alone", []string{"ACTPROF_SHARDS=3"}, nil, "ACTPROF_SHARDS=3 is set but JOB_COMPLETION_INDEX is not"},
		{"bad flag", nil, []string{"--shard", "4/4"}, `--shard "4/4": want I/N`},
	} {
		out := filepath.Join(dir, "refused.json")
		_, se, code := actprofEnv(t, c.env, append(append([]string{"profile", "-o", out}, c.args...), ds)...)
		if code != 2 || !strings.Contains(se, c.want) || strings.Count(se, "\n") > 3 {
			t.Errorf("%s: exit %d, stderr %q, want 2 and %q", c.name, code, se, c.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: wrote %s", c.name, out)
		}
	}
}

func TestMergeRefusesParts(t *testing.T) {
	dir := t.TempDir()
	ds := filepath.Join(dir, "ds")
	os.MkdirAll(ds, 0o755)
	writeShardDataset(t, ds)
	part := func(name string, shard string, extra ...string) string {
		p := filepath.Join(dir, name+".json")
		if _, se, code := actprofEnv(t, nil, append(append([]string{"profile", "--quiet", "-o", p, "--shard", shard}, extra...), ds)...); code != 0 {
			t.Fatalf("%s: %d %s", name, code, se)
		}
		return p
	}
	p0, p1, p2, p3 := part("p0", "0/4"), part("p1", "1/4"), part("p2", "2/4"), part("p3", "3/4")
	thr := part("thr", "1/4", "--threshold", "0.1")
	axis := part("axis", "1/4", "--unit-axis", "tok=1")
	stats := part("stats", "1/4", "--stats")
	whole := filepath.Join(dir, "whole.json")
	if _, se, code := actprofEnv(t, nil, "profile", "--quiet", "-o", whole, ds); code != 0 {
		t.Fatal(se)
	}
	// another input set: one file's values changed, its size not
	raw, _ := os.ReadFile(filepath.Join(ds, "fc1.npy"))
	raw[len(raw)-1] ^= 0x40
	os.WriteFile(filepath.Join(ds, "fc1.npy"), raw, 0o644)
	other := part("other", "1/4")
	for _, c := range []struct {
		name  string
		parts []string
		want  string
	}{
		{"threshold", []string{p0, thr, p2, p3}, "different settings: thresholds 0 and 0.1"},
		{"unit axis", []string{p0, axis, p2, p3}, "different settings: unit axes (defaults) and tok=1"},
		{"stats", []string{p0, stats, p2, p3}, "different settings: value statistics off and"},
		{"inputs", []string{p0, other, p2, p3}, "different input sets: input 3, " + filepath.Join(ds, "fc1.npy") + ", was 868 bytes with fingerprint sha256:"},
		{"overlap", []string{p0, p1, p1, p2, p3}, "overlapping shards: both hold shard 1 of 4"},
		{"missing", []string{p2, p0}, "missing shards 1, 3 of 4"},
		{"whole", []string{p0, whole}, "a part of a sharded run (--shard) and a profile of a whole run"},
	} {
		out := filepath.Join(dir, "merged.json")
		_, se, code := actprofEnv(t, nil, append([]string{"merge", "-o", out}, c.parts...)...)
		if code != 1 || !strings.Contains(se, c.want) || strings.Count(se, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q, want 1 and one line with %q", c.name, code, se, c.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: wrote %s", c.name, out)
			os.Remove(out)
		}
	}
}
