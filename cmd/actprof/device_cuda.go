//go:build cuda

package main

import (
	"fmt"

	"github.com/actprof/actprof/cuda"
	"github.com/actprof/actprof/profiler"
)

// In actprof-cuda (built with -tags cuda) the GPU backend is linked in.
func init() {
	gpuBackend = func(ordinal int) (profiler.Backend, error) { return cuda.New(ordinal) }
	gpuDevices = func() ([]deviceInfo, error) {
		ds, err := cuda.Devices()
		if err != nil {
			return nil, err
		}
		out := make([]deviceInfo, len(ds))
		for i, d := range ds {
			out[i] = deviceInfo{Ordinal: d.Ordinal, Name: d.Name, Compute: fmt.Sprintf("%d.%d", d.Major, d.Minor), MemoryBytes: d.MemoryBytes}
		}
		return out, nil
	}
}
