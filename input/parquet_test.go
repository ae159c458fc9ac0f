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
