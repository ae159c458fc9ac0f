// A stand-in for libcuda.so.1 for the tests of the library's GPU path on a
// machine without a GPU: "device" memory is host memory, and a launch of
// one of actprof's count kernels runs a naive loop over its arguments,
// decoded as kernels/count.cu declares them, after checking the launch's
// grid and, for the pair kernels, the data's alignment (a misaligned load
// is CUDA_ERROR_MISALIGNED_ADDRESS, as on a GPU). It checks the library's
// side of the boundary (symbols, argument order and types, grids, tallies,
// bits, launch splitting, read-back), not the GPU kernels, which the
// backend conformance suite checks on a GPU.
//
// FAKECUDA_NO_DEVICE=1: cuInit fails with CUDA_ERROR_NO_DEVICE.
// FAKECUDA_POINTER_DEVICE=N: every pointer lies on device N (default 0).
// FAKECUDA_LAUNCHES=FILE: each launch appends "name gx gy threads n" there.

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef unsigned long long u64;

CUresult cuInit(unsigned flags) {
	const char *e = getenv("FAKECUDA_NO_DEVICE");
	return e && *e == '1' ? 100 : 0;
}
CUresult cuDeviceGetCount(int *n) { *n = 2; return 0; }
CUresult cuDeviceGet(int *d, int ordinal) { *d = ordinal; return 0; }
CUresult cuDevicePrimaryCtxRetain(void **c, int d) { *c = (void *)(intptr_t)(d + 1); return 0; }
CUresult cuCtxPushCurrent_v2(void *c) { return c ? 0 : 201; }
CUresult cuCtxPopCurrent_v2(void **c) { if (c) *c = 0; return 0; }
CUresult cuCtxSynchronize(void) { return 0; }
CUresult cuModuleLoadData(void **m, const void *image) {
	// a fatbin starts with its magic, 0xba55ed50
	if (!image || *(const uint32_t *)image != 0xba55ed50u) return 200; // CUDA_ERROR_INVALID_IMAGE
	*m = (void *)1;
	return 0;
}
CUresult cuModuleGetFunction(void **f, void *m, const char *name) {
	*f = strdup(name);
	return 0;
}
CUresult cuMemAlloc_v2(u64 *p, size_t n) { *p = (u64)(uintptr_t)malloc(n ? n : 1); return *p ? 0 : 2; }
CUresult cuMemFree_v2(u64 p) { free((void *)(uintptr_t)p); return 0; }
CUresult cuMemsetD8_v2(u64 p, unsigned char v, size_t n) { memset((void *)(uintptr_t)p, v, n); return 0; }
CUresult cuMemsetD8Async(u64 p, unsigned char v, size_t n, void *s) { return cuMemsetD8_v2(p, v, n); }
CUresult cuMemcpyDtoH_v2(void *h, u64 p, size_t n) { memcpy(h, (void *)(uintptr_t)p, n); return 0; }
CUresult cuMemcpyDtoHAsync_v2(void *h, u64 p, size_t n, void *s) { return cuMemcpyDtoH_v2(h, p, n); }
CUresult cuStreamSynchronize(void *s) { return 0; }
CUresult cuPointerGetAttribute(void *data, int attr, u64 p) {
	if (attr != 9) return 1;
	const char *e = getenv("FAKECUDA_POINTER_DEVICE");
	*(int *)data = e ? atoi(e) : 0;
	return 0;
}
CUresult cuGetErrorName(CUresult r, const char **s) {
	switch (r) {
	case 100: *s = "CUDA_ERROR_NO_DEVICE"; break;
	case 716: *s = "CUDA_ERROR_MISALIGNED_ADDRESS"; break;
	case 1: *s = "CUDA_ERROR_INVALID_VALUE"; break;
	default: *s = "CUDA_ERROR_UNKNOWN";
	}
	return 0;
}

static float load(const char *kind, const void *p, size_t i) {
	if (!strcmp(kind, "f32")) return ((const float *)p)[i];
	uint16_t h = ((const uint16_t *)p)[i];
	if (!strcmp(kind, "bf16")) {
		uint32_t w = (uint32_t)h << 16;
		float f;
		memcpy(&f, &w, 4);
		return f;
	}
	// IEEE half to float
	uint32_t s = (h >> 15) & 1, e = (h >> 10) & 31, m = h & 1023;
	float f;
	if (e == 0) f = ldexpf((float)m, -24);
	else if (e == 31) f = m ? NAN : INFINITY;
	else f = ldexpf((float)(m | 1024), (int)e - 25);
	return s ? -f : f;
}

CUresult cuLaunchKernel(void *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shmem, void *stream, void **args, void **extra) {
	const char *name = fn;
	const char *kind = strchr(name, '_') + 1;
	int rows2 = !strncmp(name, "rows2_", 6), rows = !strncmp(name, "rows_", 5), runs = !strncmp(name, "runs_", 5);
	if (!rows && !rows2 && !runs) return 1;
	size_t size = !strcmp(kind, "f32") ? 4 : 2;
	const char *logf = getenv("FAKECUDA_LAUNCHES");
	if (runs) {
		const void *data = *(void **)args[0];
		long long nruns = *(long long *)args[1], inner = *(long long *)args[3];
		int units = *(int *)args[2], words32 = *(int *)args[8];
		float t = *(float *)args[4];
		u64 *counts = *(u64 **)args[5], *nans = *(u64 **)args[6];
		uint32_t *bits = *(uint32_t **)args[7];
		if (gx < 1 || gy != 1 || bx < 32 || bx % 32 || nruns % units) return 1;
		if (logf) { FILE *f = fopen(logf, "a"); fprintf(f, "%s %u %u %u %lld\n", name, gx, gy, bx, nruns); fclose(f); }
		for (long long r = 0; r < nruns; r++) {
			int u = (int)(r % units);
			long long o = r / units;
			for (long long i = 0; i < inner; i++) {
				float x = load(kind, data, (size_t)(r * inner + i));
				if (x > t) {
					counts[u]++;
					if (bits) bits[(size_t)(o * inner + i) * words32 + (u >> 5)] |= 1u << (u & 31);
				}
				if (x != x) nans[u]++;
			}
		}
		return 0;
	}
	const void *data = *(void **)args[0];
	long long n = *(long long *)args[1];
	int units = *(int *)args[2], words32 = *(int *)args[7];
	float t = *(float *)args[3];
	u64 *counts = *(u64 **)args[4], *nans = *(u64 **)args[5];
	uint32_t *bits = *(uint32_t **)args[6];
	unsigned per = rows2 ? 64 : 32;
	if (gx * per < (unsigned)units || (gx - 1) * per >= (unsigned)units || gy < 1 || gy > 65535 || bx != 256) return 1;
	if (rows2 && (units % 2 || (uintptr_t)data % (2 * size))) return 716;
	if (logf) { FILE *f = fopen(logf, "a"); fprintf(f, "%s %u %u %u %lld\n", name, gx, gy, bx, n); fclose(f); }
	for (long long r = 0; r < n; r++) {
		for (int u = 0; u < units; u++) {
			float x = load(kind, data, (size_t)r * units + u);
			if (x > t) {
				counts[u]++;
				if (bits) bits[(size_t)r * words32 + (u >> 5)] |= 1u << (u & 31);
			}
			if (x != x) nans[u]++;
		}
	}
	return 0;
}
