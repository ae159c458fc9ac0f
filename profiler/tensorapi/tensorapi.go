// Package tensorapi profiles gorgonia.org/tensor dense tensors: the Go API
// for activations already in memory as tensors. It is a package of its own
// so that the core (profiler, store) depends on the standard library and
// klauspost/compress alone, not on gorgonia's dependencies.
package tensorapi

import (
	"context"
	"encoding/binary"
	"fmt"
	"unsafe"

	"gorgonia.org/tensor"

	"github.com/actprof/actprof/profiler"
)

// littleEndian: a tensor's memory is handed over as the host's bytes.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// Layer makes a layer of a gorgonia dense tensor of float32 or
// float64, taken in row-major order (a view or column-major tensor is
// materialised first). The tensor's memory is read in place.
func Layer(name string, t *tensor.Dense) (profiler.Layer, error) {
	if t == nil {
		return profiler.Layer{}, profiler.FileErrorf(name, profiler.ErrShape, "nil tensor")
	}
	if !littleEndian {
		return profiler.Layer{}, profiler.FileErrorf(name, profiler.ErrUnsupported, "in-memory tensors need a little-endian host")
	}
	if t.IsView() || !t.DataOrder().IsRowMajor() {
		m, ok := t.Materialize().(*tensor.Dense)
		if !ok {
			return profiler.Layer{}, profiler.FileErrorf(name, profiler.ErrUnsupported, "cannot materialise tensor view")
		}
		if !m.DataOrder().IsRowMajor() {
			c := m.Clone().(*tensor.Dense)
			if err := c.T(); err == nil {
				m = c
			}
		}
		t = m
	}
	shape := append([]int(nil), t.Shape()...)
	var dt profiler.DType
	var data []byte
	switch d := t.Data().(type) {
	case []float32:
		dt = profiler.Float32
		if len(d) > 0 {
			data = unsafe.Slice((*byte)(unsafe.Pointer(&d[0])), 4*len(d))
		}
	case []float64:
		dt = profiler.Float64
		if len(d) > 0 {
			data = unsafe.Slice((*byte)(unsafe.Pointer(&d[0])), 8*len(d))
		}
	case float32, float64:
		return profiler.Layer{}, profiler.FileErrorf(name, profiler.ErrShape, "scalar tensor: need at least 2 axes (observations and units)")
	default:
		return profiler.Layer{}, profiler.FileErrorf(name, profiler.ErrUnsupported, "tensor dtype %v: actprof reads float32 and float64 tensors", t.Dtype())
	}
	if !t.DataOrder().IsRowMajor() {
		return profiler.Layer{}, profiler.FileErrorf(name, profiler.ErrUnsupported, "column-major tensor")
	}
	return profiler.MemoryLayer(name, dt, shape, data), nil
}

// Profile profiles named dense tensors (the map's order is not used:
// layers come in the order of names).
func Profile(ctx context.Context, names []string, tensors map[string]*tensor.Dense, opt profiler.Options) (*profiler.Profile, error) {
	layers := make([]profiler.Layer, 0, len(names))
	for _, n := range names {
		t, ok := tensors[n]
		if !ok {
			return nil, fmt.Errorf("%w: no tensor named %q", profiler.ErrBadOption, n)
		}
		l, err := Layer(n, t)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	return profiler.Run(ctx, layers, opt)
}
