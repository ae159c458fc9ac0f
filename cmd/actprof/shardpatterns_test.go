package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// naivePacked is a layer's fired matrix (x > 0; NaN never), one row per
// observation, packed as np.packbits packs (unit 8i+j at bit 7-j of byte
// i): what 'patterns export' writes after the .npy header.
func naivePacked(l shardLayer) []byte {
	axis := len(l.shape) - 1
	if len(l.shape) >= 4 {
		axis = 1
	}
	units, inner := l.shape[axis], 1
	for _, d := range l.shape[axis+1:] {
		inner *= d
	}
	nb := (units + 7) / 8
	obs := len(l.vals) / units
	out := make([]byte, obs*nb)
	for i, v := range l.vals {
		if v > 0 {
			outer, rest := i/(units*inner), i%(units*inner)
			u, in := rest/inner, rest%inner
			o := outer*inner + in
			out[o*nb+u/8] |= 0x80 >> (u % 8)
		}
	}
	return out
}

// writePatternDataset is writeShardDataset and a layer of several blocks
// (1,500 units: blocks of 256 observations), so that parts hold blocks
// that are the whole layer's and the merge copies them.
func writePatternDataset(t *testing.T, ds string) []shardLayer {
	t.Helper()
	layers := writeShardDataset(t, ds)
	rng := rand.New(rand.NewPCG(9, 10))
	big := shardLayer{"big", []int{1301, 1500}, make([]float32, 1301*1500)}
	for i := range big.vals {
		// units of their own rates, so that the blocks' codes differ
		if rng.IntN(1500) < i%1500 {
			big.vals[i] = 1
		}
	}
	if err := os.WriteFile(filepath.Join(ds, "big.npy"), npyBytes(big.shape, big.vals), 0o644); err != nil {
		t.Fatal(err)
	}
	return append(layers, big)
}

// storeAnswers is what the queries of a store answer (run in this
// process): each layer's export, show of a few samples, samples of a few
// units, all as bytes.
func storeAnswers(t *testing.T, dir, st string, layers []shardLayer) map[string][]byte {
	t.Helper()
	ans := map[string][]byte{}
	for _, l := range layers {
		npy := filepath.Join(dir, "export.npy")
		if _, se, code := runIn("patterns", "export", st, "--layer", l.name, "-o", npy); code != 0 {
			t.Fatalf("%s: export %s: %s", st, l.name, se)
		}
		ans["export "+l.name], _ = os.ReadFile(npy)
		os.Remove(npy)
		for _, s := range []int{0, 1, l.shape[0] - 1} {
			so, se, code := runIn("patterns", "show", st, "--layer", l.name, "--sample", fmt.Sprint(s), "--json")
			if code != 0 {
				t.Fatalf("%s: show %s %d: %s", st, l.name, s, se)
			}
			ans[fmt.Sprintf("show %s %d", l.name, s)] = []byte(so)
		}
		for _, u := range []int{0, 2} {
			so, se, code := runIn("patterns", "samples", st, "--layer", l.name, "--unit", fmt.Sprint(u))
			if code != 0 {
				t.Fatalf("%s: samples %s %d: %s", st, l.name, u, se)
			}
			ans[fmt.Sprintf("samples %s %d", l.name, u)] = []byte(so)
		}
	}
	return ans
}

func sameAnswers(t *testing.T, what string, got, want map[string][]byte) {
	t.Helper()
	for k, w := range want {
		if !bytes.Equal(got[k], w) {
			t.Fatalf("%s: %s differs from the single run's store:\n%s\n--- want\n%s", what, k, limitText(got[k]), limitText(w))
		}
	}
}

func limitText(b []byte) string {
	if len(b) > 400 {
		return string(b[:400]) + "..."
	}
	return string(b)
}

