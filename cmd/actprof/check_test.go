package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// check and diff end to end: exit statuses, one line per violation, bad
// input refused in one line.
func TestCheckAndDiff(t *testing.T) {
	dir := t.TempDir()
	// 8 units: 0 and 5 never fire, 3 fires on every row
	vals := make([]float32, 0, 100*8)
	for r := 0; r < 100; r++ {
		for u := 0; u < 8; u++ {
			v := float32(-1)
			if u == 3 || (u != 0 && u != 5 && (r+u)%3 == 0) {
				v = 1
			}
			vals = append(vals, v)
		}
	}
	in := filepath.Join(dir, "fc.npy")
	writeNpy(t, in, []int{100, 8}, vals)
	prof := filepath.Join(dir, "p.json")
	if _, se, code := actprof(t, "profile", "--quiet", "-o", prof, in); code != 0 {
		t.Fatal(se)
	}
	so, se, code := actprof(t, "check", prof, "--max-dead-frac", "0.3", "--max-dead", "fc=2")
	if code != 0 || !strings.HasPrefix(so, "ok: 1 layers, 2 checks hold") {
		t.Fatalf("passing check: exit %d %q %q", code, so, se)
	}
	so, se, code = actprof(t, "check", prof, "--max-dead-frac", "0.2", "--max-dead", "f*=1", "--min-activation-probability", "0.1")
	if code != 1 || so != "FAIL layer fc: max-dead-frac 0.25 > 0.2\nFAIL layer fc: max-dead 2 > 1\n" || !strings.Contains(se, "check: 2 of 3 checks failed") {
		t.Fatalf("failing check: exit %d %q %q", code, so, se)
	}
	so, _, code = actprof(t, "check", prof, "--max-dead", "1", "--json")
	var res struct {
		OK         bool
		Checked    int
		Violations []struct {
			Layer, Rule  string
			Value, Limit float64
		}
	}
	if err := json.Unmarshal([]byte(so), &res); err != nil || code != 1 || res.OK || res.Checked != 1 || len(res.Violations) != 1 || res.Violations[0].Value != 2 {
		t.Fatalf("--json: exit %d %s %v", code, so, err)
	}
	// diff against a profile in which unit 5 fires and unit 1 does not
	for r := 0; r < 100; r++ {
		vals[r*8+5], vals[r*8+1] = 1, -1
	}
	in2 := filepath.Join(dir, "new", "fc.npy")
	os.Mkdir(filepath.Dir(in2), 0o755)
	writeNpy(t, in2, []int{100, 8}, vals)
	prof2 := filepath.Join(dir, "p2.json")
	if _, se, code := actprof(t, "profile", "--quiet", "-o", prof2, in2); code != 0 {
		t.Fatal(se)
	}
	so, se, code = actprof(t, "diff", prof, prof2)
	if code != 0 || !strings.Contains(so, "  fc: died: 1\n") || !strings.Contains(so, "  fc: revived: 5\n") {
		t.Fatalf("diff: exit %d %s %s", code, so, se)
	}
	so, se, code = actprof(t, "check", prof2, "--baseline", prof, "--max-new-dead", "0")
	if code != 1 || so != "FAIL layer fc: max-new-dead 1 > 0\n" {
		t.Fatalf("--max-new-dead: exit %d %q %q", code, so, se)
	}
	// bad input: one line, exit 1 or 2
	notProfile := filepath.Join(dir, "x.json")
	os.WriteFile(notProfile, []byte(`{"hello": 1}`), 0o644)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"check", prof, "--max-dead", "[="}, 2, "bad layer pattern"},
		{[]string{"check", prof}, 2, "no rules"},
		{[]string{"check", notProfile, "--max-dead", "1"}, 1, "x.json"},
		{[]string{"check", prof, "--max-dead", "nope*=1"}, 1, "matches no layer"},
		{[]string{"diff", prof, notProfile}, 1, "x.json"},
		{[]string{"diff", prof, prof2, "--factor", "1"}, 2, "--factor"},
	} {
		so, se, code := actprof(t, c.args...)
		first := strings.SplitN(se, "\n", 2)[0]
		if code != c.code || so != "" || !strings.Contains(first, c.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", c.args, code, so, se)
		}
	}
}

// export --csv against the profile's own counts.
func TestExportCSV(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "fc.npy")
	writeNpy(t, in, []int{4, 3}, []float32{1, -1, 1, 1, -1, -1, 1, -1, 2, 1, -1, 3})
	prof := filepath.Join(dir, "p.json")
	if _, se, code := actprof(t, "profile", "--quiet", "-o", prof, in); code != 0 {
		t.Fatal(se)
	}
	out := filepath.Join(dir, "u.csv")
	if _, se, code := actprof(t, "export", prof, "--csv", "-o", out); code != 0 {
		t.Fatal(se)
	}
	b, _ := os.ReadFile(out)
	want := "layer,unit,count,observations,rate,nan_count,mean,mean_abs,min,max,flags\nfc,0,4,4,1,0,,,,,always-on\nfc,1,0,4,0,0,,,,,dead\nfc,2,3,4,0.75,0,,,,,\n"
	if string(b) != want {
		t.Fatalf("csv:\n%s\nwant:\n%s", b, want)
	}
	if _, se, code := actprof(t, "export", prof, "--csv", "-o", prof); code != 2 || !strings.Contains(se, "the profile being read") {
		t.Fatalf("export onto its input: exit %d %s", code, se)
	} // --parquet writes a Parquet file (its rows are checked against an
	// independent reader in package report); one format at a time
	pq := filepath.Join(dir, "u.parquet")
	if _, se, code := actprof(t, "export", prof, "--parquet", "-o", pq); code != 0 {
		t.Fatal(se)
	}
	if b, _ := os.ReadFile(pq); len(b) < 8 || string(b[:4]) != "PAR1" || string(b[len(b)-4:]) != "PAR1" {
		t.Fatalf("--parquet: not a Parquet file (%d bytes)", len(b))
	}
	for _, args := range [][]string{{"export", prof}, {"export", prof, "--csv", "--parquet"}} {
		if so, se, code := actprof(t, args...); code != 2 || so != "" || !strings.Contains(se, "one of --csv or --parquet") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, so, se)
		}
	}
}

// check, export, diff and report of a part of a sharded run say so on
// stderr: its figures are those of some shards only.
func TestPartNote(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "fc.npy")
	writeNpy(t, in, []int{6, 2}, []float32{1, -1, 1, 1, -1, -1, 1, -1, 2, 1, -1, 3})
	part := filepath.Join(dir, "p.json")
	if _, se, code := actprof(t, "profile", "--quiet", "--shard", "1/2", "-o", part, in); code != 0 {
		t.Fatal(se)
	}
	for _, args := range [][]string{{"check", part, "--max-dead-frac", "1"}, {"export", "--csv", part}, {"diff", part, part},
		{"report", part, "-o", filepath.Join(dir, "r.html")}} {
		_, se, code := actprof(t, args...)
		if code != 0 || !strings.Contains(se, "holds shard 1 of 2 only") {
			t.Errorf("%v: exit %d, stderr %q", args, code, se)
		}
	}
}
