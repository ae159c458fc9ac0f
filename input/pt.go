package input

import (
	"archive/zip"
	"fmt"
	"io"
	"math/big"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/actprof/actprof/profiler"
)

// torch.save files (.pt, .pth), zip format (PyTorch 1.6 on): the pickle
// <archive>/data.pkl describes a tensor or containers of tensors, each a
// view of a storage <archive>/data/<key>, stored uncompressed. The pickle
// is read by a restricted unpickler (pickle.go); each tensor's bytes are
// read in place from its storage's zip entry, as a .npy file's are.

// ptDTypes maps the storage types of float tensors to dtypes.
var ptDTypes = map[string]profiler.DType{
	"FloatStorage": profiler.Float32, "HalfStorage": profiler.Float16,
	"BFloat16Storage": profiler.BFloat16, "DoubleStorage": profiler.Float64,
}

// maxPickleBytes bounds data.pkl: the description of tensors, not their data.
const maxPickleBytes = 64 << 20

func openPt(path string, sel func(string) bool) ([]profiler.Layer, error) {
	f, size, err := openSized(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var magic [4]byte
	n, _ := io.ReadFull(objectReader(f, size), magic[:])
	switch {
	case n >= 1 && magic[0] == 0x80:
		// a pickle: torch.save's legacy format, whose tensors lie inside
		// the pickle stream
		return nil, profiler.FileErrorf(path, profiler.ErrUnsupported,
			"a legacy (non-zip) torch.save file: load it and re-save it with torch.save(obj, path) from PyTorch 1.6 or newer (or _use_new_zipfile_serialization=True)")
	case n < 4 || string(magic[:]) != "PK\x03\x04":
		return nil, profiler.FileErrorf(path, profiler.ErrFormat, "not a torch.save file: neither a zip archive nor a legacy pickle")
	}
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return nil, profiler.FileErrorf(path, profiler.ErrFormat, "a damaged zip archive: %v", err)
	}
	var pkl *zip.File
	entries := map[string]*zip.File{}
	for _, e := range zr.File {
		entries[e.Name] = e
		if strings.HasSuffix(e.Name, "/data.pkl") && strings.Count(e.Name, "/") == 1 {
			if pkl != nil {
				return nil, profiler.FileErrorf(path, profiler.ErrFormat, "two data.pkl entries (%s, %s)", pkl.Name, e.Name)
			}
			pkl = e
		}
	}
	if pkl == nil {
		return nil, profiler.FileErrorf(path, profiler.ErrFormat, "a zip archive without data.pkl: not a torch.save file")
	}
	prefix := strings.TrimSuffix(pkl.Name, "data.pkl")
	if bo := entries[prefix+"byteorder"]; bo != nil {
		// newer torch.save records the byte order of the storages
		order, err := readSmallEntry(bo, 16)
		if err != nil {
			return nil, profiler.FileErrorf(path, profiler.ErrFormat, "byteorder: %v", err)
		}
		if string(order) != "little" {
			return nil, profiler.FileErrorf(path, profiler.ErrUnsupported,
				"storages saved big-endian (byteorder %q): load and re-save it with torch.save on a little-endian machine", order)
		}
	}
	if pkl.UncompressedSize64 > maxPickleBytes {
		return nil, profiler.FileErrorf(path, profiler.ErrFormat, "data.pkl of %d bytes: more than a description of tensors", pkl.UncompressedSize64)
	}
	rc, err := pkl.Open()
	if err != nil {
		return nil, profiler.FileErrorf(path, profiler.ErrFormat, "data.pkl: %v", err)
	}
	raw, err := io.ReadAll(io.LimitReader(rc, maxPickleBytes+1))
	rc.Close()
	if err != nil {
		return nil, profiler.FileErrorf(path, profiler.ErrFormat, "data.pkl: %v", err)
	}
	root, err := unpickle(raw)
	if err != nil {
		return nil, profiler.FileErrorf(path, profiler.ErrFormat, "data.pkl: %v", err)
	}
	stem := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	tensors, err := collectTensors(root, stem)
	if err != nil {
		return nil, profiler.FileErrorf(path, profiler.ErrUnsupported, "%v", err)
	}
	if len(tensors) == 0 {
		return nil, profiler.FileErrorf(path, profiler.ErrUnsupported, "no tensors in the file")
	}
	var layers []profiler.Layer
	seen := map[string]bool{}
	for _, nt := range tensors {
		if seen[nt.name] {
			return nil, profiler.FileErrorf(path, profiler.ErrFormat, "two tensors named %q", nt.name)
		}
		seen[nt.name] = true
		if !sel(nt.name) {
			continue
		}
		l, err := ptLayer(path, size, entries, prefix, nt)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	return layers, nil
}

// readSmallEntry reads a zip entry of at most max bytes.
func readSmallEntry(e *zip.File, max int64) ([]byte, error) {
	if e.UncompressedSize64 > uint64(max) {
		return nil, fmt.Errorf("an entry of %d bytes, want at most %d", e.UncompressedSize64, max)
	}
	rc, err := e.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, max))
}

