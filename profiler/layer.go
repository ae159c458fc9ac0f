package profiler

import (
	"fmt"
)

// A Layer is one array of recorded activations: a C-order array of Shape,
// whose bytes a Source yields in order.
type Layer struct {
	Name string
	Path string // file (or folder of shards) it was read from, for messages
	// Files are the files its bytes are read from when they are not Path
	// alone (the .npy files of a folder of shards, in order).
	Files []string
	DType DType
	Shape []int
	// FortranOrder: the bytes are in column-major order, that is the C-order
	// array of the reversed shape. Counts are the same; only the order in
	// which observations arrive differs.
	FortranOrder bool
	// Open starts reading the layer's bytes from the beginning.
	Open func() (Source, error)
}

// Source yields a layer's bytes in order, in chunks.
type Source interface {
	// Next returns the next chunk of exactly n bytes (fewer only for the
	// last one), or io.EOF when all bytes were returned. A short file is an
	// error wrapping ErrTruncated. The chunk's Release must be called once
	// when its bytes are no longer used; chunks may be released out of order
	// and from other goroutines.
	Next(n int) (Chunk, error)
	Close() error
}

// ReaderAtSource is a Source whose bytes can also be read at any offset,
// from several goroutines at once (a region of a regular file). The driver
// then reads in its workers, each into a buffer of its own that stays in
// cache while it is counted: reading scales with cores, memory stays at one
// chunk per worker, and no page of the file is mapped.
type ReaderAtSource interface {
	Source
	// ReadAt reads len(p) bytes at offset off from the layer's first byte.
	// Fewer bytes than asked is an error (wrapping ErrTruncated where the
	// file is short).
	ReadAt(p []byte, off int64) (int, error)
}

// Chunk is a view of a layer's bytes.
type Chunk struct {
	Data    []byte
	release func()
}

// NewChunk wraps data with the function that frees it (may be nil).
func NewChunk(data []byte, release func()) Chunk { return Chunk{Data: data, release: release} }

// Release frees the chunk's memory.
func (c Chunk) Release() {
	if c.release != nil {
		c.release()
	}
}

// Geometry is how a layer's array is counted: viewed as [Outer, Units, Inner]
// in C order, an observation is an (outer, inner) pair, and element
// (o, u, i) is unit u's value on observation o*Inner+i.
type Geometry struct {
	Outer, Units, Inner int64
	UnitAxis            int
}

// Observations is the number of observations per unit.
func (g Geometry) Observations() int64 { return g.Outer * g.Inner }

// Elements is the array's element count.
func (g Geometry) Elements() int64 { return g.Outer * g.Units * g.Inner }

// DefaultUnitAxis is the unit axis actprof uses when none is given: the last
// axis, except for arrays of 4 or more dimensions, taken as channels-first
// convolution maps (NCHW, NCDHW) whose units are channels (axis 1).
func DefaultUnitAxis(ndim int) int {
	if ndim >= 4 {
		return 1
	}
	return ndim - 1
}

// NewGeometry checks shape and unit axis (negative counts from the end) and
// returns the counting geometry.
func NewGeometry(shape []int, axis int) (Geometry, error) {
	nd := len(shape)
	if nd < 2 {
		return Geometry{}, fmt.Errorf("%w: %d-D array %v: need at least 2 axes (observations and units)", ErrShape, nd, shape)
	}
	given := axis
	if axis < 0 {
		axis += nd
	}
	if axis < 0 || axis >= nd {
		return Geometry{}, fmt.Errorf("%w: unit axis %d out of range for %d-D array %v (want %d to %d)", ErrShape, given, nd, shape, -nd, nd-1)
	}
	g := Geometry{Outer: 1, Inner: 1, UnitAxis: axis}
	const limit = int64(1) << 62
	for i, d := range shape {
		if d < 0 {
			return Geometry{}, fmt.Errorf("%w: negative dimension in %v", ErrShape, shape)
		}
		switch {
		case i < axis:
			g.Outer = mulCap(g.Outer, int64(d), limit)
		case i == axis:
			g.Units = int64(d)
		default:
			g.Inner = mulCap(g.Inner, int64(d), limit)
		}
	}
	if g.Units == 0 {
		return Geometry{}, fmt.Errorf("%w: array %v has no units on axis %d", ErrShape, shape, axis)
	}
	if g.Observations() == 0 {
		return Geometry{}, fmt.Errorf("%w: array %v has no observations", ErrShape, shape)
	}
	if g.Outer >= limit || g.Inner >= limit || g.Outer > limit/g.Units/max(g.Inner, 1) {
		return Geometry{}, fmt.Errorf("%w: array %v too large", ErrShape, shape)
	}
	return g, nil
}

func mulCap(a, b, limit int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > limit/b {
		return limit
	}
	return a * b
}

// Geometry returns the counting geometry of the layer for a unit axis of its
// Shape (negative counts from the end).
func (l *Layer) Geometry(axis int) (Geometry, error) {
	if !l.FortranOrder {
		return NewGeometry(l.Shape, axis)
	}
	nd := len(l.Shape)
	if axis < -nd || axis >= nd || nd < 2 {
		return NewGeometry(l.Shape, axis) // same range error
	}
	if axis < 0 {
		axis += nd
	}
	rev := make([]int, nd)
	for i, d := range l.Shape {
		rev[nd-1-i] = d
	}
	g, err := NewGeometry(rev, nd-1-axis)
	g.UnitAxis = axis
	return g, err
}

// CheckPatternOrder refuses, before any counting, layers whose observations
// a pattern store would hold out of order: in a Fortran-order (column-major)
// file the observations of an array with two or more observation axes
// longer than 1 arrive in another order than the C order of the logical
// array that the store's positions mean. Counts do not depend on the order;
// only the store does.
func CheckPatternOrder(plans []Plan) error {
	for _, p := range plans {
		if !p.Layer.FortranOrder {
			continue
		}
		long := 0
		for i, d := range p.Layer.Shape {
			if i != p.Geom.UnitAxis && d > 1 {
				long++
			}
		}
		if long >= 2 {
			return FileErrorf(p.Layer.Path, ErrUnsupported, "layer %s: a Fortran-order array of shape %v: its pattern store would hold observations out of order; save it in C order (np.ascontiguousarray) or profile without --patterns", p.Layer.Name, p.Layer.Shape)
		}
	}
	return nil
}
