package input

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/actprof/actprof/profiler"
)

// Arrow IPC framing: the stream format (a sequence of messages, each a
// flatbuffer of metadata and a body of buffers) and the file format (the
// stream between "ARROW1" magics, with a footer listing the record
// batches). Only metadata is read here; the data stay in the file.

const arrowMagic = "ARROW1"

// arrowMsgAt is a message of an IPC file and where its body lies.
type arrowMsgAt struct {
	msg  *arrowMessage
	body int64 // offset of the body in the file
}

// readArrowMessage reads the message starting at pos, returning it, where
// its body starts, and where the next message starts; nil at the end of
// the stream (an end-of-stream marker, or the end of the file exactly).
func readArrowMessage(r io.ReaderAt, size, pos int64) (*arrowMessage, int64, int64, error) {
	if pos == size {
		return nil, pos, pos, nil
	}
	var pre [8]byte
	if err := readFull(r, size, pre[:4], pos); err != nil {
		return nil, 0, 0, err
	}
	at := pos + 4
	n := int32(binary.LittleEndian.Uint32(pre[:4]))
	if n == -1 { // continuation marker, then the length
		if err := readFull(r, size, pre[4:8], at); err != nil {
			return nil, 0, 0, err
		}
		n = int32(binary.LittleEndian.Uint32(pre[4:8]))
		at += 4
	}
	switch {
	case n == 0:
		return nil, at, at, nil
	case n < 0 || n > maxArrowMetadata:
		return nil, 0, 0, fmt.Errorf("%w: Arrow message at byte %d claims %d bytes of metadata", profiler.ErrFormat, pos, n)
	case int64(n) > size-at:
		return nil, 0, 0, fmt.Errorf("%w: the file ends inside the Arrow message at byte %d (%d bytes of metadata, %d left)", profiler.ErrTruncated, pos, n, size-at)
	}
	meta := make([]byte, n)
	if err := readFull(r, size, meta, at); err != nil {
		return nil, 0, 0, err
	}
	m, err := parseMessage(meta)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("message at byte %d: %w", pos, err)
	}
	body := at + int64(n)
	if m.bodyLen > size-body {
		return nil, 0, 0, fmt.Errorf("%w: the file ends inside the body of the Arrow message at byte %d (%d bytes of body, %d left)", profiler.ErrTruncated, pos, m.bodyLen, size-body)
	}
	return m, body, body + m.bodyLen, nil
}

// readFull reads len(p) bytes at off, a short file being ErrTruncated.
func readFull(r io.ReaderAt, size int64, p []byte, off int64) error {
	if off < 0 || int64(len(p)) > size-off {
		return fmt.Errorf("%w: the file ends at byte %d, inside Arrow metadata at byte %d", profiler.ErrTruncated, size, off)
	}
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		return fmt.Errorf("%w: the file ends at byte %d, inside Arrow metadata", profiler.ErrTruncated, off+int64(n))
	}
	return err
}

// scanArrow reads the schema and the record batches' metadata of an IPC
// stream or file, calling batch for each record batch in order.
func scanArrow(r io.ReaderAt, size int64, batch func(s *arrowSchema, b *arrowBatch, body int64) error) (*arrowSchema, error) {
	var head [8]byte
	n, _ := r.ReadAt(head[:], 0)
	if n >= 6 && string(head[:6]) == arrowMagic {
		return scanArrowFile(r, size, batch)
	}
	if n >= 4 && string(head[:4]) == "FEA1" {
		return nil, fmt.Errorf("%w: a Feather version 1 file: re-save it as Feather version 2 (Arrow IPC), e.g. pyarrow.feather.write_feather(table, path)", profiler.ErrUnsupported)
	}
	return scanArrowStream(r, size, batch)
}

