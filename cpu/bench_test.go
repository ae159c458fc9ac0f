package cpu_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/profiler/backendtest"
)

// reluLike is post-ReLU data: 60% zeros, the rest positive, no NaN.
func reluLike(rng *rand.Rand, dt profiler.DType, n int) []byte {
	v := make([]float64, n)
	for i := range v {
		if rng.IntN(10) >= 6 {
			v[i] = rng.ExpFloat64()
		}
	}
	return backendtest.Encode(dt, v)
}

// BenchmarkCount pairs the vector kernels with the plain-Go reference on the
// same data (fixed seed): 4 MiB blocks, in cache-friendly reuse, so the
// figures are the kernels' compute rate, not memory bandwidth.
func BenchmarkCount(b *testing.B) {
	shapes := []struct {
		name string
		g    profiler.Geometry
	}{
		{"dense512", profiler.Geometry{Units: 512, Inner: 1}},
		{"dense10", profiler.Geometry{Units: 10, Inner: 1}},
		{"conv64x14x14", profiler.Geometry{Units: 64, Inner: 196}},
	}
	for _, dt := range backendtest.DTypes {
		for _, s := range shapes {
			g := s.g
			group := int(g.Units * g.Inner)
			g.Outer = int64((4 << 20) / dt.Size() / group)
			data := reluLike(rand.New(rand.NewPCG(1, 1)), dt, int(g.Elements()))
			thr, _ := profiler.NewThreshold(0)
			for _, be := range []*cpu.Backend{{Generic: true}, {}} {
				b.Run(fmt.Sprintf("%v/%s/%s", dt, s.name, be.Name()), func(b *testing.B) {
					blk := &profiler.Block{DType: dt, Thr: thr, Geom: g, Data: data}
					t := profiler.NewTally(int(g.Units))
					b.SetBytes(int64(len(data)))
					for b.Loop() {
						if err := be.Count(blk, t); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// BenchmarkPatterns: packing each observation's fired bits, vector vs plain
// Go, dense and conv layouts (same data as BenchmarkCount).
func BenchmarkPatterns(b *testing.B) {
	for _, s := range []struct {
		name string
		g    profiler.Geometry
	}{{"dense512", profiler.Geometry{Units: 512, Inner: 1}}, {"conv64x14x14", profiler.Geometry{Units: 64, Inner: 196}}, {"conv16x8x8", profiler.Geometry{Units: 16, Inner: 64}}} {
		g := s.g
		for _, dt := range []profiler.DType{profiler.Float32, profiler.BFloat16} {
			g.Outer = int64((4 << 20) / dt.Size() / int(g.Units*g.Inner))
			data := reluLike(rand.New(rand.NewPCG(1, 1)), dt, int(g.Elements()))
			thr, _ := profiler.NewThreshold(0)
			for _, be := range []*cpu.Backend{{Generic: true}, {}} {
				b.Run(dt.String()+"/"+s.name+"/"+be.Name(), func(b *testing.B) {
					blk := &profiler.Block{DType: dt, Thr: thr, Geom: g, Data: data}
					t := profiler.NewTally(int(g.Units))
					t.Bits = make([]uint64, g.Observations()*int64(profiler.Words(int(g.Units))))
					b.SetBytes(int64(len(data)))
					for b.Loop() {
						if err := be.Count(blk, t); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// BenchmarkStats pairs the counting pass with the counting-and-statistics
// pass on the same 4 MiB blocks of float32 post-ReLU data.
func BenchmarkStats(b *testing.B) {
	shapes := []struct {
		name string
		g    profiler.Geometry
	}{
		{"dense512", profiler.Geometry{Units: 512, Inner: 1}},
		{"conv64x14x14", profiler.Geometry{Units: 64, Inner: 196}},
	}
	dt := profiler.Float32
	for _, s := range shapes {
		g := s.g
		group := int(g.Units * g.Inner)
		g.Outer = int64((4 << 20) / dt.Size() / group)
		data := reluLike(rand.New(rand.NewPCG(1, 1)), dt, int(g.Elements()))
		thr, _ := profiler.NewThreshold(0)
		for _, stats := range []bool{false, true} {
			name := "counts"
			if stats {
				name = "stats"
			}
			b.Run(s.name+"/"+name, func(b *testing.B) {
				blk := &profiler.Block{DType: dt, Thr: thr, Geom: g, Data: data}
				t := profiler.NewTally(int(g.Units))
				if stats {
					t.Stats = profiler.NewStats(int(g.Units), nil)
				}
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					if err := cpu.New().Count(blk, t); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
