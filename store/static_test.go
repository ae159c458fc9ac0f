package store

import (
	"bytes"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
)

// TestHuffmanLengths: complete codes of at most maxCodeLen bits, as cheap
// as Huffman's (by a naive merge) where the limit does not bind, and
// limited where plain Huffman would go deeper (Fibonacci weights).
func TestHuffmanLengths(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	fib := make([]uint64, nsym)
	a, b := uint64(1), uint64(1)
	for i := 0; i < 40; i++ {
		fib[i] = a
		a, b = b, a+b
	}
	fib[esc] = 1
	cases := map[string][]uint64{"fibonacci": fib}
	for _, rate := range []float64{0.02, 0.2, 0.5} {
		f := make([]uint64, nsym)
		for i := 0; i < 20000; i++ {
			var x byte
			for k := 0; k < 8; k++ {
				if rng.Float64() < rate {
					x |= 1 << k
				}
			}
			f[x]++
		}
		f[esc] = 1
		cases["rate"+string(rune('0'+int(rate*10)))] = f
	}
	cases["two"] = make([]uint64, nsym)
	cases["two"][7], cases["two"][esc] = 100, 1
	for name, f := range cases {
		l := huffmanLengths(f)
		if !validLengths(l) {
			t.Errorf("%s: lengths %v are not a complete code with an escape", name, l)
		}
		var n, cost, h float64
		for _, c := range f {
			n += float64(c)
		}
		for s, c := range f {
			if c > 0 {
				if l[s] == 0 {
					t.Fatalf("%s: symbol %d of weight %d has no code", name, s, c)
				}
				cost += float64(c) * float64(l[s])
				h -= float64(c) * math.Log2(float64(c)/n)
			}
		}
		if name != "fibonacci" {
			// Huffman's own cost (sum of merged weights, naive) where the
			// length limit does not bind
			var ws []float64
			for _, c := range f {
				if c > 0 {
					ws = append(ws, float64(c))
				}
			}
			opt := 0.0
			for len(ws) > 1 {
				slices.Sort(ws)
				m := ws[0] + ws[1]
				opt += m
				ws = append(ws[2:], m)
			}
			// never below Huffman; equal where no code passes 11 bits
			// (rate 0.5, two symbols); the limit costs under 1% elsewhere
			if cost < opt || cost > 1.01*opt || (name == "rate5" || name == "two") && cost != opt {
				t.Errorf("%s: %.0f bits, Huffman's %.0f (entropy %.0f)", name, cost, opt, h)
			}
		}
	}
}

// TestStatic: the static codec's round trip, table section included, at
// sizes that are and are not multiples of the batch sizes, an unpaired
// plane, and later blocks with bytes that block 0 never had (escapes);
// cut or damaged encodings are errors.
func TestStatic(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 3))
	gen := func(nb, nobs int, rate float64) []byte {
		pl := make([]byte, nb*nobs)
		for i := range pl {
			var x byte
			for k := 0; k < 8; k++ {
				if rng.Float64() < rate*float64(i/nobs%4+1)/4 {
					x |= 1 << k
				}
			}
			pl[i] = x
		}
		return pl
	}
	for _, sz := range []struct{ nb, nobs int }{{1, 1}, {1, 9}, {2, 5}, {3, 13}, {8, 4096}, {65, 100}, {512, 64}} {
		first := gen(sz.nb, sz.nobs, 0.05) // sparse: later blocks escape
		codes := bothCodes(first, sz.nb, sz.nobs)
		tables := codes.appendTables(nil)
		back, rest, err := readStaticCodes(append(tables, 9), sz.nb)
		if err != nil || len(rest) != 1 || back.group != codes.group {
			t.Fatalf("%+v: tables do not read back: %v", sz, err)
		}
		for i := range codes.lens {
			if !bytes.Equal(codes.lens[i], back.lens[i]) {
				t.Fatalf("%+v: table %d reads back differently", sz, i)
			}
		}
		var bs []byte
		for _, rate := range []float64{0.05, 0.3, 0.5} {
			pl := gen(sz.nb, sz.nobs, rate)
			enc := codes.encode(nil, pl, sz.nb, sz.nobs, &bs)
			got := make([]byte, len(pl))
			if err := back.decode(got, enc, sz.nb, sz.nobs); err != nil || !bytes.Equal(got, pl) {
				t.Fatalf("%+v rate %.2f: round trip: %v", sz, rate, err)
			}
			for _, cut := range []int{0, 3, 4, len(enc) / 2, len(enc) - 1} {
				if cut < len(enc) && back.decode(got, enc[:cut], sz.nb, sz.nobs) == nil && !bytes.Equal(got, pl) {
					t.Errorf("%+v: a cut encoding decodes to other bytes without error", sz)
				}
			}
		}
		// back read its tables as a reader does: the first block decoded
		// with one symbol a lookup, the later ones with two
		if haveDec2 && !back.dec2Ready.Load() {
			t.Errorf("%+v: no two-symbol tables after %d decodes", sz, back.uses.Load())
		}
	}
	// a damaged table is refused
	codes := bothCodes(gen(4, 100, 0.3), 4, 100)
	tables := codes.appendTables(nil)
	tables[4+3] ^= 0x11
	if _, _, err := readStaticCodes(tables, 4); err == nil {
		t.Error("a damaged code table reads")
	}
}

