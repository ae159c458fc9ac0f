package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// arrowRef is NumPy's figures for one layer.
type arrowRef struct {
	Counts        []uint64
	Min, Max, Sum []float64
}

// makeArrowFiles writes the Arrow and Parquet test files (NumPy's values,
// written by apache-arrow and parquet-wasm on Node.js) into a temporary
// folder and returns it with NumPy's figures per file and layer.
func makeArrowFiles(t *testing.T) (string, map[string]map[string]arrowRef) {
	t.Helper()
	py := requireNumPy(t)
	mods := requireArrowWriters(t)
	dir := t.TempDir()
	out, err := exec.Command(py, "testdata/make_arrow_ref.py", dir).Output()
	if err != nil {
		t.Fatalf("make_arrow_ref.py: %v", err)
	}
	var want map[string]map[string]arrowRef
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	node := exec.Command("node", "testdata/make_arrow.mjs", dir)
	node.Env = append(os.Environ(), "ACTPROF_NODE_MODULES="+mods)
	if msg, err := node.CombinedOutput(); err != nil {
		t.Fatalf("make_arrow.mjs: %v\n%s", err, msg)
	}
	return dir, want
}

// checkAgainstNumPy profiles path with --stats (and args) and compares
// every layer with NumPy's figures: counts, minima and maxima exactly,
// sums to float64 rounding.
func checkAgainstNumPy(t *testing.T, what, path string, want map[string]arrowRef, args ...string) {
	t.Helper()
	prof := filepath.Join(t.TempDir(), "p.json")
	args = append(append([]string{"profile", "--stats", "--quiet", "-o", prof}, args...), path)
	if _, se, code := actprof(t, args...); code != 0 {
		t.Fatalf("%s: exit %d: %s", what, code, se)
	}
	p, err := readProfile(prof)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range p.Layers {
		names = append(names, l.Name)
		w, ok := want[l.Name]
		if !ok {
			t.Errorf("%s: layer %q is not NumPy's", what, l.Name)
			continue
		}
		if !slices.Equal(l.Counts, w.Counts) {
			t.Errorf("%s: layer %s: counts %v, NumPy %v", what, l.Name, l.Counts, w.Counts)
		}
		if l.Shape[1] != len(w.Counts) {
			t.Errorf("%s: layer %s: shape %v, NumPy has %d units", what, l.Name, l.Shape, len(w.Counts))
		}
		if l.Stats == nil {
			t.Errorf("%s: layer %s: no statistics", what, l.Name)
			continue
		}
		for u := range w.Counts {
			if float64(l.Stats.Min[u]) != w.Min[u] || float64(l.Stats.Max[u]) != w.Max[u] {
				t.Errorf("%s: layer %s unit %d: min/max %v/%v, NumPy %v/%v", what, l.Name, u, l.Stats.Min[u], l.Stats.Max[u], w.Min[u], w.Max[u])
			}
			if d := math.Abs(float64(l.Stats.Sum[u]) - w.Sum[u]); d > 1e-9*(1+math.Abs(w.Sum[u])) {
				t.Errorf("%s: layer %s unit %d: sum %v, NumPy %v", what, l.Name, u, l.Stats.Sum[u], w.Sum[u])
			}
		}
	}
	sort.Strings(names)
	var wnames []string
	for n := range want {
		wnames = append(wnames, n)
	}
	sort.Strings(wnames)
	if !slices.Equal(names, wnames) {
		t.Errorf("%s: layers %v, NumPy's %v", what, names, wnames)
	}
}

// Arrow IPC files (stream and file formats) and a Hugging Face datasets
// folder written by apache-arrow from NumPy's values: fixed-size lists,
// lists of lists and lists of fixed-size lists with T varying by row,
// float32, float16 and float64, several record batches, columns left out
// with --layer. Counts and statistics equal NumPy's.
func TestArrowFiles(t *testing.T) {
	dir, want := makeArrowFiles(t)
	for file, layers := range want {
		if strings.HasSuffix(file, ".parquet") || strings.HasPrefix(file, "hub/") { // TestParquetFiles
			continue
		}
		var args []string
		if strings.HasPrefix(file, "mixed.") {
			args = []string{"--layer", "acts"}
		}
		if file == "hf" {
			args = []string{"--layer", "h16", "--layer", "blocks.0.hook_resid_post"}
		}
		checkAgainstNumPy(t, file, filepath.Join(dir, file), layers, args...)
	}
	// a datasets folder inside a folder: its layers are named folder/column
	sub := map[string]arrowRef{}
	for n, r := range want["hf"] {
		sub["hf/"+n] = r
	}
	checkAgainstNumPy(t, "folder", dir, sub, "--layer", "hf/h16", "--layer", "hf/blocks.*")
}

// Bad Arrow files: one line naming the file and the problem, exit 1,
// nothing written.
func TestArrowBadFiles(t *testing.T) {
	dir, _ := makeArrowFiles(t)
	bad := filepath.Join(dir, "bad")
	cut := func(src, dst string, frac float64) {
		b, err := os.ReadFile(filepath.Join(dir, src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bad, dst), b[:int(float64(len(b))*frac)], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cut("fsl.arrow", "truncated.arrow", 0.6)
	cut("fsl.arrows", "truncated.arrows", 0.6)
	// forge the length of the first batch's mlp float buffer (100 rows of
	// 37 float32) in its metadata
	b, err := os.ReadFile(filepath.Join(dir, "fsl.arrows"))
	if err != nil {
		t.Fatal(err)
	}
	var le, forged [8]byte
	binary.LittleEndian.PutUint64(le[:], 100*37*4)
	binary.LittleEndian.PutUint64(forged[:], 1<<40)
	i := bytes.Index(b, le[:])
	if i < 0 {
		t.Fatal("no buffer length to forge")
	}
	copy(b[i:], forged[:])
	if err := os.WriteFile(filepath.Join(bad, "forged.arrows"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ file, want string }{
		{"nulls.arrow", `column "nulls", record batch 1: 1 null values`},
		{"strings.arrow", `column "strings" holds string, not lists of floats`},
		{"truncated.arrow", "does not end with its magic"},
		{"truncated.arrows", "the file ends inside"},
		{"forged.arrows", "lies outside its body"},
	} {
		refusedOneLine(t, filepath.Join(bad, c.file), filepath.Join(dir, "bad.json"), c.want)
	}
}

// refusedOneLine checks that profiling the bad file path is exit 1 with
// one line on stderr naming it and saying want, and writes nothing to o.
func refusedOneLine(t *testing.T, path, o, want string) {
	t.Helper()
	so, se, code := actprof(t, "profile", "--quiet", "-o", o, path)
	if code != 1 || so != "" || strings.Count(se, "\n") != 1 || !strings.Contains(se, path) || !strings.Contains(se, want) {
		t.Errorf("%s: exit %d, stdout %q, stderr %q (want %q)", filepath.Base(path), code, so, se, want)
	}
	if _, err := os.Stat(o); err == nil {
		t.Errorf("%s: output written", filepath.Base(path))
	}
}
