package cpu_test

import (
	"testing"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/profiler/backendtest"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func() (profiler.Backend, error) { return cpu.New(), nil }, backendtest.Options{})
}

func TestConformanceGeneric(t *testing.T) {
	backendtest.Run(t, func() (profiler.Backend, error) { return &cpu.Backend{Generic: true}, nil },
		backendtest.Options{SkipPast2to32: "the generic kernels add straight into uint64 counts; the 2^32 case runs against the vector kernels (TestConformance)"})
}
