package cpu

import (
	"encoding/binary"
	"math"
	"math/bits"

	"github.com/actprof/actprof/profiler"
)

// The plain-Go kernels. They are exact and branch-free: a float's bits are
// mapped to a signed key that orders like the float (negative values have
// their magnitude bits flipped), NaNs land outside [key(-Inf), key(+Inf)],
// and "fires" is the unsigned range test lo < key <= key(+Inf), lo being the
// key of T rounded down to the element type (profiler.Threshold). A range
// test is one subtraction and a borrow, so the loops have no branches.

var genericKernels = map[profiler.DType]kernels{
	profiler.Float32:  {4, rowsF32, runF32},
	profiler.Float64:  {8, rowsF64, runF64},
	profiler.Float16:  {2, rowsF16, runF16},
	profiler.BFloat16: {2, rowsBF16, runBF16},
}

func key32(b uint32) int32 { return int32(b) ^ (int32(b) >> 31 & 0x7fffffff) }
func key64(b uint64) int64 { return int64(b) ^ (int64(b) >> 63 & 0x7fffffffffffffff) }
func key16(h uint16) int32 { return int32(int16(h)) ^ (int32(int16(h)) >> 15 & 0x7fff) }

const (
	inf32   = 0x7f800000
	inf64   = 0x7ff0000000000000
	infF16  = 0x7c00
	infBF16 = 0x7f80
)

// lt returns 1 if a < b, else 0 (both < 2^63).
func lt(a, b uint64) uint64 { return (a - b) >> 63 }

func rowsF32(data []byte, rows, units, stride int, thr *profiler.Threshold, counts, nans []uint64) {
	lo := key32(math.Float32bits(thr.F32))
	span := uint64(uint32(inf32 - lo))
	counts, nans = counts[:units], nans[:units]
	for r := 0; r < rows; r++ {
		row := data[r*stride : r*stride+units*4]
		for u := range counts {
			b := binary.LittleEndian.Uint32(row[4*u:])
			counts[u] += lt(uint64(uint32(key32(b)-lo-1)), span)
			nans[u] += lt(inf32, uint64(b&0x7fffffff))
		}
	}
}

func runF32(data []byte, thr *profiler.Threshold) (fired, nan uint64) {
	lo := key32(math.Float32bits(thr.F32))
	span := uint64(uint32(inf32 - lo))
	for i := 0; i+4 <= len(data); i += 4 {
		b := binary.LittleEndian.Uint32(data[i:])
		fired += lt(uint64(uint32(key32(b)-lo-1)), span)
		nan += lt(inf32, uint64(b&0x7fffffff))
	}
	return
}

func borrow(a, b uint64) uint64 { _, c := bits.Sub64(a, b, 0); return c }

func rowsF64(data []byte, rows, units, stride int, thr *profiler.Threshold, counts, nans []uint64) {
	lo := key64(math.Float64bits(thr.T))
	span := uint64(inf64 - lo)
	counts, nans = counts[:units], nans[:units]
	for r := 0; r < rows; r++ {
		row := data[r*stride : r*stride+units*8]
		for u := range counts {
			b := binary.LittleEndian.Uint64(row[8*u:])
			counts[u] += borrow(uint64(key64(b)-lo-1), span)
			nans[u] += borrow(inf64, b&0x7fffffffffffffff)
		}
	}
}

func runF64(data []byte, thr *profiler.Threshold) (fired, nan uint64) {
	lo := key64(math.Float64bits(thr.T))
	span := uint64(inf64 - lo)
	for i := 0; i+8 <= len(data); i += 8 {
		b := binary.LittleEndian.Uint64(data[i:])
		fired += borrow(uint64(key64(b)-lo-1), span)
		nan += borrow(inf64, b&0x7fffffffffffffff)
	}
	return
}

func rows16(data []byte, rows, units, stride int, th uint16, inf int32, counts, nans []uint64) {
	lo := key16(th)
	span := uint64(uint32(inf - lo))
	counts, nans = counts[:units], nans[:units]
	for r := 0; r < rows; r++ {
		row := data[r*stride : r*stride+units*2]
		for u := range counts {
			h := binary.LittleEndian.Uint16(row[2*u:])
			counts[u] += lt(uint64(uint32(key16(h)-lo-1)), span)
			nans[u] += lt(uint64(inf), uint64(h&0x7fff))
		}
	}
}

func run16(data []byte, th uint16, inf int32) (fired, nan uint64) {
	lo := key16(th)
	span := uint64(uint32(inf - lo))
	for i := 0; i+2 <= len(data); i += 2 {
		h := binary.LittleEndian.Uint16(data[i:])
		fired += lt(uint64(uint32(key16(h)-lo-1)), span)
		nan += lt(uint64(inf), uint64(h&0x7fff))
	}
	return
}

func rowsF16(data []byte, rows, units, stride int, thr *profiler.Threshold, counts, nans []uint64) {
	rows16(data, rows, units, stride, thr.F16, infF16, counts, nans)
}
func runF16(data []byte, thr *profiler.Threshold) (uint64, uint64) {
	return run16(data, thr.F16, infF16)
}
func rowsBF16(data []byte, rows, units, stride int, thr *profiler.Threshold, counts, nans []uint64) {
	rows16(data, rows, units, stride, thr.B16, infBF16, counts, nans)
}
func runBF16(data []byte, thr *profiler.Threshold) (uint64, uint64) {
	return run16(data, thr.B16, infBF16)
}
