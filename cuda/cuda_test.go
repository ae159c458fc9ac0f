//go:build cuda

package cuda_test

import (
	"testing"

	"github.com/actprof/actprof/cuda"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/profiler/backendtest"
)

// TestConformance runs the backend conformance suite on GPU 0: the GPU must
// equal the naive oracle (and so the CPU) bit for bit.
func TestConformance(t *testing.T) {
	backendtest.Run(t, func() (profiler.Backend, error) { return cuda.New(0) }, backendtest.Options{})
}
