package main

import (
	"fmt"
	"runtime"
	"slices"
	"strings"

	"github.com/actprof/actprof/profiler"
)

// --device auto for files: count on the GPU only where it is expected to
// finish first. Counting x > T reads each byte once, so for activations in
// host memory both paths are bound by memory bandwidth; the GPU path also
// pays CUDA's start and moves every byte over the bus. The model:
//
//	CPU time = bytes / (cores x autoCPUPerCore)
//	GPU time = autoGPUStart + bytes / autoGPURate
//
// with the figures measured on a 16-core H100 host (docs/gpu.md): the CPU
// path counted page-cached files at 52-79 GB/s (3.3-4.9 GB/s a core; the
// lower end is taken), the GPU path at 33-46 GB/s (the lower end), and a
// whole --device cuda process took about 0.5 s longer than its counting.
// Files are taken to be page-cached, the case most favourable to the GPU;
// where the rule would try the GPU, mincore(2) says how much of them is
// (Linux): from disk or object storage both paths wait on the same reads,
// so inputs mostly out of the page cache count on the CPU.
//
// Whatever the size, the CPU is chosen for runs the GPU does not speed up:
// value statistics (--stats; the GPU path computes them on the CPU from a
// host copy of each block), pattern stores (the two paths were measured
// equal: compression on the CPU bounds both), and inputs in object storage
// (the network bounds both).
const (
	autoCPUPerCore = 3.5e9 // bytes/s a core, page-cached
	autoGPURate    = 33e9  // bytes/s, page-cached, end to end
	autoGPUStart   = 0.5   // seconds: probe, re-exec, CUDA context, kernels
)

// autoPlan is what the --device auto rule looks at.
type autoPlan struct {
	bytes    int64 // activation bytes this process counts
	cores    int   // the CPU workers' cores
	stats    bool  // --stats
	patterns bool  // --patterns
	remote   bool  // some input is in object storage
	// cached is the fraction of the input files' bytes in the page
	// cache, or -1 where not known (not asked: the rule did not need it)
	cached float64
}

// autoCachedBelow: inputs with less of their bytes in the page cache are
// read from disk mostly, at the same rate by both paths.
const autoCachedBelow = 0.5

// newAutoPlan describes a run over ls, of which this process counts one
// shard in shards (1: all of it), on workers cores (0: all).
func newAutoPlan(ls []profiler.Layer, shards, workers int, stats, patterns bool) autoPlan {
	p := autoPlan{cores: hostCores(), stats: stats, patterns: patterns, cached: -1}
	if workers > 0 {
		p.cores = min(p.cores, workers)
	}
	var files []string
	for _, l := range ls {
		n := int64(l.DType.Size())
		for _, d := range l.Shape {
			n *= int64(d)
		}
		p.bytes += n
		fs := l.Files
		if len(fs) == 0 {
			fs = []string{l.Path}
		}
		for _, f := range fs {
			p.remote = p.remote || strings.HasPrefix(f, "s3://")
			if !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
	}
	if shards > 1 {
		p.bytes /= int64(shards)
	}
	if gpu, _ := chooseAuto(p); gpu {
		if frac, ok := residentFraction(files); ok {
			p.cached = frac
		}
	}
	return p
}

// hostCores is the number of cores the CPU backend counts on.
func hostCores() int { return max(runtime.GOMAXPROCS(0), 1) }

// autoBreakEven is the input size above which the GPU is expected to finish
// first on a host with cores cores, or 0 when it never is.
func autoBreakEven(cores int) int64 {
	cpuRate := float64(cores) * autoCPUPerCore
	if cpuRate >= autoGPURate {
		return 0
	}
	// bytes/cpuRate = start + bytes/gpuRate
	return int64(autoGPUStart / (1/cpuRate - 1/autoGPURate))
}

// chooseAuto says whether --device auto should try a GPU for p, and why
// (a phrase to follow "counting on the CPU: " or "trying the GPU: ").
func chooseAuto(p autoPlan) (gpu bool, why string) {
	switch {
	case p.stats:
		return false, "--stats is computed on the CPU either way"
	case p.patterns:
		return false, "with --patterns the CPU keeps up with the GPU"
	case p.remote:
		return false, "reads from object storage bound both"
	}
	be := autoBreakEven(p.cores)
	if be == 0 {
		return false, fmt.Sprintf("%d cores count host memory faster than a GPU", p.cores)
	}
	if p.cached >= 0 && p.cached < autoCachedBelow && p.bytes > be {
		return false, fmt.Sprintf("%.0f%% of the input is in the page cache: reads from disk bound both", 100*p.cached)
	}
	if p.bytes <= be {
		return false, fmt.Sprintf("%s of input, at most %s, the size above which a GPU finishes first on %s", gbytes(p.bytes), gbytes(be), coresWord(p.cores))
	}
	return true, fmt.Sprintf("%s of input, more than %s, the size above which a GPU finishes first on %s", gbytes(p.bytes), gbytes(be), coresWord(p.cores))
}

// autoRule is the rule in one line, for actprof devices.
func autoRule(cores int) string {
	be := autoBreakEven(cores)
	if be == 0 {
		return fmt.Sprintf("files count on the CPU: %s count host memory faster than a GPU", coresWord(cores))
	}
	return fmt.Sprintf("files count on a GPU when more than %s are counted without --stats or --patterns (%s); else on the CPU", gbytes(be), coresWord(cores))
}

func coresWord(n int) string {
	if n == 1 {
		return "1 core"
	}
	return fmt.Sprintf("%d cores", n)
}

// gbytes prints a byte count in GB (10^9), with two digits where small.
func gbytes(n int64) string {
	g := float64(n) / 1e9
	switch {
	case g >= 100:
		return fmt.Sprintf("%.0f GB", g)
	case g >= 10:
		return fmt.Sprintf("%.1f GB", g)
	}
	return fmt.Sprintf("%.2f GB", g)
}
