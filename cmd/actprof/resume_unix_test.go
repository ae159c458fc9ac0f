//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startSegmented starts a checkpointed run of many small segments (one
// worker, a checkpoint after every segment) and waits until its first
// checkpoint is written.
func startSegmented(t *testing.T, out, data string, extra ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	args := append([]string{"profile", "--quiet", "--stats", "--workers", "1", "--checkpoint-every", "1ns", "-o", out}, extra...)
	cmd := exec.Command(bin, append(args, data)...)
	cmd.Env = append(os.Environ(), "ACTPROF_SEGMENT_BYTES=16384")
	var se bytes.Buffer
	cmd.Stderr = &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(checkpointPath(out)); err == nil {
			return cmd, &se
		}
		if time.Since(start) > 20*time.Second {
			cmd.Process.Kill()
			t.Fatalf("no checkpoint after 20 s: %s", se.String())
		}
	}
}

// sameProfile compares two profiles' layers: every field but the float
// sums exactly, the sums to 1e-12.
func sameProfile(t *testing.T, what, a, b string) {
	t.Helper()
	load := func(p string) []map[string]any {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var v struct{ Layers []map[string]any }
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		return v.Layers
	}
	x, y := load(a), load(b)
	if len(x) != len(y) || len(x) == 0 {
		t.Fatalf("%s: %d and %d layers", what, len(x), len(y))
	}
	for i := range x {
		sx, sy := x[i]["stats"].(map[string]any), y[i]["stats"].(map[string]any)
		for _, k := range []string{"sum", "sum_abs"} {
			p, q := sx[k].([]any), sy[k].([]any)
			for u := range p {
				if d := p[u].(float64) - q[u].(float64); d > 1e-12*max(1, p[u].(float64)) || -d > 1e-12*max(1, p[u].(float64)) {
					t.Fatalf("%s: layer %v unit %d: %s %v, %v", what, x[i]["name"], u, k, p[u], q[u])
				}
			}
			delete(sx, k)
			delete(sy, k)
		}
		if !reflect.DeepEqual(x[i], y[i]) {
			t.Fatalf("%s: layer %v differs from the uninterrupted run's", what, x[i]["name"])
		}
	}
}

// kill -9 at several points, then --resume: the profile of an
// uninterrupted run; SIGTERM: exit 75 with the checkpoint kept, then
// --resume; a checkpoint of other settings, or a stale one without
// --resume, is refused.
func TestResume(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a few hundred segments")
	}
	dir := t.TempDir()
	if _, se, code := actprof(t, "synth", "-o", dir, "--layer", "fc:64", "--layer", "conv:8x4x4", "--rows", "6000"); code != 0 {
		t.Fatal(se)
	}
	whole := filepath.Join(dir, "whole.json")
	if _, se, code := actprof(t, "profile", "--quiet", "--stats", "-o", whole, dir); code != 0 {
		t.Fatal(se)
	}
	out := filepath.Join(dir, "out.json")
	interrupted := 0
	for _, wait := range []time.Duration{0, 30 * time.Millisecond, 150 * time.Millisecond} {
		cmd, _ := startSegmented(t, out, dir)
		time.Sleep(wait)
		cmd.Process.Kill()
		cmd.Wait()
		if _, err := os.Stat(out); err == nil {
			// the run finished before the kill (a fast moment): nothing
			// to resume at this point
			sameProfile(t, "finished before the kill", whole, out)
			os.Remove(out)
			continue
		}
		interrupted++
		if _, se, code := actprof(t, "profile", "--quiet", "--stats", "--resume", "-o", out, dir); code != 0 {
			t.Fatalf("resume after kill -9 (%v): exit %d: %s", wait, code, se)
		}
		sameProfile(t, "resumed after kill -9", whole, out)
		if _, err := os.Stat(checkpointPath(out)); err == nil {
			t.Fatal("the checkpoint is left after the run finished")
		}
		os.Remove(out)
	}
	if interrupted == 0 {
		t.Fatal("every run finished before its kill: no resume was tested")
	}
	// SIGTERM (a scheduler's preemption): exit 75, one line, checkpoint kept
	cmd, se := startSegmented(t, out, dir)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != exitCheckpointed || !strings.Contains(se.String(), "rerun with --resume") || strings.Count(se.String(), "\n") != 1 {
		t.Fatalf("SIGTERM: exit %d, %q", code, se.String())
	}
	if _, err := os.Stat(checkpointPath(out)); err != nil {
		t.Fatal("SIGTERM: no checkpoint")
	}
	// without --resume, the checkpoint is not silently overwritten
	if _, se, code := actprof(t, "profile", "--quiet", "--stats", "-o", out, dir); code != 1 || !strings.Contains(se, "pass --resume") {
		t.Fatalf("a stale checkpoint without --resume: exit %d, %q", code, se)
	}
	// other settings: refused, the checkpoint kept
	if _, se, code := actprof(t, "profile", "--quiet", "--stats", "--threshold", "0.5", "--resume", "-o", out, dir); code != 1 || !strings.Contains(se, "another run") {
		t.Fatalf("a checkpoint of other settings: exit %d, %q", code, se)
	}
	if _, se, code := actprof(t, "profile", "--quiet", "--stats", "--resume", "-o", out, dir); code != 0 {
		t.Fatalf("resume after SIGTERM: %s", se)
	}
	sameProfile(t, "resumed after SIGTERM", whole, out)
	// --resume with nothing to resume runs from the start
	os.Remove(out)
	if _, se, code := actprof(t, "profile", "--quiet", "--stats", "--resume", "-o", out, dir); code != 0 {
		t.Fatalf("--resume without a checkpoint: %s", se)
	}
	sameProfile(t, "--resume without a checkpoint", whole, out)
	// a shard's run in segments records the shard as one run of it does
	plain, seg := filepath.Join(dir, "plain.json"), filepath.Join(dir, "seg.json")
	if _, se, code := actprof(t, "profile", "--quiet", "--stats", "--shard", "1/3", "--checkpoint-every", "0", "-o", plain, dir); code != 0 {
		t.Fatal(se)
	}
	cmd = exec.Command(bin, "profile", "--quiet", "--stats", "--shard", "1/3", "-o", seg, dir)
	cmd.Env = append(os.Environ(), "ACTPROF_SEGMENT_BYTES=65536")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	sameProfile(t, "shard 1/3 in segments", plain, seg)
	shardOf := func(p string) any {
		raw, _ := os.ReadFile(p)
		var v map[string]any
		json.Unmarshal(raw, &v)
		return v["shard"]
	}
	if a, b := shardOf(plain), shardOf(seg); a == nil || !reflect.DeepEqual(a, b) {
		t.Fatalf("shard records %v and %v", a, b)
	}
}

