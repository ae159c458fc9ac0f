//go:build cuda

package cuda

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/input"
	"github.com/actprof/actprof/internal/synth"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/profiler/backendtest"
	"github.com/actprof/actprof/store"
)

// BenchmarkKernel: the kernels over device-resident data, beside a
// device-to-device copy of the same bytes in the same run: kernel GB/s and
// its ratio to the copy (target >= 0.8). Rows of 512 units (float32 and
// bfloat16; float32 with pattern bits too) and conv runs of 64 channels x
// 6x6 positions (float32, with and without bits).
func BenchmarkKernel(b *testing.B) {
	be, err := New(0)
	if err != nil {
		b.Skip(err)
	}
	defer be.Close()
	for _, k := range []struct {
		name, kind   string
		size         int
		units, inner int64
		bits         bool
	}{
		{"f32", "f32", 4, 512, 1, false},
		{"bf16", "bf16", 2, 512, 1, false},
		{"f32-bits", "f32", 4, 512, 1, true},
		{"f32-conv", "f32", 4, 64, 36, false},
		{"f32-conv-bits", "f32", 4, 64, 36, true},
	} {
		b.Run(k.name, func(b *testing.B) {
			group := k.units * k.inner
			n := (int64(1<<30) / int64(k.size)) / group * group
			bytes := n * int64(k.size)
			g := profiler.Geometry{Outer: n / group, Units: k.units, Inner: k.inner}
			host := make([]byte, bytes)
			rng := rand.New(rand.NewPCG(1, 2))
			for i := 0; i+4 <= len(host); i += 4 {
				v := math.Float32bits(float32(rng.NormFloat64()))
				host[i], host[i+1], host[i+2], host[i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
			}
			bitBytes := g.Observations() * int64(profiler.Words(int(k.units))) * 8
			var kernel, copyT time.Duration
			err := be.do(func() error {
				var ptrs [4]cu.DevicePtr // src, dst, counts, bits
				for i, sz := range []int64{bytes, bytes, 2 * k.units * 8, bitBytes} {
					if i == 3 && !k.bits {
						break
					}
					p, err := cu.MemAlloc(sz)
					if err != nil {
						return err
					}
					defer cu.MemFree(p)
					ptrs[i] = p
				}
				src, dst, counts, bits := ptrs[0], ptrs[1], ptrs[2], ptrs[3]
				if err := cu.MemcpyHtoD(src, unsafe.Pointer(&host[0]), bytes); err != nil {
					return err
				}
				for i := 0; i < b.N; i++ {
					t := time.Now()
					if err := be.launch(k.kind, g, n, 0, src, counts, bits, cu.Stream{}); err != nil {
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

// BenchmarkEndToEnd: profile a page-cached 2 GiB file of 512-unit rows
// (float32 and float16 .npy from synth, and bfloat16 safetensors converted
// from the float16 one) through the driver on the GPU, beside the pinned
// host-to-device copy rate measured in the same run (target >= 0.8).
func BenchmarkEndToEnd(b *testing.B) {
	be, err := New(0)
	if err != nil {
		b.Skip(err)
	}
	defer be.Close()
	dir := b.TempDir()
	for _, dt := range []profiler.DType{profiler.Float32, profiler.Float16, profiler.BFloat16} {
		b.Run(dt.String(), func(b *testing.B) {
			path := endToEndFile(b, dir, dt)
			st, _ := os.Stat(path)
			os.ReadFile(path) // into the page cache
			var run time.Duration
			for i := 0; i < b.N; i++ {
				run += timedRun(b, path, profiler.Options{Backend: be})
			}
			h2d, err := be.pinnedH2D(1 << 30)
			if err != nil {
				b.Fatal(err)
			}
			// The CPU backend on the same file, same process, all cores.
			cpuRun := time.Duration(math.MaxInt64)
			for i := 0; i < 3; i++ {
				cpuRun = min(cpuRun, timedRun(b, path, profiler.Options{Backend: cpu.New()}))
			}
			e2e := float64(st.Size()) * float64(b.N) / run.Seconds() / 1e9
			cpuE2E := float64(st.Size()) / cpuRun.Seconds() / 1e9
			b.ReportMetric(e2e, "end-to-end-GB/s")
			b.ReportMetric(h2d, "pinned-h2d-GB/s")
			b.ReportMetric(e2e/h2d, "e2e/h2d")
			b.ReportMetric(cpuE2E, "cpu-end-to-end-GB/s")
			b.ReportMetric(e2e/cpuE2E, "gpu/cpu")
		})
	}
}

// BenchmarkEndToEndSettings: the float32 file of BenchmarkEndToEnd at
// several chunk sizes and worker counts, on a backend made once (warm) and
// on one made and closed in each run (cold: what one actprof process pays,
// context and page-locked buffers included), to choose the defaults.
func BenchmarkEndToEndSettings(b *testing.B) {
	dir := b.TempDir()
	path := endToEndFile(b, dir, profiler.Float32)
	st, _ := os.Stat(path)
	os.ReadFile(path)
	warm, err := New(0)
	if err != nil {
		b.Skip(err)
	}
	defer warm.Close()
	for _, c := range []struct {
		cold    bool
		mib     int
		workers []int
	}{{false, 2, []int{8, 16, 32}}, {false, 4, []int{8, 16, 32}}, {false, 8, []int{16}}, {true, 4, []int{8, 16}}} {
		cold, mib := c.cold, c.mib
		for _, workers := range c.workers {
			{
				name := fmt.Sprintf("warm/chunk=%dMiB/workers=%d", mib, workers)
				if cold {
					name = "cold" + name[4:]
				}
				b.Run(name, func(b *testing.B) {
					var run time.Duration
					for i := 0; i < b.N; i++ {
						ls, err := input.Open([]string{path}, input.Options{})
						if err != nil {
							b.Fatal(err)
						}
						t := time.Now()
						be := warm
						if cold {
							if be, err = New(0); err != nil {
								b.Fatal(err)
							}
						}
						_, err = profiler.Run(context.Background(), ls, profiler.Options{Backend: be, ChunkBytes: mib << 20, Workers: workers})
						if cold {
							be.Close()
						}
						if err != nil {
							b.Fatal(err)
						}
						run += time.Since(t)
					}
					b.ReportMetric(float64(st.Size())*float64(b.N)/run.Seconds()/1e9, "end-to-end-GB/s")
				})
			}
		}
	}
}

// BenchmarkEndToEndPatterns: the float32 file of BenchmarkEndToEnd with
// a pattern store written (level fastest), on the GPU (backend made once)
// and on the CPU, in the same process: with patterns on, the CPU's cores
// also compress, so this is where taking the counting off them could pay.
func BenchmarkEndToEndPatterns(b *testing.B) {
	be, err := New(0)
	if err != nil {
		b.Skip(err)
	}
	defer be.Close()
	dir := b.TempDir()
	path := endToEndFile(b, dir, profiler.Float32)
	st, _ := os.Stat(path)
	os.ReadFile(path)
	for _, dev := range []string{"cuda", "cpu"} {
		b.Run(dev, func(b *testing.B) {
			var backend profiler.Backend = be
			if dev == "cpu" {
				backend = cpu.New()
			}
			var run time.Duration
			for i := 0; i < b.N; i++ {
				ls, err := input.Open([]string{path}, input.Options{})
				if err != nil {
					b.Fatal(err)
				}
				plans, err := profiler.PlanLayers(ls, nil)
				if err != nil {
					b.Fatal(err)
				}
				t := time.Now()
				w, err := store.Create(filepath.Join(dir, "p.actbits"), store.NewHeader(plans, 0), "fastest")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := profiler.Run(context.Background(), ls, profiler.Options{Backend: backend, Patterns: w}); err != nil {
					w.Abort()
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				run += time.Since(t)
			}
			b.ReportMetric(float64(st.Size())*float64(b.N)/run.Seconds()/1e9, "end-to-end-GB/s")
		})
	}
}

// BenchmarkStartup: what a process pays before counting: New (context,
// kernels) and page-locked buffers, and Close, in ms.
func BenchmarkStartup(b *testing.B) {
	var newT, pinT, closeT time.Duration
	for i := 0; i < b.N; i++ {
		t := time.Now()
		be, err := New(0)
		if err != nil {
			b.Skip(err)
		}
		newT += time.Since(t)
		t = time.Now()
		h, err := be.AllocHost(256 << 20)
		if err != nil {
			b.Fatal(err)
		}
		pinT += time.Since(t)
		be.FreeHost(h)
		t = time.Now()
		be.Close()
		closeT += time.Since(t)
	}
	b.ReportMetric(newT.Seconds()*1e3/float64(b.N), "New-ms")
	b.ReportMetric(closeT.Seconds()*1e3/float64(b.N), "Close-ms")
	b.ReportMetric(pinT.Seconds()*1e3/float64(b.N), "pin-256MiB-ms")
}

// timedRun opens path and times profiler.Run over it with opt.
func timedRun(b *testing.B, path string, opt profiler.Options) time.Duration {
	ls, err := input.Open([]string{path}, input.Options{})
	if err != nil {
		b.Fatal(err)
	}
	t := time.Now()
	if _, err := profiler.Run(context.Background(), ls, opt); err != nil {
		b.Fatal(err)
	}
	return time.Since(t)
}

// endToEndFile writes the 2 GiB file of BenchmarkEndToEnd for dt into dir.
func endToEndFile(b *testing.B, dir string, dt profiler.DType) string {
	src := dt
	if dt == profiler.BFloat16 {
		src = profiler.Float16
	}
	c := synth.DefaultConfig(filepath.Join(dir, src.String()))
	c.DType, c.Rows = src, (2<<30)/(512*src.Size())
	c.Layers = []synth.LayerSpec{{Name: "acts", Dims: []int{512}}}
	path := filepath.Join(c.Dir, "acts.npy")
	if _, err := os.Stat(path); err != nil {
		if _, err := synth.Write(c); err != nil {
			b.Fatal(err)
		}
	}
	if dt != profiler.BFloat16 {
		return path
	}
	// bfloat16: the float16 values, truncated, in a safetensors file.
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	hl := int(binary.LittleEndian.Uint16(data[8:]))
	data = data[10+hl:]
	var table [1 << 16]uint16
	for h := range table {
		var e [2]byte
		binary.LittleEndian.PutUint16(e[:], uint16(h))
		table[h] = uint16(math.Float32bits(float32(backendtest.Value(profiler.Float16, e[:], 0))) >> 16)
	}
	for i := 0; i+1 < len(data); i += 2 {
		binary.LittleEndian.PutUint16(data[i:], table[binary.LittleEndian.Uint16(data[i:])])
	}
	head := fmt.Sprintf(`{"acts":{"dtype":"BF16","shape":[%d,512],"data_offsets":[0,%d]}}`, c.Rows, len(data))
	for len(head)%8 != 0 {
		head += " "
	}
	out := filepath.Join(dir, "acts.safetensors")
	f, err := os.Create(out)
	if err != nil {
		b.Fatal(err)
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(head)))
	f.Write(n[:])
	f.WriteString(head)
	f.Write(data)
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return out
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
