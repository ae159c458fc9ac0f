package input

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/actprof/actprof/profiler"
)

// npyMagic starts every .npy file.
const npyMagic = "\x93NUMPY"

// MaxNpyHeaderLen is the longest .npy header dict accepted, in bytes.
// NumPy writes a few hundred; writers that reserve room for growing the
// shape pad more. Longer headers are refused before anything is allocated.
const MaxNpyHeaderLen = 1 << 20

// maxDataBytes bounds the size an array header may claim, so that sizes
// computed from it never overflow an int64.
const maxDataBytes = 1 << 62

// NpyHeader is the parsed header of a .npy file (format 1.0, 2.0 or 3.0).
type NpyHeader struct {
	Major, Minor int            // format version
	Descr        string         // dtype as written, e.g. "<f4"
	DType        profiler.DType // element type Descr stands for
	FortranOrder bool           // data in column-major order
	Shape        []int          // array shape; empty for a 0-D array
	DataOffset   int64          // bytes before the data: magic, version, length, dict
	DataBytes    int64          // size of the data: product(Shape) * DType.Size()
}

// ParseNpyHeader reads a .npy header from r, leaving r at the first byte of
// the data (it reads exactly DataOffset bytes). It checks the magic string,
// the version, the header dict (keys 'descr', 'fortran_order' and 'shape',
// as written by NumPy) and the dtype. Errors wrap profiler.ErrFormat (not a
// valid header), profiler.ErrTruncated (r ends inside the header) or
// profiler.ErrUnsupported (a valid header for a dtype actprof does not
// read, with a message that says how to convert it); an error reading r is
// returned as is.
func ParseNpyHeader(r io.Reader) (NpyHeader, error) {
	var h NpyHeader
	var pre [12]byte
	n, err := io.ReadFull(r, pre[:8])
	if !bytes.HasPrefix([]byte(npyMagic), pre[:min(n, len(npyMagic))]) {
		return h, fmt.Errorf("%w: not a .npy file (bad magic %q)", profiler.ErrFormat, pre[:min(n, len(npyMagic))])
	}
	if err != nil {
		return h, headerReadError(err, n)
	}
	h.Major, h.Minor = int(pre[6]), int(pre[7])
	var hlen int
	switch {
	case h.Major == 1 && h.Minor == 0:
		if n, err := io.ReadFull(r, pre[8:10]); err != nil {
			return h, headerReadError(err, 8+n)
		}
		hlen = int(binary.LittleEndian.Uint16(pre[8:10]))
		h.DataOffset = 10
	case (h.Major == 2 || h.Major == 3) && h.Minor == 0:
		if n, err := io.ReadFull(r, pre[8:12]); err != nil {
			return h, headerReadError(err, 8+n)
		}
		l := binary.LittleEndian.Uint32(pre[8:12])
		if l > MaxNpyHeaderLen {
			return h, fmt.Errorf("%w: header length %d exceeds %d bytes", profiler.ErrFormat, l, MaxNpyHeaderLen)
		}
		hlen = int(l)
		h.DataOffset = 12
	default:
		return h, fmt.Errorf("%w: unknown .npy format version %d.%d (want 1.0, 2.0 or 3.0)", profiler.ErrFormat, h.Major, h.Minor)
	}
	dict, err := readExactly(r, int64(hlen))
	if err != nil {
		return h, headerReadError(err, int(h.DataOffset)+len(dict))
	}
	h.DataOffset += int64(hlen)
	if h.Major == 3 && !utf8.Valid(dict) {
		return h, fmt.Errorf("%w: version 3.0 header is not valid UTF-8", profiler.ErrFormat)
	}
	if err := h.parseDict(string(dict)); err != nil {
		return h, err
	}
	return h, nil
}