// sameStore fails unless the stores at a and b hold the same bytes.
func sameStore(t *testing.T, what, a, b string) {
	t.Helper()
	x, err1 := os.ReadFile(a)
	y, err2 := os.ReadFile(b)
	if err1 != nil || err2 != nil {
		t.Fatalf("%s: %v %v", what, err1, err2)
	}
	if !bytes.Equal(x, y) {
		t.Fatalf("%s: the store (%d bytes) differs from the uninterrupted run's (%d bytes)", what, len(y), len(x))
	}
}

// noStoreTemps fails if a temporary file of the store st is left.
func noStoreTemps(t *testing.T, what, st string) {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Dir(st))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "."+filepath.Base(st)+".tmp-") {
			t.Fatalf("%s: the store's temporary file %s is left", what, e.Name())
		}
	}
}

// A run writing a pattern store, in pieces of one block: kill -9 at
// several points, then --resume: the profile of an uninterrupted run and
// its store byte for byte, at both levels; SIGTERM: exit 75, the
// checkpoint and the partial store kept, then --resume; checkpoints of a
// run with and without --patterns, or of another level, refused in one
// line; a shard's run with --patterns resumed.
func TestResumePatterns(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 45 MB dataset and profiles it a dozen times")
	}
	dir := t.TempDir()
	// fc: blocks of 512 observations (1 MiB of float16), about 40 of
	// them; conv: 8 units of 4x4 positions, 5 blocks
	if _, se, code := actprof(t, "synth", "-o", dir, "--dtype", "float16", "--layer", "fc:1024", "--layer", "conv:8x4x4", "--rows", "20000"); code != 0 {
		t.Fatal(se)
	}
	out, st := filepath.Join(dir, "out.json"), filepath.Join(dir, "out.actbits")
	whole := map[string][2]string{}
	for _, lv := range []string{"fastest", "best"} {
		wj, ws := filepath.Join(dir, "whole-"+lv+".json"), filepath.Join(dir, "whole-"+lv+".actbits")
		if _, se, code := actprof(t, "profile", "--quiet", "--stats", "--checkpoint-every", "0", "--patterns-level", lv, "--patterns", ws, "-o", wj, dir); code != 0 {
			t.Fatal(se)
		}
		whole[lv] = [2]string{wj, ws}
	}
	clean := func() {
		os.Remove(out)
		os.Remove(st)
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.Contains(e.Name(), ".tmp-") {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
	// checkpointed, uninterrupted, in pieces: the same store
	cmd := exec.Command(bin, "profile", "--quiet", "--stats", "--workers", "1", "--checkpoint-every", "1ns", "--patterns", st, "-o", out, dir)
	cmd.Env = append(os.Environ(), "ACTPROF_SEGMENT_BYTES=16384")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	sameProfile(t, "in pieces", whole["fastest"][0], out)
	sameStore(t, "in pieces", whole["fastest"][1], st)
	clean()
	interrupted := 0
	for _, c := range []struct {
		level string
		wait  time.Duration
	}{{"fastest", 0}, {"fastest", 100 * time.Millisecond}, {"fastest", 300 * time.Millisecond}, {"best", 200 * time.Millisecond}} {
		cmd, _ := startSegmented(t, out, dir, "--patterns-level", c.level, "--patterns", st)
		time.Sleep(c.wait)
		cmd.Process.Kill()
		cmd.Wait()
		what := fmt.Sprintf("kill -9 at %v, level %s", c.wait, c.level)
		if _, err := os.Stat(out); err == nil {
			sameProfile(t, what+", finished before it", whole[c.level][0], out)
			sameStore(t, what+", finished before it", whole[c.level][1], st)
			clean()
			continue
		}
		interrupted++
		if _, err := os.Stat(st); err == nil {
			t.Fatalf("%s: the store is in place before the run finished", what)
		}
		if _, se, code := actprof(t, "profile", "--quiet", "--stats", "--resume", "--patterns-level", c.level, "--patterns", st, "-o", out, dir); code != 0 {
			t.Fatalf("%s: resume: exit %d: %s", what, code, se)
		}
		sameProfile(t, what+", resumed", whole[c.level][0], out)
		sameStore(t, what+", resumed", whole[c.level][1], st)
		noStoreTemps(t, what+", resumed", st)
		if _, err := os.Stat(checkpointPath(out)); err == nil {
			t.Fatalf("%s: the checkpoint is left after the run finished", what)
		}
		clean()
	}
	if interrupted == 0 {
		t.Fatal("every run finished before its kill: no resume was tested")
	}
	// SIGTERM: exit 75 in one line, the checkpoint and the partial store kept
	cmd, se := startSegmented(t, out, dir, "--patterns", st)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != exitCheckpointed || !strings.Contains(se.String(), "rerun with --resume") || strings.Count(se.String(), "\n") != 1 {
		t.Fatalf("SIGTERM: exit %d, %q", code, se.String())
	}
	raw, err := os.ReadFile(checkpointPath(out))
	if err != nil {
		t.Fatal("SIGTERM: no checkpoint")
	}
	var ck patternsCheckpoint
	if err := json.Unmarshal(raw, &ck); err != nil || ck.Patterns.Store == nil {
		t.Fatalf("SIGTERM: the checkpoint has no store state: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ck.Patterns.Store.Temp)); err != nil {
		t.Fatalf("SIGTERM: the partial store is gone: %v", err)
	}
	// refused, one line each, the checkpoint kept: without --resume, without
	// --patterns, at another level
	for _, args := range [][]string{
		{"--patterns", st},
		{"--resume"},
		{"--resume", "--patterns-level", "best", "--patterns", st},
	} {
		a := append([]string{"profile", "--quiet", "--stats", "-o", out}, args...)
		if _, se, code := actprof(t, append(a, dir)...); code != 1 || strings.Count(se, "\n") != 1 || !strings.Contains(se, "another run") && !strings.Contains(se, "pass --resume") {
			t.Fatalf("%v: exit %d, %q", args, code, se)
		}
	}
	if _, se, code := actprof(t, "profile", "--quiet", "--stats", "--resume", "--patterns", st, "-o", out, dir); code != 0 {
		t.Fatalf("resume after SIGTERM: %s", se)
	}
	sameProfile(t, "resumed after SIGTERM", whole["fastest"][0], out)
	sameStore(t, "resumed after SIGTERM", whole["fastest"][1], st)
	noStoreTemps(t, "resumed after SIGTERM", st)
	clean()
	// a checkpoint of a run without --patterns, resumed with it: refused
	cmd, _ = startSegmented(t, out, dir)
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := os.Stat(out); err != nil {
		if _, se, code := actprof(t, "profile", "--quiet", "--stats", "--resume", "--patterns", st, "-o", out, dir); code != 1 || strings.Count(se, "\n") != 1 || !strings.Contains(se, "without --patterns") {
			t.Fatalf("a checkpoint without --patterns resumed with it: exit %d, %q", code, se)
		}
		if _, err := os.Stat(st); err == nil {
			t.Fatal("a refused resume wrote the store")
		}
	}
	os.Remove(checkpointPath(out))
	clean()
	// a shard's run with --patterns: killed, resumed, the part an
	// uninterrupted run of the shard writes
	sj, ss := filepath.Join(dir, "shard.json"), filepath.Join(dir, "shard.actbits")
	if _, se, code := actprof(t, "profile", "--quiet", "--stats", "--shard", "1/3", "--checkpoint-every", "0", "--patterns", ss, "-o", sj, dir); code != 0 {
		t.Fatal(se)
	}
	cmd, _ = startSegmented(t, out, dir, "--shard", "1/3", "--patterns", st)
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := os.Stat(out); err != nil {
		if _, se, code := actprof(t, "profile", "--quiet", "--stats", "--shard", "1/3", "--resume", "--patterns", st, "-o", out, dir); code != 0 {
			t.Fatalf("shard: resume: %s", se)
		}
	}
	sameProfile(t, "shard 1/3, resumed", sj, out)
	sameStore(t, "shard 1/3, resumed", ss, st)
	shardOf := func(p string) any {
		raw, _ := os.ReadFile(p)
		var v map[string]any
		json.Unmarshal(raw, &v)
		return v["shard"]
	}
	if a, b := shardOf(sj), shardOf(out); a == nil || !reflect.DeepEqual(a, b) {
		t.Fatalf("shard records %v and %v", a, b)
	}
}