// scanArrowStream reads an IPC stream: a schema message, then dictionary
// and record batch messages.
func scanArrowStream(r io.ReaderAt, size int64, batch func(*arrowSchema, *arrowBatch, int64) error) (*arrowSchema, error) {
	m, _, next, err := readArrowMessage(r, size, 0)
	if err != nil {
		if size < 8 {
			return nil, fmt.Errorf("%w: %d bytes: too short for an Arrow IPC stream or file", profiler.ErrFormat, size)
		}
		return nil, err
	}
	if m == nil || m.kind != msgSchema {
		return nil, fmt.Errorf("%w: not an Arrow IPC stream or file: it does not start with a schema", profiler.ErrFormat)
	}
	schema := m.schema
	for pos := next; ; {
		m, body, next, err := readArrowMessage(r, size, pos)
		if err != nil {
			return nil, err
		}
		if m == nil {
			return schema, nil
		}
		switch m.kind {
		case msgRecordBatch:
			if err := checkBatchBody(m, pos); err != nil {
				return nil, err
			}
			if err := batch(schema, m.batch, body); err != nil {
				return nil, err
			}
		case msgSchema:
			return nil, fmt.Errorf("%w: a second schema at byte %d", profiler.ErrFormat, pos)
		}
		pos = next
	}
}

// checkBatchBody checks that a record batch's buffers lie in its body and
// that its body is not compressed.
func checkBatchBody(m *arrowMessage, pos int64) error {
	if m.batch.compressed {
		return fmt.Errorf("%w: compressed record batches (LZ4 or ZSTD body compression): write the file without compression", profiler.ErrUnsupported)
	}
	for i, b := range m.batch.buffers {
		if b.offset < 0 || b.length < 0 || b.offset > m.bodyLen || b.length > m.bodyLen-b.offset {
			return fmt.Errorf("%w: record batch at byte %d: buffer %d at [%d, +%d) lies outside its body of %d bytes", profiler.ErrFormat, pos, i, b.offset, b.length, m.bodyLen)
		}
	}
	return nil
}

// scanArrowFile reads an IPC file by its footer.
func scanArrowFile(r io.ReaderAt, size int64, batch func(*arrowSchema, *arrowBatch, int64) error) (*arrowSchema, error) {
	var tail [10]byte
	if size < 8+10 {
		return nil, fmt.Errorf("%w: %d bytes: the Arrow file ends before its footer", profiler.ErrTruncated, size)
	}
	if err := readFull(r, size, tail[:], size-10); err != nil {
		return nil, err
	}
	if string(tail[4:]) != arrowMagic {
		return nil, fmt.Errorf("%w: the Arrow file does not end with its magic %q (a truncated file?)", profiler.ErrTruncated, arrowMagic)
	}
	fl := int64(int32(binary.LittleEndian.Uint32(tail[:4])))
	if fl <= 0 || fl > maxArrowMetadata || fl > size-10-8 {
		return nil, fmt.Errorf("%w: the Arrow file's footer claims %d bytes", profiler.ErrFormat, fl)
	}
	fb := make([]byte, fl)
	if err := readFull(r, size, fb, size-10-fl); err != nil {
		return nil, err
	}
	ft, err := parseFooter(fb)
	if err != nil {
		return nil, err
	}
	end := size - 10 - fl
	for i, blk := range ft.batches {
		if blk.offset < 8 || blk.metaLen <= 0 || blk.bodyLen < 0 || blk.offset > end || int64(blk.metaLen) > end-blk.offset || blk.bodyLen > end-blk.offset-int64(blk.metaLen) {
			return nil, fmt.Errorf("%w: the footer's record batch %d at byte %d (%d + %d bytes) lies outside the file's %d bytes of messages", profiler.ErrFormat, i, blk.offset, blk.metaLen, blk.bodyLen, end)
		}
		m, body, _, err := readArrowMessage(r, end, blk.offset)
		if err != nil {
			return nil, err
		}
		if m == nil || m.kind != msgRecordBatch {
			return nil, fmt.Errorf("%w: the footer's record batch %d at byte %d is no record batch", profiler.ErrFormat, i, blk.offset)
		}
		if body != blk.offset+int64(blk.metaLen) || m.bodyLen != blk.bodyLen {
			return nil, fmt.Errorf("%w: the footer's record batch %d disagrees with its message on its size", profiler.ErrFormat, i)
		}
		if err := checkBatchBody(m, blk.offset); err != nil {
			return nil, err
		}
		if err := batch(ft.schema, m.batch, body); err != nil {
			return nil, err
		}
	}
	return ft.schema, nil
}
