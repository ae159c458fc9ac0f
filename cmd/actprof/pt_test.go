package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// torch.save files written by Debian's PyTorch: dicts, nested dicts and
// lists, float32/float64/float16/bfloat16, a 4-D map, views of one storage
// and a transposed one, a lone tensor, a list under two keys; counts equal
// torch's own.
func TestTorchSaveFiles(t *testing.T) {
	py := requireTorch(t)
	dir := t.TempDir()
	out, err := exec.Command(py, "testdata/make_pt.py", dir).Output()
	if err != nil {
		t.Fatalf("make_pt.py: %v", err)
	}
	var want map[string]map[string][]uint64
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	for file, layers := range want {
		prof := filepath.Join(dir, file+".json")
		if _, se, code := actprof(t, "profile", "--quiet", "-o", prof, filepath.Join(dir, file)); code != 0 {
			t.Fatalf("%s: exit %d: %s", file, code, se)
		}
		p, err := readProfile(prof)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, l := range p.Layers {
			names = append(names, l.Name)
			w, ok := layers[l.Name]
			if !ok {
				t.Errorf("%s: layer %q is not torch's", file, l.Name)
				continue
			}
			if !slices.Equal(l.Counts, w) {
				t.Errorf("%s: layer %s: counts %v, torch %v", file, l.Name, l.Counts, w)
			}
		}
		if len(names) != len(layers) {
			t.Errorf("%s: layers %v, torch has %d", file, names, len(layers))
		}
	}
	// a folder picks .pt files up
	if _, se, code := actprof(t, "profile", "--quiet", "--layer", "lone", "-o", filepath.Join(dir, "f.json"), dir); code != 0 {
		t.Fatalf("folder: %s", se)
	}
	// bad files: one line naming the file and the problem, exit 1, nothing
	// written, nothing run
	for _, c := range []struct{ file, want string }{
		{"strided.pt", "non-contiguous"},
		{"ints.pt", "LongStorage"},
		{"legacy.pt", "legacy (non-zip) torch.save file: load it and re-save it"},
		{"evil.pt", "posix.system"},
		{"forged.pt", "holds 600 bytes"},
		{"truncated.pt", "zip"},
		{"forgedview.pt", "beyond its storage of 40"},
		{"bigendian.pt", "big-endian"},
		{"corrupt.pt", "CRC-32 mismatch"},
		{"oned.pt", "1-D array [9]: need at least 2 axes"},
	} {
		path := filepath.Join(dir, "bad", c.file)
		o := filepath.Join(dir, "bad.json")
		so, se, code := actprof(t, "profile", "--quiet", "-o", o, path)
		if code != 1 || so != "" || strings.Count(se, "\n") != 1 || !strings.Contains(se, path) || !strings.Contains(se, c.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q (want %q)", c.file, code, so, se, c.want)
		}
		if _, err := os.Stat(o); err == nil {
			t.Errorf("%s: output written", c.file)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bad", "pwned")); err == nil {
		t.Fatal("the evil pickle ran")
	}
}
