//go:build cuda

package cuda

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/actprof/actprof/input"
	"github.com/actprof/actprof/internal/synth"
	"github.com/actprof/actprof/profiler"
)

// BenchmarkKernel: the rows kernel over device-resident data (512 units,
// float32 and bfloat16), beside a device-to-device copy of the same bytes
// in the same run: kernel GB/s and its ratio to the copy (target >= 0.8).
func BenchmarkKernel(b *testing.B) {
	be, err := New(0)
	if err != nil {
		b.Skip(err)
	}
	defer be.Close()
	const units = 512
	for _, k := range []struct {
		name string
		size int
	}{{"f32", 4}, {"bf16", 2}} {
		b.Run(k.name, func(b *testing.B) {
			bytes := int64(1 << 30)
			rows := bytes / int64(units*k.size)
			host := make([]byte, bytes)
			rng := rand.New(rand.NewPCG(1, 2))
			for i := 0; i+4 <= len(host); i += 4 {
				v := math.Float32bits(float32(rng.NormFloat64()))
				host[i], host[i+1], host[i+2], host[i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
			}
			var kernel, copyT time.Duration
			err := be.do(func() error {
				src, err := cu.MemAlloc(bytes)
				if err != nil {
					return err
				}
				defer cu.MemFree(src)
				dst, err := cu.MemAlloc(bytes)
				if err != nil {
					return err
				}
				defer cu.MemFree(dst)
				counts, err := cu.MemAlloc(2 * units * 8)
				if err != nil {
					return err
				}
				defer cu.MemFree(counts)
				if err := cu.MemcpyHtoD(src, unsafe.Pointer(&host[0]), bytes); err != nil {
					return err
				}
				nans := counts + units*8
				var bits cu.DevicePtr
				thr, u32, w32 := uint64(0), uint64(units), uint64(2*profiler.Words(units))
				gx := (units + 31) / 32
				gy := int(min((rows+warps-1)/warps, 65535, int64(max(1, 4096/gx))))
				args := []unsafe.Pointer{unsafe.Pointer(&src), unsafe.Pointer(&rows), unsafe.Pointer(&u32), unsafe.Pointer(&thr),
					unsafe.Pointer(&counts), unsafe.Pointer(&nans), unsafe.Pointer(&bits), unsafe.Pointer(&w32)}
				fn := be.fns["rows_"+k.name]
				for i := 0; i < b.N; i++ {
					t := time.Now()
					if err := fn.Launch(gx, gy, 1, 32*warps, 1, 1, 0, cu.Stream{}, args); err != nil {
						return err
					}
					if err := cu.Synchronize(); err != nil {
						return err
					}
					kernel += time.Since(t)
					t = time.Now()
					if err := cu.MemcpyDtoD(dst, src, bytes); err != nil {
						return err
					}
					if err := cu.Synchronize(); err != nil {
						return err
					}
					copyT += time.Since(t)
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			kg := float64(bytes) * float64(b.N) / kernel.Seconds() / 1e9
			// a copy reads and writes every byte: its read rate is 2x bytes/s
			cg := 2 * float64(bytes) * float64(b.N) / copyT.Seconds() / 1e9
			b.ReportMetric(kg, "kernel-GB/s")
			b.ReportMetric(cg, "d2d-copy-GB/s")
			b.ReportMetric(kg/cg, "kernel/copy")
		})
	}
}

// BenchmarkEndToEnd: profile a page-cached 2 GiB .npy (float32, and float16
// standing in for 16-bit input until synth writes bfloat16 safetensors)
// through the driver on the GPU, beside the pinned host-to-device copy rate
// measured in the same run (target >= 0.8).
func BenchmarkEndToEnd(b *testing.B) {
	be, err := New(0)
	if err != nil {
		b.Skip(err)
	}
	defer be.Close()
	dir := b.TempDir()
	for _, dt := range []profiler.DType{profiler.Float32, profiler.Float16} {
		b.Run(dt.String(), func(b *testing.B) {
			c := synth.DefaultConfig(filepath.Join(dir, dt.String()))
			c.DType, c.Rows = dt, (2<<30)/(512*dt.Size())
			c.Layers = []synth.LayerSpec{{Name: "acts", Dims: []int{512}}}
			if _, err := synth.Write(c); err != nil {
				b.Fatal(err)
			}
			path := filepath.Join(c.Dir, "acts.npy")
			st, _ := os.Stat(path)
			os.ReadFile(path) // into the page cache
			var run time.Duration
			for i := 0; i < b.N; i++ {
				ls, err := input.Open([]string{path}, input.Options{})
				if err != nil {
					b.Fatal(err)
				}
				t := time.Now()
				if _, err := profiler.Run(context.Background(), ls, profiler.Options{Backend: be, ChunkBytes: 64 << 20}); err != nil {
					b.Fatal(err)
				}
				run += time.Since(t)
			}
			h2d, err := be.pinnedH2D(1 << 30)
			if err != nil {
				b.Fatal(err)
			}
			e2e := float64(st.Size()) * float64(b.N) / run.Seconds() / 1e9
			b.ReportMetric(e2e, "end-to-end-GB/s")
			b.ReportMetric(h2d, "pinned-h2d-GB/s")
			b.ReportMetric(e2e/h2d, "e2e/h2d")
		})
	}
}

// pinnedH2D measures the pinned host-to-device copy rate in GB/s.
func (b *Backend) pinnedH2D(n int64) (float64, error) {
	var rate float64
	err := b.do(func() error {
		h, err := hostAlloc(int(n))
		if err != nil {
			return err
		}
		defer hostFree(h)
		d, err := cu.MemAlloc(n)
		if err != nil {
			return err
		}
		defer cu.MemFree(d)
		best := time.Duration(math.MaxInt64)
		for i := 0; i < 5; i++ {
			t := time.Now()
			if err := cu.MemcpyHtoD(d, unsafe.Pointer(&h[0]), n); err != nil {
				return err
			}
			best = min(best, time.Since(t))
		}
		rate = float64(n) / best.Seconds() / 1e9
		return nil
	})
	return rate, err
}
