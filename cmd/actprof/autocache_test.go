package main

import (
	"io"
	"os"
	"testing"
)

// readAll reads file name through, into the page cache.
func readAll(t *testing.T, name string) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(io.Discard, f); err != nil {
		t.Fatal(err)
	}
}
