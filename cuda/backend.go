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
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
)

// Backend counts on one GPU. gorgonia.org/cu's Ctx owns the context on a
// locked OS thread, for set-up and tear-down. Count runs on the calling
// goroutine's own thread instead: it locks it, makes the context current
// there (a driver-API context may be current on several threads) and
// submits its chunk to a stream of its own, so that every counting
// goroutine has a chunk in flight (copy in, kernel, copy back) and waits
// for it alone. Each slot (a stream with its device buffers) serves one
// chunk at a time; there are as many as concurrent callers.
type Backend struct {
	dev   cu.Device
	name  string
	ctx   *cu.Ctx
	cuctx cu.CUContext
	mod   cu.Module
	fns   map[string]cu.Function

	mu     sync.Mutex
	free   []*slot            // idle slots
	all    []*slot            // every slot, for Close
	pinned map[uintptr][]byte // page-locked buffers handed out by AllocHost, by base address
	spare  [][]byte           // page-locked buffers given back by FreeHost, for reuse
	ref    *cpu.Backend
	doMu   sync.Mutex // Ctx.Do is not safe for concurrent callers (one shared error channel)
}

// do runs fn on the context's own thread. gorgonia.org/cu's Ctx.Do hands
// every caller's result back through one channel, so two concurrent
// callers could take each other's: calls are serialised here.
func (b *Backend) do(fn func() error) error {
	b.doMu.Lock()
	defer b.doMu.Unlock()
	return b.ctx.Do(fn)
}

// onThread locks the calling goroutine to its OS thread and makes the
// context current there; call the returned function when done.
func (b *Backend) onThread() (func(), error) {
	runtime.LockOSThread()
	if err := cu.SetCurrentContext(b.cuctx); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	return runtime.UnlockOSThread, nil
}

// slot is one chunk in flight.
type slot struct {
	stream   cu.Stream
	pinned   []byte // staging for a chunk not in page-locked memory
	dData    cu.DevicePtr
	dataCap  int64
	dCounts  cu.DevicePtr // 2 x units u64: counts, then NaNs
	hCounts  []byte       // pinned copy back of dCounts
	countCap int64
	dBits    cu.DevicePtr
	hBits    []byte // pinned copy back of dBits
	bitsCap  int64
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
		return nil, fmt.Errorf("%w: %w", profiler.ErrBackend, err)
	}
	var out []Device
	for i := 0; i < n; i++ {
		d := cu.Device(i)
		name, err := d.Name()
		if err != nil {
			return nil, fmt.Errorf("%w: device %d: %w", profiler.ErrBackend, i, err)
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
	if err != nil {
		return nil, fmt.Errorf("%w: no CUDA device %d: %w", profiler.ErrBackend, ordinal, err)
	}
	if ordinal < 0 || ordinal >= n {
		return nil, fmt.Errorf("%w: no CUDA device %d (%d found)", profiler.ErrBackend, ordinal, n)
	}
	b := &Backend{dev: cu.Device(ordinal), name: fmt.Sprintf("cuda:%d", ordinal), fns: map[string]cu.Function{}, ref: cpu.New(),
		pinned: map[uintptr][]byte{}}
	b.ctx = cu.NewContext(b.dev, cu.SchedBlockingSync)
	b.cuctx = b.ctx.CUDAContext()
	err = b.do(func() error {
		mod, err := cu.LoadData(string(Fatbin))
		if err != nil {
			return fmt.Errorf("loading kernels: %w", err)
		}
		b.mod = mod
		for _, name := range []string{"rows_f32", "rows_f16", "rows_bf16", "rows2_f32", "rows2_f16", "rows2_bf16", "runs_f32", "runs_f16", "runs_bf16"} {
			fn, err := mod.Function(name)
			if err != nil {
				return fmt.Errorf("kernel %s: %w", name, err)
			}
			b.fns[name] = fn
		}
		return nil
	})
	if err != nil {
		b.ctx.Close()
		return nil, fmt.Errorf("%w: %s: %w", profiler.ErrBackend, b.name, err)
	}
	return b, nil
}

// The backend is a profiler.Device.
var _ profiler.Device = (*Backend)(nil)

// ChunkBytes implements profiler.Device: chunks of a few MiB, read into
// page-locked memory, are copied to the GPU while still in the CPU's cache,
// and each worker pins little memory (pinning costs time at start-up);
// larger chunks were slower end to end (docs/gpu.md).
func (b *Backend) ChunkBytes() int { return 4 << 20 }

// Workers implements profiler.Device: two per core, since each spends much
// of its time waiting for its chunk on the GPU (docs/gpu.md).
func (b *Backend) Workers() int { return 2 * runtime.GOMAXPROCS(0) }

// Name is "cuda:N".
func (b *Backend) Name() string { return b.name }

// Close implements profiler.Device: it frees the GPU's memory and the
// context. No Count may be running.
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
		for _, h := range b.spare {
			hostFree(h)
		}
		for _, h := range b.pinned {
			hostFree(h)
		}
		b.pinned = map[uintptr][]byte{}
		b.all, b.free, b.spare = nil, nil, nil
		return nil
	})
	return b.ctx.Close()
}

