package input

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/actprof/actprof/profiler"
)

// MaxSafetensorsHeaderLen is the longest safetensors JSON header accepted,
// as in the reference implementation.
const MaxSafetensorsHeaderLen = 100_000_000

// SafetensorsTensor is one tensor listed in a safetensors header.
type SafetensorsTensor struct {
	Name      string
	DTypeName string         // as written: "F32", "BF16", "I64", ...
	DType     profiler.DType // 0 for a dtype actprof does not read
	Shape     []int
	// Begin and End are the tensor's data_offsets, relative to the start
	// of the data section.
	Begin, End int64
}

// SafetensorsHeader is a parsed safetensors header.
type SafetensorsHeader struct {
	DataOffset int64               // where the data section starts: 8 + JSON length
	Tensors    []SafetensorsTensor // in order of data offset
}

// safetensorsBits is the element width in bits of every safetensors dtype
// known; only F32, F16, BF16 and F64 are read.
var safetensorsBits = map[string]int{
	"F64": 64, "F32": 32, "F16": 16, "BF16": 16,
	"I64": 64, "I32": 32, "I16": 16, "I8": 8, "U64": 64, "U32": 32, "U16": 16, "U8": 8, "BOOL": 8,
	"F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "E8M0": 8, "C64": 64, "F6_E2M3": 6, "F6_E3M2": 6, "F4": 4,
}

var safetensorsDTypes = map[string]profiler.DType{
	"F64": profiler.Float64, "F32": profiler.Float32, "F16": profiler.Float16, "BF16": profiler.BFloat16,
}

// ParseSafetensorsHeader reads a safetensors header from r: an 8-byte
// little-endian length, then that many bytes of JSON mapping tensor names
// to {"dtype", "shape", "data_offsets"} (and "__metadata__", ignored), each
// name once. size is the file's size (negative if unknown): lengths and
// offsets beyond it are refused before anything is allocated for them.
// Every tensor is checked (shape, offsets within the data section, size
// matching shape and dtype, no overlaps), whatever its dtype; a dtype
// actprof does not read is reported in SafetensorsTensor.DType, not as an
// error. Errors wrap profiler.ErrFormat or profiler.ErrTruncated; an error
// reading r is returned as is.
func ParseSafetensorsHeader(r io.Reader, size int64) (SafetensorsHeader, error) {
	var h SafetensorsHeader
	var pre [8]byte
	if n, err := io.ReadFull(r, pre[:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return h, fmt.Errorf("%w: file of %d bytes ends inside the 8-byte header length", profiler.ErrTruncated, n)
		}
		return h, err
	}
	hlen := binary.LittleEndian.Uint64(pre[:])
	if hlen > MaxSafetensorsHeaderLen {
		return h, fmt.Errorf("%w: header length %d exceeds %d bytes: not a safetensors file", profiler.ErrFormat, hlen, MaxSafetensorsHeaderLen)
	}
	h.DataOffset = 8 + int64(hlen)
	if size >= 0 && h.DataOffset > size {
		return h, fmt.Errorf("%w: header says %d bytes of JSON, file has %d after the length", profiler.ErrTruncated, hlen, size-8)
	}
	text, err := readExactly(r, int64(hlen))
	if err != nil {
		if err == io.ErrUnexpectedEOF {
			return h, fmt.Errorf("%w: header says %d bytes of JSON, file has %d", profiler.ErrTruncated, hlen, len(text))
		}
		return h, err
	}
	if len(bytes.TrimLeft(text, " \t\r\n")) == 0 || bytes.TrimLeft(text, " \t\r\n")[0] != '{' {
		return h, fmt.Errorf("%w: header is not a JSON object", profiler.ErrFormat)
	}
	entries, err := jsonObjectEntries(text)
	if err != nil {
		return h, err
	}
	dataLen := int64(-1)
	if size >= 0 {
		dataLen = size - h.DataOffset
	}
	for _, e := range entries {
		if e.name == "__metadata__" {
			continue
		}
		t, err := parseSafetensorsEntry(e.name, e.raw, dataLen)
		if err != nil {
			return h, err
		}
		h.Tensors = append(h.Tensors, t)
	}
	sort.Slice(h.Tensors, func(i, j int) bool {
		a, b := &h.Tensors[i], &h.Tensors[j]
		if a.Begin != b.Begin {
			return a.Begin < b.Begin
		}
		if a.End != b.End {
			return a.End < b.End
		}
		return a.Name < b.Name
	})
	for i := 1; i < len(h.Tensors); i++ {
		if prev, t := &h.Tensors[i-1], &h.Tensors[i]; t.Begin < prev.End {
			return h, fmt.Errorf("%w: tensors %q and %q overlap", profiler.ErrFormat, prev.Name, t.Name)
		}
	}
	return h, nil
}

// jsonEntry is one name and value of a JSON object.
type jsonEntry struct {
	name string
	raw  json.RawMessage
}

