//go:build amd64 && !purego

package cpu

import (
	"unsafe"

	"golang.org/x/sys/cpu"

	"github.com/actprof/actprof/profiler"
)

//go:noescape
func rowsF32AVX2(x unsafe.Pointer, rows, rowLen, stride int, t float32, acc *int32) bool

//go:noescape
func rowsF16AVX2(x unsafe.Pointer, rows, rowLen, stride int, t float32, acc *int32) bool

//go:noescape
func rowsBF16AVX2(x unsafe.Pointer, rows, rowLen, stride int, t float32, acc *int32) bool

type avxFunc = func(x unsafe.Pointer, rows, rowLen, stride int, t float32, acc *int32) bool

var (
	haveAVX2 = cpu.X86.HasAVX2
	haveF16C = cpu.X86.HasAVX2 && cpu.X86.HasF16C
	haveFast = haveAVX2
)

func kernelsFor(dt profiler.DType, generic bool) kernels {
	k := genericKernels[dt]
	if generic {
		return k
	}
	var f avxFunc
	switch {
	case dt == profiler.Float32 && haveAVX2:
		f = rowsF32AVX2
	case dt == profiler.BFloat16 && haveAVX2:
		f = rowsBF16AVX2
	case dt == profiler.Float16 && haveF16C:
		f = rowsF16AVX2
	default:
		return k
	}
	ref := k
	k.rows = func(data []byte, rows, units, stride int, thr *profiler.Threshold, counts, nans []uint64) {
		rowsAVX(f, ref, data, rows, units, stride, thr, counts, nans)
	}
	k.run = func(data []byte, thr *profiler.Threshold) (uint64, uint64) {
		return runAVX(f, ref, data, thr)
	}
	return k
}

// maxBatch bounds the rows of one vector call, so that its int32
// accumulators cannot overflow.
const maxBatch = 1 << 30

// accPool holds the int32 accumulators of the vector kernels.
var accPool = newSlicePool()

// rowsAVX counts a [rows, units] matrix: the vector kernel takes the first
// units&^7 columns; a narrow matrix (units < 64, not a multiple of 8) is first
// seen as rows of lcm(units, 8) elements, so the vector kernel takes nearly
// everything; the rest goes to the plain-Go kernel.
func rowsAVX(f avxFunc, ref kernels, data []byte, rows, units, stride int, thr *profiler.Threshold, counts, nans []uint64) {
	size := ref.size
	if rows > 1 && units%8 != 0 && units < 64 && stride == units*size {
		period := lcm(units, 8)
		group := period / units // rows per period
		if full := rows / group; full > 0 {
			acc := accPool.get(period)
			for done := 0; done < full; {
				b := min(full-done, maxBatch)
				if f(unsafe.Pointer(&data[done*group*stride]), b, period, period*size, thr.F32, &acc[0]) {
					ref.rows(data[done*group*stride:], b*group, units, stride, thr, make([]uint64, units), nans)
				}
				done += b
			}
			for i, a := range acc {
				counts[i%units] += uint64(-int64(a))
			}
			accPool.put(acc)
			rows -= full * group
			data = data[full*group*stride:]
		}
		if rows > 0 {
			ref.rows(data, rows, units, stride, thr, counts, nans)
		}
		return
	}
	vec := units &^ 7
	if vec > 0 && rows > 0 {
		acc := accPool.get(vec)
		for done := 0; done < rows; {
			b := min(rows-done, maxBatch)
			if f(unsafe.Pointer(&data[done*stride]), b, vec, stride, thr.F32, &acc[0]) {
				nanOnly(ref, data[done*stride:], b, vec, stride, thr, nans)
			}
			done += b
		}
		for i, a := range acc {
			counts[i] += uint64(-int64(a))
		}
		accPool.put(acc)
	}
	if vec < units && rows > 0 {
		ref.rows(data[vec*size:], rows, units-vec, stride, thr, counts[vec:], nans[vec:])
	}
}

// nanOnly adds the NaN counts of a region where the vector kernel saw NaNs.
func nanOnly(ref kernels, data []byte, rows, units, stride int, thr *profiler.Threshold, nans []uint64) {
	ref.rows(data, rows, units, stride, thr, make([]uint64, units), nans)
}

// runAVX counts a contiguous run of one unit's elements.
func runAVX(f avxFunc, ref kernels, data []byte, thr *profiler.Threshold) (fired, nan uint64) {
	n := len(data) / ref.size
	vec := n &^ 63
	if vec > 0 {
		var acc [64]int32
		rows := vec / 64
		for done := 0; done < rows; {
			b := min(rows-done, maxBatch)
			if f(unsafe.Pointer(&data[done*64*ref.size]), b, 64, 64*ref.size, thr.F32, &acc[0]) {
				_, nn := ref.run(data[done*64*ref.size:(done+b)*64*ref.size], thr)
				nan += nn
			}
			done += b
		}
		for _, a := range acc {
			fired += uint64(-int64(a))
		}
	}
	f2, n2 := ref.run(data[vec*ref.size:], thr)
	return fired + f2, nan + n2
}

func lcm(a, b int) int {
	x, y := a, b
	for y != 0 {
		x, y = y, x%y
	}
	return a / x * b
}
