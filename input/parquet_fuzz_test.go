package input

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/actprof/actprof/profiler"
)

// memObject is an Object in memory.
type memObject struct {
	*bytes.Reader
	name string
}

func (m memObject) Name() string         { return m.name }
func (m memObject) Close() error         { return nil }
func (m memObject) Size() (int64, error) { return m.Reader.Size(), nil }

// FuzzParquet lists the layers of a Parquet file and reads each whole
// (seeds from parquet-wasm in testdata/fuzz/FuzzParquet,
// testdata/gen_parquet_seeds.mjs): no panic, every error wraps a sentinel
// and names the file, and each layer yields exactly its observations'
// bytes.
func FuzzParquet(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		open := func(name string) (Object, int64, error) {
			return memObject{bytes.NewReader(data), name}, int64(len(data)), nil
		}
		check := func(err error) {
			t.Helper()
			var fe *profiler.FileError
			if !wrapsSentinel(err) || !errors.As(err, &fe) || fe.Path != "fuzz.parquet" {
				t.Fatalf("error %q wraps no sentinel or names no file", err)
			}
		}
		tb := &parquetTable{openObj: open, files: []string{"fuzz.parquet"}}
		layers, err := openParquetTable(tb, "fuzz.parquet", "", func(string) bool { return true })
		if err != nil {
			check(err)
			return
		}
		for _, l := range layers {
			if len(l.Shape) != 2 || l.Shape[0] <= 0 || l.Shape[1] <= 0 {
				t.Fatalf("layer %s: shape %v", l.Name, l.Shape)
			}
			want := int64(l.Shape[0]) * int64(l.Shape[1]) * int64(l.DType.Size())
			src, err := l.Open()
			if err != nil {
				check(err)
				continue
			}
			var got int64
			for {
				c, err := src.Next(1 << 16)
				if err == io.EOF {
					break
				}
				if err != nil {
					check(err)
					got = want
					break
				}
				got += int64(len(c.Data))
				c.Release()
			}
			src.Close()
			if got != want {
				t.Fatalf("layer %s: %d bytes, want %d", l.Name, got, want)
			}
		}
	})
}
