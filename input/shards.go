package input

import (
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"sync"

	"github.com/actprof/actprof/profiler"
)

// shard is one .npy file of a sharded layer.
type shard struct {
	path string
	hdr  NpyHeader
}

// readNpy reads and checks the header of the .npy file at path.
func readNpy(path string) (NpyHeader, error) {
	f, size, err := openSized(path)
	if err != nil {
		return NpyHeader{}, err
	}
	defer f.Close()
	h, err := ParseNpyHeader(objectReader(f, size))
	if err != nil {
		return h, fileError(path, err)
	}
	if err := checkDataSize(h.DataBytes, size-h.DataOffset, "file"); err != nil {
		return h, fileError(path, err)
	}
	return h, nil
}

// openShards returns the layer of folder dir whose .npy files (paths, in
// order) are shards of one array, concatenated on axis 0. They must agree
// on dtype, order and every axis but the first.
func openShards(dir, name string, paths []string) (profiler.Layer, error) {
	shards := make([]shard, len(paths))
	var rows int64
	for i, p := range paths {
		h, err := readNpy(p)
		if err != nil {
			return profiler.Layer{}, err
		}
		shards[i] = shard{p, h}
		first := shards[0].hdr
		switch {
		case len(h.Shape) == 0:
			return profiler.Layer{}, profiler.FileErrorf(p, profiler.ErrShape, "0-D array cannot be a shard (shards are joined on axis 0)")
		case h.DType != first.DType:
			return profiler.Layer{}, profiler.FileErrorf(p, ErrShardMismatch, "dtype %s, but shard %s has %s", h.DType, filepath.Base(shards[0].path), first.DType)
		case h.FortranOrder != first.FortranOrder:
			return profiler.Layer{}, profiler.FileErrorf(p, ErrShardMismatch, "fortran_order %s, but shard %s has %s", pyBool(h.FortranOrder), filepath.Base(shards[0].path), pyBool(first.FortranOrder))
		case !slices.Equal(h.Shape[1:], first.Shape[1:]):
			return profiler.Layer{}, profiler.FileErrorf(p, ErrShardMismatch, "shape %s, but shard %s has %s: shards may differ on axis 0 only", shapeString(h.Shape), filepath.Base(shards[0].path), shapeString(first.Shape))
		case h.FortranOrder && len(paths) > 1 && len(h.Shape) > 1:
			// The column-major bytes of shards are not, one after the
			// other, those of the joined array.
			return profiler.Layer{}, profiler.FileErrorf(p, profiler.ErrUnsupported, "Fortran-order shards cannot be joined on axis 0: save them in C order (np.ascontiguousarray)")
		}
		if int64(h.Shape[0]) > maxDataBytes-rows || rows+int64(h.Shape[0]) > math.MaxInt {
			return profiler.Layer{}, profiler.FileErrorf(dir, profiler.ErrFormat, "shards too large")
		}
		rows += int64(h.Shape[0])
	}
	h := shards[0].hdr
	shape := slices.Clone(h.Shape)
	shape[0] = int(rows)
	total := int64(0)
	for _, s := range shards {
		total += s.hdr.DataBytes
		if total > maxDataBytes {
			return profiler.Layer{}, profiler.FileErrorf(dir, profiler.ErrFormat, "shards too large")
		}
	}
	return profiler.Layer{
		Name: name, Path: dir, Files: slices.Clone(paths), DType: h.DType, Shape: shape, FortranOrder: h.FortranOrder,
		Open: func() (profiler.Source, error) { return &shardSource{shards: shards, left: total}, nil },
	}, nil
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// shardSource yields the data of the shards one after the other. A chunk
// inside one shard is that shard's chunk as is (mapped); one that spans
// shards is copied together into a buffer from bufPool.
type shardSource struct {
	shards  []shard
	next    int           // index of the next shard to open
	cur     *regionSource // shard being read, or nil
	curLeft int64         // bytes left in cur
	left    int64         // bytes left in all
	closed  bool

	// For ReadAt: every shard's region, opened on first use.
	mu      sync.Mutex
	regions []*regionSource
}

// advance makes cur a shard with bytes left, or returns io.EOF.
func (s *shardSource) advance() error {
	for s.cur == nil || s.curLeft == 0 {
		if s.cur != nil {
			s.cur.Close()
			s.cur = nil
		}
		if s.next == len(s.shards) {
			return io.EOF
		}
		sh := s.shards[s.next]
		s.next++
		if sh.hdr.DataBytes == 0 {
			continue
		}
		r, err := openRegion(sh.path, "", sh.hdr.DataOffset, sh.hdr.DataBytes)
		if err != nil {
			return err
		}
		s.cur, s.curLeft = r, sh.hdr.DataBytes
	}
	return nil
}

// Next returns the next n bytes (fewer at the end), or io.EOF.
func (s *shardSource) Next(n int) (profiler.Chunk, error) {
	if s.closed {
		return profiler.Chunk{}, fmt.Errorf("input: Next on a closed source")
	}
	if n <= 0 {
		return profiler.Chunk{}, fmt.Errorf("input: Next(%d): size must be positive", n)
	}
	if s.left == 0 {
		return profiler.Chunk{}, io.EOF
	}
	if err := s.advance(); err != nil {
		if err == io.EOF {
			return profiler.Chunk{}, profiler.FileErrorf(s.shards[len(s.shards)-1].path, profiler.ErrTruncated, "shards end early")
		}
		return profiler.Chunk{}, err
	}
	if int64(n) <= s.curLeft {
		c, err := s.cur.Next(n)
		if err != nil {
			return c, err
		}
		s.curLeft -= int64(n)
		s.left -= int64(n)
		return c, nil
	}
	buf, release := getBuf(int(min(int64(n), s.left)))
	for done := 0; done < len(buf); {
		if err := s.advance(); err != nil {
			release()
			return profiler.Chunk{}, err
		}
		k := min(int64(len(buf)-done), s.curLeft)
		c, err := s.cur.Next(int(k))
		if err != nil {
			release()
			return profiler.Chunk{}, err
		}
		done += copy(buf[done:], c.Data)
		c.Release()
		s.curLeft -= k
		s.left -= k
	}
	return profiler.NewChunk(buf, release), nil
}

// region returns shard i's region for ReadAt, opening it once.
func (s *shardSource) region(i int) (*regionSource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("input: ReadAt on a closed source")
	}
	if s.regions == nil {
		s.regions = make([]*regionSource, len(s.shards))
	}
	if s.regions[i] == nil {
		sh := s.shards[i]
		r, err := openRegion(sh.path, "", sh.hdr.DataOffset, sh.hdr.DataBytes)
		if err != nil {
			return nil, err
		}
		s.regions[i] = r
	}
	return s.regions[i], nil
}