// readExactly reads n bytes from r, allocating as they arrive rather than
// all at once, so that a header claiming a huge length costs only what r
// really holds. A short read returns what was read and io.ErrUnexpectedEOF.
func readExactly(r io.Reader, n int64) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(int(min(n, 64<<10)))
	got, err := io.CopyN(&buf, r, n)
	if got < n && (err == nil || err == io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return buf.Bytes(), err
}

// headerReadError describes a failed read of the header after n bytes.
func headerReadError(err error, n int) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: file ends inside the .npy header, after %d bytes", profiler.ErrTruncated, n)
	}
	return err
}

// parseDict fills h from the header dict literal. Format errors are found
// before an unsupported dtype is reported.
func (h *NpyHeader) parseDict(text string) error {
	v, err := parsePyLiteral(text)
	if err != nil {
		return fmt.Errorf("%w: malformed header dict: %v", profiler.ErrFormat, err)
	}
	d, ok := v.(*pyDict)
	if !ok {
		return fmt.Errorf("%w: header is not a dict", profiler.ErrFormat)
	}
	for _, k := range d.keys {
		if k != "descr" && k != "fortran_order" && k != "shape" {
			return fmt.Errorf("%w: unexpected key %q in header", profiler.ErrFormat, k)
		}
	}
	descr, ok1 := d.get("descr")
	fortran, ok2 := d.get("fortran_order")
	shape, ok3 := d.get("shape")
	if !ok1 || !ok2 || !ok3 {
		return fmt.Errorf("%w: header lacks 'descr', 'fortran_order' or 'shape'", profiler.ErrFormat)
	}
	if h.FortranOrder, ok = fortran.(bool); !ok {
		return fmt.Errorf("%w: 'fortran_order' is not True or False", profiler.ErrFormat)
	}
	dims, ok := shape.(pyTuple)
	if !ok {
		return fmt.Errorf("%w: 'shape' is not a tuple", profiler.ErrFormat)
	}
	h.Shape = make([]int, len(dims))
	elems := int64(1)
	for i, x := range dims {
		n, ok := x.(int64)
		if !ok || n < 0 || n > math.MaxInt {
			return fmt.Errorf("%w: 'shape' %s: dimension %d is not a non-negative int", profiler.ErrFormat, pyRepr(dims), i)
		}
		h.Shape[i] = int(n)
		elems = mulSize(elems, n)
	}
	switch s := descr.(type) {
	case string:
		h.Descr = s
		if h.DType, err = npyDType(s); err != nil {
			return err
		}
	case pyList:
		return fmt.Errorf("%w: structured dtype (fields %s): save each field as its own float array", profiler.ErrUnsupported, fieldNames(s))
	default:
		return fmt.Errorf("%w: 'descr' is not a string", profiler.ErrFormat)
	}
	if elems < 0 || elems > maxDataBytes/int64(h.DType.Size()) {
		return fmt.Errorf("%w: shape %s too large", profiler.ErrFormat, pyRepr(dims))
	}
	h.DataBytes = elems * int64(h.DType.Size())
	return nil
}

// mulSize multiplies two non-negative sizes; a product above maxDataBytes
// (or an overflow) gives -1, which stays -1 unless multiplied by 0.
func mulSize(a, b int64) int64 {
	switch {
	case a == 0 || b == 0:
		return 0
	case a < 0 || b < 0 || a > maxDataBytes/b:
		return -1
	}
	return a * b
}

// fieldNames lists the field names of a structured dtype's descr, for a
// message.
func fieldNames(descr pyList) string {
	var names []string
	for _, f := range descr {
		if t, ok := f.(pyTuple); ok && len(t) > 0 {
			if name, ok := t[0].(string); ok {
				names = append(names, name)
				continue
			}
		}
		names = append(names, "?")
	}
	return pyRepr(strings.Join(names, ", "))
}

