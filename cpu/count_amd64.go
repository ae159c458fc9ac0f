//go:build amd64 && !purego

package cpu

import (
	"github.com/actprof/actprof/internal/bufpool"
	"unsafe"

	"golang.org/x/sys/cpu"

	"github.com/actprof/actprof/profiler"
)

//go:noescape
func rowsF32AVX2(x unsafe.Pointer, rows, rowLen, stride int, t float32, acc *int32) bool

//go:noescape
func rowsBitsF32AVX2(x unsafe.Pointer, rows, rowLen, stride int, t float32, acc *int32, out unsafe.Pointer, outStride int) bool

//go:noescape
func rowsBitsF16AVX2(x unsafe.Pointer, rows, rowLen, stride int, t float32, acc *int32, out unsafe.Pointer, outStride int) bool

//go:noescape
func rowsBitsBF16AVX2(x unsafe.Pointer, rows, rowLen, stride int, t float32, acc *int32, out unsafe.Pointer, outStride int) bool

//go:noescape
func rowsF16AVX2(x unsafe.Pointer, rows, rowLen, stride int, t float32, acc *int32) bool

//go:noescape
func rowsBF16AVX2(x unsafe.Pointer, rows, rowLen, stride int, t float32, acc *int32) bool

//go:noescape
func rowsF64AVX2(x unsafe.Pointer, rows, rowLen, stride int, t float64, acc *int32) bool

//go:noescape
func runF64AVX2(x unsafe.Pointer, n int, t float64) (count int, nan bool)

//go:noescape
func runF32AVX2(x unsafe.Pointer, n int, t float32) (count int, nan bool)

//go:noescape
func runF16AVX2(x unsafe.Pointer, n int, t float32) (count int, nan bool)

//go:noescape
func runBF16AVX2(x unsafe.Pointer, n int, t float32) (count int, nan bool)

//go:noescape
func bitsF32AVX2(x unsafe.Pointer, rows, units, stride int, t float32, out unsafe.Pointer, outStride int) (nan bool)

//go:noescape
func bitsF16AVX2(x unsafe.Pointer, rows, units, stride int, t float32, out unsafe.Pointer, outStride int) (nan bool)

//go:noescape
func bitsBF16AVX2(x unsafe.Pointer, rows, units, stride int, t float32, out unsafe.Pointer, outStride int) (nan bool)

// bitsRowsFast packs the fired bits of the first units&^7 units of each row
// of a float32, float16 or bfloat16 [rows, units] block with the vector
// kernel, and returns how many units it took (0 where it has no kernel for
// the dtype) and whether any of those elements was NaN.
func bitsRowsFast(dt profiler.DType, data []byte, rows, units int, thr *profiler.Threshold, out []uint64, words int) (int, bool) {
	vec := units &^ 7
	var f func(x unsafe.Pointer, rows, units, stride int, t float32, out unsafe.Pointer, outStride int) bool
	switch {
	case dt == profiler.Float32 && haveAVX2:
		f = bitsF32AVX2
	case dt == profiler.Float16 && haveF16C:
		f = bitsF16AVX2
	case dt == profiler.BFloat16 && haveAVX2:
		f = bitsBF16AVX2
	}
	if f == nil || vec == 0 || rows == 0 {
		return 0, false
	}
	nan := f(unsafe.Pointer(&data[0]), rows, vec, units*dt.Size(), thr.F32, unsafe.Pointer(&out[0]), words*8)
	return vec, nan
}

type runFunc = func(x unsafe.Pointer, n int, t float32) (int, bool)

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
	var fr runFunc
	switch {
	case dt == profiler.Float32 && haveAVX2:
		f, fr = rowsF32AVX2, runF32AVX2
	case dt == profiler.BFloat16 && haveAVX2:
		f, fr = rowsBF16AVX2, runBF16AVX2
	case dt == profiler.Float16 && haveF16C:
		f, fr = rowsF16AVX2, runF16AVX2
	case dt == profiler.Float64 && haveAVX2:
		// The float64 kernels take T itself, not its float32 rounding.
		ref := k
		k.rows = func(data []byte, rows, units, stride int, thr *profiler.Threshold, counts, nans []uint64) {
			f := func(x unsafe.Pointer, rows, rowLen, stride int, _ float32, acc *int32) bool {
				return rowsF64AVX2(x, rows, rowLen, stride, thr.T, acc)
			}
			rowsAVX(f, ref, data, rows, units, stride, thr, counts, nans)
		}
		k.run = func(data []byte, thr *profiler.Threshold) (uint64, uint64) {
			fr := func(x unsafe.Pointer, n int, _ float32) (int, bool) { return runF64AVX2(x, n, thr.T) }
			return runAVX(fr, ref, data, thr)
		}
		return k
	default:
		return k
	}
	ref := k
	k.rows = func(data []byte, rows, units, stride int, thr *profiler.Threshold, counts, nans []uint64) {
		rowsAVX(f, ref, data, rows, units, stride, thr, counts, nans)
	}
	k.run = func(data []byte, thr *profiler.Threshold) (uint64, uint64) {
		return runAVX(fr, ref, data, thr)
	}
	return k
}

