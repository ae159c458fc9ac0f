//go:build cuda

package cuda_test

import (
	"testing"

	"github.com/actprof/actprof/cuda"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/profiler/backendtest"
)

// TestConformance runs the backend conformance suite on GPU 0: the GPU must
// equal the naive oracle (and so the CPU) bit for bit. It fails, not skips,
// when a GPU is there but the backend cannot start on it (a kernel missing
// from the image, say): only a machine with no GPU skips.
func TestConformance(t *testing.T) {
	ds, err := cuda.Devices()
	if err != nil || len(ds) == 0 {
		t.Skipf("no GPU: %v", err)
	}
	b, err := cuda.New(0)
	if err != nil {
		t.Fatalf("GPU %s is there, but the backend does not start: %v", ds[0].Name, err)
	}
	b.Close()
	backendtest.Run(t, func() (profiler.Backend, error) { return cuda.New(0) }, backendtest.Options{})
}
