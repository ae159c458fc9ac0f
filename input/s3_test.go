package input

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/internal/s3test"
	"github.com/actprof/actprof/profiler"
)

// fastRetries shortens the backoff between retries for a test.
func fastRetries(t *testing.T) {
	saved := s3Backoff
	s3Backoff = time.Millisecond
	t.Cleanup(func() { s3Backoff = saved })
}

// NumPy's reference files, read from the loopback S3 server: every layer's
// bytes (Next in chunks of several sizes, ReadAt backwards) are NumPy's,
// and its counts NumPy's, as for the local files (TestReferenceFiles).
func TestS3ReferenceFiles(t *testing.T) {
	srv := s3test.Start(t, "acts")
	srv.PutDir(t, "runs/good/", good)
	exp := loadExpected(t)
	for file, wants := range exp.Files {
		paths, opt := []string{"s3://acts/runs/good/" + file}, Options{}
		if file == "shards" {
			paths, opt = []string{"s3://acts/runs/good/"}, Options{Layers: []string{file}}
		}
		ls, err := Open(paths, opt)
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) != len(wants) {
			t.Fatalf("%s: %d layers, want %d", file, len(ls), len(wants))
		}
		for i, l := range ls {
			if l.Path != "s3://acts/runs/good/"+file {
				t.Errorf("%s: layer %s has Path %s", file, l.Name, l.Path)
			}
			checkLayer(t, l, wants[i])
		}
	}
	// The prefix as a folder, with its trailing '/' or without.
	for _, p := range []string{"s3://acts/runs/good/", "s3://acts/runs/good"} {
		ls, err := Open([]string{p}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, l := range ls {
			names = append(names, l.Name)
		}
		if !slices.Equal(names, exp.Order) {
			t.Fatalf("%s: layers %v, want %v", p, names, exp.Order)
		}
	}
	// A glob over keys: the .npy files of the prefix, not the shards below.
	ls, err := Open([]string{"s3://acts/runs/good/*.npy"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names, want []string
	for _, l := range ls {
		names = append(names, l.Name)
	}
	ents, _ := os.ReadDir(good)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".npy") {
			want = append(want, strings.TrimSuffix(e.Name(), ".npy"))
		}
	}
	if !slices.Equal(names, want) {
		t.Fatalf("glob: layers %v, want %v", names, want)
	}
	for _, l := range ls {
		checkLayer(t, l, exp.Files[l.Name+".npy"][0])
	}
}

// torch.save files written by PyTorch, read from S3, as TestTorchSaveReference
// reads them locally.
func TestS3TorchSave(t *testing.T) {
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
	srv := s3test.Start(t, "ptb")
	srv.PutDir(t, "", dir)
	for file, wants := range files {
		ls, err := Open([]string{"s3://ptb/" + file}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) != len(wants) {
			t.Fatalf("%s: %d layers, want %d", file, len(ls), len(wants))
		}
		for i, l := range ls {
			checkLayer(t, l, wants[i])
		}
	}
}

// s3Data writes a .npy file of rows x cols float32s (some zero, some not)
// in dir and stores it at key, returning its local path.
func s3Data(t *testing.T, srv *s3test.Server, dir, key string, rows, cols int) string {
	data := make([]byte, rows*cols*4)
	x := uint32(7)
	for i := 0; i < len(data); i += 4 {
		x = x*1664525 + 1013904223
		if x>>29 != 0 {
			binary.LittleEndian.PutUint32(data[i:], math.Float32bits(float32(int32(x>>8)%2000-700)/512))
		}
	}
	p := filepath.Join(dir, filepath.Base(key))
	writeNpy(t, p, "<f4", fmt.Sprintf("(%d, %d)", rows, cols), false, data)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	srv.Put(t, key, b)
	return p
}

