package cpu

import (
	"encoding/binary"
	"fmt"
	"github.com/actprof/actprof/internal/bufpool"
	"math"
	"math/bits"

	"github.com/actprof/actprof/internal/bitmat"
	"github.com/actprof/actprof/profiler"
)

// packBits writes each observation's fired bits. The block must hold whole
// [Units, Inner] groups. For Inner > 1 it also adds each unit's fires to
// counts and reports counted, when the vector kernel covered every element
// and none was NaN (the NaN counts then being zero): the caller need not
// count the block again. counts may be nil.
func packBits(blk *profiler.Block, out []uint64, counts []uint64, generic bool) (counted bool, err error) {
	g := blk.Geom
	group := g.Units * g.Inner
	n := int64(blk.Len())
	if blk.Start%group != 0 || n%group != 0 {
		return false, fmt.Errorf("%w: cpu: patterns need blocks of whole observation groups", profiler.ErrBackend)
	}
	w := profiler.Words(int(g.Units))
	obs := n / group * g.Inner
	if int64(len(out)) < obs*int64(w) {
		return false, fmt.Errorf("%w: cpu: pattern buffer holds %d words, need %d", profiler.ErrBackend, len(out), obs*int64(w))
	}
	out = out[:obs*int64(w)]
	key := keyFunc(blk.DType, &blk.Thr)
	sz := blk.DType.Size()
	units, inner := int(g.Units), int(g.Inner)
	if inner == 1 {
		// (rows of float32, float16 and bfloat16 with vector kernels are
		// counted and packed in one pass by countBitsFused, before this)
		clear(out)
		rows := int(n) / units
		for r := 0; r < rows; r++ {
			row := blk.Data[r*units*sz:]
			o := out[r*w:]
			for u := 0; u < units; u++ {
				o[u>>6] |= key(row, u) << (u & 63)
			}
		}
		return false, nil
	}
	// Inner > 1: element (a, u, i) is unit u of observation a*Inner+i. The
	// block's fired bits are packed in element order, all at once (vector
	// kernel where there is one): run (a, u) is then bits (a*Units+u)*Inner
	// onwards. Per group a, 64x64 tiles of that units x positions bit
	// matrix are transposed into the observations' words: one pass of
	// word operations, not one OR per fired element nor a kernel call per
	// run.
	groups := int(n / group)
	eb := getBits(profiler.Words(int(n)) + 1) // +1: a 64-bit read at any bit
	defer bitsBufs.Put(eb)
	done, nan := 0, false
	if !generic {
		done, nan = bitsRowsFast(blk.DType, blk.Data[:int(n)*sz], 1, int(n), &blk.Thr, eb, len(eb))
	}
	for i := done; i < int(n); i++ {
		eb[i>>6] |= key(blk.Data, i) << (i & 63)
	}
	// The counts too, from the bits, unless a NaN needs counting (or the
	// kernel left elements to plain Go, which does not look for NaNs).
	counted = counts != nil && done == int(n) && !nan
	last := ^uint64(0) // the valid positions of a run's last word
	if inner%64 != 0 {
		last = 1<<(inner%64) - 1
	}
	iw := profiler.Words(inner)
	var tile, part [64]uint64
	for a := 0; a < groups; a++ {
		o := out[a*inner*w : (a+1)*inner*w]
		for t := 0; t < w; t++ { // units 64t..64t+63
			nu := min(64, units-t*64)
			for k := 0; k < iw; k++ { // positions 64k..64k+63
				for r := range nu {
					// positions 64k.. of run (a, 64t+r); bits past the
					// run land in tile rows not stored below
					bit := ((a*units+t*64+r)*inner + k*64)
					q, sh := bit>>6, uint(bit&63)
					x := eb[q] >> sh
					if sh != 0 {
						x |= eb[q+1] << (64 - sh)
					}
					tile[r] = x
					if counted {
						if k == iw-1 {
							x &= last
						}
						counts[t*64+r] += uint64(bits.OnesCount64(x))
					}
				}
				clear(tile[nu:])
				switch {
				case haveTileBits && !generic && (k+1)*64 <= inner:
					// a whole tile, 16 units at a time in SSE2
					tileBits(&tile, (nu+15)/16, &o[k*64*w+t], w*8)
				case haveTileBits && !generic:
					// the last, part of a tile: by way of part
					tileBits(&tile, (nu+15)/16, &part[0], 8)
					for j, x := range part[:inner-k*64] {
						o[(k*64+j)*w+t] = x
					}
				default:
					bitmat.Transpose64(&tile) // tile[j]: position 64k+j's units
					for j, x := range tile[:min(64, inner-k*64)] {
						o[(k*64+j)*w+t] = x
					}
				}
			}
		}
	}
	return counted, nil
}

// bitsBufs recycles packBits' element bits: a new buffer of a chunk's
// bits each call would cost its page faults (the Go heap hands large freed
// spans back to the system).
var bitsBufs bufpool.Pool[uint64]

// getBits returns a zeroed buffer of n words.
func getBits(n int) []uint64 {
	b := bitsBufs.Get(n)
	clear(b)
	return b
}

// keyFunc returns f(data, i) = 1 if element i fires, else 0, branch-free.
func keyFunc(dt profiler.DType, thr *profiler.Threshold) func(data []byte, i int) uint64 {
	switch dt {
	case profiler.Float32:
		lo := key32(math.Float32bits(thr.F32))
		span := uint64(uint32(inf32 - lo))
		return func(d []byte, i int) uint64 {
			return lt(uint64(uint32(key32(binary.LittleEndian.Uint32(d[4*i:]))-lo-1)), span)
		}
	case profiler.Float64:
		lo := key64(math.Float64bits(thr.T))
		span := uint64(inf64 - lo)
		return func(d []byte, i int) uint64 {
			return borrow(uint64(key64(binary.LittleEndian.Uint64(d[8*i:]))-lo-1), span)
		}
	case profiler.Float16, profiler.BFloat16:
		lo, inf := key16(thr.F16), int32(infF16)
		if dt == profiler.BFloat16 {
			lo, inf = key16(thr.B16), infBF16
		}
		span := uint64(uint32(inf - lo))
		return func(d []byte, i int) uint64 {
			return lt(uint64(uint32(key16(binary.LittleEndian.Uint16(d[2*i:]))-lo-1)), span)
		}
	}
	return nil
}