const warps = 8 // must match WARPS in kernels/count.cu

// rowsGrid picks the rows-layout kernel for units of kind and its grid:
// rows2 (a pair of units per thread, 64 per warp) when units is even, else
// rows (32 per warp); blockIdx.y splits the rows, up to about 4096 blocks.
func rowsGrid(kind string, units int, rows int64) (name string, gx, gy int) {
	name, per := "rows_"+kind, 32
	if units%2 == 0 {
		name, per = "rows2_"+kind, 64
	}
	gx = (units + per - 1) / per
	gy = int(min((rows+warps-1)/warps, 65535, int64(max(1, 4096/gx))))
	return name, gx, gy
}

// Count implements profiler.Backend. float64 layers, and blocks that do not
// start and end on a row (Inner == 1) or a unit run (Inner > 1), which the
// driver only makes for rows too large for a chunk, are counted by the CPU
// reference instead.
//
// Value statistics (t.Stats) are computed by the CPU reference
// (cpu.AddStats) from the host copy of the block: the GPU counts and packs
// only.
func (b *Backend) Count(blk *profiler.Block, t *profiler.Tally) error {
	st := t.Stats
	if st == nil {
		return b.count(blk, t)
	}
	t.Stats = nil
	err := b.count(blk, t)
	t.Stats = st
	if err != nil {
		return err
	}
	return cpu.AddStats(blk, st)
}

