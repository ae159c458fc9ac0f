package store

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// sparseCodes returns two planes of sparse bytes and the static codes made
// from them: dense bytes such as 0xff escape.
func sparseCodes(rng *rand.Rand) ([]byte, *staticCodes) {
	train := make([]byte, 2*4096)
	for i := range train {
		for k := 0; k < 8; k++ {
			if rng.Float64() < 0.08 {
				train[i] |= 1 << k
			}
		}
	}
	return train, bothCodes(train, 2, 4096)
}

// TestEncodePair checks encodePair (assembly where the CPU has it) against
// encodePairGeneric: the same stream bytes and bits in flight, at lengths
// around the 4- and 16-byte steps, with escaped bytes (none, rare, in the
// first and the last step, everywhere) and streams that start mid-byte.
func TestEncodePair(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	train, codes := sparseCodes(rng)
	ta, tb := codes.enc[0], codes.enc[len(codes.enc)-1]
	seen := [256]bool{}
	for _, x := range train {
		seen[x] = true
	}
	unseen := byte(0xff)
	if seen[unseen] {
		t.Fatal("0xff was seen: pick another escape byte")
	}
	for _, n := range []int{0, 1, 3, 4, 5, 15, 16, 17, 31, 32, 33, 64, 100, 1000, 4099} {
		for _, esc := range []string{"none", "rare", "first", "last", "all"} {
			for _, pre := range []uint{0, 3, 7} {
				pa, pb := make([]byte, n), make([]byte, n)
				for i := range n {
					pa[i], pb[i] = train[rng.IntN(len(train))], train[rng.IntN(len(train))]
					switch {
					case esc == "rare" && rng.IntN(50) == 0, esc == "all":
						pa[i] = unseen
					case esc == "first" && i == 1, esc == "last" && i == n-1:
						pb[i] = unseen
					}
				}
				acc := uint64(rng.Uint32()) & (1<<pre - 1)
				ga := huffStream{out: []byte{0xaa}, acc: acc, n: pre}
				wa := huffStream{out: []byte{0xaa}, acc: acc, n: pre}
				var gb, wb huffStream
				encodePair(&ga, &gb, pa, pb, ta, tb)
				encodePairGeneric(&wa, &wb, pa, pb, ta, tb)
				for _, s := range []struct {
					name      string
					got, want huffStream
				}{{"A", ga, wa}, {"B", gb, wb}} {
					if !bytes.Equal(s.got.out, s.want.out) || s.got.acc != s.want.acc || s.got.n != s.want.n {
						t.Fatalf("n=%d escapes %s, %d bits before: stream %s: %d bytes (acc %x, %d bits), want %d (acc %x, %d bits)",
							n, esc, pre, s.name, len(s.got.out), s.got.acc, s.got.n, len(s.want.out), s.want.acc, s.want.n)
					}
				}
			}
		}
	}
}

// benchPlanes returns two 4096-byte planes whose bits fire with rates
// 1/32..8/32 (fixed seed; every byte seen, so no escapes) and their codes.
func benchPlanes() ([]byte, *staticCodes) {
	rng := rand.New(rand.NewPCG(1, 2))
	pl := make([]byte, 2*4096)
	for i := range pl {
		for k := 0; k < 8; k++ {
			if rng.Float64() < float64(i%8+1)/32 {
				pl[i] |= 1 << k
			}
		}
	}
	return pl, bothCodes(pl, 2, 4096)
}

// BenchmarkEncodePair: the static coder's inner loop over two 4096-byte
// planes of the sparse kind (no escapes), encodePair against the plain Go
// encodePairGeneric in the same run.
func BenchmarkEncodePair(b *testing.B) {
	pl, codes := benchPlanes()
	pa, pb := pl[:4096], pl[4096:]
	for _, c := range []struct {
		name string
		f    func(a, b *huffStream, pa, pb []byte, ta, tb *[256]uint32)
	}{{"fast", encodePair}, {"go", encodePairGeneric}} {
		b.Run(c.name, func(b *testing.B) {
			var sa, sb huffStream
			b.SetBytes(int64(len(pl)))
			for b.Loop() {
				sa.out, sa.acc, sa.n = sa.out[:0], 0, 0
				sb.out, sb.acc, sb.n = sb.out[:0], 0, 0
				c.f(&sa, &sb, pa, pb, codes.enc[0], codes.enc[0])
			}
		})
	}
}

