package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// smallProfileFile profiles 100 rows of 8 units (0 and 5 never fire, 3
// fires on every row) and returns the profile's path.
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
	in := filepath.Join(dir, name+".npy")
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
