package input

import (
	"archive/zip"
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strings"
	"sync/atomic"

	"github.com/klauspost/compress/flate"

	"github.com/actprof/actprof/profiler"
)

// npzMember is a .npy member of a .npz archive, located when the archive
// was opened so that reading it needs no second pass over the directory.
type npzMember struct {
	archive string // path of the .npz file
	name    string // member name, e.g. "fc1.npy"
	method  uint16 // zip.Store or zip.Deflate
	off     int64  // offset of the member's (compressed) data in the archive
	csize   int64  // compressed size
	usize   int64  // uncompressed size: the whole .npy file
	crc     uint32 // CRC-32 of the uncompressed member
	hdr     NpyHeader
	headCRC uint32 // stored members: CRC-32 of the .npy header (hdr.DataOffset bytes)
	// crcChecked: the member's CRC was found to match, by a reader of the
	// whole member; later readers skip the check.
	crcChecked atomic.Bool
}

// checkCRC returns an error unless crc, computed over the whole member,
// matches the CRC-32 the archive records.
func (m *npzMember) checkCRC(crc uint32) error {
	if crc != m.crc {
		return m.errorf(profiler.ErrFormat, "CRC-32 mismatch (stored 0x%08x, computed 0x%08x): the file is corrupt", m.crc, crc)
	}
	m.crcChecked.Store(true)
	return nil
}

// errorf returns an error naming the archive and the member.
func (m *npzMember) errorf(kind error, format string, args ...any) error {
	return &profiler.FileError{Path: m.archive, Err: fmt.Errorf("%s: %w: "+format, append([]any{m.name, kind}, args...)...)}
}

// wrap attributes err, from reading the member, to the archive and member.
func (m *npzMember) wrap(err error) error {
	var fe *profiler.FileError
	if errors.As(err, &fe) {
		return err
	}
	return &profiler.FileError{Path: m.archive, Err: fmt.Errorf("%s: %w", m.name, streamError(err))}
}

// streamError classifies an error from decompressing a member.
func streamError(err error) error {
	var corrupt flate.CorruptInputError
	var internal flate.InternalError
	switch {
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: compressed data end early (cut short or corrupt)", profiler.ErrTruncated)
	case errors.As(err, &corrupt), errors.As(err, &internal):
		return fmt.Errorf("%w: corrupt compressed data: %v", profiler.ErrFormat, err)
	}
	return err
}

