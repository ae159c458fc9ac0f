package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFakeCUDA runs the library's GPU path through a stand-in driver
// (testdata/fakecuda.c: host memory for device memory, naive loops for the
// kernels, the launches' grids and the pair kernels' alignment checked):
// count_cuda gives the profile and the pattern store of count over the
// same bytes (tests/fake_cuda_check.py), the kernels chosen are those of
// the layouts (pair kernels only on pair-aligned data), and the driver's
// errors (no device, a pointer on another device) are one line each.
func TestFakeCUDA(t *testing.T) {
	py := requireNumPy(t)
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Fatal("gcc is needed to build the library")
	}
	dir := t.TempDir()
	lib, fake := filepath.Join(dir, "_libactprof.so"), filepath.Join(dir, "fakecuda.so")
	if out, err := exec.Command("go", "build", "-buildmode=c-shared", "-o", lib, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if out, err := exec.Command("gcc", "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", fake, "testdata/fakecuda.c", "-lm").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	launches := filepath.Join(dir, "launches")
	run := func(env []string, args ...string) string {
		t.Helper()
		cmd := exec.Command(py, append([]string{"../tests/fake_cuda_check.py", filepath.Join(dir, "out")}, args...)...)
		cmd.Env = append(os.Environ(), append([]string{"PYTHONPATH=..", "ACTPROF_LIB=" + lib, "ACTPROF_LIBCUDA=" + fake, "FAKECUDA_LAUNCHES=" + launches}, env...)...)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("fake_cuda_check.py %v: %v\n%s", args, err, b)
		}
		return string(b)
	}
	out := run(nil)
	if !strings.Contains(out, "ok: refusals") || strings.Count(out, "ok: ") != 10 {
		t.Fatalf("fake_cuda_check.py:\n%s", out)
	}
	b, err := os.ReadFile(launches)
	if err != nil {
		t.Fatal(err)
	}
	// two launches per case (two batches), one kernel per layout:
	// rows2 for even units on pair-aligned data, rows otherwise, runs for maps
	count := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		count[strings.Fields(l)[0]]++
	}
	want := map[string]int{"rows_f32": 4, "rows2_f32": 2, "rows2_f16": 2, "rows_f16": 2, "rows_bf16": 2, "runs_f32": 2, "runs_f16": 2, "rows2_bf16": 2}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%d launches of %s, want %d (all: %v)", count[k], k, n, count)
		}
	}
	for env, msg := range map[string]string{
		"FAKECUDA_NO_DEVICE=1":      "actprof: layer g: tensor on cuda:0: the CUDA driver does not start: CUDA_ERROR_NO_DEVICE\n",
		"FAKECUDA_POINTER_DEVICE=1": "actprof: layer g: tensor said to be on cuda:0 lies on cuda:1\n",
	} {
		if got := run([]string{env}, "--error"); got != msg {
			t.Errorf("%s: %q, want %q", env, got, msg)
		}
	}
}

// requireNumPy returns the python with NumPy, or skips the test (fails it
// under CI, where a missing reference is a failure).
func requireNumPy(t *testing.T) string {
	t.Helper()
	if err := exec.Command(torchPython, "-c", "import numpy").Run(); err != nil {
		if v := os.Getenv("CI"); v != "" && v != "0" && v != "false" {
			t.Fatalf("CI: NumPy unavailable (%s; make deps installs python3-numpy): %v", torchPython, err)
		}
		t.Skipf("NumPy unavailable (%s): %v", torchPython, err)
	}
	return torchPython
}
