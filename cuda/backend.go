//go:build cuda

// Package cuda is actprof's GPU backend: the kernels of kernels/count.cu,
// compiled into kernels.fatbin (machine code for sm_70..sm_90, PTX for
// compute_90) and embedded, launched through gorgonia.org/cu. It implements
// profiler.Backend, so the driver, readers and pattern store are shared with
// the CPU backend, and it must give the CPU's results bit for bit (the
// conformance suite in profiler/backendtest, run by cuda_test.go on a GPU).
//
// gorgonia.org/cu ends the process in its package init when no GPU is
// usable, so this package is only built with the build tag cuda, into the
// actprof-cuda binary; actprof itself never links it.
package cuda

import (
	_ "embed"
	"fmt"
	"math"
	"sync"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
)

//go:embed kernels.fatbin
var fatbin []byte

// Backend counts on one GPU. Calls are serialised: one chunk at a time
// goes through the context's thread, one cgo round per chunk.
type Backend struct {
	dev  cu.Device
	name string
	ctx  *cu.Ctx
	mod  cu.Module
	fns  map[string]cu.Function

	mu       sync.Mutex
	stream   cu.Stream
	pinned   []byte // staging for a chunk
	dData    cu.DevicePtr
	dataCap  int64
	dCounts  cu.DevicePtr // 2 x units u64: counts, then NaNs
	countCap int64
	dBits    cu.DevicePtr
	bitsCap  int64
	host     []uint64 // counts and NaNs copied back
	ref      *cpu.Backend
}

// Device describes one GPU.
type Device struct {
	Ordinal      int
	Name         string
	Major, Minor int
	MemoryBytes  int64
}

// Devices lists the GPUs the driver reports.
func Devices() ([]Device, error) {
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", profiler.ErrBackend, err)
	}
	var out []Device
	for i := 0; i < n; i++ {
		d := cu.Device(i)
		name, err := d.Name()
		if err != nil {
			return nil, fmt.Errorf("%w: device %d: %v", profiler.ErrBackend, i, err)
		}
		major, minor, _ := d.ComputeCapability()
		mem, _ := d.TotalMem()
		out = append(out, Device{Ordinal: i, Name: name, Major: major, Minor: minor, MemoryBytes: mem})
	}
	return out, nil
}

// New opens GPU ordinal and loads the kernels.
func New(ordinal int) (*Backend, error) {
	n, err := cu.NumDevices()
	if err != nil || ordinal < 0 || ordinal >= n {
		return nil, fmt.Errorf("%w: no CUDA device %d (%d found, %v)", profiler.ErrBackend, ordinal, n, err)
	}
	b := &Backend{dev: cu.Device(ordinal), name: fmt.Sprintf("cuda:%d", ordinal), fns: map[string]cu.Function{}, ref: cpu.New()}
	b.ctx = cu.NewContext(b.dev, cu.SchedBlockingSync)
	err = b.ctx.Do(func() error {
		mod, err := cu.LoadData(string(fatbin))
		if err != nil {
			return fmt.Errorf("loading kernels: %v", err)
		}
		b.mod = mod
		for _, name := range []string{"rows_f32", "rows_f16", "rows_bf16", "runs_f32", "runs_f16", "runs_bf16"} {
			fn, err := mod.Function(name)
			if err != nil {
				return fmt.Errorf("kernel %s: %v", name, err)
			}
			b.fns[name] = fn
		}
		b.stream, err = cu.MakeStream(cu.NonBlocking)
		return err
	})
	if err != nil {
		b.ctx.Close()
		return nil, fmt.Errorf("%w: %s: %v", profiler.ErrBackend, b.name, err)
	}
	return b, nil
}

// Name is "cuda:N".
func (b *Backend) Name() string { return b.name }

// Close frees the GPU's memory and the context.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ctx.Do(func() error {
		for _, p := range []cu.DevicePtr{b.dData, b.dCounts, b.dBits} {
			if p != 0 {
				cu.MemFree(p)
			}
		}
		hostFree(b.pinned)
		return nil
	})
	return b.ctx.Close()
}

const warps = 8 // must match WARPS in kernels/count.cu

