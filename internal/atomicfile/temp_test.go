package atomicfile

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

// A name of up to 255 bytes, the most the filesystem takes, is written:
// the temporary name is shortened to fit.
func TestLongNames(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{200, 239, 240, 250, 255} {
		p := filepath.Join(dir, strings.Repeat("n", n-5)+".json")
		if err := Write(p, writeString("x")); err != nil {
			t.Fatalf("%d-byte name: %v", n, err)
		}
		if b, err := os.ReadFile(p); err != nil || string(b) != "x" {
			t.Fatalf("%d-byte name: %q %v", n, b, err)
		}
		if len(filepath.Base(TempName(p, "4294967295"))) > nameMax {
			t.Fatalf("%d-byte name: temporary name of %d bytes", n, len(filepath.Base(TempName(p, "4294967295"))))
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 5 {
		t.Fatalf("files: %d, want 5", len(ents))
	}
}

// Pending files: nothing at path until Commit; Abort and RemoveTemps leave
// nothing behind.
func TestPending(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	pa, err := Begin(a)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := Begin(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := pa.Fill(writeString("A"), false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a); err == nil {
		t.Fatal("a filled file is in place before Commit")
	}
	pb.Abort()
	if err := pa.Commit(false); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 || ents[0].Name() != "a" {
		t.Fatalf("files: %v", ents)
	}
	if _, err := Begin(dir); err == nil || !strings.Contains(err.Error(), "is a folder") {
		t.Fatalf("Begin on a folder: %v", err)
	}
	for i := 0; i < 3; i++ {
		if _, err := CreateTemp(filepath.Join(dir, "c")); err != nil {
			t.Fatal(err)
		}
	}
	RemoveTemps()
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("RemoveTemps left %v", ents)
	}
}