type namedTensor struct {
	name string
	t    *ptTensor
}

// collectTensors walks the pickled value: dict keys and list indices
// joined with '.' name the tensors; a lone tensor takes the file's stem.
// Numbers, strings and None beside the tensors are metadata, not layers.
func collectTensors(v any, stem string) ([]namedTensor, error) {
	w := tensorWalk{stem: stem}
	if err := w.walk(v); err != nil {
		return nil, err
	}
	return w.out, nil
}

type tensorWalk struct {
	stem   string
	path   []string // keys and indices down to the value walked
	visits int
	out    []namedTensor
}

func (w *tensorWalk) name() string {
	if len(w.path) == 0 {
		return w.stem
	}
	return strings.Join(w.path, ".")
}

// walk visits v, at w.path. Scalars are passed over without a visit, so
// that metadata such as a long list of numbers costs little; containers
// and tensors count against maxPickleVisits.
func (w *tensorWalk) walk(v any) error {
	switch v.(type) {
	case nil, bool, int64, *big.Int, float64, string:
		return nil // metadata beside the tensors: not a layer
	}
	if len(w.path) > maxPickleDepth {
		return fmt.Errorf("containers nested deeper than %d", maxPickleDepth)
	}
	if w.visits++; w.visits > maxPickleVisits {
		return fmt.Errorf("more than %d containers and tensors to walk (containers shared many times over)", maxPickleVisits)
	}
	child := func(k string, e any) error {
		w.path = append(w.path, k)
		err := w.walk(e)
		w.path = w.path[:len(w.path)-1]
		return err
	}
	switch x := v.(type) {
	case *ptTensor:
		w.out = append(w.out, namedTensor{w.name(), x})
	case *pkDict:
		for i, k := range x.keys {
			var ks string
			switch kk := k.(type) {
			case string:
				ks = kk
			case int64:
				ks = strconv.FormatInt(kk, 10)
			default:
				return fmt.Errorf("%s: a dict key of type %T: want strings", w.name(), k)
			}
			if err := child(ks, x.vals[i]); err != nil {
				return err
			}
		}
	case *pkList:
		for i, e := range x.items {
			if err := child(strconv.Itoa(i), e); err != nil {
				return err
			}
		}
	case pkTuple:
		for i, e := range x {
			if err := child(strconv.Itoa(i), e); err != nil {
				return err
			}
		}
	case ptStorage:
		return fmt.Errorf("%s: a storage saved without its tensor: save the tensor", w.name())
	case pkGlobal:
		return fmt.Errorf("%s: a reference to %s.%s, not a tensor", w.name(), x.module, x.name)
	default:
		return fmt.Errorf("%s: a value of type %T", w.name(), v)
	}
	return nil
}