// TestDecodePair checks decodePair (assembly where the CPU has it) against
// decodePairGeneric on the streams encodePair writes: lengths around the
// 5-byte step, escapes none, rare, first, last and everywhere, and streams
// cut short or flipped (the same bytes and bit positions, garbage or not).
func TestDecodePair(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	train, codes := sparseCodes(rng)
	ea, eb := codes.enc[0], codes.enc[len(codes.enc)-1]
	ia, ib := 0, len(codes.dec)-1
	ta, tb := codes.dec[ia], codes.dec[ib]
	for _, n := range []int{0, 1, 4, 5, 6, 9, 10, 11, 16, 64, 99, 100, 1000, 4099} {
		for _, esc := range []string{"none", "rare", "first", "last", "all"} {
			for _, damage := range []string{"", "cut", "flip"} {
				pa, pb := make([]byte, n), make([]byte, n)
				for i := range n {
					pa[i], pb[i] = train[rng.IntN(len(train))], train[rng.IntN(len(train))]
					switch {
					case esc == "rare" && rng.IntN(40) == 0, esc == "all":
						pa[i] = 0xff
					case esc == "first" && i == 0, esc == "last" && i == n-1:
						pb[i] = 0xff
					}
				}
				var sa, sb huffStream
				encodePairGeneric(&sa, &sb, pa, pb, ea, eb)
				for _, s := range []*huffStream{&sa, &sb} {
					if s.n > 0 {
						s.out = append(s.out, byte(s.acc))
					}
				}
				switch {
				case damage == "cut" && len(sa.out) > 3:
					sa.out = sa.out[:len(sa.out)*2/3]
				case damage == "flip" && len(sb.out) > 0:
					sb.out[len(sb.out)/2] ^= 0x5a
				}
				ga, gb := make([]byte, n), make([]byte, n)
				wa, wb := make([]byte, n), make([]byte, n)
				ra, rb := huffReader{data: sa.out}, huffReader{data: sb.out}
				qa, qb := ra, rb
				codes.decodePair(&ra, &rb, ga, gb, ia, ib)
				decodePairGeneric(&qa, &qb, wa, wb, ta, tb)
				if !bytes.Equal(ga, wa) || !bytes.Equal(gb, wb) || ra.pos != qa.pos || rb.pos != qb.pos {
					t.Fatalf("n=%d escapes %s damage %q: decodePair differs from decodePairGeneric (positions %d,%d against %d,%d)",
						n, esc, damage, ra.pos, rb.pos, qa.pos, qb.pos)
				}
				if damage == "" && (!bytes.Equal(ga, pa) || !bytes.Equal(gb, pb)) {
					t.Fatalf("n=%d escapes %s: does not decode back", n, esc)
				}
			}
		}
	}
}

// BenchmarkDecodePair: the static decoder's inner loop over
// BenchmarkEncodePair's two planes, decodePair against the plain Go
// decodePairGeneric in the same run.
func BenchmarkDecodePair(b *testing.B) {
	pl, codes := benchPlanes()
	var sa, sb huffStream
	encodePairGeneric(&sa, &sb, pl[:4096], pl[4096:], codes.enc[0], codes.enc[0])
	sa.out, sb.out = append(sa.out, byte(sa.acc)), append(sb.out, byte(sb.acc))
	ga, gb := make([]byte, 4096), make([]byte, 4096)
	for _, c := range []struct {
		name string
		f    func(a, b *huffReader, pa, pb []byte)
	}{
		{"fast", func(a, b *huffReader, pa, pb []byte) { codes.decodePair(a, b, pa, pb, 0, 0) }},
		{"go", func(a, b *huffReader, pa, pb []byte) { decodePairGeneric(a, b, pa, pb, codes.dec[0], codes.dec[0]) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(pl)))
			for b.Loop() {
				ra, rb := huffReader{data: sa.out}, huffReader{data: sb.out}
				c.f(&ra, &rb, ga, gb)
			}
		})
	}
}
