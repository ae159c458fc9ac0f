package input

import (
	"bytes"
	"errors"
	"testing"

	"github.com/actprof/actprof/profiler"
)

// FuzzArrowMetadata reads an Arrow IPC stream or file's schema, record
// batch metadata and list offsets (seeds from apache-arrow in
// testdata/fuzz/FuzzArrowMetadata, testdata/gen_arrow_seeds.mjs): no panic,
// every error wraps a sentinel, and each layer's segments lie in the file
// and hold exactly its observations' values.
func FuzzArrowMetadata(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		tb := &arrowTable{sel: func(string) bool { return true }, firstName: "fuzz"}
		err := tb.scan(bytes.NewReader(data), int64(len(data)), 0)
		if err != nil {
			if !isSentinel(err) && !errors.Is(err, profiler.ErrShape) && !errors.Is(err, ErrShardMismatch) {
				t.Fatalf("error %q wraps no sentinel", err)
			}
			return
		}
		for _, c := range tb.cols {
			var n int64
			for _, g := range c.segs {
				if g.off < 0 || g.n <= 0 || g.off > int64(len(data)) || g.n > int64(len(data))-g.off {
					t.Fatalf("column %q: segment [%d, +%d) outside the %d bytes", c.name, g.off, g.n, len(data))
				}
				n += g.n
			}
			if c.obs < 0 || c.units < 0 || n != c.obs*c.units*int64(c.dtype.Size()) {
				t.Fatalf("column %q: %d bytes for %d observations of %d units", c.name, n, c.obs, c.units)
			}
		}
	})
}
