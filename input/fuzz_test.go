package input

import (
	"bytes"
	"errors"
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
		for _, tn := range h.Tensors {
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
