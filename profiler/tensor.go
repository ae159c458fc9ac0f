package profiler

import (
	"context"
	"fmt"
	"unsafe"

	"gorgonia.org/tensor"
)

// TensorLayer makes a layer of a gorgonia dense tensor of float32 or
// float64, taken in row-major order (a view or column-major tensor is
// materialised first). The tensor's memory is read in place.
func TensorLayer(name string, t *tensor.Dense) (Layer, error) {
	if t == nil {
		return Layer{}, FileErrorf(name, ErrShape, "nil tensor")
	}
	if !littleEndian {
		return Layer{}, errBigEndianHost(name)
	}
	if t.IsView() || !t.DataOrder().IsRowMajor() {
		m, ok := t.Materialize().(*tensor.Dense)
		if !ok {
			return Layer{}, FileErrorf(name, ErrUnsupported, "cannot materialise tensor view")
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
	var dt DType
	var data []byte
	switch d := t.Data().(type) {
	case []float32:
		dt = Float32
		if len(d) > 0 {
			data = unsafe.Slice((*byte)(unsafe.Pointer(&d[0])), 4*len(d))
		}
	case []float64:
		dt = Float64
		if len(d) > 0 {
			data = unsafe.Slice((*byte)(unsafe.Pointer(&d[0])), 8*len(d))
		}
	case float32, float64:
		return Layer{}, FileErrorf(name, ErrShape, "scalar tensor: need at least 2 axes (observations and units)")
	default:
		return Layer{}, FileErrorf(name, ErrUnsupported, "tensor dtype %v: actprof reads float32 and float64 tensors", t.Dtype())
	}
	if !t.DataOrder().IsRowMajor() {
		return Layer{}, FileErrorf(name, ErrUnsupported, "column-major tensor")
	}
	return MemoryLayer(name, dt, shape, data), nil
}

// ProfileTensors profiles named dense tensors (the map's order is not used:
// layers come in the order of names).
func ProfileTensors(ctx context.Context, names []string, tensors map[string]*tensor.Dense, opt Options) (*Profile, error) {
	layers := make([]Layer, 0, len(names))
	for _, n := range names {
		t, ok := tensors[n]
		if !ok {
			return nil, fmt.Errorf("%w: no tensor named %q", ErrBadOption, n)
		}
		l, err := TensorLayer(n, t)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	return Run(ctx, layers, opt)
}
