package main

import (
	"os"
	"os/exec"
	"testing"
)

// torchPython is the interpreter whose PyTorch and NumPy are the
// reference: Debian's python3-torch (make deps installs it).
const torchPython = "/usr/bin/python3"

// requireTorch returns the python with PyTorch and NumPy, or skips the
// test (fails it under CI, where a missing reference is a failure).
func requireTorch(t *testing.T) string {
	t.Helper()
	if err := exec.Command(torchPython, "-c", "import torch, numpy").Run(); err != nil {
		if v := os.Getenv("CI"); v != "" && v != "0" && v != "false" {
			t.Fatalf("CI: PyTorch unavailable (%s with torch and numpy; make deps installs python3-torch): %v", torchPython, err)
		}
		t.Skipf("PyTorch unavailable (%s with torch and numpy): %v", torchPython, err)
	}
	return torchPython
}
