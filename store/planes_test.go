package store

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestPlanes: the byte-plane transposes against a naive loop, and the
// planes codec's round trip, at sizes that are and are not multiples of 8,
// columns longer than one segment, and every mode (raw, RLE, new table,
// reused table).
func TestPlanes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var pc, dc planeCoder
	for _, sz := range []struct{ nb, nobs int }{{1, 1}, {1, 7}, {3, 9}, {8, 8}, {9, 17}, {64, 4096}, {65, 100}, {1, planeSeg*2 + 5}, {2, 1 << 18}} {
		body := make([]byte, sz.nb*sz.nobs)
		for j := 0; j < sz.nb; j++ {
			// per plane: constant, dense random, or sparse bits
			kind := j % 4
			for o := 0; o < sz.nobs; o++ {
				var b byte
				switch kind {
				case 0:
					b = 0
				case 1:
					b = byte(rng.Uint32())
				case 2:
					if rng.IntN(10) == 0 {
						b = 1 << rng.IntN(8)
					}
				case 3:
					b = 0xff
					if rng.IntN(3) == 0 {
						b = byte(rng.Uint32()) | 0xf0
					}
				}
				body[o*sz.nb+j] = b
			}
		}
		want := make([]byte, len(body))
		for o := 0; o < sz.nobs; o++ {
			for j := 0; j < sz.nb; j++ {
				want[j*sz.nobs+o] = body[o*sz.nb+j]
			}
		}
		got := make([]byte, len(body))
		toPlanes(got, body, sz.nb, sz.nobs)
		if !bytes.Equal(got, want) {
			t.Fatalf("%+v: toPlanes differs from the naive transpose", sz)
		}
		back := make([]byte, len(body))
		fromPlanes(back, got, sz.nb, sz.nobs)
		if !bytes.Equal(back, body) {
			t.Fatalf("%+v: fromPlanes does not invert toPlanes", sz)
		}
		raw := append([]byte("0123456789abcdef"), body...)
		enc := pc.encode(nil, raw, sz.nb, sz.nobs)
		dec, err := dc.decode(nil, enc, sz.nb, sz.nobs)
		if err != nil || !bytes.Equal(dec, raw) {
			t.Fatalf("%+v: round trip: %v", sz, err)
		}
		if len(enc) > len(raw)+len(raw)/100+16 {
			t.Errorf("%+v: %d bytes encoded from %d", sz, len(enc), len(raw))
		}
		// every cut of the encoding is an error, never a panic
		for _, cut := range []int{0, 1, blockHead, blockHead + 1, len(enc) / 2, len(enc) - 1} {
			if cut < len(enc) {
				if _, err := dc.decode(nil, enc[:cut], sz.nb, sz.nobs); err == nil {
					t.Errorf("%+v: encoding cut at %d of %d decodes", sz, cut, len(enc))
				}
			}
		}
	}
}

// TestPlanesModes: a block with all four modes decodes, and its
// encoding uses them (so the test above exercises every branch).
func TestPlanesModes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	nb, nobs := 16, 4096
	body := make([]byte, nb*nobs)
	for o := 0; o < nobs; o++ {
		for j := 0; j < nb; j++ {
			switch {
			case j < 4: // constant: RLE
			case j < 8: // uniform: raw
				body[o*nb+j] = byte(rng.Uint32())
			default: // same skewed distribution: one table, then reuse
				if rng.IntN(4) == 0 {
					body[o*nb+j] = byte(rng.IntN(4))
				}
			}
		}
	}
	var pc planeCoder
	enc := pc.encode(nil, append(make([]byte, blockHead), body...), nb, nobs)
	modes := map[byte]int{}
	p := enc[blockHead:]
	for len(p) > 0 {
		m := p[0]
		modes[m]++
		switch m {
		case planeRaw:
			p = p[1+nobs:]
		case planeRLE:
			p = p[2:]
		default:
			n, w := uvarint(p[1:])
			p = p[1+w+n:]
		}
	}
	for _, m := range []byte{planeRaw, planeRLE, planeTable, planeReuse} {
		if modes[m] == 0 {
			t.Errorf("mode %d unused: %v", m, modes)
		}
	}
}

func uvarint(b []byte) (int, int) {
	var x, s uint64
	for i, c := range b {
		x |= uint64(c&0x7f) << s
		if c < 0x80 {
			return int(x), i + 1
		}
		s += 7
	}
	return 0, 0
}

// TestRowsToPlanes: the planes built straight from rows of words (on amd64
// by planes_amd64.s, groups of 16 rows) equal toPlanes of the rows laid out
// as bytes (encodeBlock, natural order), for units around multiples of 8
// and 64 and observations around multiples of 8 and 16.
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