// ptLayer checks a tensor against its storage and makes it a layer: a
// C-contiguous view is a region of its storage's entry, a Fortran-order one
// (a transposed matrix) a region read as FortranOrder (its shape the
// logical one, as for a Fortran-order .npy).
func ptLayer(path string, fileSize int64, entries map[string]*zip.File, prefix string, nt namedTensor) (profiler.Layer, error) {
	t := nt.t
	fail := func(format string, args ...any) (profiler.Layer, error) {
		return profiler.Layer{}, profiler.FileErrorf(path, profiler.ErrUnsupported, "tensor %q: %s", nt.name, fmt.Sprintf(format, args...))
	}
	dt, ok := ptDTypes[t.storage.dtype]
	if !ok {
		return fail("%s: actprof profiles float activations (float32, float16, bfloat16, float64); save it as .float()", t.storage.dtype)
	}
	e := entries[prefix+"data/"+t.storage.key]
	if e == nil {
		return profiler.Layer{}, profiler.FileErrorf(path, profiler.ErrFormat, "tensor %q: storage %s is not in the archive", nt.name, t.storage.key)
	}
	if e.Method != zip.Store {
		return fail("its storage is compressed in the zip: re-save it with torch.save")
	}
	size := int64(dt.Size())
	if t.storage.numel > (1<<62)/size || int64(e.UncompressedSize64) != t.storage.numel*size || e.CompressedSize64 != e.UncompressedSize64 {
		return profiler.Layer{}, profiler.FileErrorf(path, profiler.ErrFormat, "tensor %q: storage %s holds %d bytes, but the pickle says %d elements of %d bytes",
			nt.name, t.storage.key, e.UncompressedSize64, t.storage.numel, size)
	}
	// Shapes the profiler cannot count (0-d, 1-d, an axis of length 0) are
	// its to refuse, with the same messages as for the other formats.
	shape := make([]int, len(t.size))
	n := int64(1)
	for i, d := range t.size {
		if d != 0 && n > (1<<62)/d {
			return profiler.Layer{}, profiler.FileErrorf(path, profiler.ErrFormat, "tensor %q: shape %v overflows", nt.name, t.size)
		}
		n *= d
		shape[i] = int(d)
	}
	fortran := false
	switch {
	case n == 0, hasStrides(t.size, t.stride, false):
	case hasStrides(t.size, t.stride, true):
		fortran = true
	default:
		return fail("a non-contiguous view (shape %v, strides %v): save t.contiguous() instead", t.size, t.stride)
	}
	if t.offset > t.storage.numel || n > t.storage.numel-t.offset {
		return profiler.Layer{}, profiler.FileErrorf(path, profiler.ErrFormat, "tensor %q: elements [%d, %d) lie beyond its storage of %d", nt.name, t.offset, t.offset+n, t.storage.numel)
	}
	base, err := e.DataOffset()
	if err != nil {
		return profiler.Layer{}, profiler.FileErrorf(path, profiler.ErrFormat, "tensor %q: %v", nt.name, err)
	}
	if end := base + int64(e.UncompressedSize64); end > fileSize {
		return profiler.Layer{}, profiler.FileErrorf(path, profiler.ErrTruncated, "tensor %q: storage %s ends at byte %d, the file has %d", nt.name, t.storage.key, end, fileSize)
	}
	off, length := base+t.offset*size, n*size
	label := fmt.Sprintf("tensor %q: ", nt.name)
	// A tensor of its whole storage has the zip entry's CRC-32 checked as
	// it is read, as a stored .npz member's is (crcCheck): the read that
	// completes the data fails on a mismatch. A view of part of a storage
	// cannot be checked without reading the rest, and is not.
	var whole *npzMember
	if t.offset == 0 && n == t.storage.numel && length > 0 {
		whole = &npzMember{archive: path, name: "tensor " + strconv.Quote(nt.name), crc: e.CRC32, hdr: NpyHeader{DataBytes: length}}
	}
	l := profiler.Layer{Name: nt.name, Path: path, DType: dt, Shape: shape, FortranOrder: fortran,
		Open: func() (profiler.Source, error) {
			s, err := openRegion(path, label, off, length)
			if err != nil {
				return nil, err
			}
			if whole != nil {
				s.crc = newCRCCheck(whole)
			}
			return s, nil
		}}
	return l, nil
}

// hasStrides reports whether stride is size's C-order strides (fortran:
// Fortran-order), axes of length 1 taking any stride.
func hasStrides(size, stride []int64, fortran bool) bool {
	want := int64(1)
	for k := range size {
		i := len(size) - 1 - k
		if fortran {
			i = k
		}
		if size[i] != 1 && stride[i] != want {
			return false
		}
		want *= size[i]
	}
	return true
}
