package cpu

import (
	"math/rand/v2"
	"testing"

	"github.com/actprof/actprof/internal/bitmat"
)

// TestTileBits checks tileBits (SSE2 where there is one) against
// bitmat.Transpose64: for 1..64 units (the tile's other rows zero) and one
// or more words a row, every output word equals the transpose's, and the
// other words of the rows are untouched.
func TestTileBits(t *testing.T) {
	if !haveTileBits {
		t.Skip("no tileBits on this platform: packBits uses bitmat.Transpose64")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	for _, nu := range []int{1, 15, 16, 17, 31, 32, 33, 48, 49, 63, 64} {
		for _, w := range []int{1, 2, 3} {
			for col := 0; col < w; col++ {
				var tile [64]uint64
				for r := range nu {
					tile[r] = rng.Uint64()
				}
				want := tile
				bitmat.Transpose64(&want)
				out := make([]uint64, 64*w)
				for i := range out {
					out[i] = 0xdeadbeefdeadbeef
				}
				in := tile
				tileBits(&in, (nu+15)/16, &out[col], w*8)
				for p := 0; p < 64; p++ {
					for c := 0; c < w; c++ {
						got := out[p*w+c]
						switch {
						case c == col && got != want[p]:
							t.Fatalf("%d units, %d words, column %d: position %d = %x, want %x", nu, w, col, p, got, want[p])
						case c != col && got != 0xdeadbeefdeadbeef:
							t.Fatalf("%d units, %d words, column %d: word %d of position %d written", nu, w, col, c, p)
						}
					}
				}
			}
		}
	}
}
