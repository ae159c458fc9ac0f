//go:build unix

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGINT, SIGTERM and SIGHUP stop a run with 128+N, one line saying so, no
// temporary files and the old outputs as they were.
func TestSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 64 MiB file")
	}
	dir := t.TempDir()
	if _, se, code := actprof(t, "synth", "-o", dir, "--layer", "big:512", "--rows", "32768"); code != 0 {
		t.Fatal(se)
	}
	prof, st := filepath.Join(dir, "p.json"), filepath.Join(dir, "s.actbits")
	os.WriteFile(prof, []byte("old profile"), 0o644)
	os.WriteFile(st, []byte("old store"), 0o644)
	before, _ := os.ReadDir(dir)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		// one worker and small chunks: the run takes seconds
		cmd := exec.Command(bin, "profile", "--quiet", "--workers", "1", "--chunk-size", "4KiB", "--patterns-level", "best",
			"--patterns", st, "-o", prof, filepath.Join(dir, "big.npy"))
		var se bytes.Buffer
		cmd.Stderr = &se
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		cmd.Process.Signal(sig)
		cmd.Wait()
		code := cmd.ProcessState.ExitCode()
		if code != 128+int(sig) || !strings.Contains(se.String(), "interrupted ("+sigName(sig)+")") {
			t.Errorf("%v: exit %d, %q", sig, code, se.String())
		}
		after, _ := os.ReadDir(dir)
		if len(after) != len(before) {
			t.Errorf("%v: files %v, were %v", sig, after, before)
		}
		if b, _ := os.ReadFile(st); string(b) != "old store" {
			t.Errorf("%v: the store was replaced", sig)
		}
		if b, _ := os.ReadFile(prof); string(b) != "old profile" {
			t.Errorf("%v: the profile was replaced", sig)
		}
	}
}
