package input

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
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
	f, err := os.Open(path)
	if err != nil {
		return nil, fileError(path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fileError(path, err)
	}
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || string(magic[:]) != "PK\x03\x04" {
		return nil, profiler.FileErrorf(path, profiler.ErrUnsupported,
			"not a zip-format torch.save file (a legacy one?): re-save it with torch.save(obj, path) from PyTorch 1.6 or newer (_use_new_zipfile_serialization=True)")
	}
	zr, err := zip.NewReader(f, st.Size())
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
	var tensors []namedTensor
	if err := collectTensors(root, "", stem, 0, &tensors); err != nil {
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
		l, err := ptLayer(path, f, entries, prefix, nt)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	return layers, nil
}

type namedTensor struct {
	name string
	t    *ptTensor
}

// collectTensors walks the pickled value: dict keys and list indices
// joined with '.' name the tensors; a lone tensor takes the file's stem.
func collectTensors(v any, name, stem string, depth int, out *[]namedTensor) error {
	if depth > maxPickleDepth {
		return fmt.Errorf("containers nested deeper than %d", maxPickleDepth)
	}
	join := func(k string) string {
		if name == "" {
			return k
		}
		return name + "." + k
	}
	switch x := v.(type) {
	case *ptTensor:
		if name == "" {
			name = stem
		}
		*out = append(*out, namedTensor{name, x})
	case *pkDict:
		for i, k := range x.keys {
			var ks string
			switch kk := k.(type) {
			case string:
				ks = kk
			case int64:
				ks = strconv.FormatInt(kk, 10)
			default:
				return fmt.Errorf("a dict key of type %T: want strings", k)
			}
			if err := collectTensors(x.vals[i], join(ks), stem, depth+1, out); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := collectTensors(e, join(strconv.Itoa(i)), stem, depth+1, out); err != nil {
				return err
			}
		}
	case pkTuple:
		for i, e := range x {
			if err := collectTensors(e, join(strconv.Itoa(i)), stem, depth+1, out); err != nil {
				return err
			}
		}
	case nil, bool, int64, float64, string:
		// metadata beside the tensors: not a layer
	default:
		return fmt.Errorf("a value of type %T", v)
	}
	return nil
}

// ptLayer checks a tensor against its storage and makes it a layer: a
// C-contiguous view is a region of its storage's entry, a Fortran-order one
// (a transposed matrix) a region read as FortranOrder (its shape the
// logical one, as for a Fortran-order .npy).
func ptLayer(path string, f *os.File, entries map[string]*zip.File, prefix string, nt namedTensor) (profiler.Layer, error) {
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
	if len(t.size) < 1 {
		return fail("a 0-d tensor (a scalar): not a layer of units")
	}
	shape := make([]int, len(t.size))
	n := int64(1)
	for i, d := range t.size {
		if d == 0 {
			return fail("shape %v has an axis of length 0", t.size)
		}
		if n > (1<<62)/d {
			return profiler.Layer{}, profiler.FileErrorf(path, profiler.ErrFormat, "tensor %q: shape %v overflows", nt.name, t.size)
		}
		n *= d
		shape[i] = int(d)
	}
	fortran := false
	switch {
	case hasStrides(t.size, t.stride, false):
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
	off, length := base+t.offset*size, n*size
	if len(shape) == 1 {
		return fail("a 1-d tensor of shape %v: want [observations, units, ...] (unsqueeze it)", t.size)
	}
	label := fmt.Sprintf("tensor %q: ", nt.name)
	l := profiler.Layer{Name: nt.name, Path: path, DType: dt, Shape: shape, FortranOrder: fortran,
		Open: func() (profiler.Source, error) { return openRegion(path, label, off, length) }}
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
