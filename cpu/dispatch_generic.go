//go:build !amd64 || purego

package cpu

import "github.com/actprof/actprof/profiler"

const haveFast = false

func kernelsFor(dt profiler.DType, generic bool) kernels { return genericKernels[dt] }

func bitsRowsFast(dt profiler.DType, data []byte, rows, units int, thr *profiler.Threshold, out []uint64, words int) (int, bool) {
	return 0, false
}

func countBitsFused(blk *profiler.Block, t *profiler.Tally) bool { return false }
