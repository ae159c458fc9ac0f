package store

import (
	"math/rand/v2"
	"testing"
)

// FuzzDecoders: the planes and static decoders, on any bytes for any
// small block shape, return an error or planes, never a panic or a hang.
// Seeds: real encodings of small blocks (dense, sparse, with escapes).
func FuzzDecoders(f *testing.F) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, sz := range []struct{ nb, nobs int }{{1, 40}, {3, 17}, {8, 64}} {
		pl := make([]byte, sz.nb*sz.nobs)
		for i := range pl {
			if rng.IntN(3) == 0 {
				pl[i] = byte(rng.Uint32())
			}
		}
		codes := bothCodes(pl[:len(pl)/2], sz.nb, sz.nobs/2)
		var bs []byte
		var pc planeCoder
		raw := append(make([]byte, blockHead), make([]byte, len(pl))...)
		fromPlanes(raw[blockHead:], pl, sz.nb, sz.nobs)
		f.Add(uint8(sz.nb), uint8(sz.nobs), codes.appendTables(nil), codes.encode(nil, pl, sz.nb, sz.nobs, &bs))
		f.Add(uint8(sz.nb), uint8(sz.nobs), []byte{}, pc.encode(nil, raw, sz.nb, sz.nobs)[blockHead:])
	}
	f.Fuzz(func(t *testing.T, nb8, nobs8 uint8, tables, data []byte) {
		nb, nobs := int(nb8%16)+1, int(nobs8)+1
		pl := make([]byte, nb*nobs)
		var pc planeCoder
		_ = pc.decodePlanes(pl, data, nb, nobs)
		if codes, rest, err := readStaticCodes(tables, nb); err == nil {
			_ = codes.decode(pl, data, nb, nobs)
			_ = codes.decode(pl, rest, nb, nobs)
		}
	})
}
