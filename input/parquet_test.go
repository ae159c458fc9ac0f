package input

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/actprof/actprof/profiler"
)

// parquetSeeds returns the layers of FuzzParquet's seed files that list.
func parquetSeeds(t *testing.T) map[string][]profiler.Layer {
	t.Helper()
	paths, err := filepath.Glob("testdata/fuzz/FuzzParquet/*-*")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no seeds: %v", err)
	}
	out := map[string][]profiler.Layer{}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		q := strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(string(raw), "go test fuzz v1\n[]byte(")), ")")
		s, err := strconv.Unquote(q)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		data := []byte(s)
		open := func(name string) (Object, int64, error) {
			return memObject{bytes.NewReader(data), name}, int64(len(data)), nil
		}
		tb := &parquetTable{openObj: open, files: []string{filepath.Base(p)}}
		layers, err := openParquetTable(tb, filepath.Base(p), "", func(n string) bool { return n != "s" })
		if err == nil {
			out[filepath.Base(p)] = layers
		}
	}
	if len(out) < 4 {
		t.Fatalf("%d seeds list, want 4 or more", len(out))
	}
	return out
}

// A layer read in chunks of every size, with decoders' buffers of a few
// bytes (so that they wait on a full queue) and one or several decoders,
// yields the same bytes; a source closed part way stops its decoders.
func TestParquetSource(t *testing.T) {
	block, dec := parquetBlock, parquetDecoders
	defer func() { parquetBlock, parquetDecoders = block, dec }()
	for name, layers := range parquetSeeds(t) {
		for _, l := range layers {
			want := int(int64(l.Shape[0]) * int64(l.Shape[1]) * int64(l.DType.Size()))
			var ref []byte
			for _, cfg := range []struct{ block, decoders, chunk int }{{1 << 20, 1, 1 << 16}, {6, 1, 5}, {4, 3, 3}, {2, 8, 7}, {64, 2, want}} {
				parquetBlock, parquetDecoders = cfg.block, func() int { return cfg.decoders }
				src, err := l.Open()
				if err != nil {
					t.Fatal(err)
				}
				var got []byte
				for {
					c, err := src.Next(cfg.chunk)
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("%s %s: %v", name, l.Name, err)
					}
					got = append(got, c.Data...)
					c.Release()
				}
				if err := src.Close(); err != nil {
					t.Fatal(err)
				}
				if len(got) != want {
					t.Fatalf("%s %s: %d bytes, want %d", name, l.Name, len(got), want)
				}
				if ref == nil {
					ref = got
				} else if !bytes.Equal(got, ref) {
					t.Errorf("%s %s %+v: other bytes", name, l.Name, cfg)
				}
				// closed after the first chunk, decoders still at work
				src, err = l.Open()
				if err != nil {
					t.Fatal(err)
				}
				if c, err := src.Next(1); err == nil {
					c.Release()
				}
				done := make(chan error)
				go func() { done <- src.Close() }()
				select {
				case err := <-done:
					if err != nil {
						t.Fatal(err)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("%s %s: Close hangs", name, l.Name)
				}
			}
		}
	}
}

// seedBytes returns a FuzzParquet seed file's bytes.
func seedBytes(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata/fuzz/FuzzParquet", name))
	if err != nil {
		t.Fatal(err)
	}
	q := strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(string(raw), "go test fuzz v1\n[]byte(")), ")")
	s, err := strconv.Unquote(q)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(s)
}

// PREFIX-NNNNN-of-NNNNN.parquet files in a folder: one table per prefix,
// its shards joined; a missing shard, or shards of other columns, are
// refused naming the shards.
func TestParquetShards(t *testing.T) {
	fsl, nested := seedBytes(t, "fsl-plain"), seedBytes(t, "nested-snappy")
	write := func(dir string, files map[string][]byte) string {
		d := filepath.Join(t.TempDir(), dir)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for n, b := range files {
			if err := os.WriteFile(filepath.Join(d, n), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	one, err := Open([]string{write("one", map[string][]byte{"x.parquet": fsl})}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// one table: the column names alone, the shards' observations added
	d := write("data", map[string][]byte{"train-00000-of-00002.parquet": fsl, "train-00001-of-00002.parquet": fsl})
	ls, err := Open([]string{d}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != len(one) {
		t.Fatalf("%d layers, want %d", len(ls), len(one))
	}
	for i, l := range ls {
		if l.Name != one[i].Name || l.Shape[0] != 2*one[i].Shape[0] || l.Shape[1] != one[i].Shape[1] || len(l.Files) != 2 {
			t.Errorf("layer %s %v (%d files), want %s [%d %d] of 2 files", l.Name, l.Shape, len(l.Files), one[i].Name, 2*one[i].Shape[0], one[i].Shape[1])
		}
	}
	// two tables: named by their prefix
	d = write("hub", map[string][]byte{"train-00000-of-00001.parquet": fsl, "test-00000-of-00001.parquet": nested})
	ls, err = Open([]string{d}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range ls {
		names = append(names, l.Name)
	}
	if got := strings.Join(names, " "); got != "test/r train/a train/h" {
		t.Errorf("layers %q", got)
	}
	for _, c := range []struct {
		files map[string][]byte
		want  string
	}{
		{map[string][]byte{"a-00000-of-00003.parquet": fsl, "a-00002-of-00003.parquet": fsl}, "a-*-of-00003.parquet: bad format: 2 shards, where their names count 00003"},
		{map[string][]byte{"a-00000-of-00002.parquet": fsl, "a-00001-of-00002.parquet": nested}, `a-00001-of-00002.parquet: shards disagree: no column "a", which a-00000-of-00002.parquet has`},
	} {
		_, err := Open([]string{write("bad", c.files)}, Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}