// Count implements profiler.Backend. float64 layers, and blocks that do not
// start and end on a row (Inner == 1) or a unit run (Inner > 1), which the
// driver only makes for rows too large for a chunk, are counted by the CPU
// reference instead.
func (b *Backend) Count(blk *profiler.Block, t *profiler.Tally) error {
	g := blk.Geom
	n := int64(blk.Len())
	var kind string
	switch blk.DType {
	case profiler.Float32:
		kind = "f32"
	case profiler.Float16:
		kind = "f16"
	case profiler.BFloat16:
		kind = "bf16"
	}
	rowsLayout := g.Inner == 1
	aligned := blk.Start%g.Units == 0 && n%g.Units == 0
	if !rowsLayout {
		aligned = blk.Start%g.Inner == 0 && n%g.Inner == 0
	}
	if kind == "" || !aligned || n == 0 {
		return b.ref.Count(blk, t)
	}
	units := int(g.Units)
	w32 := 2 * profiler.Words(units)
	var nobs int64
	if t.Bits != nil {
		nobs = n / (g.Units * g.Inner) * g.Inner
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.ctx.Do(func() error {
		if err := b.reserve(int64(len(blk.Data)), int64(2*units*8), nobs*int64(w32)*4); err != nil {
			return err
		}
		copy(b.pinned, blk.Data)
		if err := cu.MemcpyHtoDAsync(b.dData, unsafe.Pointer(&b.pinned[0]), int64(len(blk.Data)), b.stream); err != nil {
			return err
		}
		if err := cu.MemsetD8Async(b.dCounts, 0, int64(2*units*8), b.stream); err != nil {
			return err
		}
		dBits := cu.DevicePtr(0)
		if nobs > 0 {
			dBits = b.dBits
			if err := cu.MemsetD8Async(dBits, 0, nobs*int64(w32)*4, b.stream); err != nil {
				return err
			}
		}
		dNaNs := b.dCounts + cu.DevicePtr(units*8)
		// gorgonia.org/cu copies every kernel argument as 8 bytes: hold the
		// 4-byte ones (int, float) in the low half of a uint64.
		thr := uint64(math.Float32bits(blk.Thr.F32))
		w32c := uint64(uint32(w32))
		units32 := uint64(uint32(units))
		if rowsLayout {
			rows := n / g.Units
			gx := (units + 31) / 32
			gy := int(min((rows+warps-1)/warps, 65535, int64(max(1, 4096/gx))))
			args := []unsafe.Pointer{unsafe.Pointer(&b.dData), unsafe.Pointer(&rows), unsafe.Pointer(&units32), unsafe.Pointer(&thr),
				unsafe.Pointer(&b.dCounts), unsafe.Pointer(&dNaNs), unsafe.Pointer(&dBits), unsafe.Pointer(&w32c)}
			if err := b.fns["rows_"+kind].Launch(gx, gy, 1, 32*warps, 1, 1, 0, b.stream, args); err != nil {
				return err
			}
		} else {
			nruns := n / g.Inner
			inner := g.Inner
			threads := 256
			if inner < 256 {
				threads = int(max(32, (inner+31)/32*32))
			}
			gx := int(min(nruns, 1<<20))
			args := []unsafe.Pointer{unsafe.Pointer(&b.dData), unsafe.Pointer(&nruns), unsafe.Pointer(&units32), unsafe.Pointer(&inner),
				unsafe.Pointer(&thr), unsafe.Pointer(&b.dCounts), unsafe.Pointer(&dNaNs), unsafe.Pointer(&dBits), unsafe.Pointer(&w32c)}
			if err := b.fns["runs_"+kind].Launch(gx, 1, 1, threads, 1, 1, 0, b.stream, args); err != nil {
				return err
			}
		}
		if err := cu.MemcpyDtoHAsync(unsafe.Pointer(&b.host[0]), b.dCounts, int64(2*units*8), b.stream); err != nil {
			return err
		}
		if nobs > 0 {
			if err := cu.MemcpyDtoHAsync(unsafe.Pointer(&t.Bits[0]), dBits, nobs*int64(w32)*4, b.stream); err != nil {
				return err
			}
		}
		return b.stream.Synchronize()
	})
	if err != nil {
		return fmt.Errorf("%w: %s: %v", profiler.ErrBackend, b.name, err)
	}
	// The runs layout counts whole runs, so unit u's runs start at unit
	// (Start/Inner) % Units; the kernel indexes units from the block's first
	// run.
	shift := 0
	if !rowsLayout {
		shift = int((blk.Start / g.Inner) % g.Units)
	}
	for i := 0; i < units; i++ {
		u := (i + shift) % units
		t.Counts[u] += b.host[i]
		t.NaNs[u] += b.host[units+i]
	}
	return nil
}

// reserve grows the staging and device buffers; on the context's thread.
func (b *Backend) reserve(data, counts, bits int64) error {
	if data > b.dataCap {
		if b.dData != 0 {
			cu.MemFree(b.dData)
			hostFree(b.pinned)
		}
		var err error
		if b.dData, err = cu.MemAlloc(data); err != nil {
			return err
		}
		if b.pinned, err = hostAlloc(int(data)); err != nil {
			return err
		}
		b.dataCap = data
	}
	if counts > b.countCap {
		if b.dCounts != 0 {
			cu.MemFree(b.dCounts)
		}
		var err error
		if b.dCounts, err = cu.MemAlloc(counts); err != nil {
			return err
		}
		b.countCap = counts
		b.host = make([]uint64, counts/8)
	}
	if bits > b.bitsCap {
		if b.dBits != 0 {
			cu.MemFree(b.dBits)
		}
		var err error
		if b.dBits, err = cu.MemAlloc(bits); err != nil {
			return err
		}
		b.bitsCap = bits
	}
	return nil
}
