package input

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/actprof/actprof/profiler"
)

// Seed corpora: testdata/fuzz/<target>/, written by testdata/gen.py.

func isSentinel(err error) bool {
	return errors.Is(err, profiler.ErrFormat) || errors.Is(err, profiler.ErrTruncated) || errors.Is(err, profiler.ErrUnsupported)
}

func FuzzNpyHeader(f *testing.F) {
	f.Add([]byte("\x93NUMPY\x01\x00\x46\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }          \n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		h, err := ParseNpyHeader(r)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %q wraps no sentinel", err)
			}
			return
		}
		if consumed := int64(len(data)) - int64(r.Len()); consumed != h.DataOffset {
			t.Fatalf("read %d bytes, DataOffset %d", consumed, h.DataOffset)
		}
		if !h.DType.Valid() || h.DataBytes < 0 || h.DataBytes > maxDataBytes {
			t.Fatalf("bad header %+v", h)
		}
		n := int64(h.DType.Size())
		for _, d := range h.Shape {
			if d < 0 {
				t.Fatalf("negative dimension in %v", h.Shape)
			}
			n *= int64(d)
		}
		if n != h.DataBytes {
			t.Fatalf("DataBytes %d for shape %v", h.DataBytes, h.Shape)
		}
	})
}

func FuzzSafetensorsHeader(f *testing.F) {
	f.Add([]byte("\x38\x00\x00\x00\x00\x00\x00\x00{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}12345678"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseSafetensorsHeader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %q wraps no sentinel", err)
			}
			return
		}
		end := int64(0)
		names := map[string]bool{}
		for _, tn := range h.Tensors {
			if names[tn.Name] {
				t.Fatalf("tensor %q listed twice", tn.Name)
			}
			names[tn.Name] = true
			if tn.Begin < end || tn.End < tn.Begin || h.DataOffset+tn.End > int64(len(data)) {
				t.Fatalf("tensor %q at [%d, %d] (previous ends at %d, data from %d of %d)", tn.Name, tn.Begin, tn.End, end, h.DataOffset, len(data))
			}
			if tn.DType.Valid() {
				n := int64(tn.DType.Size())
				for _, d := range tn.Shape {
					n *= int64(d)
				}
				if n != tn.End-tn.Begin {
					t.Fatalf("tensor %q: %d bytes for shape %v", tn.Name, tn.End-tn.Begin, tn.Shape)
				}
			}
			end = tn.End
		}
	})
}

// FuzzCRCReads reads the data of a stored .npz member in parts the fuzzer
// picks (each 4 bytes: offset and length, little-endian uint16s, taken
// modulo the data's size), overlapping or not and in any order. The read
// that first completes the data, and no other, must report a mismatch when
// the CRC the archive records is wrong; a right one marks the member
// checked.
func FuzzCRCReads(f *testing.F) {
	f.Add([]byte{0, 0, 0xe7, 0x03}, false)                        // all at once
	f.Add([]byte{0xf4, 0x01, 0xf3, 0x01, 0, 0, 0xf3, 0x01}, true) // second half, then first
	f.Add([]byte{0x64, 0, 0x64, 0, 0, 0, 0xc8, 0, 0x2c, 0x01, 0xbc, 0x02, 0, 0, 0xe7, 0x03}, true)
	f.Fuzz(func(t *testing.T, parts []byte, wrong bool) {
		if len(parts) > 4<<10 {
			return
		}
		data := pattern(1000)
		head := []byte("\x93NUMPY header")
		crc := crc32.Update(crc32.ChecksumIEEE(head), crc32.IEEETable, data)
		m := &npzMember{archive: "x.npz", name: "x.npy", crc: crc, headCRC: crc32.ChecksumIEEE(head), hdr: NpyHeader{DataBytes: int64(len(data))}}
		if wrong {
			m.crc ^= 1 << (len(parts) % 32)
		}
		c := newCRCCheck(m)
		read := make([]bool, len(data))
		left := len(data)
		for i := 0; i+4 <= len(parts); i += 4 {
			off := int(binary.LittleEndian.Uint16(parts[i:])) % len(data)
			n := int(binary.LittleEndian.Uint16(parts[i+2:]))%(len(data)-off) + 1
			before := left
			for j := off; j < off+n; j++ {
				if !read[j] {
					read[j] = true
					left--
				}
			}
			err := c.add(int64(off), data[off:off+n])
			switch completes := before > 0 && left == 0; {
			case completes && wrong && err == nil:
				t.Fatalf("part %d [%d, %d) completes the data: no CRC error", i/4, off, off+n)
			case (!completes || !wrong) && err != nil:
				t.Fatalf("part %d [%d, %d): %v", i/4, off, off+n, err)
			case completes && wrong && !strings.Contains(err.Error(), fmt.Sprintf("(stored 0x%08x, computed 0x%08x)", m.crc, crc)):
				t.Fatalf("error %v", err)
			}
		}
		if c.done.Load() != (left == 0) || m.crcChecked.Load() != (left == 0 && !wrong) {
			t.Fatalf("%d bytes unread: done %v, checked %v", left, c.done.Load(), m.crcChecked.Load())
		}
	})
}
