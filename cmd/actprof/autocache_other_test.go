//go:build !linux

package main

import (
	"io"
	"os"
	"testing"
)

// dropPages cannot drop a file's pages here: false.
func dropPages(t *testing.T, name string) bool { return false }

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
