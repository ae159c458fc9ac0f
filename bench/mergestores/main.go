// Command mergestores measures 'actprof patterns merge' (store.Merge): it
// writes the pattern stores of the -parts shards of a sharded run of one
// layer (random sparse patterns through store.Writer, as the profiler
// hands them to it, -gib in all), then times merging them into the whole
// run's store against copying the same files into one with io.Copy, in
// the same process and folder (what any merge must at least read and
// write, as cat does), best of -reps. Random observations of the merged store are
// checked against the parts'.
//
// usage: mergestores [-gib 2] [-parts 16] [-units 4096] [-reps 2] DIR
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/store"
)

func main() {
	gib := flag.Float64("gib", 2, "the parts' size in all, GiB")
	parts := flag.Int("parts", 16, "shards")
	units := flag.Int("units", 4096, "units of the layer")
	reps := flag.Int("reps", 2, "timed repetitions (the best is reported)")
	verbose := flag.Bool("v", false, "print each repetition's times on stderr")
	cpuprof := flag.String("cpuprofile", "", "write a CPU profile of the merges")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: mergestores [-gib G] [-parts N] [-units U] [-reps R] DIR")
		os.Exit(2)
	}
	dir := flag.Arg(0)
	u := *units
	// about 0.75 bits a unit-observation stored (bigstore's patterns)
	obs := int64(*gib * (1 << 30) * 8 / 0.75 / float64(u))
	plan := profiler.Plan{Layer: profiler.Layer{Name: "big", DType: profiler.Float32, Shape: []int{int(obs), u}},
		Geom: profiler.Geometry{Outer: obs, Units: int64(u), Inner: 1, UnitAxis: 1}}
	plans := []profiler.Plan{plan}
	t0 := time.Now()
	var paths []string
	var ranges []profiler.RowRange
	var total int64
	for i := range *parts {
		rows, err := profiler.ShardRows(plans, profiler.ShardSpec{Index: i, Count: *parts})
		check(err)
		rec := &profiler.ShardRecord{Count: *parts, Shards: []int{i}, Layers: []string{"big"},
			Inputs: []profiler.InputFile{{Path: "generated", Size: plan.Bytes(), Fingerprint: "none"}}}
		p := filepath.Join(dir, fmt.Sprintf("part-%03d.actbits", i))
		writePart(p, store.NewPartHeader(plans, 0, rows, rec), plan, rows[0])
		st, err := os.Stat(p)
		check(err)
		total += st.Size()
		paths, ranges = append(paths, p), append(ranges, rows[0])
	}
	fmt.Printf("wrote %d parts of a layer of %d units x %d observations, %.2f GiB in all, in %.1f s\n",
		*parts, u, obs, float64(total)/(1<<30), time.Since(t0).Seconds())

	out, cp := filepath.Join(dir, "merged.actbits"), filepath.Join(dir, "copy.actbits")
	var tMerge, tCopy time.Duration
	var ms store.MergeStats
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		check(err)
		check(pprof.StartCPUProfile(f))
	}
	for rep := range *reps {
		// each timed from no dirty pages, so that neither pays the other's
		// writeback, and in turn first
		copyRun := func() {
			os.Remove(cp)
			syscall.Sync()
			t := time.Now()
			copyAll(cp, paths)
			d := time.Since(t)
			tCopy = minDur(tCopy, d)
			if *verbose {
				fmt.Fprintf(os.Stderr, "copy %.3f s\n", d.Seconds())
			}
		}
		mergeRun := func() {
			os.Remove(out) // not freed in the timed merge's rename
			syscall.Sync()
			t := time.Now()
			var err error
			ms, err = store.Merge(context.Background(), out, paths, store.MergeOptions{})
			check(err)
			d := time.Since(t)
			tMerge = minDur(tMerge, d)
			if *verbose {
				fmt.Fprintf(os.Stderr, "merge %.3f s\n", d.Seconds())
			}
		}
		if rep%2 == 0 {
			copyRun()
			mergeRun()
		} else {
			mergeRun()
			copyRun()
		}
	}
	os.Remove(cp)
	if *cpuprof != "" {
		pprof.StopCPUProfile()
	}
	verify(out, paths, ranges)
	st, err := os.Stat(out)
	check(err)
	fmt.Printf("patterns merge: %.2f s (%.2f GiB/s), %d blocks copied, %d coded again; copying the parts into one file: %.2f s; merge / copy = %.2fx\n",
		tMerge.Seconds(), float64(total)/(1<<30)/tMerge.Seconds(), ms.Copied, ms.Recoded, tCopy.Seconds(), tMerge.Seconds()/tCopy.Seconds())
	fmt.Printf("  merged store %.2f GiB (the parts %.2f GiB); 1000 random observations equal the parts'\n", float64(st.Size())/(1<<30), float64(total)/(1<<30))
	for _, p := range append(paths, out) {
		os.Remove(p)
	}
}

