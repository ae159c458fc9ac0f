//go:build !unix

package main

import (
	"os"
	"testing"
)

// peakRSS is the peak resident memory of a finished process: not known
// here.
func peakRSS(ps *os.ProcessState) (int64, bool) { return 0, false }

// setUmask: there is no umask here; the rest of the test is skipped.
func setUmask(t *testing.T, mask int) {
	t.Skip("no umask on this platform")
}