// TestStaticDrift: at level fastest a block whose bytes drift far from
// block 0's is stored whole with the planes codec; the others with the
// static codec, cut in fastSplit parts; all decode back.
func TestStaticDrift(t *testing.T) {
	const units, nobs = 64, 1 << 15 // BlockObs(64)
	w := words(units)
	rows := make([]uint64, 3*nobs*w)
	rng := rand.New(rand.NewPCG(4, 5))
	for o := 0; o < 3*nobs; o++ {
		rate := 0.2
		if o >= 2*nobs {
			rate = 0.01 // the third block is sparse: drifted
		}
		for u := 0; u < units; u++ {
			if rng.Float64() < rate {
				rows[o*w+u/64] |= 1 << (u % 64)
			}
		}
	}
	var sc blockScratch
	order := identityOrder(units)
	raw0 := encodeBlock(0, 0, nobs, order, rows[:nobs*w], &sc.tiles, nil)
	nb := rowBytes(units)
	codes := bothCodes(sc.pc.planes(raw0[blockHead:], nb, nobs), nb, nobs)
	wr := &Writer{}
	for k, want := range []byte{codecStatic, codecStatic, codecPlanes} {
		raw := encodeBlock(0, int64(k*nobs), nobs, order, rows[k*nobs*w:(k+1)*nobs*w], &sc.tiles, nil)
		blocks := wr.appendFast(nil, &sc, codes, raw[:blockHead], sc.pc.planes(raw[blockHead:], nb, nobs), units, nobs)
		if n := map[byte]int{codecStatic: fastSplit, codecPlanes: 1}[want]; len(blocks) != n {
			t.Fatalf("block %d: %d blocks, want %d", k, len(blocks), n)
		}
		got := make([]byte, 0, len(raw))
		for _, b := range blocks {
			data := *b.data
			if data[0] != want {
				t.Fatalf("block %d stored with codec %d, want %d", k, data[0], want)
			}
			m := b.nobs
			pl := make([]byte, nb*m)
			var err error
			if want == codecStatic {
				err = codes.decode(pl, data[1+blockHead:], nb, m)
			} else {
				err = sc.pc.decodePlanes(pl, data[1+blockHead:], nb, m)
			}
			if err != nil {
				t.Fatal(err)
			}
			part := make([]byte, nb*m)
			fromPlanes(part, pl, nb, m)
			got = append(got, part...)
		}
		if !bytes.Equal(got, raw[blockHead:]) {
			t.Errorf("block %d does not decode back", k)
		}
	}
}

// TestEstimates: the one-pass estimates equal the two functions they stand
// for, exactly, whatever the block's size.
func TestEstimates(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	for _, units := range []int{8, 16, 100, 512} {
		for _, nobs := range []int{64, 100, 1000, 4096, 4099, 9000} {
			nb := rowBytes(units)
			pl := make([]byte, nb*nobs)
			for i := range pl {
				pl[i] = byte(rng.IntN(1 + i%200))
			}
			codes := bothCodes(pl, nb, nobs)
			for i := range pl {
				if rng.IntN(7) == 0 {
					pl[i] = byte(rng.IntN(256)) // bytes block 0 did not have: escapes
				}
			}
			st, own := codes.estimates(pl, nb, nobs)
			if wst, wown := codes.estimate(pl, nb, nobs), ownCodesEstimate(pl, nb, nobs); st != wst || own != wown {
				t.Fatalf("units %d, %d observations: estimates %v, %v; want %v, %v", units, nobs, st, own, wst, wown)
			}
		}
	}
}