func minDur(a, b time.Duration) time.Duration {
	if a == 0 || b < a {
		return b
	}
	return a
}

// writePart writes one shard's part as a run does: chunk 0 alone (shorter
// by the writer's Shift), then chunks of a whole number of its Chunk on
// every core.
func writePart(path string, h store.Header, plan profiler.Plan, rows profiler.RowRange) {
	sw, err := store.Create(path, h, "fastest")
	check(err)
	check(sw.BeginLayer(0, plan))
	lay := sw.Layout(0)
	u := int(plan.Geom.Units)
	w := profiler.Words(u)
	chunk := int64(lay.Chunk) * 4
	n := rows.Count
	var starts []int64 // chunk starts, local
	for s := int64(0); s < n; {
		starts = append(starts, s)
		if s == 0 {
			s = chunk - int64(lay.Shift)
		} else {
			s += chunk
		}
	}
	starts = append(starts, n)
	for k := range starts {
		starts[k] = min(starts[k], n)
	}
	write := func(k int, bits []uint64) {
		a, b := starts[k], starts[k+1]
		fill(bits[:(b-a)*int64(w)], rows.First+a, u)
		check(sw.Write(0, a, int(b-a), bits[:(b-a)*int64(w)]))
	}
	write(0, make([]uint64, chunk*int64(w)))
	var mu sync.Mutex
	next := 1
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bits := make([]uint64, chunk*int64(w))
			for {
				mu.Lock()
				k := next
				next++
				mu.Unlock()
				if k >= len(starts)-1 {
					return
				}
				write(k, bits)
			}
		}()
	}
	wg.Wait()
	check(sw.EndLayer(0))
	check(sw.Close())
}

// fill sets the bits of observations from first on: bit k of each word
// fires with probability 1/2, 1/4 or 1/8 (by k%3), from a generator seeded
// by first.
func fill(bits []uint64, first int64, u int) {
	var m1, m2 uint64
	for k := 0; k < 64; k++ {
		if k%3 == 0 {
			m1 |= 1 << k
		}
		if k%3 != 2 {
			m2 |= 1 << k
		}
	}
	rng := rand.New(rand.NewPCG(uint64(first), 7))
	w := profiler.Words(u)
	for i := range bits {
		bits[i] = rng.Uint64() & (rng.Uint64() | m1) & (rng.Uint64() | m2)
		if i%w == w-1 && u%64 != 0 {
			bits[i] &= 1<<(u%64) - 1
		}
	}
}

// copyAll writes the files srcs, one after the other, to dst, as cat
// does: read into a buffer of 8 MiB (the merge reads and writes as
// much at a time), written from it (the merge must
// read the blocks to check them).
func copyAll(dst string, srcs []string) {
	f, err := os.Create(dst)
	check(err)
	buf := make([]byte, 8<<20)
	for _, s := range srcs {
		g, err := os.Open(s)
		check(err)
		_, err = io.CopyBuffer(struct{ io.Writer }{f}, struct{ io.Reader }{g}, buf)
		check(err)
		g.Close()
	}
	check(f.Close())
}

// verify compares random observations of the merged store with the
// parts' (observation o of the whole layer is o - First of the part's
// range holding it).
func verify(merged string, paths []string, ranges []profiler.RowRange) {
	r, err := store.Open(merged)
	check(err)
	defer r.Close()
	l, err := r.Layer("big")
	check(err)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		o := rng.Int64N(l.Info.Observations)
		k := 0
		for k < len(ranges) && !(o >= ranges[k].First && o < ranges[k].First+ranges[k].Count) {
			k++
		}
		got, err := l.Fired(o)
		check(err)
		p, err := store.Open(paths[k])
		check(err)
		pl, err := p.Layer("big")
		check(err)
		want, err := pl.Fired(o - ranges[k].First)
		check(err)
		p.Close()
		if !slices.Equal(got, want) {
			check(fmt.Errorf("observation %d: the merged store has units %v, part %d %v", o, got, k, want))
		}
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "mergestores:", err)
		os.Exit(1)
	}
}
