package main

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// residentFraction sees a file just read as in the page cache, and the
// same file after its pages are dropped (fsync, POSIX_FADV_DONTNEED) as
// out of it, but where the file system is the page cache itself (tmpfs).
func TestResidentFraction(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "f")
	b := make([]byte, 8<<20)
	for i := range b {
		b[i] = byte(i * 7)
	}
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.ReadFile(name); err != nil {
		t.Fatal(err)
	}
	if frac, ok := residentFraction([]string{name, filepath.Join(dir, "missing")}); !ok || frac < 0.9 {
		t.Fatalf("a file just read: %.2f in the page cache (%v)", frac, ok)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	frac, ok := residentFraction([]string{name})
	if st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC {
		if !ok || frac < 0.9 {
			t.Fatalf("a file on tmpfs: %.2f in the page cache (%v)", frac, ok)
		}
	} else if !ok || frac > 0.1 {
		t.Fatalf("a file whose pages were dropped: %.2f in the page cache (%v)", frac, ok)
	}
	if _, ok := residentFraction([]string{filepath.Join(dir, "missing")}); ok {
		t.Fatal("a missing file's residency known")
	}
}

// dropPages drops the page-cache pages of file name (fsync, then
// POSIX_FADV_DONTNEED) and reports whether they are gone: not on tmpfs,
// whose files are their pages.
func dropPages(t *testing.T, name string) bool {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(name), &st); err != nil {
		t.Fatal(err)
	}
	if st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC {
		return false
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	return true
}