func (b *Backend) count(blk *profiler.Block, t *profiler.Tally) error {
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
	fail := func(err error) error { return fmt.Errorf("%w: %s: %w", profiler.ErrBackend, b.name, err) }
	release, err := b.onThread()
	if err != nil {
		return fail(err)
	}
	defer release()
	sl, err := b.getSlot()
	if err != nil {
		return fail(err)
	}
	defer b.putSlot(sl)
	countBytes, bitBytes := int64(2*units*8), nobs*int64(w32)*4
	// A chunk read into a buffer from AllocHost is copied to the GPU from
	// where it lies; any other is staged in the slot's page-locked buffer.
	src := unsafe.Pointer(&blk.Data[0])
	staged := !b.isPinned(blk.Data)
	stage := int64(0)
	if staged {
		stage = int64(len(blk.Data))
	}
	if err := sl.reserve(int64(len(blk.Data)), stage, countBytes, bitBytes); err != nil {
		return fail(err)
	}
	if staged {
		copy(sl.pinned, blk.Data)
		src = unsafe.Pointer(&sl.pinned[0])
	}
	err = func() error {
		if err := cu.MemcpyHtoDAsync(sl.dData, src, int64(len(blk.Data)), sl.stream); err != nil {
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
		if err := b.launch(kind, g, n, blk.Thr.F32, sl.dData, sl.dCounts, dBits, sl.stream); err != nil {
			return err
		}
		if err := cu.MemcpyDtoHAsync(unsafe.Pointer(&sl.hCounts[0]), sl.dCounts, countBytes, sl.stream); err != nil {
			return err
		}
		if nobs > 0 {
			if err := cu.MemcpyDtoHAsync(unsafe.Pointer(&sl.hBits[0]), dBits, bitBytes, sl.stream); err != nil {
				return err
			}
		}
		// Blocks this thread only (the context is made with
		// SchedBlockingSync: it sleeps, not spins); other goroutines'
		// chunks go on in their streams.
		return sl.stream.Synchronize()
	}()
	if err != nil {
		return fail(err)
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

// launch submits to stream the kernel for n elements (whole rows, or whole
// unit runs) of layout g at dData: counts then NaN counts to dCounts (2 x
// units u64, zeroed), bits to dBits (zeroed) or none if 0. The context must
// be current.
func (b *Backend) launch(kind string, g profiler.Geometry, n int64, thr float32, dData, dCounts, dBits cu.DevicePtr, stream cu.Stream) error {
	units := int(g.Units)
	dNaNs := dCounts + cu.DevicePtr(units*8)
	// gorgonia.org/cu copies every kernel argument as 8 bytes: hold the
	// 4-byte ones (int, float) in the low half of a uint64.
	thr64 := uint64(math.Float32bits(thr))
	w32 := uint64(uint32(2 * profiler.Words(units)))
	units32 := uint64(uint32(units))
	if g.Inner == 1 {
		rows := n / g.Units
		name, gx, gy := rowsGrid(kind, units, rows)
		args := []unsafe.Pointer{unsafe.Pointer(&dData), unsafe.Pointer(&rows), unsafe.Pointer(&units32), unsafe.Pointer(&thr64),
			unsafe.Pointer(&dCounts), unsafe.Pointer(&dNaNs), unsafe.Pointer(&dBits), unsafe.Pointer(&w32)}
		return b.fns[name].Launch(gx, gy, 1, 32*warps, 1, 1, 0, stream, args)
	}
	nruns := n / g.Inner
	inner := g.Inner
	threads := 256
	if inner < 256 {
		threads = int(max(32, (inner+31)/32*32))
	}
	gx := int(min(nruns, 1<<20))
	args := []unsafe.Pointer{unsafe.Pointer(&dData), unsafe.Pointer(&nruns), unsafe.Pointer(&units32), unsafe.Pointer(&inner),
		unsafe.Pointer(&thr64), unsafe.Pointer(&dCounts), unsafe.Pointer(&dNaNs), unsafe.Pointer(&dBits), unsafe.Pointer(&w32)}
	return b.fns["runs_"+kind].Launch(gx, 1, 1, threads, 1, 1, 0, stream, args)
}

// reserve grows the slot's device buffers and page-locked staging (stage
// bytes of it; none when the chunk is already page-locked); on a thread
// where the context is current.
func (sl *slot) reserve(data, stage, counts, bits int64) error {
	bits = max(bits, 4)
	if err := growDevice(data, &sl.dataCap, &sl.dData); err != nil {
		return err
	}
	if err := growHost(stage, &sl.pinned); err != nil {
		return err
	}
	if counts > sl.countCap {
		if err := growHost(counts, &sl.hCounts); err != nil {
			return err
		}
	}
	if err := growDevice(counts, &sl.countCap, &sl.dCounts); err != nil {
		return err
	}
	if bits > sl.bitsCap {
		if err := growHost(bits, &sl.hBits); err != nil {
			return err
		}
	}
	return growDevice(bits, &sl.bitsCap, &sl.dBits)
}

// growDevice makes *d a device buffer of at least need bytes.
func growDevice(need int64, capacity *int64, d *cu.DevicePtr) error {
	if need <= *capacity {
		return nil
	}
	if *d != 0 {
		cu.MemFree(*d)
		*d, *capacity = 0, 0
	}
	p, err := cu.MemAlloc(need)
	if err != nil {
		return err
	}
	*d, *capacity = p, need
	return nil
}

// growHost makes *h a page-locked buffer of at least need bytes.
func growHost(need int64, h *[]byte) error {
	if need <= int64(len(*h)) {
		return nil
	}
	hostFree(*h)
	*h = nil
	p, err := hostAlloc(int(need))
	if err != nil {
		return err
	}
	*h = p
	return nil
}

// getSlot takes an idle slot, or makes one; on a thread where the context
// is current.
func (b *Backend) getSlot() (*slot, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := len(b.free); n > 0 {
		sl := b.free[n-1]
		b.free = b.free[:n-1]
		return sl, nil
	}
	st, err := cu.MakeStream(cu.NonBlocking)
	if err != nil {
		return nil, err
	}
	sl := &slot{stream: st}
	b.all = append(b.all, sl)
	return sl, nil
}

func (b *Backend) putSlot(sl *slot) {
	b.mu.Lock()
	b.free = append(b.free, sl)
	b.mu.Unlock()
}

// AllocHost implements profiler.Device: page-locked host memory,
// which the driver reads chunks into and the GPU copies from directly, at
// full bus rate and with no staging copy. Buffers given back with FreeHost
// are reused (pinning memory is slow: milliseconds per tens of MiB).
func (b *Backend) AllocHost(n int) ([]byte, error) {
	b.mu.Lock()
	for i, h := range b.spare {
		if cap(h) >= n {
			b.spare = append(b.spare[:i], b.spare[i+1:]...)
			b.pinned[uintptr(unsafe.Pointer(&h[0]))] = h
			b.mu.Unlock()
			return h[:n], nil
		}
	}
	b.mu.Unlock()
	release, err := b.onThread()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", profiler.ErrBackend, b.name, err)
	}
	defer release()
	h, err := hostAlloc(max(n, 1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", profiler.ErrBackend, b.name, err)
	}
	b.mu.Lock()
	b.pinned[uintptr(unsafe.Pointer(&h[0]))] = h
	b.mu.Unlock()
	return h[:n], nil
}

// FreeHost implements profiler.Device: h (from AllocHost) is kept
// for reuse until Close.
func (b *Backend) FreeHost(h []byte) {
	h = h[:cap(h)]
	if len(h) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	base := uintptr(unsafe.Pointer(&h[0]))
	if _, ok := b.pinned[base]; ok {
		delete(b.pinned, base)
		b.spare = append(b.spare, h)
	}
}

// isPinned reports whether p lies inside a buffer from AllocHost.
func (b *Backend) isPinned(p []byte) bool {
	start := uintptr(unsafe.Pointer(&p[0]))
	b.mu.Lock()
	defer b.mu.Unlock()
	for base, h := range b.pinned {
		if start >= base && start+uintptr(len(p)) <= base+uintptr(len(h)) {
			return true
		}
	}
	return false
}
