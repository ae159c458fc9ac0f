package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// smallProfileFile profiles 100 rows of 8 units (0 and 5 never fire, 3
// fires on every row) as layer fc, and returns the profile's path.
func smallProfileFile(t *testing.T, dir, name string) string {
	t.Helper()
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
	if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, name, "fc.npy")
	writeNpy(t, in, []int{100, 8}, vals)
	prof := filepath.Join(dir, name+".json")
	if _, se, code := runIn("profile", "--quiet", "-o", prof, in); code != 0 {
		t.Fatal(se)
	}
	return prof
}

// badInputs are files that are not profiles actprof can read.
func badInputs(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{
		"notprofile.json": `{"hello": [1, 2, 3]}`,
		"newer.json":      `{"format_version": 99, "tool": "actprof 9", "threshold": 0, "rare_below": 0.001, "layers": []}`,
		"truncated.json":  `{"format_version": 1, "layers": [`,
	}
	paths := map[string]string{}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		paths[name] = p
	}
	return paths
}

// oneLineFailure checks a failed run: the exit status, one line on stderr
// naming the file, nothing on stdout, no output file.
func oneLineFailure(t *testing.T, what string, so, se string, code, wantCode int, name, out string) {
	t.Helper()
	if code != wantCode || so != "" || strings.Count(se, "\n") != 1 || !strings.Contains(se, name) || strings.Contains(se, "panic") {
		t.Errorf("%s: exit %d (want %d), stdout %q, stderr %q: want one line naming %s", what, code, wantCode, so, se, name)
	}
	if out != "" {
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s: %s written", what, out)
		}
		left, _ := filepath.Glob(out + "*")
		if len(left) > 0 {
			t.Errorf("%s: left behind %v", what, left)
		}
	}
}

func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	prof := smallProfileFile(t, dir, "p")
	out := filepath.Join(dir, "r.html")
	so, se, code := runIn("report", prof, "-o", out)
	if code != 0 || so != "" || se != "" {
		t.Fatalf("report: exit %d %q %q", code, so, se)
	}
	page, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<!DOCTYPE html>", `<tr id="r0" class="alert">`, `{"what":"dead","n":2,"text":"0, 5"}`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report lacks %s", want)
		}
	}
	// byte-reproducible
	out2 := filepath.Join(dir, "r2.html")
	if _, se, code := runIn("report", prof, "-o", out2); code != 0 {
		t.Fatal(se)
	}
	if page2, _ := os.ReadFile(out2); string(page2) != string(page) {
		t.Error("two reports of one profile differ")
	}

	// --png: the plots as files, beside the page
	pngs := filepath.Join(dir, "plots")
	if so, se, code := runIn("report", prof, "-o", out, "--png", pngs); code != 0 || so != "" || se != "" {
		t.Fatalf("report --png: exit %d %q %q", code, so, se)
	}
	got, _ := filepath.Glob(filepath.Join(pngs, "*"))
	for i := range got {
		got[i] = filepath.Base(got[i])
	}
	if want := []string{"depth-activation-probability.png", "depth-dead-fraction.png", "layer-0000-fc-rates.png", "layer-0000-fc-units.png"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("--png wrote %q, want %q", got, want)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".plots.tmp-*")); len(left) > 0 {
		t.Errorf("left behind %v", left)
	}
	// --png into a folder whose parent is missing: nothing written
	o0 := filepath.Join(dir, "r0.html")
	so, se, code = runIn("report", prof, "-o", o0, "--png", filepath.Join(dir, "none", "plots"))
	oneLineFailure(t, "report --png in a missing folder", so, se, code, 1, "none", o0)

	for name, path := range badInputs(t, dir) {
		o := filepath.Join(dir, name+".html")
		so, se, code := runIn("report", path, "-o", o)
		oneLineFailure(t, "report "+name, so, se, code, 1, name, o)
	}
	o := filepath.Join(dir, "missing.html")
	so, se, code = runIn("report", filepath.Join(dir, "nothere.json"), "-o", o)
	oneLineFailure(t, "report of a missing file", so, se, code, 1, "nothere.json", o)
	// an output in a folder that does not exist, or that cannot be written
	o = filepath.Join(dir, "no", "such", "dir", "r.html")
	so, se, code = runIn("report", prof, "-o", o)
	oneLineFailure(t, "report -o in a missing folder", so, se, code, 1, o, o)
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() != 0 { // root writes anywhere
		o = filepath.Join(ro, "r.html")
		so, se, code = runIn("report", prof, "-o", o)
		oneLineFailure(t, "report -o in a read-only folder", so, se, code, 1, o, o)
	}
	// usage mistakes: exit 2
	for _, args := range [][]string{{"report", prof}, {"report", "-o", out}, {"report", prof, prof, "-o", out}, {"report", prof, "-o", prof}} {
		if _, se, code := runIn(args...); code != 2 || !strings.Contains(se, "actprof report: ") {
			t.Errorf("%q: exit %d %q, want a usage error", args, code, se)
		}
	}
	if before, _ := os.ReadFile(prof); !strings.HasPrefix(string(before), "{") {
		t.Error("the profile was overwritten")
	}
}

