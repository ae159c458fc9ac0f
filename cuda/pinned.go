//go:build cuda

package cuda

/*
#cgo LDFLAGS: -lcuda
#include <cuda.h>
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// hostAlloc allocates n bytes of page-locked host memory (cuMemHostAlloc,
// which gorgonia.org/cu does not wrap), for staging chunks: copies from it
// run at full PCIe rate and asynchronously. Call it on the context's thread.
func hostAlloc(n int) ([]byte, error) {
	var p unsafe.Pointer
	if r := C.cuMemHostAlloc(&p, C.size_t(n), C.CU_MEMHOSTALLOC_PORTABLE); r != C.CUDA_SUCCESS {
		return nil, fmt.Errorf("cuMemHostAlloc(%d): CUDA error %d", n, int(r))
	}
	return unsafe.Slice((*byte)(p), n), nil
}

// hostFree releases memory from hostAlloc.
func hostFree(b []byte) {
	if len(b) > 0 {
		C.cuMemFreeHost(unsafe.Pointer(&b[0]))
	}
}