// maxBatch bounds the rows of one vector call, so that its int32
// accumulators cannot overflow.
const maxBatch = 1 << 30

// accPool holds the int32 accumulators of the vector kernels.
var accPool bufpool.Pool[int32]

// getAcc returns n zeroed accumulators.
func getAcc(n int) []int32 {
	acc := accPool.Get(n)
	clear(acc)
	return acc
}

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
			acc := getAcc(period)
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
			accPool.Put(acc)
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
		acc := getAcc(vec)
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
		accPool.Put(acc)
	}
	if vec < units && rows > 0 {
		ref.rows(data[vec*size:], rows, units-vec, stride, thr, counts[vec:], nans[vec:])
	}
}

// nanOnly adds the NaN counts of a region where the vector kernel saw NaNs.
func nanOnly(ref kernels, data []byte, rows, units, stride int, thr *profiler.Threshold, nans []uint64) {
	ref.rows(data, rows, units, stride, thr, make([]uint64, units), nans)
}

// runAVX counts a contiguous run of one unit's elements: the vector kernel
// takes whole vectors, the plain-Go kernel the last n%8 elements.
func runAVX(f runFunc, ref kernels, data []byte, thr *profiler.Threshold) (fired, nan uint64) {
	vec := len(data) / ref.size &^ 7
	for done := 0; done < vec; {
		m := min(vec-done, maxBatch)
		c, anyNaN := f(unsafe.Pointer(&data[done*ref.size]), m, thr.F32)
		fired += uint64(c)
		if anyNaN {
			_, nn := ref.run(data[done*ref.size:(done+m)*ref.size], thr)
			nan += nn
		}
		done += m
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

// countBitsFused counts a float32, float16 or bfloat16 block of whole rows
// (Inner == 1) and packs its patterns in one pass over the data
// (rowsBits*AVX2): the vector kernel takes the first units&^7 units of each
// row, the plain-Go kernels the rest. It reports false, having done
// nothing, where it does not apply.
func countBitsFused(blk *profiler.Block, t *profiler.Tally) bool {
	g := blk.Geom
	units := int(g.Units)
	vec := units &^ 7
	n := blk.Len()
	var f func(x unsafe.Pointer, rows, rowLen, stride int, t float32, acc *int32, out unsafe.Pointer, outStride int) bool
	switch {
	case blk.DType == profiler.Float32 && haveAVX2:
		f = rowsBitsF32AVX2
	case blk.DType == profiler.Float16 && haveF16C:
		f = rowsBitsF16AVX2
	case blk.DType == profiler.BFloat16 && haveAVX2:
		f = rowsBitsBF16AVX2
	}
	if f == nil || g.Inner != 1 || vec == 0 || n == 0 || blk.Start%int64(units) != 0 || n%units != 0 {
		return false
	}
	size := blk.DType.Size()
	rows := n / units
	w := profiler.Words(units)
	if len(t.Bits) < rows*w {
		return false
	}
	out := t.Bits[:rows*w]
	// Cleared even where the kernel writes every byte (units a multiple of
	// 64): its byte stores then go into lines already in cache and
	// written, which is cheaper than their first write (bench/ab.sh
	// compares the two).
	clear(out)
	ref := genericKernels[blk.DType]
	stride := units * size
	acc := getAcc(vec)
	for done := 0; done < rows; {
		b := min(rows-done, maxBatch)
		if f(unsafe.Pointer(&blk.Data[done*stride]), b, vec, stride, blk.Thr.F32, &acc[0],
			unsafe.Pointer(&out[done*w]), w*8) {
			nanOnly(ref, blk.Data[done*stride:], b, vec, stride, &blk.Thr, t.NaNs)
		}
		done += b
	}
	for i, a := range acc {
		t.Counts[i] += uint64(-int64(a))
	}
	accPool.Put(acc)
	if vec < units {
		ref.rows(blk.Data[vec*size:], rows, units-vec, stride, &blk.Thr, t.Counts[vec:], t.NaNs[vec:])
		key := keyFunc(blk.DType, &blk.Thr)
		for r := 0; r < rows; r++ {
			row := blk.Data[r*stride:]
			o := out[r*w:]
			for u := vec; u < units; u++ {
				o[u>>6] |= key(row, u) << (u & 63)
			}
		}
	}
	return true
}
