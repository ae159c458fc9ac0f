// patterncmp compares a pattern store with the obvious alternatives on the
// same patterns, per layer, in bits per unit-observation: plain zstd over
// the row bitsets (packed ceil(units/8) bytes per observation, one stream,
// the same level), per-unit roaring bitmaps (run-optimised, serialised), and
// the per-unit entropy bound sum_u H(p_u). It also times random access to
// single observations. usage: patterncmp [-level L] STORE.actbits
package main

import (
	"flag"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/klauspost/compress/zstd"

	"github.com/actprof/actprof/store"
)

func main() {
	level := flag.String("level", "default", "zstd level of the plain baseline: default (zstd's default level) or best")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: patterncmp [-level L] STORE.actbits")
		os.Exit(2)
	}
	r, err := store.Open(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "patterncmp:", err)
		os.Exit(1)
	}
	defer r.Close()
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(map[string]zstd.EncoderLevel{"default": zstd.SpeedDefault, "best": zstd.SpeedBestCompression}[*level]))
	fmt.Printf("%-12s %7s %9s %8s %8s %8s %8s %7s %9s %9s\n", "layer", "units", "obs", "store", "zstd", "roaring", "entropy", "ratio", "mean", "p99")
	worst := 0.0
	for _, l := range r.Layers() {
		u := l.Info.Units
		w := (u + 63) / 64
		nb := (u + 7) / 8
		var packed []byte
		unitBits := make([]*roaring.Bitmap, u)
		for i := range unitBits {
			unitBits[i] = roaring.New()
		}
		counts := make([]float64, u)
		err := l.Rows(func(first int64, n int, rows []uint64) error {
			for o := 0; o < n; o++ {
				row := rows[o*w : (o+1)*w]
				for b := 0; b < nb; b++ {
					packed = append(packed, byte(row[b/8]>>(8*(b%8))))
				}
				for k, x := range row {
					for ; x != 0; x &= x - 1 {
						unit := k*64 + bits.TrailingZeros64(x)
						unitBits[unit].Add(uint32(first + int64(o)))
						counts[unit]++
					}
				}
			}
			return nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "patterncmp:", err)
			os.Exit(1)
		}
		uo := float64(u) * float64(l.Info.Observations)
		zs := float64(len(enc.EncodeAll(packed, nil))) * 8 / uo
		var rs float64
		for _, b := range unitBits {
			b.RunOptimize()
			rs += float64(b.GetSerializedSizeInBytes())
		}
		rs = rs * 8 / uo
		var ent float64
		for _, c := range counts {
			p := c / float64(l.Info.Observations)
			if p > 0 && p < 1 {
				ent += -p*math.Log2(p) - (1-p)*math.Log2(1-p)
			}
		}
		ent /= float64(u)
		ours := float64(l.StoredBytes()) * 8 / uo
		// Random access: 1000 random observations through the layer's
		// reader, as a program would query it. It keeps one decoded block,
		// so a query in the block of the one before costs next to nothing:
		// those are left out of the figures.
		rng := rand.New(rand.NewPCG(1, uint64(u)))
		const trials = 1000
		ds := make([]time.Duration, 0, trials)
		var total time.Duration
		prev := -1
		for t := 0; t < trials; t++ {
			o := rng.Int64N(l.Info.Observations)
			k, _ := l.BlockOf(o)
			for l.Blocks() > 1 && k == prev {
				o = rng.Int64N(l.Info.Observations)
				k, _ = l.BlockOf(o)
			}
			prev = k
			st := time.Now()
			if _, err := l.Fired(o); err != nil {
				fmt.Fprintln(os.Stderr, "patterncmp:", err)
				os.Exit(1)
			}
			d := time.Since(st)
			total += d
			ds = append(ds, d)
		}
		slices.Sort(ds)
		p99 := ds[len(ds)*99/100]
		ratio := ours / zs
		worst = max(worst, ratio)
		fmt.Printf("%-12s %7d %9d %8.4f %8.4f %8.4f %8.4f %6.2fx %7.0fus %7.0fus\n", l.Info.Name, u, l.Info.Observations,
			ours, zs, rs, ent, ratio, float64(total.Microseconds())/trials, float64(p99.Microseconds()))
	}
	fmt.Printf("bits per unit-observation; ratio = store/zstd (target <= 0.9x); worst %.2fx\n", worst)
}
