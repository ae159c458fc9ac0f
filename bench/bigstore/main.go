// bigstore writes a multi-GB pattern store straight through store.Writer
// (random sparse patterns, fixed seed, no activations needed) and times
// random single-observation queries on it: the latency a user sees on a
// large store. usage: bigstore [-gib 2] [-units 4096] [-queries 1000] FILE
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"sync"
	"time"

	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/store"
)

func main() {
	gib := flag.Float64("gib", 2, "approximate store size in GiB")
	units := flag.Int("units", 4096, "units of the layer")
	queries := flag.Int("queries", 1000, "random observations to look up")
	reuse := flag.Bool("reuse", false, "only query FILE, written by an earlier run")
	level := flag.String("level", "fastest", "compression level (store.Levels)")
	cpuprof := flag.String("cpuprofile", "", "write a CPU profile of the queries")
	flag.Parse()
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: bigstore [-gib G] [-units U] [-queries Q] FILE")
		os.Exit(2)
	}
	path := flag.Arg(0)
	u := *units
	w := profiler.Words(u)
	// Bit k of each word fires with probability 1/2, 1/4 or 1/8 (by k%3):
	// about 0.75 bits per unit-observation stored.
	obs := int64(*gib * (1 << 30) * 8 / 0.75 / float64(u))
	chunk := int64(16 * store.BlockObs(u)) // a multiple of any level's Layout(0).Chunk
	obs = (obs + chunk - 1) / chunk * chunk
	h := store.Header{FormatVersion: store.FormatVersion, Codec: store.Codecs, Layers: []store.LayerInfo{{
		Name: "big", DType: "float32", Shape: []int{int(obs), u}, UnitAxis: 1, Units: u, Observations: obs, ObsPerSample: 1}}}
	if !*reuse {
		write(path, h, u, w, obs, chunk, *level)
	}
	query(path, *queries)
}

func write(path string, h store.Header, u, w int, obs, chunk int64, level string) {
	t0 := time.Now()
	sw, err := store.Create(path, h, level)
	check(err)
	plan := profiler.Plan{Layer: profiler.Layer{Name: "big", Shape: []int{int(obs), u}}, Geom: profiler.Geometry{Outer: obs, Units: int64(u), Inner: 1}}
	check(sw.BeginLayer(0, plan))
	var m1, m2 uint64 // bits that skip the second and third AND
	for k := 0; k < 64; k++ {
		if k%3 == 0 {
			m1 |= 1 << k
		}
		if k%3 != 2 {
			m2 |= 1 << k
		}
	}
	if c := int64(sw.Layout(0).Chunk); chunk%c != 0 {
		check(fmt.Errorf("chunks of %d observations, not a multiple of the store's %d", chunk, c))
	}
	fill := func(bits []uint64, first int64) {
		rng := rand.New(rand.NewPCG(uint64(first), 7))
		for i := range bits {
			bits[i] = rng.Uint64() & (rng.Uint64() | m1) & (rng.Uint64() | m2)
		}
		if u%64 != 0 {
			for o := int64(0); o < chunk; o++ {
				bits[o*int64(w)+int64(w-1)] &= 1<<(u%64) - 1
			}
		}
	}
	// chunk 0 first, alone (profiler.PatternSink's order), then the others
	// on every core
	bits0 := make([]uint64, chunk*int64(w))
	fill(bits0, 0)
	check(sw.Write(0, 0, int(chunk), bits0))
	next := chunk
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < runtime.GOMAXPROCS(0); g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bits := make([]uint64, chunk*int64(w))
			for {
				mu.Lock()
				first := next
				next += chunk
				mu.Unlock()
				if first >= obs {
					return
				}
				fill(bits, first)
				check(sw.Write(0, first, int(chunk), bits))
			}
		}()
	}
	wg.Wait()
	check(sw.EndLayer(0))
	check(sw.Close())
	st, _ := os.Stat(path)
	fmt.Printf("wrote %.2f GiB store (%d units x %d observations, level %s) in %.1f s\n", float64(st.Size())/(1<<30), u, obs, level, time.Since(t0).Seconds())
}

func query(path string, queries int) {
	r, err := store.Open(path)
	check(err)
	defer r.Close()
	l, err := r.Layer("big")
	check(err)
	l.Fired(0) // block 0, the dictionary, once
	rng := rand.New(rand.NewPCG(1, 2))
	obs := l.Info.Observations
	lat := make([]time.Duration, queries)
	for i := range lat {
		// one Layer for all queries, as a program would use it: it decodes
		// into the buffers of the block before (the chance that two random
		// observations share one of the store's tens of thousands of blocks
		// is negligible)
		o := rng.Int64N(obs)
		t := time.Now()
		_, err := l.Fired(o)
		check(err)
		lat[i] = time.Since(t)
	}
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	fmt.Printf("random single-observation queries (%d): mean %.0f us, p50 %.0f us, p99 %.0f us, max %.0f us (target < 1000 us)\n",
		len(lat), float64(sum.Microseconds())/float64(len(lat)), q(0.5), q(0.99), q(1))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bigstore:", err)
		os.Exit(1)
	}
}
