package input

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/actprof/actprof/profiler"
)

// npyBytes is a .npy header of version major.0 around dict.
func npyBytes(major byte, dict string) []byte {
	b := append([]byte(npyMagic), major, 0)
	if major == 1 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(dict)))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(dict)))
	}
	return append(b, dict...)
}

func TestParseNpyHeader(t *testing.T) {
	for _, c := range []struct {
		dict    string
		dt      profiler.DType
		shape   []int
		fortran bool
	}{
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", profiler.Float32, []int{3, 4}, false},
		{`{"descr": "<f2", "fortran_order": True, "shape": (5,)}`, profiler.Float16, []int{5}, true},
		{"{'shape':(),'fortran_order':False,'descr':'<f8'}\n", profiler.Float64, []int{}, false},
		{"\t{ 'descr' : '<f4' ,\n 'fortran_order' : False , 'shape' : ( 2 , 3 , 4 , ) , }   \n", profiler.Float32, []int{2, 3, 4}, false},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }", profiler.Float32, []int{2, 3}, false},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3)}", profiler.Float32, []int{0, 3}, false},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (7,), 'shape': (2, 2)}", profiler.Float32, []int{2, 2}, false},
	} {
		for _, major := range []byte{1, 2, 3} {
			b := npyBytes(major, c.dict)
			r := bytes.NewReader(append(b, "data"...))
			h, err := ParseNpyHeader(r)
			if err != nil {
				t.Fatalf("%q v%d: %v", c.dict, major, err)
			}
			if h.DType != c.dt || !slices.Equal(h.Shape, c.shape) || h.FortranOrder != c.fortran || h.Major != int(major) {
				t.Fatalf("%q v%d: got %+v", c.dict, major, h)
			}
			if h.DataOffset != int64(len(b)) || r.Len() != 4 {
				t.Fatalf("%q: DataOffset %d, %d bytes left, want %d, 4", c.dict, h.DataOffset, r.Len(), len(b))
			}
			n := int64(c.dt.Size())
			for _, d := range c.shape {
				n *= int64(d)
			}
			if h.DataBytes != n {
				t.Fatalf("%q: DataBytes %d, want %d", c.dict, h.DataBytes, n)
			}
		}
	}
}

