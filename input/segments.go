package input

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/actprof/actprof/profiler"
)

// segment is a run of a layer's bytes in one of its files.
type segment struct {
	file   int
	off, n int64
}

// segSource yields the bytes of segments of files one after the other:
// the float buffers of a column's record batches. The profiler's workers
// read it with ReadAt (pread into buffers of their own, in parallel);
// Next reads into pooled buffers.
type segSource struct {
	files  []string
	segs   []segment
	starts []int64 // offset of each segment's first byte in the layer
	total  int64
	pos    int64 // for Next

	mu     sync.Mutex
	open   []Object
	closed bool
}

func newSegSource(files []string, segs []segment) *segSource {
	s := &segSource{files: files, segs: segs, starts: make([]int64, len(segs))}
	for i, g := range segs {
		s.starts[i] = s.total
		s.total += g.n
	}
	return s
}

// file returns file i open, opening it on first use.
func (s *segSource) file(i int) (Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("input: read on a closed source")
	}
	if s.open == nil {
		s.open = make([]Object, len(s.files))
	}
	if s.open[i] == nil {
		f, err := OpenObject(s.files[i])
		if err != nil {
			return nil, err
		}
		s.open[i] = f
	}
	return s.open[i], nil
}

// ReadAt reads len(p) bytes at offset off of the layer's bytes.
func (s *segSource) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || int64(len(p)) > s.total-off {
		return 0, fmt.Errorf("%w: read of bytes [%d, %d) past the layer's %d", profiler.ErrTruncated, off, off+int64(len(p)), s.total)
	}
	i := sort.Search(len(s.starts), func(i int) bool { return s.starts[i] > off }) - 1
	done := 0
	for done < len(p) {
		g := s.segs[i]
		in := off + int64(done) - s.starts[i]
		k := int(min(int64(len(p)-done), g.n-in))
		f, err := s.file(g.file)
		if err != nil {
			return done, err
		}
		n, err := f.ReadAt(p[done:done+k], g.off+in)
		done += n
		if n < k {
			if err == nil || err == io.EOF {
				return done, profiler.FileErrorf(s.files[g.file], profiler.ErrTruncated, "the file ends at byte %d, its data at byte %d", g.off+in+int64(n), g.off+g.n)
			}
			return done, fileError(s.files[g.file], err)
		}
		i++
	}
	return done, nil
}

// Next returns the next n bytes (fewer at the end), or io.EOF.
func (s *segSource) Next(n int) (profiler.Chunk, error) {
	if n <= 0 {
		return profiler.Chunk{}, fmt.Errorf("input: Next(%d): size must be positive", n)
	}
	if s.pos >= s.total {
		return profiler.Chunk{}, io.EOF
	}
	buf, release := getBuf(int(min(int64(n), s.total-s.pos)))
	if _, err := s.ReadAt(buf, s.pos); err != nil {
		release()
		return profiler.Chunk{}, err
	}
	s.pos += int64(len(buf))
	return profiler.NewChunk(buf, release), nil
}

// Close closes the files open for reading.
func (s *segSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var err error
	for _, f := range s.open {
		if f != nil {
			err = errors.Join(err, f.Close())
		}
	}
	s.open = nil
	return err
}