// openNpz lists the .npy members of the archive at path whose layer names
// (member names without .npy) sel selects, and reads their headers.
func openNpz(path string, sel func(string) bool) ([]profiler.Layer, error) {
	f, size, err := openSized(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := zip.NewReader(f, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		var pe *os.PathError
		if !errors.As(err, &pe) {
			err = fmt.Errorf("%w: not a valid .npz (zip) archive: %v", profiler.ErrFormat, err)
		}
		return nil, fileError(path, err)
	}
	var layers []profiler.Layer
	for _, zf := range zr.File {
		if !strings.HasSuffix(zf.Name, ".npy") || strings.HasSuffix(zf.Name, "/") {
			continue
		}
		name := strings.TrimSuffix(zf.Name, ".npy")
		if !sel(name) {
			continue
		}
		m, err := newNpzMember(f, size, path, zf)
		if err != nil {
			return nil, err
		}
		layers = append(layers, profiler.Layer{
			Name: name, Path: path, DType: m.hdr.DType, Shape: m.hdr.Shape, FortranOrder: m.hdr.FortranOrder,
			Open: m.open,
		})
	}
	return layers, nil
}

// newNpzMember locates member zf of archive f (of size bytes) and reads its
// .npy header.
func newNpzMember(f io.ReaderAt, size int64, path string, zf *zip.File) (*npzMember, error) {
	m := &npzMember{archive: path, name: zf.Name, method: zf.Method, crc: zf.CRC32}
	if zf.Flags&1 != 0 {
		return nil, m.errorf(profiler.ErrUnsupported, "encrypted member: save the archive without encryption")
	}
	if m.method != zip.Store && m.method != zip.Deflate {
		return nil, m.errorf(profiler.ErrUnsupported, "compression method %d: re-save with np.savez or np.savez_compressed", m.method)
	}
	if zf.CompressedSize64 > maxDataBytes || zf.UncompressedSize64 > maxDataBytes {
		return nil, m.errorf(profiler.ErrFormat, "implausible member size")
	}
	m.csize, m.usize = int64(zf.CompressedSize64), int64(zf.UncompressedSize64)
	off, err := zf.DataOffset()
	if err != nil {
		return nil, m.errorf(profiler.ErrFormat, "bad local header: %v", err)
	}
	m.off = off
	if m.off+m.csize > size {
		return nil, m.errorf(profiler.ErrTruncated, "member data end at byte %d, archive has %d", m.off+m.csize, size)
	}
	if m.method == zip.Store && m.csize != m.usize {
		return nil, m.errorf(profiler.ErrFormat, "stored member of %d bytes claims %d uncompressed", m.csize, m.usize)
	}
	r, closer := m.reader(f)
	defer closer.Close()
	if m.hdr, err = ParseNpyHeader(r); err != nil {
		return nil, m.wrap(err)
	}
	if err := checkDataSize(m.hdr.DataBytes, m.usize-m.hdr.DataOffset, "member"); err != nil {
		return nil, m.wrap(err)
	}
	if m.method == zip.Store {
		head := make([]byte, m.hdr.DataOffset)
		if _, err := f.ReadAt(head, m.off); err != nil {
			return nil, m.wrap(fileError(path, err))
		}
		m.headCRC = crc32.ChecksumIEEE(head)
	}
	return m, nil
}

// reader returns the member's uncompressed bytes, from the start of its
// .npy header, and what to close when done.
func (m *npzMember) reader(f io.ReaderAt) (io.Reader, io.Closer) {
	sr := io.NewSectionReader(f, m.off, m.csize)
	if m.method == zip.Store {
		return sr, io.NopCloser(nil)
	}
	buf := 64 << 10
	if _, remote := f.(*s3Object); remote {
		buf = s3StreamBuffer // a GET per buffer: fewer, larger ones
	}
	fr := flate.NewReader(bufio.NewReaderSize(sr, buf))
	return fr, fr
}

// open starts reading the member's array data: stored members are read
// like a .npy file, their CRC checked as the data are read (in any order:
// crcCheck); deflated ones are streamed, their CRC checked at the end.
func (m *npzMember) open() (profiler.Source, error) {
	if m.method == zip.Store {
		s, err := openRegion(m.archive, m.name+": ", m.off+m.hdr.DataOffset, m.hdr.DataBytes)
		if err != nil {
			return nil, err
		}
		if m.hdr.DataBytes == 0 && !m.crcChecked.Load() {
			if err := m.checkCRC(m.headCRC); err != nil {
				s.Close()
				return nil, err
			}
		}
		if m.hdr.DataBytes > 0 {
			s.crc = newCRCCheck(m)
		}
		return s, nil
	}
	f, size, err := openSized(m.archive)
	if err != nil {
		return nil, err
	}
	if size < m.off+m.csize {
		f.Close()
		return nil, m.errorf(profiler.ErrTruncated, "member data end at byte %d, archive has %d", m.off+m.csize, size)
	}
	r, closer := m.reader(f)
	s := &flateSource{m: m, f: f, fr: closer, r: &crcReader{r: r}, left: m.hdr.DataBytes}
	h, err := ParseNpyHeader(s.r)
	if err == nil && (h.DataOffset != m.hdr.DataOffset || h.DataBytes != m.hdr.DataBytes || h.DType != m.hdr.DType) {
		err = fmt.Errorf("%w: header changed since the archive was opened", profiler.ErrFormat)
	}
	if err != nil {
		s.Close()
		return nil, m.wrap(err)
	}
	return s, nil
}

// flateSource streams a deflated member's data, decompressing each chunk
// into a buffer from bufPool (memory is bounded by the chunks in flight). The
// member's CRC and length are checked when its last byte is read.
type flateSource struct {
	m    *npzMember
	f    Object
	fr   io.Closer
	r    *crcReader
	left int64 // data bytes not yet returned
}

// Next returns the next n bytes (fewer at the end), or io.EOF.
func (s *flateSource) Next(n int) (profiler.Chunk, error) {
	if s.f == nil {
		return profiler.Chunk{}, errors.New("input: Next on a closed source")
	}
	if n <= 0 {
		return profiler.Chunk{}, fmt.Errorf("input: Next(%d): size must be positive", n)
	}
	if s.left == 0 {
		return profiler.Chunk{}, io.EOF
	}
	buf, release := getBuf(int(min(int64(n), s.left)))
	if _, err := io.ReadFull(s.r, buf); err != nil {
		release()
		return profiler.Chunk{}, s.m.wrap(err)
	}
	s.left -= int64(len(buf))
	if s.left == 0 {
		if err := s.finish(); err != nil {
			release()
			return profiler.Chunk{}, err
		}
	}
	return profiler.NewChunk(buf, release), nil
}

// finish checks that the member ends here and that its CRC matches.
func (s *flateSource) finish() error {
	var b [1]byte
	switch _, err := io.ReadFull(s.r, b[:]); {
	case err == nil:
		return s.m.errorf(profiler.ErrFormat, "member holds more data than its header says")
	case err != io.EOF:
		return s.m.wrap(err)
	}
	return s.m.checkCRC(s.r.crc)
}

// Close releases the decompressor and the file.
func (s *flateSource) Close() error {
	if s.f == nil {
		return nil
	}
	s.fr.Close()
	err := s.f.Close()
	s.f = nil
	return err
}

// crcReader computes the CRC-32 (IEEE) of what it reads.
type crcReader struct {
	r   io.Reader
	crc uint32
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc = crc32.Update(c.crc, crc32.IEEETable, p[:n])
	return n, err
}