func TestParseNpyHeaderErrors(t *testing.T) {
	const ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }"
	for _, c := range []struct {
		data []byte
		kind error
		msg  string
	}{
		{npyBytes(1, ok)[:5], profiler.ErrTruncated, "ends inside"},
		{[]byte("PK\x03\x04 not npy"), profiler.ErrFormat, "bad magic"},
		{npyBytes(1, ok)[:20], profiler.ErrTruncated, "after 20 bytes"},
		{append([]byte(npyMagic+"\x02\x00"), 0xff, 0xff, 0xff, 0x7f), profiler.ErrFormat, "header length"},
		{append([]byte(npyMagic+"\x01\x01"), 0, 0), profiler.ErrFormat, "version 1.1"},
		{npyBytes(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), '\xff': 1}"), profiler.ErrFormat, "UTF-8"},
		{npyBytes(1, "[1, 2]"), profiler.ErrFormat, "not a dict"},
		{npyBytes(1, "{'descr': '<f4', 'fortran_order': False}"), profiler.ErrFormat, "lacks"},
		{npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}"), profiler.ErrFormat, "unexpected key"},
		{npyBytes(1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (3,)}"), profiler.ErrFormat, "fortran_order"},
		{npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3)}"), profiler.ErrFormat, "not a tuple"},
		{npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': [3, 4]}"), profiler.ErrFormat, "not a tuple"},
		{npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 'a')}"), profiler.ErrFormat, "dimension 1"},
		{npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}"), profiler.ErrFormat, "out of range"},
		{npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}"), profiler.ErrFormat, "too large"},
		{npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4) 5}"), profiler.ErrFormat, "malformed"},
		{npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4)} x"), profiler.ErrFormat, "after the literal"},
		{npyBytes(1, "{'descr': '<f4, 'fortran_order': False, 'shape': (3, 4)}"), profiler.ErrFormat, "malformed"},
		{npyBytes(1, "{'descr': '<f4', 'fortran_order': Falsy, 'shape': (3,)}"), profiler.ErrFormat, "unexpected name"},
		{npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': "+strings.Repeat("(", 100)+"}"), profiler.ErrFormat, "nested too deeply"},
		{npyBytes(1, "{'descr': 'f4', 'fortran_order': False, 'shape': (3,)}"), profiler.ErrFormat, "no byte order"},
		{npyBytes(1, "{'descr': '<f3', 'fortran_order': False, 'shape': (3,)}"), profiler.ErrFormat, "unknown dtype"},
		{npyBytes(1, "{'descr': 5, 'fortran_order': False, 'shape': (3,)}"), profiler.ErrFormat, "'descr' is not a string"},
		{npyBytes(1, "{'descr': '>f2', 'fortran_order': False, 'shape': (3,)}"), profiler.ErrUnsupported, "big-endian >f2: convert with arr.astype('<f2')"},
		{npyBytes(1, "{'descr': '>f8', 'fortran_order': False, 'shape': (3,)}"), profiler.ErrUnsupported, "astype('<f8')"},
		{npyBytes(1, "{'descr': '<f16', 'fortran_order': False, 'shape': (3,)}"), profiler.ErrUnsupported, "extended-precision"},
		{npyBytes(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (3,)}"), profiler.ErrUnsupported, "integer dtype |u1"},
		{npyBytes(1, "{'descr': '|O', 'fortran_order': False, 'shape': (3,)}"), profiler.ErrUnsupported, "object dtype"},
		{npyBytes(1, "{'descr': '|V2', 'fortran_order': False, 'shape': (3,)}"), profiler.ErrUnsupported, "void dtype"},
		{npyBytes(1, "{'descr': '<U5', 'fortran_order': False, 'shape': (3,)}"), profiler.ErrUnsupported, "string dtype"},
		{npyBytes(1, "{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (3,)}"), profiler.ErrUnsupported, "datetime"},
		{npyBytes(1, "{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (3,)}"), profiler.ErrUnsupported, "structured"},
	} {
		_, err := ParseNpyHeader(bytes.NewReader(c.data))
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: error %v, want %v containing %q", c.data, err, c.kind, c.msg)
		}
	}
}

