package profiler

import (
	"io"
)

// MemoryLayer is a layer whose C-order little-endian bytes are already in
// memory. The bytes are handed to the backend without copying.
func MemoryLayer(name string, dt DType, shape []int, data []byte) Layer {
	return Layer{Name: name, Path: name, DType: dt, Shape: shape, Open: func() (Source, error) {
		want := int64(dt.Size())
		for _, d := range shape {
			want *= int64(d)
		}
		if int64(len(data)) < want {
			return nil, FileErrorf(name, ErrTruncated, "%d bytes for shape %v of %v (%d bytes)", len(data), shape, dt, want)
		}
		return &memSource{data: data[:want]}, nil
	}}
}

type memSource struct{ data []byte }

func (m *memSource) Next(n int) (Chunk, error) {
	if len(m.data) == 0 {
		return Chunk{}, io.EOF
	}
	n = min(n, len(m.data))
	c := m.data[:n:n]
	m.data = m.data[n:]
	return Chunk{Data: c}, nil
}

func (m *memSource) Close() error { return nil }
