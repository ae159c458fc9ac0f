package store

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestRowsToPlanes(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for _, units := range []int{1, 7, 8, 9, 16, 32, 63, 64, 65, 100, 128, 129, 512} {
		for _, nobs := range []int{1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 65, 300, 4096} {
			w := words(units)
			rows := make([]uint64, nobs*w)
			for o := 0; o < nobs; o++ {
				for u := 0; u < units; u++ {
					if rng.IntN(3) == 0 {
						rows[o*w+u/64] |= 1 << (u % 64)
					}
				}
			}
			nb := rowBytes(units)
			raw := encodeBlock(0, 0, nobs, identityOrder(units), rows, new([]uint64), nil)
			want := make([]byte, nb*nobs)
			toPlanes(want, raw[blockHead:], nb, nobs)
			got := make([]byte, nb*nobs)
			rowsToPlanes(got, rows, w, nb, nobs)
			if !bytes.Equal(got, want) {
				t.Fatalf("units %d, %d observations: planes differ", units, nobs)
			}
		}
	}
}