func TestShardedPatternsMergeToOneRun(t *testing.T) {
	dir := t.TempDir()
	ds := filepath.Join(dir, "ds")
	os.MkdirAll(ds, 0o755)
	layers := writePatternDataset(t, ds)
	for _, level := range []string{"fastest", "best"} {
		one, oneStore := filepath.Join(dir, "one.json"), filepath.Join(dir, "one-"+level+".actbits")
		if _, se, code := actprof(t, "profile", "--quiet", "-o", one, "--patterns", oneStore, "--patterns-level", level, ds); code != 0 {
			t.Fatalf("one run: %s", se)
		}
		want := storeAnswers(t, dir, oneStore, layers)
		// the single run's store against a plain loop over the values
		for _, l := range layers {
			exp := want["export "+l.name]
			ref := naivePacked(l)
			if len(exp) < len(ref) || !bytes.Equal(exp[len(exp)-len(ref):], ref) {
				t.Fatalf("layer %s: the single run's patterns differ from the plain loop's", l.name)
			}
		}
		counts := []int{1, 2, 3, 7}
		if level == "best" {
			counts = []int{3}
		}
		for _, n := range counts {
			var parts, profiles []string
			for s := range n {
				part := filepath.Join(dir, fmt.Sprintf("part-%s-%d-%d", level, n, s))
				_, se, code := actprof(t, "profile", "--quiet", "-o", part+".json", "--patterns", part+".actbits", "--patterns-level", level,
					"--shard", fmt.Sprintf("%d/%d", s, n), ds)
				if code != 0 {
					t.Fatalf("shard %d/%d: %s", s, n, se)
				}
				parts, profiles = append(parts, part+".actbits"), append(profiles, part+".json")
			}
			// in an order of their own
			slices.Reverse(parts)
			if n > 2 {
				parts[0], parts[n/2] = parts[n/2], parts[0]
			}
			merged, mergedJSON := filepath.Join(dir, fmt.Sprintf("merged-%s-%d.actbits", level, n)), filepath.Join(dir, "merged.json")
			_, se, code := actprof(t, append([]string{"patterns", "merge", "-o", merged}, parts...)...)
			if code != 0 || !strings.Contains(se, "(the whole run's store)") {
				t.Fatalf("patterns merge of %d: %d %s", n, code, se)
			}
			if level == "fastest" && n <= 3 && strings.Contains(se, " 0 blocks copied") {
				t.Fatalf("patterns merge of %d copied no block: %s", n, se)
			}
			what := fmt.Sprintf("level %s, N=%d", level, n)
			sameAnswers(t, what, storeAnswers(t, dir, merged, layers), want)
			if _, se, code := actprof(t, append([]string{"merge", "-o", mergedJSON}, profiles...)...); code != 0 {
				t.Fatalf("merge: %s", se)
			}
			if so, se, code := actprof(t, "patterns", "verify", "--check", "200", merged, mergedJSON, ds); code != 0 || !strings.HasPrefix(so, "ok: ") {
				t.Fatalf("%s: verify: %d %s %s", what, code, so, se)
			}
			if n != 7 {
				continue
			}
			// merges of merges: three groups with --partial, merged in turn
			var subs []string
			for k, g := range [][]string{parts[:3], parts[3:5], parts[5:]} {
				sub := filepath.Join(dir, fmt.Sprintf("sub-%d.actbits", k))
				if _, se, code := actprof(t, append([]string{"patterns", "merge", "--partial", "-o", sub}, g...)...); code != 0 || !strings.Contains(se, "(a part)") {
					t.Fatalf("partial merge %d: %d %s", k, code, se)
				}
				subs = append(subs, sub)
			}
			sub01 := filepath.Join(dir, "sub01.actbits")
			if _, se, code := actprof(t, "patterns", "merge", "--partial", "-o", sub01, subs[1], subs[0]); code != 0 {
				t.Fatalf("merge of partial merges: %s", se)
			}
			all := filepath.Join(dir, "all.actbits")
			if _, se, code := actprof(t, "patterns", "merge", "-o", all, subs[2], sub01); code != 0 {
				t.Fatalf("merge of merges: %s", se)
			}
			sameAnswers(t, "merges of merges", storeAnswers(t, dir, all, layers), want)
		}
	}
}

