package bitmat

import (
	"math/rand/v2"
	"testing"
)

func TestTranspose64(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var a, b [64]uint64
	for i := range a {
		a[i] = rng.Uint64()
	}
	b = a
	Transpose64(&b)
	for i := 0; i < 64; i++ {
		for j := 0; j < 64; j++ {
			if (a[i]>>j)&1 != (b[j]>>i)&1 {
				t.Fatalf("bit (%d,%d) not transposed", i, j)
			}
		}
	}
}
