package store

import "testing"

// TestBlockLen: the writer's blocks tile each sample's positions in nearly
// even parts of at most BlockObs(units) (or whole samples where they fit),
// start at every sample boundary, and firstBlocksObs covers the first k
// blocks in whole samples.
func TestBlockLen(t *testing.T) {
	for _, c := range []struct {
		units int
		inner int64
	}{{512, 1}, {16, 36}, {256, 36}, {2048, 1089}, {2048, 1031}, {4096, 529}, {4096, 1}, {64, 100000}} {
		bo := BlockObs(c.units)
		var o int64
		for o < 5*c.inner+3 {
			n := blockLen(c.units, c.inner, o, 1<<30)
			if n < 1 || n > bo {
				t.Fatalf("units %d inner %d: block at %d has %d observations (BlockObs %d)", c.units, c.inner, o, n, bo)
			}
			next := o + int64(n)
			if o/c.inner != (next-1)/c.inner && c.inner > int64(bo) {
				t.Fatalf("units %d inner %d: block [%d, %d) crosses a sample", c.units, c.inner, o, next)
			}
			if c.inner > int64(bo) {
				q := (c.inner + int64(bo) - 1) / int64(bo)
				if lo, hi := c.inner/q, (c.inner+q-1)/q; int64(n) < lo || int64(n) > hi {
					t.Fatalf("units %d inner %d: part of %d, want %d..%d", c.units, c.inner, n, lo, hi)
				}
			}
			o = next
		}
		// every sample boundary is a block boundary
		starts := map[int64]bool{}
		for o = 0; o < 5*c.inner; o += int64(blockLen(c.units, c.inner, o, 1<<30)) {
			starts[o] = true
		}
		if c.inner <= int64(bo) {
			continue
		}
		for s := int64(0); s < 5*c.inner; s += c.inner {
			if !starts[s] {
				t.Fatalf("units %d inner %d: no block starts at sample boundary %d", c.units, c.inner, s)
			}
		}
		if got := firstBlocksObs(c.units, c.inner, 4); int64(got)%c.inner != 0 || got < 4*int(c.inner)/int((c.inner+int64(bo)-1)/int64(bo)) {
			t.Fatalf("units %d inner %d: firstBlocksObs(4) = %d", c.units, c.inner, got)
		}
	}
}
