package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/actprof/actprof/internal/s3test"
	"github.com/actprof/actprof/profiler"
)

// goodDir holds NumPy's reference files of the input package.
const goodDir = "../../input/testdata/good"

// goodLayers are the layers of goodDir that a profile takes (not the 0-D
// and 1-D arrays).
var goodLayers = []string{"--layer", "a_*", "--layer", "b_*", "--layer", "c_*", "--layer", "d_*",
	"--layer", "fc*", "--layer", "conv", "--layer", "layers.*", "--layer", "shards"}

// profileJSON runs profile --stats --json on args and returns the profile,
// the layers' sources left out (they name the paths).
func profileJSON(t *testing.T, args ...string) *profiler.Profile {
	t.Helper()
	so, se, code := actprof(t, append([]string{"profile", "--quiet", "--stats", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("profile %v: exit %d: %s", args, code, se)
	}
	var p profiler.Profile
	if err := json.Unmarshal([]byte(so), &p); err != nil {
		t.Fatal(err)
	}
	for i := range p.Layers {
		p.Layers[i].Source = ""
	}
	return &p
}

// The profile (counts and --stats) of each file, of the folder and of a
// glob, read from the loopback S3 server, is the local files' profile;
// faults on the way change nothing.
func TestS3Profile(t *testing.T) {
	srv := s3test.Start(t, "acts")
	srv.PutDir(t, "good/", goodDir)
	ents, err := os.ReadDir(goodDir)
	if err != nil {
		t.Fatal(err)
	}
	var npys []string
	for _, e := range ents {
		name := e.Name()
		ext := filepath.Ext(name)
		if e.IsDir() || (ext != ".npy" && ext != ".npz" && ext != ".safetensors") || name == "e_scalar.npy" || name == "f_vector.npy" || name == "g_empty.npy" || name == "odd.safetensors" {
			continue
		}
		if ext == ".npy" {
			npys = append(npys, filepath.Join(goodDir, name))
		}
		want := profileJSON(t, filepath.Join(goodDir, name))
		if got := profileJSON(t, "s3://acts/good/"+name); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the profile from S3 differs from the local file's", name)
		}
	}
	want := profileJSON(t, append(goodLayers, goodDir)...)
	for _, p := range []string{"s3://acts/good/", "s3://acts/good"} {
		if got := profileJSON(t, append(goodLayers, p)...); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the profile differs from the local folder's", p)
		}
	}
	if got, want := profileJSON(t, "s3://acts/good/[abcd]_*.npy"), profileJSON(t, npys...); !reflect.DeepEqual(got, want) {
		t.Errorf("glob: the profile differs from the local files'")
	}
	// a folder read through resets in the middle of bodies, 503s and a
	// slow server
	srv.ResetNext(6, 40)
	srv.FailNext(3)
	srv.SetDelay(2e6)
	if got := profileJSON(t, append(goodLayers, "s3://acts/good/")...); !reflect.DeepEqual(got, want) {
		t.Errorf("with faults: the profile differs from the local folder's")
	}
	srv.SetDelay(0)
	if n := srv.Pending(); n != 0 {
		t.Errorf("%d faults not served", n)
	}
}

// torch.save files from S3: the counts are PyTorch's own.
func TestS3TorchSave(t *testing.T) {
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
	srv := s3test.Start(t, "ptfiles")
	for file := range want {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		srv.Put(t, "pt/"+file, b)
	}
	for file, layers := range want {
		p := profileJSON(t, "s3://ptfiles/pt/"+file)
		if len(p.Layers) != len(layers) {
			t.Errorf("%s: %d layers, torch has %d", file, len(p.Layers), len(layers))
		}
		for _, l := range p.Layers {
			if w, ok := layers[l.Name]; !ok || !slices.Equal(l.Counts, w) {
				t.Errorf("%s: layer %s: counts %v, torch %v", file, l.Name, l.Counts, w)
			}
		}
	}
}

// A missing object or bucket, refused credentials: exit 1, one line naming
// the object, nothing written. An s3:// output is refused.
func TestS3Errors(t *testing.T) {
	srv := s3test.Start(t, "acts")
	srv.PutDir(t, "good/", goodDir)
	dir := t.TempDir()
	out := filepath.Join(dir, "p.json")
	for _, c := range []struct {
		name, path, want string
		key              string
	}{
		{"404", "s3://acts/good/nope.npy", "actprof: s3://acts/good/nope.npy: no such object (404 NoSuchKey)", s3test.AccessKey},
		{"no-bucket", "s3://other/good/a_v1_f4.npy", "actprof: s3://other/good/a_v1_f4.npy: no such bucket (404 NoSuchBucket)", s3test.AccessKey},
		{"403", "s3://acts/good/a_v1_f4.npy", "actprof: s3://acts/good/a_v1_f4.npy: access denied (403 AccessDenied)", "AKIDNOTYOURS"},
		{"403-folder", "s3://acts/good/", "actprof: s3://acts/good/: access denied (403 AccessDenied)", "AKIDNOTYOURS"},
	} {
		srv.RequireKey(c.key)
		_, se, code := actprof(t, "profile", "-o", out, c.path)
		if code != 1 || !strings.HasPrefix(se, c.want) || strings.Count(se, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 and %q...", c.name, code, se, c.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: %s written", c.name, out)
		}
	}
	srv.RequireKey(s3test.AccessKey)
	if _, se, code := actprof(t, "profile", "-o", "s3://acts/p.json", "s3://acts/good/a_v1_f4.npy"); code == 0 || !strings.Contains(se, "outputs are local files") {
		t.Errorf("s3:// output: exit %d, %q", code, se)
	}
}

// Parts of a sharded run, one read from S3 and one from a local copy,
// merge into the local run's profile: an object and its copy have one
// fingerprint.
func TestS3ShardsMerge(t *testing.T) {
	srv := s3test.Start(t, "acts")
	srv.PutDir(t, "good/", goodDir)
	dir := t.TempDir()
	parts := []string{filepath.Join(dir, "p1.json"), filepath.Join(dir, "p2.json")}
	srcs := []string{"s3://acts/good/", goodDir}
	for i, p := range parts {
		args := append(append([]string{"profile", "--quiet", "-o", p, "--shard", []string{"0/2", "1/2"}[i]}, goodLayers...), srcs[i])
		if _, se, code := actprof(t, args...); code != 0 {
			t.Fatalf("part %d: exit %d: %s", i+1, code, se)
		}
	}
	all := filepath.Join(dir, "all.json")
	if _, se, code := actprof(t, "merge", "-o", all, parts[0], parts[1]); code != 0 {
		t.Fatalf("merge: exit %d: %s", code, se)
	}
	whole := filepath.Join(dir, "whole.json")
	if _, se, code := actprof(t, append(append([]string{"profile", "--quiet", "-o", whole}, goodLayers...), goodDir)...); code != 0 {
		t.Fatalf("whole: %s", se)
	}
	a, err := readProfile(all)
	if err != nil {
		t.Fatal(err)
	}
	w, err := readProfile(whole)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Layers) != len(w.Layers) {
		t.Fatalf("%d layers merged, want %d", len(a.Layers), len(w.Layers))
	}
	for i := range a.Layers {
		if !slices.Equal(a.Layers[i].Counts, w.Layers[i].Counts) || a.Layers[i].Observations != w.Layers[i].Observations {
			t.Errorf("layer %s: merged counts differ from the whole run's", a.Layers[i].Name)
		}
	}
}