// npyDType maps a NumPy dtype string to the profiler's dtype. Dtypes that
// are valid but not read are refused with profiler.ErrUnsupported and a
// message saying how to convert them.
func npyDType(descr string) (profiler.DType, error) {
	if len(descr) < 2 || len(descr) > 32 {
		return 0, fmt.Errorf("%w: unknown dtype %q", profiler.ErrFormat, descr)
	}
	order, kind, size := descr[0], descr[1], descr[2:]
	if order != '<' && order != '>' && order != '|' {
		return 0, fmt.Errorf("%w: dtype %q has no byte order ('<', '>' or '|')", profiler.ErrFormat, descr)
	}
	convert := "convert with arr.astype('<f4')"
	switch kind {
	case 'f':
		var dt profiler.DType
		switch size {
		case "2":
			dt = profiler.Float16
		case "4":
			dt = profiler.Float32
		case "8":
			dt = profiler.Float64
		case "10", "12", "16":
			return 0, fmt.Errorf("%w: extended-precision float %s: convert with arr.astype('<f8')", profiler.ErrUnsupported, descr)
		default:
			return 0, fmt.Errorf("%w: unknown dtype %q", profiler.ErrFormat, descr)
		}
		switch order {
		case '>':
			return 0, fmt.Errorf("%w: big-endian %s: convert with arr.astype('<%c%s')", profiler.ErrUnsupported, descr, kind, size)
		case '|':
			return 0, fmt.Errorf("%w: dtype %q: byte order '|' is not valid for a %s-byte float", profiler.ErrFormat, descr, size)
		}
		return dt, nil
	case 'i', 'u':
		return 0, fmt.Errorf("%w: integer dtype %s: actprof profiles float activations; %s", profiler.ErrUnsupported, descr, convert)
	case 'b', '?':
		return 0, fmt.Errorf("%w: bool dtype %s: actprof profiles float activations; %s", profiler.ErrUnsupported, descr, convert)
	case 'c':
		return 0, fmt.Errorf("%w: complex dtype %s: save the real part, arr.real.astype('<f4')", profiler.ErrUnsupported, descr)
	case 'V':
		return 0, fmt.Errorf("%w: void dtype %s (raw bytes, e.g. bfloat16 saved through ml_dtypes): %s", profiler.ErrUnsupported, descr, convert)
	case 'O':
		return 0, fmt.Errorf("%w: object dtype %s (pickled Python objects): save a float array, np.asarray(x, dtype='<f4')", profiler.ErrUnsupported, descr)
	case 'S', 'a', 'U':
		return 0, fmt.Errorf("%w: string dtype %s is not activations", profiler.ErrUnsupported, descr)
	case 'M', 'm':
		return 0, fmt.Errorf("%w: datetime dtype %s is not activations", profiler.ErrUnsupported, descr)
	}
	return 0, fmt.Errorf("%w: unknown dtype %q", profiler.ErrFormat, descr)
}

// checkDataSize compares the data size a header promises with the bytes
// there are ("file" or "member" has them).
func checkDataSize(want, have int64, where string) error {
	switch {
	case have < want:
		return fmt.Errorf("%w: header says %d bytes of data, %s has %d", profiler.ErrTruncated, want, where, have)
	case have > want:
		return fmt.Errorf("%w: header says %d bytes of data, %s has %d (trailing bytes)", profiler.ErrFormat, want, where, have)
	}
	return nil
}

// openNpy reads the header of the .npy file at path and returns its layer.
func openNpy(path, name string) (profiler.Layer, error) {
	h, err := readNpy(path)
	if err != nil {
		return profiler.Layer{}, err
	}
	return profiler.Layer{
		Name: name, Path: path, DType: h.DType, Shape: h.Shape, FortranOrder: h.FortranOrder,
		Open: func() (profiler.Source, error) {
			return openRegion(path, "", h.DataOffset, h.DataBytes)
		},
	}, nil
}

// fileError attributes err to the file at path. An error that already
// names a file is returned as is; one from the os package is reduced to
// its cause, e.g. "no such file or directory".
func fileError(path string, err error) error {
	var fe *profiler.FileError
	if errors.As(err, &fe) {
		return err
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &profiler.FileError{Path: path, Err: err}
}
