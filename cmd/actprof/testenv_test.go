package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// numpyPython is the interpreter whose NumPy is the reference: Debian's
// python3-numpy (make deps installs it), not whatever python3 is first on
// PATH.
const numpyPython = "/usr/bin/python3"

// strictCI reports whether the tests run under CI (CI set, as .ci/run and
// most CI services do): there a missing outside reference is a failure,
// not a reason to skip.
func strictCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "0" && v != "false"
}

// missingReference skips the test, or fails it under CI, because an
// outside reference it checks against is not installed.
func missingReference(t *testing.T, format string, args ...any) {
	t.Helper()
	if strictCI() {
		t.Fatalf("CI: "+format, args...)
	}
	t.Skipf(format, args...)
}

// requireNumPy returns the python with NumPy, or skips the test (fails it
// under CI) when there is none.
func requireNumPy(t *testing.T) string {
	t.Helper()
	if err := exec.Command(numpyPython, "-c", "import numpy").Run(); err != nil {
		missingReference(t, "NumPy reference unavailable (%s with numpy; make deps installs python3-numpy): %v", numpyPython, err)
	}
	return numpyPython
}

// bigTest skips a test that writes files of hundreds of MB or more, or
// runs for long, unless ACTPROF_BIG_TESTS is set (make test-big).
func bigTest(t *testing.T, what string) {
	t.Helper()
	if v := os.Getenv("ACTPROF_BIG_TESTS"); v == "" || v == "0" {
		t.Skipf("%s: set ACTPROF_BIG_TESTS=1 (make test-big) to run", what)
	}
}

// requireTorch returns the python with PyTorch and NumPy, or skips the test
// (fails it under CI) when there is none: the real-model activations of the
// value statistics' test come from small nets it trains (make deps installs
// Debian's python3-torch).
func requireTorch(t *testing.T) string {
	t.Helper()
	py := requireNumPy(t)
	if err := exec.Command(py, "-c", "import torch").Run(); err != nil {
		missingReference(t, "PyTorch unavailable (%s with torch; make deps installs python3-torch): %v", py, err)
	}
	return py
}

// requireArrowWriters returns the node_modules folder holding npm's
// apache-arrow and parquet-wasm, the independent writers of the Arrow and
// Parquet tests' files, installing them there (.ci/node-deps.sh) if need
// be; it skips the test (fails it under CI) when they cannot be had.
func requireArrowWriters(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("bash", "../../.ci/node-deps.sh").Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		missingReference(t, "Arrow writers unavailable (npm's apache-arrow and parquet-wasm on Node.js; make deps installs them): %s", msg)
	}
	return strings.TrimSpace(string(out))
}
