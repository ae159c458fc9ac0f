package huff

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// planesOf makes nb planes of nobs bytes, plane p of density-like skew p.
func planesOf(rng *rand.Rand, nb, nobs int) []byte {
	pl := make([]byte, nb*nobs)
	for p := 0; p < nb; p++ {
		for i := 0; i < nobs; i++ {
			var x byte
			for b := 0; b < 8; b++ {
				if rng.IntN(nb+1) < p {
					x |= 1 << b
				}
			}
			pl[p*nobs+i] = x
		}
	}
	return pl
}

// TestRoundTrip: Encode then Decode gives the planes back; Size is the
// exact length; the assembly and Go encoders give the same bits; bytes the
// tables have no code for are escaped.
func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ nb, nobs int }{{1, 1}, {1, 100}, {2, 4096}, {3, 777}, {64, 1024}, {128, 64}, {5, 4097}} {
		pl := planesOf(rng, tc.nb, tc.nobs)
		for _, own := range []bool{true, false} {
			g := Group(tc.nb, tc.nobs)
			train := pl
			if !own { // codes from other planes: escapes
				train = planesOf(rng, tc.nb, tc.nobs)
			}
			c := New(Histograms(nil, train, tc.nb, tc.nobs, g), g, !own)
			var bs []byte
			enc := c.Encode(nil, pl, tc.nobs, 0, tc.nb, tc.nobs, &bs)
			if own {
				if sz := c.Size(Histograms(nil, pl, tc.nb, tc.nobs, g), pl, tc.nb, tc.nobs); sz != len(enc) {
					t.Errorf("%v: Size %d, encoded %d", tc, sz, len(enc))
				}
			}
			tab := c.AppendTables(nil)
			back, rest, err := ReadTables(append(tab, enc...), tc.nb)
			if err != nil || !bytes.Equal(rest, enc) {
				t.Fatalf("%v: ReadTables: %v", tc, err)
			}
			got := make([]byte, len(pl))
			if err := back.Decode(got, enc, tc.nb, tc.nobs); err != nil || !bytes.Equal(got, pl) {
				t.Fatalf("%v own=%v: Decode: %v, equal %v", tc, own, err, bytes.Equal(got, pl))
			}
		}
	}
}

// TestEncodePairTwin: encodePair (assembly where built) and
// encodePairGeneric write the same streams.
func TestEncodePairTwin(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	pl := planesOf(rng, 2, 5000)
	c := New(Histograms(nil, pl[:3000], 1, 3000, 1), 1, true)
	for _, n := range []int{0, 1, 3, 4, 17, 1000, 5000} {
		var a1, b1, a2, b2 stream
		encodePair(&a1, &b1, pl[:n], pl[5000:5000+n], c.encoders()[0], c.encoders()[0])
		encodePairGeneric(&a2, &b2, pl[:n], pl[5000:5000+n], c.encoders()[0], c.encoders()[0])
		if !bytes.Equal(a1.out, a2.out) || !bytes.Equal(b1.out, b2.out) || a1.acc != a2.acc || a1.n != a2.n || b1.acc != b2.acc || b1.n != b2.n {
			t.Fatalf("n=%d: encoders differ", n)
		}
	}
}

// TestEntropyBound: no coding of a histogram is below EntropyBits.
func TestEntropyBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	pl := planesOf(rng, 8, 4096)
	h := Histograms(nil, pl, 8, 4096, 1)
	c := New(h, 1, false)
	if e := EntropyBits(h); float64(8*(c.Size(h, pl, 8, 4096)-4)) < e {
		t.Fatalf("coded %d bytes below the entropy %f bits", c.Size(h, pl, 8, 4096), e)
	}
	if EntropyBits(Merge(h, 2)) < EntropyBits(h) {
		t.Fatal("merged groups' entropy below the parts'")
	}
}
