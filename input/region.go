package input

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/actprof/actprof/profiler"
)

// useMmap selects memory mapping for uncompressed data; tests turn it off
// to exercise the pread path.
var useMmap = mmapSupported

// mapFunc maps a window; tests replace it to make mapping fail.
var mapFunc = mapWindow

// regionSource yields the bytes [off, end) of an Object: the data of a
// .npy file, of a stored .npz member or of a safetensors tensor. For a
// local file each chunk is a read-only mapping of the page-aligned window
// that covers it, unmapped by the chunk's Release, so memory stays bounded
// by the chunks in flight whatever the file's size. Where mapping fails, and
// for objects that cannot be mapped, the chunk is read with ReadAt (pread)
// into a buffer from bufPool instead. For a stored .npz member, the bytes
// read (by Next or ReadAt) go through the member's CRC check: the read that
// completes the data returns the mismatch, if any.
//
// Mappings outlive the file descriptor: Close may be called with chunks
// still in use, and they stay valid until released. The file must not be
// truncated while chunks are mapped (reading a mapped page past the end of
// a file faults); a file found shorter at read time gives an error wrapping
// profiler.ErrTruncated.
type regionSource struct {
	obj      Object
	f        *os.File // obj's file where it is a local file, for mapping
	path     string   // for messages
	label    string   // "member.npy: " inside an archive, for messages
	off, end int64
	base     int64 // the region's first byte, for ReadAt
	mmap     bool
	crc      *crcCheck // a stored .npz member's CRC check, or nil
}

// openRegion opens path for reading size bytes from offset off.
func openRegion(path, label string, off, size int64) (*regionSource, error) {
	obj, err := OpenObject(path)
	if err != nil {
		return nil, err
	}
	s := &regionSource{obj: obj, path: path, label: label, off: off, end: off + size, base: off}
	if m, ok := obj.(mappable); ok {
		s.f, s.mmap = m.file(), useMmap
	}
	if err := s.checkSize(s.end); err != nil {
		obj.Close()
		return nil, err
	}
	return s, nil
}

// checkSize fails unless the file still has at least end bytes.
func (s *regionSource) checkSize(end int64) error {
	size, err := s.obj.Size()
	if err != nil {
		return err
	}
	if size < end {
		return s.errorf(profiler.ErrTruncated, "file has %d bytes, data end at byte %d", size, end)
	}
	return nil
}

// errorf returns an error naming the file and, inside an archive or a
// safetensors file, the member or tensor.
func (s *regionSource) errorf(kind error, format string, args ...any) error {
	return &profiler.FileError{Path: s.path, Err: fmt.Errorf("%s%w: "+format, append([]any{s.label, kind}, args...)...)}
}

// Next returns the next n bytes (fewer at the end), or io.EOF.
func (s *regionSource) Next(n int) (profiler.Chunk, error) {
	if s.obj == nil {
		return profiler.Chunk{}, errors.New("input: Next on a closed source")
	}
	if n <= 0 {
		return profiler.Chunk{}, fmt.Errorf("input: Next(%d): size must be positive", n)
	}
	if s.off >= s.end {
		return profiler.Chunk{}, io.EOF
	}
	k := min(int64(n), s.end-s.off)
	// Mapping past the end of the file would fault when read: check first.
	if err := s.checkSize(s.off + k); err != nil {
		return profiler.Chunk{}, err
	}
	if s.mmap {
		data, release, err := mapFunc(s.f, s.off, int(k))
		if err == nil {
			return s.chunk(data, release)
		}
		s.mmap = false // read the rest with pread
	}
	buf, release := getBuf(int(k))
	got, err := s.obj.ReadAt(buf, s.off)
	if got < len(buf) {
		release()
		if err == nil || err == io.EOF {
			return profiler.Chunk{}, s.errorf(profiler.ErrTruncated, "file ends at byte %d, data end at byte %d", s.off+int64(got), s.end)
		}
		return profiler.Chunk{}, fileError(s.path, err)
	}
	return s.chunk(buf, release)
}

// chunk hands over the bytes data just read at s.off, after the CRC check
// (if any) has seen them.
func (s *regionSource) chunk(data []byte, release func()) (profiler.Chunk, error) {
	if err := s.crc.add(s.off-s.base, data); err != nil {
		release()
		return profiler.Chunk{}, err
	}
	s.off += int64(len(data))
	return profiler.NewChunk(data, release), nil
}

// Close closes the object. Chunks not yet released stay valid.
func (s *regionSource) Close() error {
	if s.obj == nil {
		return nil
	}
	err := s.obj.Close()
	s.obj, s.f = nil, nil
	return err
}

// ReadAt reads len(p) bytes at offset off from the region's start, with
// pread: safe from several goroutines at once. The profiler's driver uses it
// in preference to Next (profiler.ReaderAtSource): each worker reads into a
// buffer of its own, which stays in cache while it is counted, with no
// page faults, and keeps no page of the file mapped.
func (s *regionSource) ReadAt(p []byte, off int64) (int, error) {
	obj := s.obj
	if obj == nil {
		return 0, errors.New("input: ReadAt on a closed source")
	}
	pos := s.base + off
	if off < 0 || pos+int64(len(p)) > s.end {
		return 0, s.errorf(profiler.ErrTruncated, "read of bytes [%d, %d) past the data's end at %d", pos, pos+int64(len(p)), s.end)
	}
	got, err := obj.ReadAt(p, pos)
	if got < len(p) {
		if err == nil || err == io.EOF {
			return got, s.errorf(profiler.ErrTruncated, "file ends at byte %d, data end at byte %d", pos+int64(got), s.end)
		}
		return got, fileError(s.path, err)
	}
	if err := s.crc.add(off, p); err != nil {
		return 0, err
	}
	return got, nil
}