func TestPatternsMergeRefuses(t *testing.T) {
	dir := t.TempDir()
	ds := filepath.Join(dir, "ds")
	os.MkdirAll(ds, 0o755)
	writeShardDataset(t, ds)
	part := func(name string, shard string, extra ...string) string {
		p := filepath.Join(dir, name+".actbits")
		args := append(append([]string{"profile", "--quiet", "-o", filepath.Join(dir, name+".json"), "--patterns", p, "--shard", shard}, extra...), ds)
		if _, se, code := actprof(t, args...); code != 0 {
			t.Fatalf("%s: %d %s", name, code, se)
		}
		return p
	}
	p0, p1, p2, p3 := part("p0", "0/4"), part("p1", "1/4"), part("p2", "2/4"), part("p3", "3/4")
	thr := part("thr", "1/4", "--threshold", "0.1")
	axis := part("axis", "1/4", "--unit-axis", "tok=1")
	of3 := part("of3", "1/3")
	whole := filepath.Join(dir, "whole.actbits")
	if _, se, code := actprof(t, "profile", "--quiet", "--patterns", whole, ds); code != 0 {
		t.Fatal(se)
	}
	p01 := filepath.Join(dir, "p01.actbits")
	if _, se, code := actprof(t, "patterns", "merge", "--partial", "--quiet", "-o", p01, p0, p1); code != 0 {
		t.Fatal(se)
	}
	// another input set: one file's values changed, its size not
	raw, _ := os.ReadFile(filepath.Join(ds, "fc1.npy"))
	raw[len(raw)-1] ^= 0x40
	os.WriteFile(filepath.Join(ds, "fc1.npy"), raw, 0o644)
	other := part("other", "1/4")
	for _, c := range []struct {
		name  string
		parts []string
		want  string
	}{
		{"threshold", []string{p0, thr, p2, p3}, thr + ": pattern stores do not merge: does not merge with " + p0 + " (the first part): different settings: thresholds 0 and 0.1"},
		{"unit axis", []string{p0, axis, p2, p3}, axis + ": pattern stores do not merge: does not merge with " + p0 + " (the first part): different settings: unit axes (defaults) and tok=1"},
		{"count", []string{p0, of3}, of3 + ": pattern stores do not merge: does not merge with " + p0 + " (the first part): parts of 4 shards and of 3"},
		{"inputs", []string{p0, other, p2, p3}, other + ": pattern stores do not merge: does not merge with " + p0 + " (the first part): different input sets: input 3, " + filepath.Join(ds, "fc1.npy") + ", was 868 bytes with fingerprint sha256:"},
		{"overlap", []string{p0, p1, p1, p2, p3}, p1 + ": pattern stores do not merge: overlapping shards: both it and " + p1 + " hold shard 1 of 4"},
		{"overlap with a merge", []string{p01, p2, p1, p3}, p1 + ": pattern stores do not merge: overlapping shards: both it and " + p01 + " hold shard 1 of 4"},
		{"missing", []string{p2, p0}, "pattern stores do not merge: missing shards 1, 3 of 4: merge every part (or pass --partial to write a merge of some)"},
		{"whole", []string{p0, whole}, whole + ": pattern stores do not merge: not a part of a sharded run"},
	} {
		out := filepath.Join(dir, "merged.actbits")
		so, se, code := actprof(t, append([]string{"patterns", "merge", "-o", out}, c.parts...)...)
		if code != 1 || !strings.HasPrefix(se, "actprof: "+c.want) || strings.Count(se, "\n") != 1 || so != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q, want 1 and one line starting %q", c.name, code, so, se, "actprof: "+c.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: wrote %s", c.name, out)
			os.Remove(out)
		}
		if m, _ := filepath.Glob(filepath.Join(dir, "*.tmp*")); len(m) > 0 {
			t.Errorf("%s: left %v", c.name, m)
		}
	}
	// a part is not queried by observation: its observations are its own
	if _, se, code := actprof(t, "patterns", "show", p1, "--layer", "fc1", "--observation", "0"); code != 1 || !strings.Contains(se, p1+": a part of a sharded run (shards 1 of 4): merge the parts") {
		t.Errorf("show of a part: %d %s", code, se)
	}
}
