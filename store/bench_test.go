package store

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// benchRows is the benchmarks' block: nobs rows of independent units,
// unit u firing with probability (u%16)/32, fixed seed.
func benchRows(units, nobs int) []uint64 {
	rng := rand.New(rand.NewPCG(1, 2))
	w := words(units)
	rows := make([]uint64, nobs*w)
	for o := 0; o < nobs; o++ {
		for u := 0; u < units; u++ {
			if rng.Float64() < float64(u%16)/32 {
				rows[o*w+u/64] |= 1 << (u % 64)
			}
		}
	}
	return rows
}

// BenchmarkEncodeBlock: the per-block work of the writer (the bit
// permutation, zstd at two levels, the planes codec and its decoder) on a
// block of 512 independent units firing with rates 0..0.5, fixed seed.
func BenchmarkEncodeBlock(b *testing.B) {
	const units = 512
	nobs := BlockObs(units)
	rows := benchRows(units, nobs)
	for _, lv := range []string{"fastest", "balanced"} {
		enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(Levels[lv]), zstd.WithEncoderConcurrency(1))
		var scratch []uint64
		order := layerOrder(units, nobs, rows)
		b.Run("transpose", func(b *testing.B) {
			b.SetBytes(int64(len(rows) * 8))
			for b.Loop() {
				encodeBlock(0, 0, nobs, order, rows, &scratch, nil)
			}
		})
		raw := encodeBlock(0, 0, nobs, order, rows, &scratch, nil)
		b.Run("zstd-"+lv, func(b *testing.B) {
			b.SetBytes(int64(len(rows) * 8))
			for b.Loop() {
				enc.EncodeAll(raw, nil)
			}
		})
	}
	order := identityOrder(units)
	var scratch []uint64
	raw := encodeBlock(0, 0, nobs, order, rows, &scratch, nil)
	var pc planeCoder
	var out []byte
	b.Run("identity", func(b *testing.B) {
		b.SetBytes(int64(len(rows) * 8))
		for b.Loop() {
			encodeBlock(0, 0, nobs, order, rows, &scratch, raw)
		}
	})
	b.Run("planes", func(b *testing.B) {
		b.SetBytes(int64(len(rows) * 8))
		for b.Loop() {
			out = pc.encode(out[:0], raw, rowBytes(units), nobs)
		}
	})
	nb := rowBytes(units)
	pl := slices.Clone(pc.planes(raw[blockHead:], nb, nobs))
	codes := bothCodes(pl, nb, nobs)
	var sbuf []byte
	sout := codes.encode(nil, pl, nb, nobs, &sbuf)
	b.Run("static", func(b *testing.B) {
		b.SetBytes(int64(len(rows) * 8))
		for b.Loop() {
			sout = codes.encode(sout[:0], pc.planes(raw[blockHead:], nb, nobs), nb, nobs, &sbuf)
		}
	})
	b.Run("static-decode", func(b *testing.B) {
		b.SetBytes(int64(len(rows) * 8))
		dst := make([]byte, len(pl))
		for b.Loop() {
			if err := codes.decode(dst, sout, nb, nobs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("planes-decode", func(b *testing.B) {
		b.SetBytes(int64(len(rows) * 8))
		dst := make([]byte, len(raw))
		for b.Loop() {
			if _, err := pc.decode(dst, out, rowBytes(units), nobs); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFastestBlock: all of level fastest's work on one block after
// block 0 (byte planes from the rows, the static-or-planes estimate, static
// coding cut in four), as the writer does it, on the block of
// BenchmarkEncodeBlock.
func BenchmarkFastestBlock(b *testing.B) {
	const units = 512
	nobs := BlockObs(units)
	wd := words(units)
	rows := benchRows(units, nobs)
	order := identityOrder(units)
	var sc blockScratch
	raw := encodeBlock(0, 0, nobs, order, rows, &sc.tiles, nil)
	nb := rowBytes(units)
	codes := newStaticCodes(slices.Clone(sc.pc.planes(raw[blockHead:], nb, nobs)), nb, nobs)
	w := &Writer{}
	b.SetBytes(int64(len(rows) * 8))
	var head [blockHead]byte
	for b.Loop() {
		putHead(head[:], 0, 0, nobs)
		pl := sc.pc.rowPlanes(rows, wd, nb, nobs)
		for _, e := range w.appendFast(nil, &sc, codes, head[:], pl, units, nobs) {
			w.bufs.put(e.data)
		}
	}
}

// BenchmarkRowsToPlanes: the byte planes of BenchmarkEncodeBlock's block,
// straight from its rows (SSE2 on amd64; -tags purego for plain Go).
func BenchmarkRowsToPlanes(b *testing.B) {
	const units = 512
	nobs := BlockObs(units)
	rows := benchRows(units, nobs)
	nb := rowBytes(units)
	dst := make([]byte, nb*nobs)
	b.SetBytes(int64(len(dst)))
	for b.Loop() {
		rowsToPlanes(dst, rows, words(units), nb, nobs)
	}
}
