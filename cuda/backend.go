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
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"time"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
)

//go:embed kernels.fatbin
var fatbin []byte

// Backend counts on one GPU. The context lives on one locked OS thread
// (gorgonia.org/cu's Ctx); each chunk costs a few coarse rounds through it.
// Two slots, each with its own stream, pinned staging and device buffers,
// let the copy of one chunk to the GPU overlap the kernel on another, while
// counting goroutines fill the other slot's staging.
type Backend struct {
	dev  cu.Device
	name string
	ctx  *cu.Ctx
	mod  cu.Module
	fns  map[string]cu.Function

	slots chan *slot
	all   []*slot
	ref   *cpu.Backend
	doMu  sync.Mutex // Ctx.Do is not safe for concurrent callers (one shared error channel)
}

// do runs fn on the context's thread. gorgonia.org/cu's Ctx.Do hands every
// caller's result back through one channel, so two concurrent callers could
// take each other's: calls are serialised here. Each is short (a submission
// or a query); the waiting happens outside.
func (b *Backend) do(fn func() error) error {
	b.doMu.Lock()
	defer b.doMu.Unlock()
	return b.ctx.Do(fn)
}

// slot is one chunk in flight.
type slot struct {
	stream   cu.Stream
	pinned   []byte // staging for the chunk
	dData    cu.DevicePtr
	dataCap  int64
	dCounts  cu.DevicePtr // 2 x units u64: counts, then NaNs
	hCounts  []byte       // pinned copy back of dCounts
	countCap int64
	dBits    cu.DevicePtr
	hBits    []byte // pinned copy back of dBits
	bitsCap  int64
}

// nslots is the number of chunks in flight on the GPU.
const nslots = 2

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
	b := &Backend{dev: cu.Device(ordinal), name: fmt.Sprintf("cuda:%d", ordinal), fns: map[string]cu.Function{}, ref: cpu.New(),
		slots: make(chan *slot, nslots)}
	b.ctx = cu.NewContext(b.dev, cu.SchedBlockingSync)
	err = b.do(func() error {
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
		for i := 0; i < nslots; i++ {
			st, err := cu.MakeStream(cu.NonBlocking)
			if err != nil {
				return err
			}
			sl := &slot{stream: st}
			b.all = append(b.all, sl)
			b.slots <- sl
		}
		return nil
	})
	if err != nil {
		b.ctx.Close()
		return nil, fmt.Errorf("%w: %s: %v", profiler.ErrBackend, b.name, err)
	}
	return b, nil
}

// ChunkBytes is the chunk size the driver uses by default with this
// backend: large enough that a chunk's copy and launch costs are small
// beside its transfer time.
func (b *Backend) ChunkBytes() int { return 32 << 20 }

// Name is "cuda:N".
func (b *Backend) Name() string { return b.name }