// ReadAt reads len(p) bytes at offset off of the joined shards, from
// several goroutines at once if need be (profiler.ReaderAtSource).
func (s *shardSource) ReadAt(p []byte, off int64) (int, error) {
	done := 0
	var start int64 // offset of shard i's first byte in the joined data
	for i := 0; i < len(s.shards) && done < len(p); i++ {
		size := s.shards[i].hdr.DataBytes
		pos := off + int64(done)
		if pos >= start+size {
			start += size
			continue
		}
		r, err := s.region(i)
		if err != nil {
			return done, err
		}
		k := int(min(int64(len(p)-done), start+size-pos))
		n, err := r.ReadAt(p[done:done+k], pos-start)
		done += n
		if err != nil {
			return done, err
		}
		start += size
	}
	if done < len(p) {
		return done, profiler.FileErrorf(s.shards[len(s.shards)-1].path, profiler.ErrTruncated, "shards end early")
	}
	return done, nil
}

// Close closes the shards open for reading. Chunks not yet released stay
// valid.
func (s *shardSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var err error
	for _, r := range s.regions {
		if r != nil {
			err = errors.Join(err, r.Close())
		}
	}
	s.regions = nil
	if s.cur != nil {
		err = errors.Join(err, s.cur.Close())
		s.cur = nil
	}
	return err
}
