//go:build cuda

package cuda_test

import (
	"fmt"
	"testing"

	"github.com/actprof/actprof/cuda"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/profiler/backendtest"
)

// TestConformance runs the backend conformance suite on every GPU
// (subtests cuda:0, cuda:1, ...), and with several, on all of them at once
// through profiler.Multi (cuda:all): each must equal the naive oracle (and
// so the CPU) bit for bit. It fails, not skips, when a GPU is there but
// the backend cannot start on it (a kernel missing from the image, say):
// only a machine with no GPU skips.
func TestConformance(t *testing.T) {
	ds, err := cuda.Devices()
	if err != nil || len(ds) == 0 {
		t.Skipf("no GPU: %v", err)
	}
	for _, d := range ds {
		t.Run(fmt.Sprintf("cuda:%d", d.Ordinal), func(t *testing.T) {
			b, err := cuda.New(d.Ordinal)
			if err != nil {
				t.Fatalf("GPU %d (%s) is there, but the backend does not start: %v", d.Ordinal, d.Name, err)
			}
			b.Close()
			backendtest.Run(t, func() (profiler.Backend, error) { return cuda.New(d.Ordinal) }, backendtest.Options{})
		})
	}
	if len(ds) < 2 {
		return
	}
	t.Run("cuda:all", func(t *testing.T) {
		backendtest.Run(t, func() (profiler.Backend, error) {
			var parts []profiler.Backend
			for _, d := range ds {
				b, err := cuda.New(d.Ordinal)
				if err != nil {
					for _, p := range parts {
						p.(profiler.Device).Close()
					}
					return nil, err
				}
				parts = append(parts, b)
			}
			return profiler.NewMulti(parts...)
		}, backendtest.Options{})
	})
}