// bothCodes is newStaticCodes with the decode tables too, as a reader has
// them.
func bothCodes(planes []byte, nb, nobs int) *staticCodes {
	c := newStaticCodes(planes, nb, nobs)
	c.buildDec()
	c.buildDec2()
	return c
}

// TestEstimatesPeriodic: on a conv-like block, whose observations cycle
// through 64 positions with a distribution of their own, the estimates
// see every position: they put a later block of the same distribution
// within the static codes' 10% (so it keeps them), and near the true
// ratio of the two codings. (Sampling every 16th byte saw 4 positions of
// 64 and put such blocks at +30-90%, all of them given to the planes
// codec.)
func TestEstimatesPeriodic(t *testing.T) {
	rng := rand.New(rand.NewPCG(53, 54))
	const nb, nobs = 2, 64 * 2048
	gen := func() []byte {
		pl := make([]byte, nb*nobs)
		for p := 0; p < nb; p++ {
			for o := 0; o < nobs; o++ {
				pos := o % 64
				// a few bytes per position, different for each
				pl[p*nobs+o] = byte(pos*4+p) + byte(rng.IntN(1+pos%4))
			}
		}
		return pl
	}
	codes := newStaticCodes(gen(), nb, nobs)
	later := gen()
	st, own := codes.estimates(later, nb, nobs)
	if st > 1.1*own {
		t.Fatalf("static %.0f bytes, own %.0f: a block like block 0 estimated as drifted", st, own)
	}
	var sbuf []byte
	var pc planeCoder
	trueSt := len(codes.encode(nil, later, nb, nobs, &sbuf))
	trueOwn := len(pc.encodePlanes(nil, make([]byte, blockHead), later, nb, nobs))
	est, tr := st/own, float64(trueSt)/float64(trueOwn)
	if est < tr-0.05 || est > tr+0.05 {
		t.Errorf("estimated static/own %.3f, true %.3f (static %d bytes, planes %d)", est, tr, trueSt, trueOwn)
	}
	t.Logf("estimated static/own %.3f, true %.3f", est, tr)
}

// TestFastestSpanParts: at level fastest every block holds at most
// splitLen(BlockObs) observations, the first span's included: block 0,
// which carries the layer's code tables (made from the whole first span),
// is a quarter span, and the three after it are static blocks coded with
// those tables. Every observation reads back.
func TestFastestSpanParts(t *testing.T) {
	const units = 64
	bo := BlockObs(units)
	nobs := 2*bo + 1000
	w := words(units)
	rows := make([]uint64, nobs*w)
	rng := rand.New(rand.NewPCG(6, 7))
	for o := range nobs {
		rows[o*w] = rng.Uint64() & rng.Uint64()
	}
	path := filepath.Join(t.TempDir(), "f.actbits")
	writeDense(t, path, "fastest", units, nobs, rows, 2*bo, nil)
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	l := r.Layers()[0]
	idx := r.index[0]
	if len(idx) < 2*fastSplit+1 {
		t.Fatalf("%d blocks, want at least %d", len(idx), 2*fastSplit+1)
	}
	for k, e := range idx {
		if int(e.NObs) > splitLen(bo) {
			t.Errorf("block %d: %d observations, more than %d", k, e.NObs, splitLen(bo))
		}
		if k < fastSplit {
			data, err := r.readAt(int64(e.Length), int64(e.Offset))
			if err != nil {
				t.Fatal(err)
			}
			if data[0] != codecStatic {
				t.Errorf("block %d: codec %d, want static", k, data[0])
			}
		}
	}
	for o := 0; o < nobs; o += 997 {
		got, err := l.Fired(int64(o))
		if err != nil {
			t.Fatal(err)
		}
		var want []int
		for u := 0; u < units; u++ {
			if rows[o*w+u/64]>>(u%64)&1 != 0 {
				want = append(want, u)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("observation %d: fired %v, want %v", o, got, want)
		}
	}
}