// profileCounts profiles paths on the CPU backend with small chunks on
// several workers.
func profileCounts(t *testing.T, paths ...string) *profiler.Profile {
	t.Helper()
	ls, err := Open(paths, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := profiler.Run(context.Background(), ls, profiler.Options{Backend: cpu.New(), Workers: 3, ChunkBytes: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func sameCounts(t *testing.T, what string, got, want *profiler.Profile) {
	t.Helper()
	if len(got.Layers) != len(want.Layers) {
		t.Fatalf("%s: %d layers, want %d", what, len(got.Layers), len(want.Layers))
	}
	for i := range got.Layers {
		g, w := got.Layers[i], want.Layers[i]
		if g.Name != w.Name || g.Observations != w.Observations || !slices.Equal(g.Counts, w.Counts) || !slices.Equal(g.NaNCounts, w.NaNCounts) {
			t.Fatalf("%s: layer %s: %d observations, counts differ from the local file's (%s, %d)", what, g.Name, g.Observations, w.Name, w.Observations)
		}
	}
}

// Faults on the way: connections reset in the middle of a body (the read
// resumes at the byte it reached), 503s, a slow server. The counts are the
// local file's, and the reads went in parallel.
func TestS3Faults(t *testing.T) {
	fastRetries(t)
	srv := s3test.Start(t, "bkt")
	dir := t.TempDir()
	local := s3Data(t, srv, dir, "acts/fc1.npy", 4096, 96) // 1.5 MiB
	want := profileCounts(t, local)
	// the local profile against a plain loop over the file's bytes
	lls, err := Open([]string{local}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	naive := unitCounts(lls[0], readAll(t, lls[0], 1<<20))
	for u, c := range want.Layers[0].Counts {
		if int(c) != naive[u] {
			t.Fatalf("local profile: unit %d counted %d, a plain loop %d", u, c, naive[u])
		}
	}
	sameCounts(t, "plain", profileCounts(t, "s3://bkt/acts/fc1.npy"), want)
	for _, c := range []struct {
		name  string
		fault func()
	}{
		{"reset-mid-body", func() { srv.ResetNext(5, 100<<10) }},
		{"reset-before-body", func() { srv.ResetNext(3, 0) }},
		{"503", func() { srv.FailNext(4) }},
		{"slow", func() { srv.SetDelay(20 * time.Millisecond) }},
		{"slow-and-reset", func() { srv.SetDelay(5 * time.Millisecond); srv.ResetNext(4, 50<<10) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer srv.SetDelay(0)
			srv.MaxInflight.Store(0)
			c.fault()
			sameCounts(t, c.name, profileCounts(t, "s3://bkt/acts/fc1.npy"), want)
			if n := srv.Pending(); n != 0 {
				t.Fatalf("%d faults not served", n)
			}
			// the workers' reads overlap while the server is slow
			if m := srv.MaxInflight.Load(); c.name == "slow" && m < 2 {
				t.Errorf("at most %d GETs in flight: reads are not parallel", m)
			}
		})
	}
	// A fault on every attempt: the read gives up with one line naming the
	// object.
	ls, err := Open([]string{"s3://bkt/acts/fc1.npy"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv.ResetNext(1000, 0)
	_, err = profiler.Run(context.Background(), ls, profiler.Options{Backend: cpu.New(), Workers: 2, ChunkBytes: 256 << 10})
	if err == nil || !strings.HasPrefix(err.Error(), "s3://bkt/acts/fc1.npy: S3 request failed (8 attempts): ") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("every read reset: %v", err)
	}
	srv.ResetNext(0, 0)
}

// 404s and 403s: one line naming the object, wrapping fs.ErrNotExist or
// fs.ErrPermission.
func TestS3Errors(t *testing.T) {
	fastRetries(t)
	srv := s3test.Start(t, "bkt")
	srv.Put(t, "acts/fc1.npy", readFile(t, filepath.Join(good, "a_v1_f4.npy")))
	for _, c := range []struct {
		path, msg string
		kind      error
	}{
		{"s3://bkt/acts/fc2.npy", "s3://bkt/acts/fc2.npy: no such object (404 NoSuchKey)", fs.ErrNotExist},
		{"s3://nobucket/acts/fc1.npy", "s3://nobucket/acts/fc1.npy: no such bucket (404 NoSuchBucket)", fs.ErrNotExist},
		{"s3://bkt/none/", "s3://bkt/none/: no objects under this prefix", fs.ErrNotExist},
		{"s3://bkt/acts/*.npz", "s3://bkt/acts/*.npz: no object matches", fs.ErrNotExist},
	} {
		_, err := Open([]string{c.path}, Options{})
		if err == nil || !strings.HasPrefix(err.Error(), c.msg) || !errors.Is(err, c.kind) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want %q...", c.path, err, c.msg)
		}
	}
	srv.RequireKey("AKIDSOMEONEELSE")
	_, err := Open([]string{"s3://bkt/acts/fc1.npy"}, Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "s3://bkt/acts/fc1.npy: access denied (403 AccessDenied)") || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("403: %v", err)
	}
	_, err = Open([]string{"s3://bkt/acts/"}, Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "s3://bkt/acts/: access denied (403") {
		t.Errorf("403 on a listing: %v", err)
	}
}

// Credentials from the environment, from the shared credentials file's
// profile AWS_PROFILE names, and from the config file's profile (with its
// region and endpoint_url).
func TestS3Credentials(t *testing.T) {
	srv := s3test.Start(t, "bkt")
	srv.Put(t, "x.npy", readFile(t, filepath.Join(good, "a_v1_f4.npy")))
	exp := loadExpected(t).Files["a_v1_f4.npy"][0]
	read := func(t *testing.T) {
		t.Helper()
		ls, err := Open([]string{"s3://bkt/x.npy"}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		exp.Name = "x"
		checkLayer(t, ls[0], exp)
	}
	t.Run("env", func(t *testing.T) {
		srv.RequireKey(s3test.AccessKey)
		read(t)
	})
	home := s3test.Home()
	os.MkdirAll(filepath.Join(home, ".aws"), 0o755)
	t.Run("credentials-file", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		t.Setenv("AWS_PROFILE", "actprof")
		os.WriteFile(filepath.Join(home, ".aws", "credentials"), []byte(
			"[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n\n[actprof]\naws_access_key_id = AKIDFROMFILE\naws_secret_access_key = s2\n"), 0o600)
		srv.RequireKey("AKIDFROMFILE")
		read(t)
		t.Setenv("AWS_PROFILE", "")
		if _, err := Open([]string{"s3://bkt/x.npy"}, Options{}); err == nil || !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("default profile's key: %v, want 403", err)
		}
	})
	t.Run("config-file", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		t.Setenv("AWS_ENDPOINT_URL", "")
		t.Setenv("AWS_REGION", "")
		t.Setenv("AWS_PROFILE", "cfg")
		os.Remove(filepath.Join(home, ".aws", "credentials"))
		os.WriteFile(filepath.Join(home, ".aws", "config"), []byte(fmt.Sprintf(
			"[profile cfg]\nregion = eu-west-3\nendpoint_url = %s\naws_access_key_id = AKIDFROMCONFIG\naws_secret_access_key = s3\n", srv.URL)), 0o600)
		srv.RequireKey("AKIDFROMCONFIG")
		read(t)
		cfg, err := resolveS3Config()
		if err != nil || cfg.region != "eu-west-3" || !cfg.custom || "http://"+cfg.endpoint != srv.URL {
			t.Fatalf("config: %+v, %v", cfg, err)
		}
	})
}

// An object's fingerprint is its local copy's: shard records and --resume
// take the two for one dataset.
func TestS3Fingerprint(t *testing.T) {
	srv := s3test.Start(t, "bkt")
	dir := t.TempDir()
	local := s3Data(t, srv, dir, "acts/fc1.npy", 1000, 100)
	srv.PutDir(t, "st/", good)
	for _, c := range [][2]string{
		{local, "s3://bkt/acts/fc1.npy"},
		{filepath.Join(good, "model.safetensors"), "s3://bkt/st/model.safetensors"},
		{filepath.Join(good, "a_v1_f4.npy"), "s3://bkt/st/a_v1_f4.npy"},
	} {
		ls, lf, err := Fingerprint(c[0])
		if err != nil {
			t.Fatal(err)
		}
		ss, sf, err := Fingerprint(c[1])
		if err != nil {
			t.Fatal(err)
		}
		if ls != ss || lf != sf {
			t.Errorf("%s: %d %s, local copy %d %s", c[1], ss, sf, ls, lf)
		}
	}
	ls, err := Open([]string{"s3://bkt/st/"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	files, err := InputFiles(ls)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !strings.HasPrefix(f.Path, "s3://bkt/st/") || !strings.HasPrefix(f.Fingerprint, "sha256:") {
			t.Errorf("input file %+v", f)
		}
	}
}
