package profiler

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Multi counts on several backends at once (the GPUs of a node): it is a
// Device whose blocks are spread over its parts. A block read into host
// memory from a part's AllocHost is counted by that part (the copy to its
// device needs no staging), any other by the part with the fewest blocks in
// flight. Counts are exact and add, so the results are those of any one
// part alone.
type Multi struct {
	parts    []Backend
	inflight []atomic.Int64
	name     string

	mu     sync.Mutex
	owners []hostRange // sorted by base
	next   int         // the part the next AllocHost goes to
}

// hostRange is a host buffer a part allocated.
type hostRange struct {
	base, end uintptr
	part      int
	buf       []byte
}

// NewMulti returns the backend that spreads blocks over parts (at least
// one, all distinct).
func NewMulti(parts ...Backend) (*Multi, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: no backends to spread over", ErrBadOption)
	}
	names := make([]string, len(parts))
	for i, p := range parts {
		names[i] = p.Name()
		for _, q := range parts[:i] {
			if q == p {
				return nil, fmt.Errorf("%w: backend %s given twice", ErrBadOption, p.Name())
			}
		}
	}
	return &Multi{parts: parts, inflight: make([]atomic.Int64, len(parts)), name: strings.Join(names, "+")}, nil
}

// Name joins the parts' names with "+" ("cuda:0+cuda:1").
func (m *Multi) Name() string { return m.name }

// Parts are the backends blocks are spread over.
func (m *Multi) Parts() []Backend { return slices.Clone(m.parts) }

// Count implements Backend.
func (m *Multi) Count(b *Block, t *Tally) error {
	k := m.owner(b.Data)
	if k < 0 {
		k = 0
		for i := range m.inflight {
			if m.inflight[i].Load() < m.inflight[k].Load() {
				k = i
			}
		}
	}
	m.inflight[k].Add(1)
	defer m.inflight[k].Add(-1)
	return m.parts[k].Count(b, t)
}

// owner is the part whose host buffer holds data, or -1.
func (m *Multi) owner(data []byte) int {
	if len(data) == 0 {
		return -1
	}
	p := uintptr(unsafe.Pointer(&data[0]))
	m.mu.Lock()
	defer m.mu.Unlock()
	i, _ := slices.BinarySearchFunc(m.owners, p, func(r hostRange, p uintptr) int {
		switch {
		case r.end <= p:
			return -1
		case r.base > p:
			return 1
		}
		return 0
	})
	if i < len(m.owners) && m.owners[i].base <= p && p < m.owners[i].end {
		return m.owners[i].part
	}
	return -1
}

// Workers implements Device: the parts' workers added (GOMAXPROCS for a
// part that is no Device).
func (m *Multi) Workers() int {
	n := 0
	for _, p := range m.parts {
		w := 0
		if d, ok := p.(Device); ok {
			w = d.Workers()
		}
		if w <= 0 {
			w = defaultWorkers()
		}
		n += w
	}
	return n
}

// ChunkBytes implements Device: the first part's.
func (m *Multi) ChunkBytes() int {
	if d, ok := m.parts[0].(Device); ok {
		return d.ChunkBytes()
	}
	return 0
}

// AllocHost implements Device: each buffer from the next part in turn
// that allocates host memory, so that every part gets the blocks of its
// share of the workers.
func (m *Multi) AllocHost(n int) ([]byte, error) {
	m.mu.Lock()
	start := m.next
	m.next = (m.next + 1) % len(m.parts)
	m.mu.Unlock()
	var errs []error
	for j := range m.parts {
		k := (start + j) % len(m.parts)
		d, ok := m.parts[k].(Device)
		if !ok {
			continue
		}
		buf, err := d.AllocHost(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if n == 0 || len(buf) == 0 {
			return buf, nil
		}
		full := buf[:cap(buf)]
		r := hostRange{base: uintptr(unsafe.Pointer(&full[0])), part: k, buf: buf}
		r.end = r.base + uintptr(len(full))
		m.mu.Lock()
		i, _ := slices.BinarySearchFunc(m.owners, r.base, func(o hostRange, p uintptr) int {
			if o.base < p {
				return -1
			}
			if o.base > p {
				return 1
			}
			return 0
		})
		m.owners = slices.Insert(m.owners, i, r)
		m.mu.Unlock()
		return buf, nil
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%w: %s allocates no host memory", ErrBackend, m.name)
	}
	return nil, errors.Join(errs...)
}

// FreeHost implements Device: the buffer goes back to the part it came
// from.
func (m *Multi) FreeHost(b []byte) {
	if len(b) == 0 {
		return
	}
	p := uintptr(unsafe.Pointer(&b[0]))
	m.mu.Lock()
	k := -1
	for i, r := range m.owners {
		if r.base == p {
			k = r.part
			m.owners = slices.Delete(m.owners, i, i+1)
			break
		}
	}
	m.mu.Unlock()
	if k >= 0 {
		m.parts[k].(Device).FreeHost(b)
	}
}

// Close implements Device: every part that is a Device is closed.
func (m *Multi) Close() error {
	var errs []error
	for _, p := range m.parts {
		if d, ok := p.(Device); ok {
			if err := d.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func defaultWorkers() int { return runtime.GOMAXPROCS(0) }
