package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actprof/actprof/profiler"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test ./report -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestTableGolden(t *testing.T) {
	p := &profiler.Profile{FormatVersion: 1, Threshold: 0, RareBelow: 1e-3, Layers: []profiler.LayerProfile{
		{Name: "fc1", DType: "float32", Shape: []int{10000, 8}, UnitAxis: 1, Units: 8, Observations: 10000,
			Counts: []uint64{0, 5, 10000, 3000, 0, 0, 1, 4000}, NaNCounts: make([]uint64, 8),
			Dead: []int{0, 4, 5}, Rare: []int{1, 6}, AlwaysOn: []int{2}, MeanActivationProbability: 0.2125750},
		{Name: "conv2", DType: "bfloat16", Shape: []int{16, 4, 5, 5}, UnitAxis: 1, Units: 4, Observations: 400,
			Counts: []uint64{100, 200, 0, 50}, NaNCounts: []uint64{0, 3, 400, 0}, NaNTotal: 403,
			Dead: []int{2}, Rare: []int{}, AlwaysOn: []int{}, MeanActivationProbability: 0.21875},
	}}
	var b bytes.Buffer
	if err := WriteTable(&b, p); err != nil {
		t.Fatal(err)
	}
	golden(t, "table.golden", b.Bytes())
}

func TestRanges(t *testing.T) {
	for _, c := range []struct {
		in   []int
		max  int
		want string
	}{
		{nil, 5, ""},
		{[]int{3}, 5, "3"},
		{[]int{1, 2, 3, 7, 9, 10}, 5, "1-3, 7, 9-10"},
		{[]int{1, 3, 5, 7}, 2, "1, 3, … (4 in all)"},
	} {
		if got := Ranges(c.in, c.max); got != c.want {
			t.Errorf("Ranges(%v, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}

func TestTableQuotesUnprintableNames(t *testing.T) {
	mk := func(name string) profiler.LayerProfile {
		return profiler.LayerProfile{Name: name, DType: "float32", Shape: []int{2, 2}, UnitAxis: 1, Units: 2, Observations: 2,
			Counts: []uint64{0, 1}, NaNCounts: []uint64{1, 0}, NaNTotal: 1, Dead: []int{0}, Rare: []int{}, AlwaysOn: []int{},
			MeanActivationProbability: 0.25}
	}
	p := &profiler.Profile{FormatVersion: 1, RareBelow: 1e-3, Layers: []profiler.LayerProfile{
		mk("a\nb\x1b[31mred"), mk("tab\there"), mk("csi\u009b2J"), mk("rtl\u202eexe"), mk("bad\xffutf8"), mk(`"fc1"`), mk(""), mk("fc 2é"),
	}}
	var b bytes.Buffer
	if err := WriteTable(&b, p); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, c := range []string{"\x1b", "\u009b", "\u202e", "\xff", "\t"} {
		if strings.Contains(out, c) {
			t.Errorf("table holds %q raw:\n%s", c, out)
		}
	}
	// Header, 8 rows, then "N layers", 8 dead lists, 8 NaN warnings: no
	// name breaks a line.
	if n := strings.Count(out, "\n"); n != 2+1+8+2+8+8 {
		t.Errorf("%d lines:\n%s", n, out)
	}
	for _, want := range []string{
		`"a\nb\x1b[31mred"  float32`, `"tab\there"`, `"csi\u009b2J"`, `"rtl\u202eexe"`, `"bad\xffutf8"`, `"\"fc1\""`, `""  `,
		"\nfc 2é  ", `  "a\nb\x1b[31mred": dead units: 0`, `WARNING: "a\nb\x1b[31mred": 1 NaN`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestRangesBuildsOnlyWhatItShows(t *testing.T) {
	idx := make([]int, 1<<20)
	for i := range idx {
		idx[i] = 2 * i // a million ranges of one unit
	}
	var got string
	allocs := testing.AllocsPerRun(3, func() { got = Ranges(idx, 3) })
	if want := "0, 2, 4, … (1048576 in all)"; got != want {
		t.Fatalf("Ranges = %q, want %q", got, want)
	}
	if allocs > 20 {
		t.Errorf("Ranges of 2^20 ranges showing 3 made %.0f allocations, want at most 20", allocs)
	}
}
