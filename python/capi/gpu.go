package main

// CUDA tensors, counted in place on their GPU by actprof's kernels
// (kernels/count.cu, the image cuda.Fatbin), in the device's primary
// context (the one PyTorch allocates and runs in) and on the stream the
// caller passes (PyTorch's current stream), so that the kernels run after
// the kernel that made the tensor and before anything queued after the
// hook: PyTorch's caching allocator hands a freed block only to work
// ordered after it on that stream, so the tensor is neither freed nor
// overwritten while it is read. Each layer keeps a tally of counts and NaN
// counts on each device it was seen on; only those come back to the host,
// when the profile is read (gpuSync).
//
// The driver is opened with dlopen on the first CUDA tensor: the library
// loads, and counts host tensors, where there is no driver. The driver's
// prototypes are declared here, so cuda.h is not needed to build it.

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext;
typedef void *CUmodule;
typedef void *CUfunction;
typedef void *CUstream;
typedef unsigned long long CUdeviceptr;

#define AP_MAX_DEVICES 64
#define AP_KERNELS 9

static void *ap_lib;
static char ap_loaderr[512];
static CUresult (*p_cuInit)(unsigned);
static CUresult (*p_cuDeviceGetCount)(int *);
static CUresult (*p_cuDeviceGet)(CUdevice *, int);
static CUresult (*p_cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
static CUresult (*p_cuCtxPushCurrent)(CUcontext);
static CUresult (*p_cuCtxPopCurrent)(CUcontext *);
static CUresult (*p_cuCtxSynchronize)(void);
static CUresult (*p_cuModuleLoadData)(CUmodule *, const void *);
static CUresult (*p_cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
static CUresult (*p_cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                                    unsigned, CUstream, void **, void **);
static CUresult (*p_cuMemAlloc)(CUdeviceptr *, size_t);
static CUresult (*p_cuMemFree)(CUdeviceptr);
static CUresult (*p_cuMemsetD8)(CUdeviceptr, unsigned char, size_t);
static CUresult (*p_cuMemcpyDtoH)(void *, CUdeviceptr, size_t);
static CUresult (*p_cuMemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
static CUresult (*p_cuMemcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
static CUresult (*p_cuStreamSynchronize)(CUstream);
static CUresult (*p_cuPointerGetAttribute)(void *, int, CUdeviceptr);
static CUresult (*p_cuGetErrorName)(CUresult, const char **);

static CUcontext ap_ctx[AP_MAX_DEVICES];
static CUfunction ap_fn[AP_MAX_DEVICES][AP_KERNELS];
static const char *ap_names[AP_KERNELS] = {"rows_f32", "rows_f16", "rows_bf16", "rows2_f32", "rows2_f16",
                                           "rows2_bf16", "runs_f32", "runs_f16", "runs_bf16"};

#define AP_SYM(v, name) \
	if (!(*(void **)&v = dlsym(ap_lib, name))) { \
		snprintf(ap_loaderr, sizeof ap_loaderr, "the CUDA driver library has no %s (driver too old?)", name); \
		ap_lib = 0; \
		return -1; \
	}

// ap_load opens the driver once: 0, or -1 with ap_loaderr set.
static int ap_load(const char *path) {
	if (ap_lib) return 0;
	if (ap_loaderr[0]) return -1;
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *e = dlerror();
		snprintf(ap_loaderr, sizeof ap_loaderr, "no CUDA driver: cannot load %s (%s)", path, e ? e : "?");
		return -1;
	}
	ap_lib = h;
	AP_SYM(p_cuInit, "cuInit");
	AP_SYM(p_cuDeviceGetCount, "cuDeviceGetCount");
	AP_SYM(p_cuDeviceGet, "cuDeviceGet");
	AP_SYM(p_cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
	AP_SYM(p_cuCtxPushCurrent, "cuCtxPushCurrent_v2");
	AP_SYM(p_cuCtxPopCurrent, "cuCtxPopCurrent_v2");
	AP_SYM(p_cuCtxSynchronize, "cuCtxSynchronize");
	AP_SYM(p_cuModuleLoadData, "cuModuleLoadData");
	AP_SYM(p_cuModuleGetFunction, "cuModuleGetFunction");
	AP_SYM(p_cuLaunchKernel, "cuLaunchKernel");
	AP_SYM(p_cuMemAlloc, "cuMemAlloc_v2");
	AP_SYM(p_cuMemFree, "cuMemFree_v2");
	AP_SYM(p_cuMemsetD8, "cuMemsetD8_v2");
	AP_SYM(p_cuMemcpyDtoH, "cuMemcpyDtoH_v2");
	AP_SYM(p_cuMemsetD8Async, "cuMemsetD8Async");
	AP_SYM(p_cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
	AP_SYM(p_cuStreamSynchronize, "cuStreamSynchronize");
	AP_SYM(p_cuPointerGetAttribute, "cuPointerGetAttribute");
	AP_SYM(p_cuGetErrorName, "cuGetErrorName");
	CUresult r = p_cuInit(0);
	if (r != 0) {
		const char *n = 0;
		p_cuGetErrorName(r, &n);
		snprintf(ap_loaderr, sizeof ap_loaderr, "the CUDA driver does not start: %s", n ? n : "unknown error");
		ap_lib = 0; // stays failed: ap_loaderr is set
		return -1;
	}
	return 0;
}

static const char *ap_loaderror(void) { return ap_loaderr; }

static void ap_errname(CUresult r, char *buf, int n) {
	const char *s = 0;
	if (p_cuGetErrorName) p_cuGetErrorName(r, &s);
	snprintf(buf, n, "%s (%d)", s ? s : "CUDA error", r);
}

// ap_device makes device ordinal's primary context current on this
// thread, retaining it and loading the kernels on first use.
static CUresult ap_device(int ordinal, const void *image) {
	int n = 0;
	CUresult r = p_cuDeviceGetCount(&n);
	if (r != 0) return r;
	if (ordinal < 0 || ordinal >= n || ordinal >= AP_MAX_DEVICES) return 101; // CUDA_ERROR_INVALID_DEVICE
	if (!ap_ctx[ordinal]) {
		CUdevice d;
		CUcontext c;
		CUmodule m;
		if ((r = p_cuDeviceGet(&d, ordinal)) != 0) return r;
		if ((r = p_cuDevicePrimaryCtxRetain(&c, d)) != 0) return r;
		if ((r = p_cuCtxPushCurrent(c)) != 0) return r;
		if ((r = p_cuModuleLoadData(&m, image)) == 0) {
			for (int k = 0; k < AP_KERNELS && r == 0; k++) r = p_cuModuleGetFunction(&ap_fn[ordinal][k], m, ap_names[k]);
		}
		if (r != 0) {
			CUcontext old;
			p_cuCtxPopCurrent(&old);
			return r;
		}
		ap_ctx[ordinal] = c;
		return 0;
	}
	return p_cuCtxPushCurrent(ap_ctx[ordinal]);
}

static void ap_pop(void) {
	CUcontext old;
	p_cuCtxPopCurrent(&old);
}

// ap_alloc allocates and zeroes a tally of n bytes on device ordinal.
static CUresult ap_alloc(int ordinal, const void *image, size_t n, CUdeviceptr *p) {
	CUresult r = ap_device(ordinal, image);
	if (r != 0) return r;
	r = p_cuMemAlloc(p, n);
	if (r == 0) r = p_cuMemsetD8(*p, 0, n);
	ap_pop();
	return r;
}

// ap_free frees a tally.
static CUresult ap_free(int ordinal, const void *image, CUdeviceptr p) {
	CUresult r = ap_device(ordinal, image);
	if (r != 0) return r;
	r = p_cuMemFree(p);
	ap_pop();
	return r;
}

// ap_pointer_device reports the device ordinal of a device pointer, asked
// in device ordinal's context.
static CUresult ap_pointer_device(int ordinal, const void *image, CUdeviceptr p, int *on) {
	CUresult r = ap_device(ordinal, image);
	if (r != 0) return r;
	r = p_cuPointerGetAttribute(on, 9, p); // CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL
	ap_pop();
	return r;
}

// ap_launch enqueues kernel k on stream over data: with inner == 1 and a
// rows kernel, the rows layout (n = rows), else the runs layout (n = runs
// of inner); the counts and NaN counts are added to the tally (2 x units
// u64). With bits (a device buffer of nbits bytes), the fired bits are
// written there (zeroed first, on the stream) and copied to host, and the
// call waits for the stream: the host buffer is filled when it returns.
static CUresult ap_launch(int ordinal, const void *image, int k, CUdeviceptr data, long long n, int units,
                          long long inner, float t, CUdeviceptr tally, CUdeviceptr bits, int words32, size_t nbits,
                          void *host, uintptr_t stream, unsigned gx, unsigned gy, unsigned threads) {
	CUresult r = ap_device(ordinal, image);
	if (r != 0) return r;
	CUstream s = (CUstream)stream;
	CUdeviceptr counts = tally, nans = tally + (CUdeviceptr)units * 8;
	if (bits) r = p_cuMemsetD8Async(bits, 0, nbits, s);
	if (r == 0 && inner == 1 && k < 6) {
		void *args[] = {&data, &n, &units, &t, &counts, &nans, &bits, &words32};
		r = p_cuLaunchKernel(ap_fn[ordinal][k], gx, gy, 1, threads, 1, 1, 0, s, args, 0);
	} else if (r == 0) {
		void *args[] = {&data, &n, &units, &inner, &t, &counts, &nans, &bits, &words32};
		r = p_cuLaunchKernel(ap_fn[ordinal][k], gx, 1, 1, threads, 1, 1, 0, s, args, 0);
	}
	if (r == 0 && bits) r = p_cuMemcpyDtoHAsync(host, bits, nbits, s);
	if (r == 0 && bits) r = p_cuStreamSynchronize(s);
	ap_pop();
	return r;
}

// ap_grow makes *p a device buffer of at least n bytes (*have: its size).
static CUresult ap_grow(int ordinal, const void *image, CUdeviceptr *p, size_t *have, size_t n) {
	if (*have >= n) return 0;
	CUresult r = ap_device(ordinal, image);
	if (r != 0) return r;
	if (*p) {
		// freed memory may still be read by kernels queued on it: wait
		r = p_cuCtxSynchronize();
		if (r == 0) r = p_cuMemFree(*p);
		*p = 0;
		*have = 0;
	}
	if (r == 0) r = p_cuMemAlloc(p, n);
	if (r == 0) *have = n;
	ap_pop();
	return r;
}

// ap_read waits for every stream of device ordinal's context, copies the
// tally (n bytes) to host and zeroes it.
static CUresult ap_read(int ordinal, const void *image, CUdeviceptr tally, void *host, size_t n) {
	CUresult r = ap_device(ordinal, image);
	if (r != 0) return r;
	r = p_cuCtxSynchronize();
	if (r == 0) r = p_cuMemcpyDtoH(host, tally, n);
	if (r == 0) r = p_cuMemsetD8(tally, 0, n);
	ap_pop();
	return r;
}
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"sync"
	"unsafe"

	"github.com/actprof/actprof/cuda"
	"github.com/actprof/actprof/profiler"
)

// warps is the rows kernels' warps a block (WARPS in kernels/count.cu).
const warps = 8

// The kernels' order in the C table.
var kernelIndex = map[string]int{"rows_f32": 0, "rows_f16": 1, "rows_bf16": 2, "rows2_f32": 3, "rows2_f16": 4,
	"rows2_bf16": 5, "runs_f32": 6, "runs_f16": 7, "runs_bf16": 8}

var (
	gpuMu    sync.Mutex // every driver call, and the C state
	gpuImage unsafe.Pointer
)

// libcudaPath is the driver library opened on the first CUDA tensor.
func libcudaPath() string {
	if p := os.Getenv("ACTPROF_LIBCUDA"); p != "" {
		return p
	}
	return "libcuda.so.1"
}

// gpuOpen opens the driver (once; gpuMu held).
func gpuOpen() error {
	if gpuImage == nil {
		// the image must outlive every module load: C memory, never freed
		gpuImage = C.CBytes(cuda.Fatbin)
	}
	p := C.CString(libcudaPath())
	defer C.free(unsafe.Pointer(p))
	if C.ap_load(p) != 0 {
		return fmt.Errorf("%s", C.GoString(C.ap_loaderror()))
	}
	return nil
}

func cuErr(r C.CUresult) error {
	if r == 0 {
		return nil
	}
	var buf [128]C.char
	C.ap_errname(r, &buf[0], C.int(len(buf)))
	return fmt.Errorf("CUDA: %s", C.GoString(&buf[0]))
}

// devTally is a layer's counts and NaN counts on one device, and with
// patterns a device buffer for a batch's fired bits.
type devTally struct {
	layer    string
	ordinal  int
	units    int
	ptr      C.CUdeviceptr
	bits     C.CUdeviceptr
	bitBytes C.size_t
}

// gpuState is an open profile's device tallies.
type gpuState struct {
	tallies map[string]*devTally // by layer and ordinal
}

// countCUDA enqueues the counting of a C-order CUDA tensor of layer name
// at device address data on device ordinal, on stream.
func (s *openProfile) countCUDA(name string, dt profiler.DType, shape []int, data uintptr, ordinal int, stream uintptr) error {
	var kind string
	switch dt {
	case profiler.Float32:
		kind = "f32"
	case profiler.Float16:
		kind = "f16"
	case profiler.BFloat16:
		kind = "bf16"
	default:
		return fmt.Errorf("layer %s: %s tensors on cuda:%d are not counted on the GPU (float32, float16, bfloat16): move them to the CPU, which counts them exactly", name, dt, ordinal)
	}
	device := fmt.Sprintf("cuda:%d", ordinal)
	return s.live.AddCounted(name, dt, shape, device, func(g profiler.Geometry, bits []uint64) error {
		gpuMu.Lock()
		defer gpuMu.Unlock()
		if err := gpuOpen(); err != nil {
			return fmt.Errorf("tensor on %s: %w", device, err)
		}
		if data == 0 {
			return fmt.Errorf("null data pointer")
		}
		var on C.int
		if err := cuErr(C.ap_pointer_device(C.int(ordinal), gpuImage, C.CUdeviceptr(data), &on)); err != nil {
			return fmt.Errorf("tensor on %s: its data pointer: %w", device, err)
		}
		if int(on) != ordinal {
			return fmt.Errorf("tensor said to be on %s lies on cuda:%d", device, int(on))
		}
		if s.gpu.tallies == nil {
			s.gpu.tallies = map[string]*devTally{}
		}
		key := fmt.Sprintf("%s\x00%d", name, ordinal)
		t := s.gpu.tallies[key]
		if t == nil {
			t = &devTally{layer: name, ordinal: ordinal, units: int(g.Units)}
			if err := cuErr(C.ap_alloc(C.int(ordinal), gpuImage, C.size_t(16*g.Units), &t.ptr)); err != nil {
				return fmt.Errorf("on %s: %w", device, err)
			}
			s.gpu.tallies[key] = t
		}
		return launch(t, kind, g, data, s.thr, stream, bits)
	})
}

// launch enqueues the kernels over a batch of geometry g at data, in
// launches of at most 2^30 rows or runs (the kernels count in 32-bit
// registers a thread), each starting on a whole observation group. With
// bits (Words(units) words an observation), each launch's fired bits are
// copied into it before launch returns.
func launch(t *devTally, kind string, g profiler.Geometry, data uintptr, thr profiler.Threshold, stream uintptr, bits []uint64) error {
	units := g.Units
	size := map[string]int64{"f32": 4, "f16": 2, "bf16": 2}[kind]
	w32 := 2 * int64(profiler.Words(int(units)))
	const most = 1 << 30
	// one launch: n rows or runs from element first, whose observations
	// start at obs
	one := func(k string, first, n, obs, nobs int64, gx, gy, threads int64) error {
		var dbits C.CUdeviceptr
		var host unsafe.Pointer
		nb := C.size_t(0)
		if bits != nil {
			nb = C.size_t(nobs * w32 * 4)
			if err := cuErr(C.ap_grow(C.int(t.ordinal), gpuImage, &t.bits, &t.bitBytes, nb)); err != nil {
				return err
			}
			dbits = t.bits
			host = unsafe.Pointer(&bits[obs*w32/2])
		}
		return cuErr(C.ap_launch(C.int(t.ordinal), gpuImage, C.int(kernelIndex[k]), C.CUdeviceptr(data+uintptr(first*size)), C.longlong(n),
			C.int(units), C.longlong(g.Inner), C.float(thr.F32), t.ptr, dbits, C.int(w32), nb, host, C.uintptr_t(stream),
			C.uint(gx), C.uint(gy), C.uint(threads)))
	}
	if g.Inner == 1 {
		name, per := "rows_"+kind, int64(32)
		// the pair kernels load two values at once: their data must be
		// aligned to a pair (a view may start anywhere; a misaligned load
		// would end the context, PyTorch's too)
		if units%2 == 0 && data%uintptr(2*size) == 0 {
			name, per = "rows2_"+kind, 64
		}
		for r := int64(0); r < g.Outer; r += most {
			n := min(most, g.Outer-r)
			gx := (units + per - 1) / per
			gy := min((n+warps-1)/warps, 65535, max(1, 4096/gx))
			if err := one(name, r*units, n, r, n, gx, gy, 32*warps); err != nil {
				return err
			}
		}
		return nil
	}
	if g.Inner > math.MaxInt32 {
		return fmt.Errorf("%d positions a unit: too many for the GPU's kernels", g.Inner)
	}
	threads := int64(256)
	if g.Inner < 256 {
		threads = max(32, (g.Inner+31)/32*32)
	}
	// whole outer indices a launch, so that its runs number units from 0
	outer := max(most/units, 1)
	for o := int64(0); o < g.Outer; o += outer {
		n := min(outer, g.Outer-o) * units
		if err := one("runs_"+kind, o*units*g.Inner, n, o*g.Inner, n/units*g.Inner, min(n, 1<<20), 1, threads); err != nil {
			return err
		}
	}
	return nil
}

// gpuSync waits for the kernels of the profile's device tallies, adds
// their counts to the live profile and zeroes them: before the profile is
// read.
func (s *openProfile) gpuSync() error {
	if len(s.gpu.tallies) == 0 {
		return nil
	}
	gpuMu.Lock()
	defer gpuMu.Unlock()
	for _, t := range s.gpu.tallies {
		host := make([]byte, 16*t.units)
		if err := cuErr(C.ap_read(C.int(t.ordinal), gpuImage, t.ptr, unsafe.Pointer(&host[0]), C.size_t(len(host)))); err != nil {
			return fmt.Errorf("layer %s on cuda:%d: %w", t.layer, t.ordinal, err)
		}
		counts, nans := make([]uint64, t.units), make([]uint64, t.units)
		for u := range counts {
			counts[u] = binary.LittleEndian.Uint64(host[8*u:])
			nans[u] = binary.LittleEndian.Uint64(host[8*(t.units+u):])
		}
		if err := s.live.AddCounts(t.layer, counts, nans); err != nil {
			return err
		}
	}
	return nil
}

// gpuClose frees the profile's device tallies.
func (s *openProfile) gpuClose() {
	gpuMu.Lock()
	defer gpuMu.Unlock()
	for k, t := range s.gpu.tallies {
		C.ap_free(C.int(t.ordinal), gpuImage, t.ptr)
		if t.bits != 0 {
			C.ap_free(C.int(t.ordinal), gpuImage, t.bits)
		}
		delete(s.gpu.tallies, k)
	}
}
