package input

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actprof/actprof/profiler"
)

// torchPython is the interpreter whose PyTorch writes the .pt files of the
// tests: Debian's python3-torch (make deps installs it).
const torchPython = "/usr/bin/python3"

// requireTorch skips the test, or fails it under CI (CI set), when
// torchPython cannot import torch.
func requireTorch(t *testing.T) string {
	t.Helper()
	if err := exec.Command(torchPython, "-c", "import torch").Run(); err != nil {
		if v := os.Getenv("CI"); v != "" && v != "0" && v != "false" {
			t.Fatalf("CI: PyTorch unavailable (%s with torch; make deps installs python3-torch): %v", torchPython, err)
		}
		t.Skipf("PyTorch unavailable (%s with torch; make deps installs python3-torch): %v", torchPython, err)
	}
	return torchPython
}

// .pt files written by PyTorch: every layer's bytes, read in chunks with
// Next and backwards with ReadAt, mapped and not, are the bytes torch has
// for the view, and its counts torch's. Whole storages have their CRC-32
// checked along the way; a changed byte fails the check.
func TestTorchSaveReference(t *testing.T) {
	py := requireTorch(t)
	dir := t.TempDir()
	out, err := exec.Command(py, "testdata/pt_reference.py", dir).Output()
	if err != nil {
		t.Fatalf("pt_reference.py: %v", err)
	}
	var files map[string][]expectedLayer
	if err := json.Unmarshal(out, &files); err != nil {
		t.Fatal(err)
	}
	withMmap(t, func(t *testing.T) {
		for file, wants := range files {
			path := filepath.Join(dir, file)
			ls, err := Open([]string{path}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(ls) != len(wants) {
				t.Fatalf("%s: %d layers, want %d", file, len(ls), len(wants))
			}
			for i, l := range ls {
				if l.Path != path {
					t.Errorf("%s: layer %s has Path %s", file, l.Name, l.Path)
				}
				checkLayer(t, l, wants[i])
			}
		}
	})
	// A folder takes .pt files as it takes the others.
	ls, err := Open([]string{dir}, Options{Layers: []string{"lone", "views.*"}})
	if err != nil || len(ls) != 5 {
		t.Fatalf("folder: %d layers, %v", len(ls), err)
	}
	t.Run("crc", func(t *testing.T) { checkTorchSaveCRC(t, filepath.Join(dir, "acts.pt")) })
}

// A storage whose bytes were changed after saving fails the read that
// completes its CRC-32, here the last of reads from the end backwards.
func checkTorchSaveCRC(t *testing.T, path string) {
	ls, err := Open([]string{path}, Options{Layers: []string{"big"}})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	src, err := ls[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	base := src.(*regionSource).base
	src.Close()
	raw[base+1000] ^= 0x10
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err = ls[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ra := src.(profiler.ReaderAtSource)
	total := int64(300 * 64 * 4)
	var last error
	for off := total - 4096; ; off -= 4096 {
		off = max(off, 0)
		if _, last = ra.ReadAt(make([]byte, min(4096, total-off)), off); last != nil || off == 0 {
			if off != 0 {
				t.Fatalf("ReadAt at %d: %v before the data were complete", off, last)
			}
			break
		}
	}
	if !errors.Is(last, profiler.ErrFormat) || !strings.Contains(last.Error(), "CRC-32 mismatch") || !strings.Contains(last.Error(), path) {
		t.Fatalf("last read: %v, want a CRC-32 mismatch naming %s", last, path)
	}
}

// Files that are no zip archive: a legacy torch.save pickle is told apart,
// with how to re-save it, from anything else.
func TestTorchSaveNotZip(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ data, want string }{
		{"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.", "legacy (non-zip) torch.save file: load it and re-save it"},
		{"", "not a torch.save file"},
		{"PK", "not a torch.save file"},
		{"hello, world", "not a torch.save file"},
		{"PK\x03\x04 and then nothing", "a damaged zip archive"},
	} {
		path := filepath.Join(dir, "x.pt")
		if err := os.WriteFile(path, []byte(c.data), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open([]string{path}, Options{})
		if !isSentinel(err) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%q: %v, want %q", c.data, err, c.want)
		}
	}
}
