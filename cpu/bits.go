package cpu

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/actprof/actprof/internal/bitmat"
	"github.com/actprof/actprof/profiler"
)

// packBits writes each observation's fired bits. The block must hold whole
// [Units, Inner] groups.
func packBits(blk *profiler.Block, out []uint64, generic bool) error {
	g := blk.Geom
	group := g.Units * g.Inner
	n := int64(blk.Len())
	if blk.Start%group != 0 || n%group != 0 {
		return fmt.Errorf("%w: cpu: patterns need blocks of whole observation groups", profiler.ErrBackend)
	}
	w := profiler.Words(int(g.Units))
	obs := n / group * g.Inner
	if int64(len(out)) < obs*int64(w) {
		return fmt.Errorf("%w: cpu: pattern buffer holds %d words, need %d", profiler.ErrBackend, len(out), obs*int64(w))
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
		return nil
	}
	// Inner > 1: element (a, u, i) is unit u of observation a*Inner+i. Per
	// group a, each unit's run of Inner elements is packed like a row
	// (vector kernel where there is one) into a units x Inner bit matrix,
	// whose 64x64 tiles are transposed into the observations' words. (One
	// OR per fired element into the rows instead cost 3x as much on conv
	// layers.)
	groups := int(n / group)
	iw := profiler.Words(inner)
	runs := make([]uint64, units*iw)
	var tile [64]uint64
	for a := 0; a < groups; a++ {
		clear(runs)
		for u := 0; u < units; u++ {
			data := blk.Data[(a*units+u)*inner*sz : (a*units+u+1)*inner*sz]
			run := runs[u*iw : (u+1)*iw]
			done := 0
			if !generic {
				done = bitsRowsFast(blk.DType, data, 1, inner, &blk.Thr, run, iw)
			}
			for i := done; i < inner; i++ {
				run[i>>6] |= key(data, i) << (i & 63)
			}
		}
		o := out[a*inner*w : (a+1)*inner*w]
		for t := 0; t < w; t++ { // units 64t..64t+63
			nu := min(64, units-t*64)
			for k := 0; k < iw; k++ { // positions 64k..64k+63
				for r := range nu {
					tile[r] = runs[(t*64+r)*iw+k]
				}
				clear(tile[nu:])
				bitmat.Transpose64(&tile) // tile[j]: position 64k+j's units
				for j, x := range tile[:min(64, inner-k*64)] {
					o[(k*64+j)*w+t] = x
				}
			}
		}
	}
	return nil
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
