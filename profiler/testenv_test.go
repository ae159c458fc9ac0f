package profiler_test

import (
	"os"
	"os/exec"
	"testing"
)

// strictCI reports whether the tests run under CI (CI set, as .ci/run and
// most CI services do): there a missing outside reference is a failure,
// not a reason to skip.
func strictCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "0" && v != "false"
}

// requirePython returns a python3 to read actprof's output with (Debian's
// /usr/bin/python3 first, else the first on PATH), or skips the test (fails
// it under CI) when there is none.
func requirePython(t *testing.T) string {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		if py, err = exec.LookPath("python3"); err != nil {
			if strictCI() {
				t.Fatalf("CI: no python3 (reference reader of the JSON profile): %v", err)
			}
			t.Skipf("no python3 (reference reader of the JSON profile): %v", err)
		}
	}
	return py
}
