package input

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"

	"github.com/actprof/actprof/profiler"
)

// parquetBlock is the size of the buffers a decoder fills (a variable for
// tests).
var parquetBlock = 1 << 20

// parquetQueue is the filled buffers a decoder may have waiting.
const parquetQueue = 2

// parquetSource decodes a Parquet column's chunks (one per row group, in
// every file of its table) in parallel and hands over their floats in
// order. Up to parquetDecoders chunks are decoded at once, each by a
// goroutine that fills buffers of parquetBlock bytes and waits when
// parquetQueue of them are not yet taken: memory stays bounded by the
// decoders' buffers and pages (a page at most parquetMaxPage bytes,
// compressed and decompressed), whatever the file's size.
type parquetSource struct {
	t     *parquetTable
	col   int
	units []parquetUnit
	total int64 // the layer's bytes
	pos   int64 // bytes handed over

	order chan chan parquetChunk // each unit's buffers, in order
	done  chan struct{}
	wg    sync.WaitGroup

	cur  chan parquetChunk // the unit being read
	blk  parquetChunk      // the buffer being read
	off  int               // bytes of blk handed over
	err  error             // the error that ended reading
	once sync.Once

	mu     sync.Mutex
	files  []*parquetFile // open files, shared by the decoders
	closed bool
}

// parquetChunk is a decoder's filled buffer, or the error that stopped it.
type parquetChunk struct {
	data    []byte
	release func()
	err     error
}

// parquetDecoders is how many column chunks are decoded at once.
var parquetDecoders = func() int { return runtime.GOMAXPROCS(0) }

func newParquetSource(t *parquetTable, col int, units []parquetUnit) *parquetSource {
	c := t.cols[col]
	s := &parquetSource{t: t, col: col, units: units, total: c.obs * c.units * int64(c.dtype.Size()),
		files: make([]*parquetFile, len(t.files))}
	k := max(1, min(parquetDecoders(), len(units)))
	s.order = make(chan chan parquetChunk, k)
	s.done = make(chan struct{})
	s.wg.Add(1)
	go s.dispatch(k)
	return s
}

// dispatch starts a decoder per unit, in order, at most k at once.
func (s *parquetSource) dispatch(k int) {
	defer s.wg.Done()
	defer close(s.order)
	sem := make(chan struct{}, k)
	for i := range s.units {
		ch := make(chan parquetChunk, parquetQueue)
		select {
		case s.order <- ch:
		case <-s.done:
			return
		}
		select {
		case sem <- struct{}{}:
		case <-s.done:
			close(ch)
			return
		}
		s.wg.Add(1)
		go func(u *parquetUnit) {
			defer s.wg.Done()
			s.decode(u, ch)
			close(ch)
			<-sem
		}(&s.units[i])
	}
}

// send hands a chunk to Next, unless the source was closed.
func (s *parquetSource) send(ch chan parquetChunk, c parquetChunk) bool {
	select {
	case ch <- c:
		return true
	case <-s.done:
		if c.release != nil {
			c.release()
		}
		return false
	}
}

// file returns file fi open, opening it on first use.
func (s *parquetSource) file(fi int) (*parquetFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("input: read on a closed source")
	}
	if s.files[fi] == nil {
		f, err := s.t.open(fi)
		if err != nil {
			return nil, err
		}
		s.files[fi] = f
	}
	return s.files[fi], nil
}

// decode decodes unit u into buffers sent on ch.
func (s *parquetSource) decode(u *parquetUnit, ch chan parquetChunk) {
	f, err := s.file(u.file)
	if err != nil {
		s.send(ch, parquetChunk{err: err})
		return
	}
	c := s.t.cols[s.col]
	var buf []byte
	var release func()
	n := 0
	sink := func(b []byte) error {
		for len(b) > 0 {
			if buf == nil {
				buf, release = getBuf(parquetBlock)
				n = 0
			}
			k := copy(buf[n:], b)
			n += k
			b = b[k:]
			if n == len(buf) {
				if !s.send(ch, parquetChunk{data: buf, release: release}) {
					return errStopScan // closed
				}
				buf = nil
			}
		}
		return nil
	}
	w := &parquetWalker{col: c, units: c.units, known: true}
	err = f.decode(s.col, u, w, sink)
	if err == nil && w.obs != u.obs {
		err = profiler.FileErrorf(f.path, profiler.ErrFormat, "column %q, row group %d: %d observations, where it had %d when listed", c.name, u.rg+1, w.obs, u.obs)
	}
	if err == errStopScan {
		return // closed
	}
	if err != nil {
		if buf != nil {
			release()
		}
		s.send(ch, parquetChunk{err: err})
		return
	}
	if buf != nil {
		s.send(ch, parquetChunk{data: buf[:n], release: release})
	}
}

// nextChunk returns the next filled buffer, in order.
func (s *parquetSource) nextChunk() (parquetChunk, error) {
	for {
		if s.cur == nil {
			ch, ok := <-s.order
			if !ok {
				path := s.t.files[len(s.t.files)-1]
				return parquetChunk{}, profiler.FileErrorf(path, profiler.ErrTruncated, "column %q: the data end after %d of %d bytes", s.t.cols[s.col].name, s.pos, s.total)
			}
			s.cur = ch
		}
		c, ok := <-s.cur
		if !ok {
			s.cur = nil
			continue
		}
		if c.err != nil {
			return parquetChunk{}, c.err
		}
		return c, nil
	}
}

// Next returns the next n bytes (fewer at the end), or io.EOF.
func (s *parquetSource) Next(n int) (profiler.Chunk, error) {
	if n <= 0 {
		return profiler.Chunk{}, fmt.Errorf("input: Next(%d): size must be positive", n)
	}
	if s.err != nil {
		return profiler.Chunk{}, s.err
	}
	if s.pos >= s.total {
		return profiler.Chunk{}, io.EOF
	}
	k := int(min(int64(n), s.total-s.pos))
	out, release := getBuf(k)
	for got := 0; got < k; {
		if s.off == len(s.blk.data) {
			if s.blk.release != nil {
				s.blk.release()
			}
			s.blk, s.off = parquetChunk{}, 0
			c, err := s.nextChunk()
			if err != nil {
				release()
				s.err = err
				return profiler.Chunk{}, err
			}
			s.blk = c
		}
		m := copy(out[got:], s.blk.data[s.off:])
		got += m
		s.off += m
	}
	s.pos += int64(k)
	return profiler.NewChunk(out, release), nil
}

// Close stops the decoders and closes the files.
func (s *parquetSource) Close() error {
	s.once.Do(func() { close(s.done) })
	// let decoders waiting on a full queue go
	go func() {
		for ch := range s.order {
			for c := range ch {
				if c.release != nil {
					c.release()
				}
			}
		}
	}()
	if s.cur != nil {
		go func(ch chan parquetChunk) {
			for c := range ch {
				if c.release != nil {
					c.release()
				}
			}
		}(s.cur)
		s.cur = nil
	}
	s.wg.Wait()
	if s.blk.release != nil {
		s.blk.release()
		s.blk = parquetChunk{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var err error
	for i, f := range s.files {
		if f != nil {
			err = errors.Join(err, f.close())
			s.files[i] = nil
		}
	}
	return err
}

// putFloat32s writes v into b as little-endian float32s.
// littleEndian: the host stores numbers as the data do, so decoded values
// are the data's bytes.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

func putFloat32s(b []byte, v []float32) {
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
}

// putFloat64s writes v into b as little-endian float64s.
func putFloat64s(b []byte, v []float64) {
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
}