func TestTimelineCommand(t *testing.T) {
	dir := t.TempDir()
	p1 := smallProfileFile(t, dir, "p1")
	p2 := smallProfileFile(t, dir, "p2")
	so, se, code := runIn("timeline", "--json", "--label", "a", "--label", "b", p1, p2)
	if code != 0 || se != "" {
		t.Fatalf("timeline --json: exit %d %q", code, se)
	}
	var tl struct {
		Labels []string `json:"labels"`
		Layers []struct {
			Name     string    `json:"name"`
			Units    []int     `json:"units"`
			DeadFrac []float64 `json:"dead_frac"`
		} `json:"layers"`
	}
	if err := json.Unmarshal([]byte(so), &tl); err != nil {
		t.Fatal(err)
	}
	// units 0 and 5 of 8 never fire
	if len(tl.Labels) != 2 || tl.Labels[1] != "b" || len(tl.Layers) != 1 || tl.Layers[0].Name != "fc" ||
		tl.Layers[0].Units[1] != 8 || tl.Layers[0].DeadFrac[0] != 0.25 || tl.Layers[0].DeadFrac[1] != 0.25 {
		t.Errorf("timeline --json: %s", so)
	}
	// -o writes the page, or the JSON with --json
	out := filepath.Join(dir, "t.html")
	if so, se, code := runIn("timeline", p1, p2, "-o", out); code != 0 || so != "" || se != "" {
		t.Fatalf("timeline -o: exit %d %q %q", code, so, se)
	}
	if page, err := os.ReadFile(out); err != nil || !strings.Contains(string(page), `"kind":"timeline"`) || !strings.Contains(string(page), "<b>"+p2+"</b>") {
		t.Errorf("timeline page: %v", err)
	}
	outJSON := filepath.Join(dir, "t.json")
	if _, se, code := runIn("timeline", "--json", p1, p2, "-o", outJSON); code != 0 {
		t.Fatal(se)
	}
	if b, _ := os.ReadFile(outJSON); !strings.Contains(string(b), `"labels": [`) {
		t.Errorf("timeline --json -o wrote %q", b)
	}

	for name, path := range badInputs(t, dir) {
		o := filepath.Join(dir, name+".html")
		so, se, code := runIn("timeline", p1, path, "-o", o)
		oneLineFailure(t, "timeline "+name, so, se, code, 1, name, o)
	}
	o := filepath.Join(dir, "no", "dir", "t.html")
	so, se, code = runIn("timeline", p1, p2, "-o", o)
	oneLineFailure(t, "timeline -o in a missing folder", so, se, code, 1, o, o)
	for _, args := range [][]string{
		{"timeline", p1, p2},                            // no -o, no --json
		{"timeline", "-o", out},                         // no profiles
		{"timeline", "--label", "a", p1, p2, "-o", out}, // labels short
		{"timeline", p1, p2, "-o", p2},                  // output is an input
	} {
		if _, se, code := runIn(args...); code != 2 || !strings.Contains(se, "actprof timeline: ") {
			t.Errorf("%q: exit %d %q, want a usage error", args, code, se)
		}
	}
}
