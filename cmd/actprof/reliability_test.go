package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/actprof/actprof/internal/synth"
	"github.com/actprof/actprof/profiler"
)

// writeNpyOrder writes a float32 .npy whose bytes are vals in the given
// order (vals are the logical array in C order).
func writeNpyOrder(t *testing.T, path string, shape []int, vals []float32, fortran bool) {
	t.Helper()
	h := synth.NpyHeader(profiler.Float32, shape)
	if fortran {
		h = bytes.Replace(h, []byte("'fortran_order': False"), []byte("'fortran_order': True "), 1)
	}
	n := len(vals)
	b := h
	for i := 0; i < n; i++ {
		src := i
		if fortran {
			// the i-th byte run in column-major order is the element
			// whose index has axis 0 fastest
			idx, rest := make([]int, len(shape)), i
			for k := range shape {
				idx[k] = rest % shape[k]
				rest /= shape[k]
			}
			src = 0
			for k := range shape {
				src = src*shape[k] + idx[k]
			}
		}
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(vals[src]))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func randVals(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// A Fortran-order array of 3 axes: counts right (against a naive count of
// the logical array), and a pattern store refused, since it would hold the
// observations out of order. 2-D Fortran arrays, whose observations come
// in order, still get a store, which verify checks against the data.
func TestFortranOrder(t *testing.T) {
	dir := t.TempDir()
	shape := []int{6, 5, 4}
	vals := randVals(6*5*4, 7)
	f := filepath.Join(dir, "f.npy")
	writeNpyOrder(t, f, shape, vals, true)
	so, se, code := actprof(t, "profile", "--quiet", "--json", f)
	if code != 0 {
		t.Fatalf("profile: %s", se)
	}
	var p profiler.Profile
	if err := json.Unmarshal([]byte(so), &p); err != nil {
		t.Fatal(err)
	}
	want := make([]uint64, 4)
	for i, v := range vals {
		if v > 0 {
			want[i%4]++
		}
	}
	if got := p.Layers[0].Counts; !slices.Equal(got, want) {
		t.Fatalf("counts %v, naive %v", got, want)
	}
	st := filepath.Join(dir, "f.actbits")
	_, se, code = actprof(t, "profile", "--quiet", "--patterns", st, f)
	if code != 1 || !strings.Contains(se, "Fortran-order") || !strings.Contains(se, "np.ascontiguousarray") {
		t.Fatalf("3-D Fortran with --patterns: exit %d, %s", code, se)
	}
	if _, err := os.Stat(st); err == nil {
		t.Fatal("a store was written")
	}
	g := filepath.Join(dir, "g.npy")
	writeNpyOrder(t, g, []int{50, 7}, randVals(350, 8), true)
	prof := filepath.Join(dir, "g.json")
	gs := filepath.Join(dir, "g.actbits")
	if _, se, code := actprof(t, "profile", "--quiet", "--patterns", gs, "-o", prof, g); code != 0 {
		t.Fatalf("2-D Fortran with --patterns: %s", se)
	}
	if so, se, code := actprof(t, "patterns", "verify", gs, prof, g, "--check", "0"); code != 0 || !strings.Contains(so, "50 observations' patterns match") {
		t.Fatalf("verify against the data: exit %d %s %s", code, so, se)
	}
}

// verify with the data catches a store whose counts are right but whose
// observations are out of place: here the data's rows reversed.
func TestVerifyAgainstData(t *testing.T) {
	dir := t.TempDir()
	shape := []int{40, 3, 9}
	vals := randVals(40*3*9, 9)
	a := filepath.Join(dir, "x.npy")
	writeNpy(t, a, shape, vals)
	prof, st := filepath.Join(dir, "x.json"), filepath.Join(dir, "x.actbits")
	if _, se, code := actprof(t, "profile", "--quiet", "--patterns", st, "-o", prof, a); code != 0 {
		t.Fatal(se)
	}
	if so, se, code := actprof(t, "patterns", "verify", st, prof, a); code != 0 || !strings.Contains(so, "120 observations' patterns match") {
		t.Fatalf("verify: exit %d %s %s", code, so, se)
	}
	// the same rows in reverse order: the same counts
	rev := make([]float32, 0, len(vals))
	for r := 39; r >= 0; r-- {
		rev = append(rev, vals[r*27:(r+1)*27]...)
	}
	other := filepath.Join(dir, "other")
	os.Mkdir(other, 0o755)
	writeNpy(t, filepath.Join(other, "x.npy"), shape, rev)
	if so, se, code := actprof(t, "patterns", "verify", st, prof); code != 0 {
		t.Fatalf("verify without data: exit %d %s %s", code, so, se)
	}
	_, se, code := actprof(t, "patterns", "verify", st, prof, filepath.Join(other, "x.npy"))
	if code != 1 || !strings.Contains(se, "verify: layer x observation 0:") {
		t.Fatalf("verify against reordered data: exit %d, %s", code, se)
	}
}

// An output that is an input, or another output, is refused, by identity:
// the input is left as it was.
func TestOutputsNotInputs(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.npy")
	writeNpy(t, in, []int{20, 4}, randVals(80, 1))
	orig, _ := os.ReadFile(in)
	hard := filepath.Join(dir, "hard.npy")
	if err := os.Link(in, hard); err != nil {
		t.Fatal(err)
	}
	sym := filepath.Join(dir, "sym.npy")
	os.Symlink(in, sym)
	shards := filepath.Join(dir, "shards")
	os.MkdirAll(filepath.Join(shards, "s"), 0o755)
	writeNpy(t, filepath.Join(shards, "s", "000.npy"), []int{5, 4}, randVals(20, 2))
	st := filepath.Join(dir, "s.actbits")
	for _, args := range [][]string{
		{"profile", "-o", in, in},
		{"profile", "-o", dir + "/./in.npy", in},
		{"profile", "--patterns", in, in},
		{"profile", "-o", hard, in},
		{"profile", "-o", sym, in},
		{"profile", "-o", filepath.Join(shards, "s", "000.npy"), shards},
		{"profile", "-o", st, "--patterns", st, in},
		{"profile", "-o", filepath.Join(dir, ".", "s.actbits"), "--patterns", st, in},
	} {
		_, se, code := actprof(t, append(args, "--quiet")...)
		if code == 0 || strings.Count(strings.TrimSpace(se), "\n") > 1 || !strings.Contains(se, "overwrite") && !strings.Contains(se, "same file") {
			t.Errorf("%v: exit %d, %s", args, code, se)
		}
		if b, _ := os.ReadFile(in); !bytes.Equal(b, orig) {
			t.Fatalf("%v changed the input", args)
		}
	}
	// export onto the store it reads
	if _, se, code := actprof(t, "profile", "--quiet", "--patterns", st, in); code != 0 {
		t.Fatal(se)
	}
	sb, _ := os.ReadFile(st)
	if _, se, code := actprof(t, "patterns", "export", st, "--layer", "in", "-o", dir+"/./s.actbits"); code != 2 || !strings.Contains(se, "the store being read") {
		t.Errorf("export onto its store: exit %d, %s", code, se)
	}
	if b, _ := os.ReadFile(st); !bytes.Equal(b, sb) {
		t.Fatal("export replaced the store")
	}
}

// Neither output is replaced unless both can be: -o naming a folder (or a
// missing one) fails before the store is touched.
func TestOutputsCommittedTogether(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.npy")
	writeNpy(t, in, []int{20, 4}, randVals(80, 1))
	st := filepath.Join(dir, "s.actbits")
	os.WriteFile(st, []byte("old store"), 0o644)
	folder := filepath.Join(dir, "folder")
	os.Mkdir(folder, 0o755)
	for _, o := range []string{folder, filepath.Join(dir, "missing", "p.json")} {
		_, se, code := actprof(t, "profile", "--quiet", "--patterns", st, "-o", o, in)
		if code != 1 {
			t.Errorf("-o %s: exit %d, %s", o, code, se)
		}
		if b, _ := os.ReadFile(st); string(b) != "old store" {
			t.Fatalf("-o %s: the store was replaced", o)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 3 {
		t.Fatalf("files left: %v", ents)
	}
}

// A mistake in the flags prints the usage on stderr, nothing on stdout.
func TestUsageErrorsOnStderr(t *testing.T) {
	for _, args := range [][]string{{"profile", "--bogus", "x.npy"}, {"merge", "--nope"}, {"patterns", "show", "--zz"}, {"synth", "--rows", "x"}} {
		so, se, code := actprof(t, args...)
		if code != 2 || so != "" || !strings.Contains(se, "usage: actprof "+args[0]) || strings.Count(se, "\n") > 3 {
			t.Errorf("%v: exit %d, stdout %d bytes, stderr %q", args, code, len(so), se)
		}
	}
}

// Caps: a chunk size far above the file, a million workers and 1-byte
// chunks cost neither memory nor time; the last two are noted on stderr.
func TestCaps(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.npy")
	writeNpy(t, in, []int{8192, 8}, randVals(8192*8, 3))
	for _, c := range []struct {
		args []string
		note string
	}{
		{[]string{"--chunk-size", "1GiB"}, ""},
		{[]string{"--chunk-size", "1GiB", "--patterns", filepath.Join(dir, "s.actbits")}, ""},
		{[]string{"--workers", "1000000"}, "is more than this machine can use"},
		{[]string{"--chunk-size", "1"}, "rounded up to 4096 bytes"},
	} {
		cmd := exec.Command(bin, append(append([]string{"profile", "-o", filepath.Join(dir, "p.json")}, c.args...), in)...)
		var se bytes.Buffer
		cmd.Stderr = &se
		start := time.Now()
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v: %v %s", c.args, err, se.String())
		}
		d := time.Since(start)
		peak, ok := peakRSS(cmd.ProcessState)
		t.Logf("%v: peak RSS %.1f MiB, %v", c.args, float64(peak)/(1<<20), d)
		if ok && peak > 100<<20 {
			t.Errorf("%v: peak RSS %d MiB for a 256 KiB file", c.args, peak>>20)
		}
		if d > 20*time.Second {
			t.Errorf("%v: took %v", c.args, d)
		}
		if !strings.Contains(se.String(), c.note) {
			t.Errorf("%v: no note %q: %s", c.args, c.note, se.String())
		}
	}
}

// --unit-axis: an axis out of range is named as given; a LAYER=AXIS naming
// no layer is warned of.
func TestUnitAxisMessages(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.npy")
	writeNpy(t, in, []int{10, 4}, randVals(40, 4))
	if _, se, code := actprof(t, "profile", "--quiet", "--unit-axis", "-3", in); code != 1 || !strings.Contains(se, "unit axis -3 out of range") {
		t.Errorf("-3: exit %d %s", code, se)
	}
	if _, se, code := actprof(t, "profile", "--quiet", "--unit-axis", "fc9=0", in); code != 0 || !strings.Contains(se, "--unit-axis fc9=0 names no layer") {
		t.Errorf("fc9=0: exit %d %s", code, se)
	}
}

// patterns stats names the same most common patterns on every run, ties
// broken by first appearance.
func TestStatsTiesDeterministic(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.npy")
	// 64 distinct patterns of 6 units, each exactly 4 times
	vals := make([]float32, 0, 256*6)
	for r := 0; r < 256; r++ {
		p := (r * 37) % 64
		for u := 0; u < 6; u++ {
			vals = append(vals, float32(p>>u&1)*2-1)
		}
	}
	writeNpy(t, in, []int{256, 6}, vals)
	st := filepath.Join(dir, "s.actbits")
	if _, se, code := actprof(t, "profile", "--quiet", "--patterns", st, in); code != 0 {
		t.Fatal(se)
	}
	var first string
	for i := 0; i < 8; i++ {
		so, se, code := actprof(t, "patterns", "stats", st, "--json")
		if code != 0 {
			t.Fatal(se)
		}
		if i == 0 {
			first = so
		} else if so != first {
			t.Fatalf("run %d differs:\n%s\nvs\n%s", i, so, first)
		}
	}
	// the patterns seen first (rows 0, 1, 2: p = 0, 37, 10) lead
	var got []layerStats
	if err := json.Unmarshal([]byte(first), &got); err != nil {
		t.Fatal(err)
	}
	mc := got[0].MostCommon
	if len(mc) != 5 || mc[0].Count != 4 || len(mc[0].Fired) != 0 || !slices.Equal(mc[1].Fired, []int{0, 2, 5}) || !slices.Equal(mc[2].Fired, []int{1, 3}) {
		t.Fatalf("stats: %+v", mc)
	}
}

// synth checks every layer before making its folder, and refuses NaN
// fractions.
func TestSynthChecks(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "ds")
	if _, se, code := actprof(t, "synth", "-o", out, "--rows", "4000000000", "--layer", "ok:4", "--layer", "x:4000000000x4000000000"); code != 1 {
		t.Errorf("huge layer: exit %d %s", code, se)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a folder was left behind")
	}
	for _, f := range []string{"--dead", "--rare", "--always-on", "--rare-rate"} {
		if _, se, code := actprof(t, "synth", "-o", out, f, "NaN"); code == 0 {
			t.Errorf("%s NaN accepted: %s", f, se)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a folder was left behind")
	}
}

// Output names of up to 255 bytes are written, profile and store; new
// outputs get 0666 less the umask, replaced ones keep their mode.
func TestOutputNamesAndModes(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.npy")
	writeNpy(t, in, []int{10, 4}, randVals(40, 5))
	for _, n := range []int{240, 255} {
		prof := filepath.Join(dir, strings.Repeat("p", n-5)+".json")
		st := filepath.Join(dir, strings.Repeat("s", n-8)+".actbits")
		if _, se, code := actprof(t, "profile", "--quiet", "-o", prof, "--patterns", st, in); code != 0 {
			t.Fatalf("%d-byte names: %s", n, se)
		}
		os.Remove(prof)
		os.Remove(st)
	}
	setUmask(t, 0o027)
	prof, st := filepath.Join(dir, "p.json"), filepath.Join(dir, "s.actbits")
	if _, se, code := actprof(t, "profile", "--quiet", "-o", prof, "--patterns", st, in); code != 0 {
		t.Fatal(se)
	}
	for _, p := range []string{prof, st} {
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
			t.Errorf("%s under umask 027: %v", p, fi.Mode())
		}
		os.Chmod(p, 0o600)
	}
	if _, se, code := actprof(t, "profile", "--quiet", "-o", prof, "--patterns", st, in); code != 0 {
		t.Fatal(se)
	}
	for _, p := range []string{prof, st} {
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s replaced: %v, want its old -rw-------", p, fi.Mode())
		}
	}
}

// Error lines escape control characters from names, as the table does.
func TestErrorLinesEscaped(t *testing.T) {
	got := oneLine(fmt.Errorf("x.npy: layer a\nb\x1b[31mred\u0085: \xff bad"))
	if want := `x.npy: layer a; b\x1b[31mred\u0085: � bad`; got != want {
		t.Fatalf("oneLine: %q, want %q", got, want)
	}
}
