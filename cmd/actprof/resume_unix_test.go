//go:build unix

package main

import (
	"bytes"
	"encoding/json"
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