// Close frees the GPU's memory and the context. No Count may be running.
func (b *Backend) Close() error {
	b.do(func() error {
		for _, sl := range b.all {
			for _, p := range []cu.DevicePtr{sl.dData, sl.dCounts, sl.dBits} {
				if p != 0 {
					cu.MemFree(p)
				}
			}
			hostFree(sl.pinned)
			hostFree(sl.hCounts)
			hostFree(sl.hBits)
			sl.stream.Destroy()
		}
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
	sl := <-b.slots
	defer func() { b.slots <- sl }()
	countBytes, bitBytes := int64(2*units*8), nobs*int64(w32)*4
	fail := func(err error) error { return fmt.Errorf("%w: %s: %v", profiler.ErrBackend, b.name, err) }
	if err := b.do(func() error { return sl.reserve(int64(len(blk.Data)), countBytes, bitBytes) }); err != nil {
		return fail(err)
	}
	copy(sl.pinned, blk.Data) // in the calling goroutine, while the GPU works on the other slot
	err := b.do(func() error {
		if err := cu.MemcpyHtoDAsync(sl.dData, unsafe.Pointer(&sl.pinned[0]), int64(len(blk.Data)), sl.stream); err != nil {
			return err
		}
		if err := cu.MemsetD8Async(sl.dCounts, 0, countBytes, sl.stream); err != nil {
			return err
		}
		dBits := cu.DevicePtr(0)
		if nobs > 0 {
			dBits = sl.dBits
			if err := cu.MemsetD8Async(dBits, 0, bitBytes, sl.stream); err != nil {
				return err
			}
		}
		dData, dCounts := sl.dData, sl.dCounts
		dNaNs := dCounts + cu.DevicePtr(units*8)
		// gorgonia.org/cu copies every kernel argument as 8 bytes: hold the
		// 4-byte ones (int, float) in the low half of a uint64.
		thr := uint64(math.Float32bits(blk.Thr.F32))
		w32c := uint64(uint32(w32))
		units32 := uint64(uint32(units))
		if rowsLayout {
			rows := n / g.Units
			gx := (units + 31) / 32
			gy := int(min((rows+warps-1)/warps, 65535, int64(max(1, 4096/gx))))
			args := []unsafe.Pointer{unsafe.Pointer(&dData), unsafe.Pointer(&rows), unsafe.Pointer(&units32), unsafe.Pointer(&thr),
				unsafe.Pointer(&dCounts), unsafe.Pointer(&dNaNs), unsafe.Pointer(&dBits), unsafe.Pointer(&w32c)}
			if err := b.fns["rows_"+kind].Launch(gx, gy, 1, 32*warps, 1, 1, 0, sl.stream, args); err != nil {
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
			args := []unsafe.Pointer{unsafe.Pointer(&dData), unsafe.Pointer(&nruns), unsafe.Pointer(&units32), unsafe.Pointer(&inner),
				unsafe.Pointer(&thr), unsafe.Pointer(&dCounts), unsafe.Pointer(&dNaNs), unsafe.Pointer(&dBits), unsafe.Pointer(&w32c)}
			if err := b.fns["runs_"+kind].Launch(gx, 1, 1, threads, 1, 1, 0, sl.stream, args); err != nil {
				return err
			}
		}
		if err := cu.MemcpyDtoHAsync(unsafe.Pointer(&sl.hCounts[0]), dCounts, countBytes, sl.stream); err != nil {
			return err
		}
		if nobs > 0 {
			return cu.MemcpyDtoHAsync(unsafe.Pointer(&sl.hBits[0]), dBits, bitBytes, sl.stream)
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	// Wait without holding the context's thread, so the other slot can be
	// submitted meanwhile.
	for {
		err := b.do(func() error { return sl.stream.Query() })
		if err == nil {
			break
		}
		if err != cu.NotReady {
			return fail(err)
		}
		time.Sleep(20 * time.Microsecond)
	}
	if nobs > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&t.Bits[0])), bitBytes), sl.hBits[:bitBytes])
	}
	// The runs layout counts whole runs, so unit u's runs start at unit
	// (Start/Inner) % Units; the kernel numbers units from the block's first
	// run.
	shift := 0
	if !rowsLayout {
		shift = int((blk.Start / g.Inner) % g.Units)
	}
	for i := 0; i < units; i++ {
		u := (i + shift) % units
		t.Counts[u] += binary.LittleEndian.Uint64(sl.hCounts[8*i:])
		t.NaNs[u] += binary.LittleEndian.Uint64(sl.hCounts[8*(units+i):])
	}
	return nil
}

// reserve grows the slot's staging and device buffers; on the context's
// thread.
func (sl *slot) reserve(data, counts, bits int64) error {
	grow := func(need int64, capacity *int64, d *cu.DevicePtr, h *[]byte) error {
		if need <= *capacity {
			return nil
		}
		if *d != 0 {
			cu.MemFree(*d)
			*d = 0
		}
		hostFree(*h)
		*h = nil
		*capacity = 0
		var err error
		if *d, err = cu.MemAlloc(need); err != nil {
			return err
		}
		if *h, err = hostAlloc(int(need)); err != nil {
			return err
		}
		*capacity = need
		return nil
	}
	if err := grow(data, &sl.dataCap, &sl.dData, &sl.pinned); err != nil {
		return err
	}
	if err := grow(counts, &sl.countCap, &sl.dCounts, &sl.hCounts); err != nil {
		return err
	}
	return grow(max(bits, 4), &sl.bitsCap, &sl.dBits, &sl.hBits)
}