// jsonObjectEntries splits the JSON object text into its entries, in order,
// refusing a name given twice: the reference implementation refuses such
// headers, and encoding/json into a map would keep the last silently.
func jsonObjectEntries(text []byte) ([]jsonEntry, error) {
	bad := func(err error) error {
		return fmt.Errorf("%w: header is not valid JSON: %v", profiler.ErrFormat, err)
	}
	// The syntax first, with json.Unmarshal's messages; then the entries.
	var whole json.RawMessage
	if err := json.Unmarshal(text, &whole); err != nil {
		return nil, bad(err)
	}
	dec := json.NewDecoder(bytes.NewReader(whole))
	if tok, err := dec.Token(); err != nil {
		return nil, bad(err)
	} else if tok != json.Delim('{') {
		return nil, fmt.Errorf("%w: header is not a JSON object", profiler.ErrFormat)
	}
	var entries []jsonEntry
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, bad(err)
		}
		name, _ := tok.(string) // object keys are strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, bad(err)
		}
		if seen[name] {
			what := "tensor"
			if name == "__metadata__" {
				what = "entry"
			}
			return nil, fmt.Errorf("%w: %s %q is listed twice in the header", profiler.ErrFormat, what, name)
		}
		seen[name] = true
		entries = append(entries, jsonEntry{name, raw})
	}
	return entries, nil
}

// parseSafetensorsEntry checks one tensor's entry; dataLen is the size of
// the data section (negative if unknown).
func parseSafetensorsEntry(name string, raw json.RawMessage, dataLen int64) (SafetensorsTensor, error) {
	t := SafetensorsTensor{Name: name}
	var e struct {
		DType   *string  `json:"dtype"`
		Shape   *[]int64 `json:"shape"`
		Offsets *[]int64 `json:"data_offsets"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return t, fmt.Errorf("%w: tensor %q: bad entry: %v", profiler.ErrFormat, name, err)
	}
	if e.DType == nil || e.Shape == nil || e.Offsets == nil {
		return t, fmt.Errorf("%w: tensor %q: entry lacks \"dtype\", \"shape\" or \"data_offsets\"", profiler.ErrFormat, name)
	}
	t.DTypeName = *e.DType
	t.DType = safetensorsDTypes[t.DTypeName]
	elems := int64(1)
	t.Shape = make([]int, len(*e.Shape))
	for i, d := range *e.Shape {
		if d < 0 || d > math.MaxInt {
			return t, fmt.Errorf("%w: tensor %q: bad dimension %d in shape %s", profiler.ErrFormat, name, d, jsonInts(*e.Shape))
		}
		t.Shape[i] = int(d)
		elems = mulSize(elems, d)
	}
	if len(*e.Offsets) != 2 {
		return t, fmt.Errorf("%w: tensor %q: data_offsets %s is not [begin, end]", profiler.ErrFormat, name, jsonInts(*e.Offsets))
	}
	t.Begin, t.End = (*e.Offsets)[0], (*e.Offsets)[1]
	if t.Begin < 0 || t.End < t.Begin || t.End > maxDataBytes {
		return t, fmt.Errorf("%w: tensor %q: bad data_offsets [%d, %d]", profiler.ErrFormat, name, t.Begin, t.End)
	}
	if bits, ok := safetensorsBits[t.DTypeName]; ok && bits%8 == 0 {
		want := mulSize(elems, int64(bits/8))
		if want != t.End-t.Begin {
			return t, fmt.Errorf("%w: tensor %q: data_offsets [%d, %d] hold %d bytes, shape %s of %s needs %s",
				profiler.ErrFormat, name, t.Begin, t.End, t.End-t.Begin, jsonInts(t.Shape), t.DTypeName, byteCount(want))
		}
	}
	if dataLen >= 0 && t.End > dataLen {
		return t, fmt.Errorf("%w: tensor %q: data end at byte %d of the data section, file has %d", profiler.ErrTruncated, name, t.End, dataLen)
	}
	return t, nil
}

// jsonInts formats a shape or offsets as in the header: [5, 7].
func jsonInts[T int | int64](v []T) string {
	parts := make([]string, len(v))
	for i, d := range v {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// byteCount formats a size from mulSize (-1: too many to count).
func byteCount(n int64) string {
	if n < 0 {
		return "more than 2^62"
	}
	return fmt.Sprint(n)
}

// openSafetensors reads the header of the safetensors file at path and
// returns the layers of the tensors sel selects, in order of data offset.
func openSafetensors(path string, sel func(string) bool) ([]profiler.Layer, error) {
	f, size, err := openSized(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, err := ParseSafetensorsHeader(objectReader(f, size), size)
	if err != nil {
		return nil, fileError(path, err)
	}
	var layers []profiler.Layer
	for _, t := range h.Tensors {
		if !sel(t.Name) {
			continue
		}
		if t.DType == 0 {
			return nil, profiler.FileErrorf(path, profiler.ErrUnsupported,
				"tensor %q: dtype %s: actprof profiles float activations (F32, F16, BF16, F64); save it as float32", t.Name, t.DTypeName)
		}
		off, size := h.DataOffset+t.Begin, t.End-t.Begin
		label := fmt.Sprintf("tensor %q: ", t.Name)
		layers = append(layers, profiler.Layer{
			Name: t.Name, Path: path, DType: t.DType, Shape: t.Shape,
			Open: func() (profiler.Source, error) { return openRegion(path, label, off, size) },
		})
	}
	return layers, nil
}