func TestParseSafetensorsHeader(t *testing.T) {
	text := `{"b":{"dtype":"F16","shape":[2,3],"data_offsets":[16,28]},"__metadata__":{"k":"v"},` +
		`"a":{"dtype":"BF16","shape":[4,2],"data_offsets":[0,16]},"z":{"dtype":"F32","shape":[0],"data_offsets":[28,28]}}`
	b := append(binary.LittleEndian.AppendUint64(nil, uint64(len(text))), text...)
	b = append(b, make([]byte, 28)...)
	for _, size := range []int64{int64(len(b)), -1} {
		h, err := ParseSafetensorsHeader(bytes.NewReader(b), size)
		if err != nil {
			t.Fatal(err)
		}
		if h.DataOffset != int64(8+len(text)) || len(h.Tensors) != 3 {
			t.Fatalf("%+v", h)
		}
		want := []SafetensorsTensor{
			{"a", "BF16", profiler.BFloat16, []int{4, 2}, 0, 16},
			{"b", "F16", profiler.Float16, []int{2, 3}, 16, 28},
			{"z", "F32", profiler.Float32, []int{0}, 28, 28},
		}
		for i, w := range want {
			g := h.Tensors[i]
			if g.Name != w.Name || g.DTypeName != w.DTypeName || g.DType != w.DType || !slices.Equal(g.Shape, w.Shape) || g.Begin != w.Begin || g.End != w.End {
				t.Fatalf("tensor %d: %+v, want %+v", i, g, w)
			}
		}
	}
	// A name given twice is refused, whatever the values (encoding/json
	// into a map would keep the last).
	a0 := `{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`
	a1 := `{"dtype":"F32","shape":[1],"data_offsets":[8,12]}`
	for _, c := range []struct{ text, msg string }{
		{`{"a":` + a0 + `,"a":` + a1 + `}`, `tensor "a" is listed twice in the header`},
		{`{"a":` + a0 + `,"b":` + a1 + `,"a":` + a0 + `}`, `tensor "a" is listed twice in the header`},
		{`{"ab":` + a0 + `,"a\u0062":` + a1 + `}`, `tensor "ab" is listed twice in the header`},
		{`{"__metadata__":{"k":"v"},"a":` + a0 + `,"__metadata__":{}}`, `entry "__metadata__" is listed twice in the header`},
		{`{"a":` + a0 + `} {}`, `header is not valid JSON: invalid character '{' after top-level value`},
		{`{"a":` + a0 + `,}`, `header is not valid JSON: invalid character '}'`},
		{`{"a":` + a0, `header is not valid JSON: unexpected end of JSON input`},
		{`{"a" ` + a0 + `}`, `header is not valid JSON: invalid character '{' after object key`},
	} {
		b := append(binary.LittleEndian.AppendUint64(nil, uint64(len(c.text))), c.text...)
		b = append(b, make([]byte, 12)...)
		_, err := ParseSafetensorsHeader(bytes.NewReader(b), int64(len(b)))
		if !errors.Is(err, profiler.ErrFormat) || !strings.HasPrefix(err.Error(), "bad format: "+c.msg) {
			t.Errorf("%s: error %v, want %q", c.text, err, "bad format: "+c.msg)
		}
	}
	// Distinct names, "__metadata__" among them, are read in full.
	text = `{"__metadata__":{"k":"v"},"a":` + a0 + `,"A":` + a1 + `}`
	b = append(binary.LittleEndian.AppendUint64(nil, uint64(len(text))), text...)
	b = append(b, make([]byte, 12)...)
	if h, err := ParseSafetensorsHeader(bytes.NewReader(b), int64(len(b))); err != nil || len(h.Tensors) != 2 || h.Tensors[0].Name != "a" || h.Tensors[1].Name != "A" {
		t.Fatalf("names a and A: %+v, %v", h, err)
	}
	// A length beyond the file is refused before reading it.
	huge := binary.LittleEndian.AppendUint64(nil, MaxSafetensorsHeaderLen)
	if _, err := ParseSafetensorsHeader(bytes.NewReader(huge), 100); !errors.Is(err, profiler.ErrTruncated) {
		t.Fatalf("huge header: %v", err)
	}
	if _, err := ParseSafetensorsHeader(bytes.NewReader(huge), -1); !errors.Is(err, profiler.ErrTruncated) {
		t.Fatalf("huge header, size unknown: %v", err)
	}
}

func TestSourceEdges(t *testing.T) {
	p := filepath.Join(good, "a_v1_f4.npy")
	ls, err := Open([]string{p}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := readAll(t, ls[0], 1<<20)
	// A mapping that fails falls back to pread for the rest.
	saved := mapFunc
	defer func() { mapFunc = saved }()
	calls := 0
	mapFunc = func(f *os.File, off int64, n int) ([]byte, func(), error) {
		calls++
		return nil, nil, errors.New("no mmap here")
	}
	if got := readAll(t, ls[0], 8); !slices.Equal(got, want) {
		t.Fatal("pread fallback: bytes differ")
	}
	if useMmap && calls != 1 {
		t.Fatalf("mapping tried %d times, want once", calls)
	}
	mapFunc = saved
	src, err := ls[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Next(0); err == nil {
		t.Fatal("Next(0): no error")
	}
	src.Close()
	if _, err := src.Next(4); err == nil || err == io.EOF {
		t.Fatalf("Next after Close: %v", err)
	}
	if err := src.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
