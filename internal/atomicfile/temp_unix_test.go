//go:build unix

package atomicfile

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// New files get 0666 less the umask; a replaced file keeps its mode.
func TestModes(t *testing.T) {
	dir := t.TempDir()
	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	p := filepath.Join(dir, "new.json")
	if err := Write(p, writeString("a")); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o640 {
		t.Fatalf("new file under umask 027: %v, want -rw-r-----", st.Mode())
	}
	q := filepath.Join(dir, "kept.json")
	if err := os.WriteFile(q, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(q, 0o604)
	for _, w := range []func(string, func(io.Writer) error) error{Write, WriteSync} {
		if err := w(q, writeString("new")); err != nil {
			t.Fatal(err)
		}
		if st, _ := os.Stat(q); st.Mode().Perm() != 0o604 {
			t.Fatalf("replaced file: %v, want -rw----r--", st.Mode())
		}
	}
}
