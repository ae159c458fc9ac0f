package input

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/profiler/backendtest"
)

// The reference files in testdata/ are written by testdata/gen.py with NumPy
// and PyTorch; expected.json holds what NumPy reads back.

type expectedLayer struct {
	Name    string `json:"name"`
	DType   string `json:"dtype"`
	Shape   []int  `json:"shape"`
	Fortran bool   `json:"fortran"`
	SHA256  string `json:"sha256"`
	Counts  []int  `json:"counts"`
}

type expectedFiles struct {
	Order []string                   `json:"order"`
	Files map[string][]expectedLayer `json:"files"`
}

const good = "testdata/good"

func loadExpected(t *testing.T) expectedFiles {
	t.Helper()
	b, err := os.ReadFile("testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var e expectedFiles
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// withMmap runs f with memory mapping on, then off (the pread path).
func withMmap(t *testing.T, f func(t *testing.T)) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("mmap=%v", on), func(t *testing.T) {
			saved := useMmap
			useMmap = on && mmapSupported
			defer func() { useMmap = saved }()
			f(t)
		})
	}
}

// readAll reads a layer's bytes in chunks of n bytes, checking that every
// chunk but the last has exactly n, and releases them.
func readAll(t *testing.T, l profiler.Layer, n int) []byte {
	t.Helper()
	src, err := l.Open()
	if err != nil {
		t.Fatalf("%s: Open: %v", l.Name, err)
	}
	defer src.Close()
	var out []byte
	short := false
	for {
		c, err := src.Next(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: Next(%d): %v", l.Name, n, err)
		}
		if short {
			t.Fatalf("%s: Next(%d): chunk after a short chunk", l.Name, n)
		}
		if len(c.Data) > n || len(c.Data) == 0 {
			t.Fatalf("%s: Next(%d) gave %d bytes", l.Name, n, len(c.Data))
		}
		short = len(c.Data) < n
		out = append(out, c.Data...)
		c.Release()
	}
	if _, err := src.Next(n); err != io.EOF {
		t.Fatalf("%s: Next after the end: %v, want io.EOF", l.Name, err)
	}
	return out
}

// unitCounts counts elements > 0 per unit of the last axis of the logical
// array, decoding data with backendtest.Value.
func unitCounts(l profiler.Layer, data []byte) []int {
	shape := l.Shape
	if len(shape) == 0 {
		shape = []int{1}
	}
	units := shape[len(shape)-1]
	out := make([]int, units)
	n := len(data) / l.DType.Size()
	rest := n / max(units, 1) // product of the other axes
	for i := 0; i < n; i++ {
		u := i % units
		if l.FortranOrder {
			// The bytes are the C-order array of the reversed shape,
			// whose first axis is the logical last one.
			u = i / rest
		}
		if backendtest.Value(l.DType, data, i) > 0 {
			out[u]++
		}
	}
	return out
}

// readAtAll reads a layer's bytes with ReadAt, in chunks of n bytes taken
// last to first, if its source supports it.
func readAtAll(t *testing.T, l profiler.Layer, n int) ([]byte, bool) {
	t.Helper()
	src, err := l.Open()
	if err != nil {
		t.Fatalf("%s: Open: %v", l.Name, err)
	}
	defer src.Close()
	ra, ok := src.(profiler.ReaderAtSource)
	if !ok {
		return nil, false
	}
	total := int64(l.DType.Size())
	for _, d := range l.Shape {
		total *= int64(d)
	}
	out := make([]byte, total)
	for off := (total - 1) / int64(n) * int64(n); off >= 0 && total > 0; off -= int64(n) {
		k := min(int64(n), total-off)
		if got, err := ra.ReadAt(out[off:off+k], off); err != nil || got != int(k) {
			t.Fatalf("%s: ReadAt(%d bytes at %d) = %d, %v", l.Name, k, off, got, err)
		}
	}
	if _, err := ra.ReadAt(make([]byte, 1), total); !errors.Is(err, profiler.ErrTruncated) {
		t.Fatalf("%s: ReadAt past the end: %v, want ErrTruncated", l.Name, err)
	}
	return out, true
}

func checkLayer(t *testing.T, l profiler.Layer, want expectedLayer) {
	t.Helper()
	for _, n := range []int{24, 1 << 20} {
		if data, ok := readAtAll(t, l, n); ok {
			if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != want.SHA256 {
				t.Fatalf("%s: ReadAt chunks of %d: bytes differ from NumPy's", l.Name, n)
			}
		}
	}
	if l.Name != want.Name || l.DType.String() != want.DType || !slices.Equal(l.Shape, want.Shape) || l.FortranOrder != want.Fortran {
		t.Fatalf("layer %s %s %v fortran=%v, want %s %s %v fortran=%v",
			l.Name, l.DType, l.Shape, l.FortranOrder, want.Name, want.DType, want.Shape, want.Fortran)
	}
	for _, n := range []int{7 * 4, 1 << 20, 6, 2, 5 * 8} {
		if n%l.DType.Size() != 0 {
			continue
		}
		data := readAll(t, l, n)
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != want.SHA256 {
			t.Fatalf("%s: chunks of %d: bytes differ from NumPy's (%d bytes)", l.Name, n, len(data))
		}
		if got := unitCounts(l, data); !slices.Equal(got, want.Counts) {
			t.Fatalf("%s: counts %v, want %v", l.Name, got, want.Counts)
		}
	}
}

func TestReferenceFiles(t *testing.T) {
	exp := loadExpected(t)
	withMmap(t, func(t *testing.T) {
		for file, wants := range exp.Files {
			paths, opt := []string{filepath.Join(good, file)}, Options{}
			if file == "shards" {
				// A folder given itself is a dataset folder: its shards
				// are one layer of the folder above.
				paths, opt = []string{good}, Options{Layers: []string{file}}
			}
			ls, err := Open(paths, opt)
			if err != nil {
				t.Fatal(err)
			}
			if len(ls) != len(wants) {
				t.Fatalf("%s: %d layers, want %d", file, len(ls), len(wants))
			}
			for i, l := range ls {
				if l.Path != filepath.Join(good, file) {
					t.Errorf("%s: layer %s has Path %s", file, l.Name, l.Path)
				}
				checkLayer(t, l, wants[i])
			}
		}
	})
}

func TestDatasetFolder(t *testing.T) {
	exp := loadExpected(t)
	ls, err := Open([]string{good}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range ls {
		names = append(names, l.Name)
	}
	if !slices.Equal(names, exp.Order) {
		t.Fatalf("layers %v, want %v", names, exp.Order)
	}
	if l := ls[len(ls)-1]; l.Path != filepath.Join(good, "shards") {
		t.Errorf("shard layer Path %s", l.Path)
	}
}

func TestLayerPatterns(t *testing.T) {
	ls, err := Open([]string{good}, Options{Layers: []string{"layers.*", "fc?", "shards"}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range ls {
		names = append(names, l.Name)
	}
	want := []string{"fc1", "fc2", "layers.1.mlp", "layers.0.attn", "layers.0.mlp", "shards"}
	if !slices.Equal(names, want) {
		t.Fatalf("selected %v, want %v", names, want)
	}
	// An unselected tensor of an unsupported dtype is no error.
	ids := "testdata/unsupported/ids.safetensors"
	if ls, err := Open([]string{ids}, Options{Layers: []string{"hidden"}}); err != nil || len(ls) != 1 {
		t.Fatalf("selecting the F32 tensor: %v", err)
	}
	if _, err := Open([]string{good}, Options{Layers: []string{"fc*", "nope*"}}); !errors.Is(err, profiler.ErrBadOption) || !strings.Contains(err.Error(), "nope*") {
		t.Fatalf("pattern matching nothing: %v", err)
	}
	if _, err := Open([]string{good}, Options{Layers: []string{"[x"}}); !errors.Is(err, profiler.ErrBadOption) {
		t.Fatalf("malformed pattern: %v", err)
	}
}

// writeNpy writes a version 1.0 .npy file.
func writeNpy(t testing.TB, path, descr, shape string, fortran bool, data []byte) {
	t.Helper()
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, pyBool(fortran), shape)
	for (10+len(dict)+1)%64 != 0 {
		dict += " "
	}
	dict += "\n"
	b := append([]byte(npyMagic), 1, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(dict)))
	b = append(append(b, dict...), data...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// pattern is n bytes that differ from window to window.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>12)
	}
	return b
}

func TestWindows(t *testing.T) {
	dir := t.TempDir()
	withMmap(t, func(t *testing.T) {
		for _, size := range []int{1<<18 + 4*123, 3<<20 + 4*123} {
			data := pattern(size / 12 * 12)
			p := filepath.Join(dir, "big.npy")
			writeNpy(t, p, "<f4", fmt.Sprintf("(%d, 3)", len(data)/12), false, data)
			ls, err := Open([]string{p}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			sizes := []int{1 << 20, len(data) - 4, len(data), len(data) + 8}
			if size < 1<<20 {
				sizes = []int{7 * 4, 4096, 4100}
			}
			for _, n := range sizes {
				if got := readAll(t, ls[0], n); !slices.Equal(got, data) {
					t.Fatalf("chunks of %d: bytes differ", n)
				}
			}
			// The mapping path stays in use where it works.
			src, _ := ls[0].Open()
			c, _ := src.Next(4096)
			if src.(*regionSource).mmap != useMmap {
				t.Fatalf("mmap %v, want %v", src.(*regionSource).mmap, useMmap)
			}
			c.Release()
			src.Close()
		}
	})
}

func TestReleaseOutOfOrder(t *testing.T) {
	dir := t.TempDir()
	data := pattern(1<<20 + 4*77)
	p := filepath.Join(dir, "big.npy")
	writeNpy(t, p, "<f4", fmt.Sprintf("(%d,)", len(data)/4), false, data)
	ls, err := Open([]string{p}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	withMmap(t, func(t *testing.T) {
		src, err := ls[0].Open()
		if err != nil {
			t.Fatal(err)
		}
		var chunks []profiler.Chunk
		for {
			c, err := src.Next(5000 * 4)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			chunks = append(chunks, c)
		}
		// Chunks stay valid after Close, until released.
		if err := src.Close(); err != nil {
			t.Fatal(err)
		}
		var got []byte
		for _, c := range chunks {
			got = append(got, c.Data...)
		}
		if !slices.Equal(got, data) {
			t.Fatal("bytes differ")
		}
		done := make(chan bool)
		for i := range chunks {
			go func(c profiler.Chunk) {
				c.Release()
				c.Release() // a second release is harmless
				done <- true
			}(chunks[len(chunks)-1-i])
		}
		for range chunks {
			<-done
		}
	})
}

func TestTruncatedWhileReading(t *testing.T) {
	withMmap(t, func(t *testing.T) {
		dir := t.TempDir()
		data := pattern(1 << 16)
		p := filepath.Join(dir, "x.npy")
		writeNpy(t, p, "<f4", fmt.Sprintf("(%d, 4)", len(data)/16), false, data)
		ls, err := Open([]string{p}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		src, err := ls[0].Open()
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		c, err := src.Next(4096)
		if err != nil {
			t.Fatal(err)
		}
		c.Release()
		if err := os.Truncate(p, 128+10000); err != nil {
			t.Fatal(err)
		}
		for err == nil {
			c, err = src.Next(4096)
			c.Release()
		}
		checkErr(t, err, p, profiler.ErrTruncated)
	})
}

// checkErr fails unless err wraps kind and its message starts with path.
func checkErr(t *testing.T, err error, path string, kind error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %v", path, kind)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("error %q does not wrap %q", err, kind)
	}
	if !strings.HasPrefix(err.Error(), path+": ") {
		t.Fatalf("error %q does not start with the file %s", err, path)
	}
	var fe *profiler.FileError
	if !errors.As(err, &fe) {
		t.Fatalf("error %q is not a *profiler.FileError", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %q is not one line", err)
	}
}

// openErr opens paths and returns the error, from Open or from reading
// every layer.
func openErr(paths ...string) error {
	ls, err := Open(paths, Options{})
	if err != nil {
		return err
	}
	for _, l := range ls {
		src, err := l.Open()
		if err != nil {
			return err
		}
		for {
			c, err := src.Next(1 << 12)
			if err == io.EOF {
				break
			}
			if err != nil {
				src.Close()
				return err
			}
			c.Release()
		}
		src.Close()
	}
	return nil
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, p string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBadNpy(t *testing.T) {
	dir := t.TempDir()
	src := readFile(t, filepath.Join(good, "a_v1_f4.npy")) // (5, 7) float32
	edit := func(old, new string) []byte {
		s := strings.Replace(string(src), old, new, 1)
		if s == string(src) || len(s) != len(src) {
			t.Fatalf("edit %q -> %q failed", old, new)
		}
		return []byte(s)
	}
	missing := filepath.Join(dir, "missing.npy")
	if err := openErr(missing); !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), missing+": ") {
		t.Fatalf("missing file: %v", err)
	}
	cases := []struct {
		name string
		data []byte
		kind error
		msg  string
	}{
		{"truncated.npy", src[:len(src)-10], profiler.ErrTruncated, "truncated: header says 140 bytes of data, file has 130"},
		{"longer.npy", append(slices.Clone(src), 1, 2, 3, 4), profiler.ErrFormat, "header says 140 bytes of data, file has 144"},
		{"bigshape.npy", edit("(5, 7)", "(9, 7)"), profiler.ErrTruncated, "header says 252 bytes"},
		{"header.npy", src[:40], profiler.ErrTruncated, "ends inside the .npy header"},
		{"empty.npy", nil, profiler.ErrTruncated, "ends inside"},
		{"magic.npy", edit("NUMPY", "NUMPZ"), profiler.ErrFormat, "bad magic"},
		{"version.npy", append(append(slices.Clone(src[:6]), 4, 0), src[8:]...), profiler.ErrFormat, "version 4.0"},
		{"dict.npy", edit("'shape': (5, 7)", "'shape': (5, 7("), profiler.ErrFormat, "malformed header dict"},
		{"keys.npy", edit("'fortran_order'", "'fortran_ordeR'"), profiler.ErrFormat, "unexpected key"},
		{"pipe.npy", edit("'<f4'", "'|f4'"), profiler.ErrFormat, "byte order '|'"},
		{"int.npy", edit("'<f4'", "'<i4'"), profiler.ErrUnsupported, "integer dtype <i4"},
		{"half.npy", edit("(5, 7)", "(5,-7)"), profiler.ErrFormat, "dimension 1"},
		{"unknown.npy", edit("'<f4'", "'<q4'"), profiler.ErrFormat, "unknown dtype"},
	}
	for _, c := range cases {
		p := writeFile(t, filepath.Join(dir, c.name), c.data)
		err := openErr(p)
		checkErr(t, err, p, c.kind)
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %q lacks %q", c.name, err, c.msg)
		}
	}
}

func TestUnsupported(t *testing.T) {
	for name, msg := range map[string]string{
		"be_f4.npy":       "big-endian >f4: convert with arr.astype('<f4')",
		"i4.npy":          "integer dtype <i4",
		"bool.npy":        "bool dtype |b1",
		"structured.npy":  "structured dtype",
		"c8.npy":          "complex dtype <c8",
		"ids.safetensors": `tensor "position_ids": dtype I32`,
	} {
		p := filepath.Join("testdata/unsupported", name)
		err := openErr(p)
		checkErr(t, err, p, profiler.ErrUnsupported)
		if !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: error %q lacks %q", name, err, msg)
		}
	}
	p := filepath.Join(t.TempDir(), "x.csv")
	writeFile(t, p, []byte("1,2\n"))
	checkErr(t, openErr(p), p, profiler.ErrUnsupported)
}

func TestFolders(t *testing.T) {
	dir := t.TempDir()
	// No layers.
	writeFile(t, filepath.Join(dir, "notes.txt"), []byte("x"))
	checkErr(t, openErr(dir), dir, profiler.ErrFormat)
	// Duplicate names: a.npy and a/ (shards).
	a := readFile(t, filepath.Join(good, "a_v1_f4.npy"))
	writeFile(t, filepath.Join(dir, "a.npy"), a)
	os.Mkdir(filepath.Join(dir, "a"), 0o755)
	writeFile(t, filepath.Join(dir, "a", "0.npy"), a)
	err := openErr(dir)
	checkErr(t, err, filepath.Join(dir, "a.npy"), profiler.ErrFormat)
	if !strings.Contains(err.Error(), "layer name \"a\"") {
		t.Fatalf("duplicate: %v", err)
	}
	// Same file twice.
	p := filepath.Join(good, "a_v1_f4.npy")
	checkErr(t, openErr(p, p), p, profiler.ErrFormat)
	// Subfolders without .npy files and hidden files are ignored.
	os.Mkdir(filepath.Join(dir, "empty"), 0o755)
	os.Remove(filepath.Join(dir, "a.npy"))
	writeFile(t, filepath.Join(dir, ".hidden.npy"), []byte("junk"))
	ls, err := Open([]string{dir}, Options{})
	if err != nil || len(ls) != 1 || ls[0].Name != "a" {
		t.Fatalf("got %d layers, %v", len(ls), err)
	}
}

func TestShardMismatch(t *testing.T) {
	a := readFile(t, filepath.Join(good, "a_v1_f4.npy")) // (5, 7) float32
	data := a[128:]
	for _, c := range []struct {
		descr, shape string
		fortran      bool
		kind         error
		msg          string
	}{
		{"<f4", "(2, 6)", false, ErrShardMismatch, "shape (2, 6), but shard 0.npy has (5, 7)"},
		{"<f2", "(2, 7)", false, ErrShardMismatch, "dtype float16, but shard 0.npy has float32"},
		{"<f4", "(2, 7, 1)", false, ErrShardMismatch, "shards may differ on axis 0 only"},
		{"<f4", "(5, 7)", true, ErrShardMismatch, "fortran_order True"},
		{"<f4", "()", false, profiler.ErrShape, "0-D"},
	} {
		dir := filepath.Join(t.TempDir(), "layer")
		os.Mkdir(dir, 0o755)
		writeFile(t, filepath.Join(dir, "0.npy"), a)
		size := 2
		if c.descr == "<f4" {
			size = 4
		}
		n := size
		for _, d := range strings.FieldsFunc(c.shape, func(r rune) bool { return r < '0' || r > '9' }) {
			var k int
			fmt.Sscan(d, &k)
			n *= k
		}
		bad := filepath.Join(dir, "1.npy")
		writeNpy(t, bad, c.descr, c.shape, c.fortran, data[:n])
		err := openErr(filepath.Dir(dir))
		checkErr(t, err, bad, c.kind)
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("error %q lacks %q", err, c.msg)
		}
	}
}

// zipEntry finds the central directory entry of member name in archive b
// and returns its offset.
func zipEntry(t *testing.T, b []byte, name string) int {
	t.Helper()
	for i := 0; i+46 < len(b); i++ {
		if string(b[i:i+4]) == "PK\x01\x02" {
			n := int(binary.LittleEndian.Uint16(b[i+28:]))
			if string(b[i+46:i+46+n]) == name {
				return i
			}
		}
	}
	t.Fatalf("no member %s", name)
	return 0
}

func TestBadNpz(t *testing.T) {
	dir := t.TempDir()
	src := readFile(t, filepath.Join(good, "actz.npz"))
	// Truncated archive: no central directory.
	p := writeFile(t, filepath.Join(dir, "cut.npz"), src[:len(src)/2])
	checkErr(t, openErr(p), p, profiler.ErrFormat)
	// Flipped bytes in the deflated data of "deep".
	b := slices.Clone(src)
	e := zipEntry(t, b, "deep.npy")
	local := int(binary.LittleEndian.Uint32(b[e+42:]))
	csize := int(binary.LittleEndian.Uint32(b[e+20:]))
	data := local + 30 + int(binary.LittleEndian.Uint16(b[local+26:])) + int(binary.LittleEndian.Uint16(b[local+28:]))
	for i := data + csize/2; i < data+csize/2+8; i++ {
		b[i] ^= 0x55
	}
	p = writeFile(t, filepath.Join(dir, "flip.npz"), b)
	err := openErr(p)
	t.Log(err)
	if !errors.Is(err, profiler.ErrTruncated) {
		checkErr(t, err, p, profiler.ErrFormat)
	}
	if !strings.HasPrefix(err.Error(), p+": deep.npy: ") {
		t.Fatalf("error %q does not name the member", err)
	}
	// A wrong CRC in the directory.
	b = slices.Clone(src)
	e = zipEntry(t, b, "tiny.npy")
	b[e+16] ^= 1
	p = writeFile(t, filepath.Join(dir, "crc.npz"), b)
	err = openErr(p)
	checkErr(t, err, p, profiler.ErrFormat)
	if !strings.Contains(err.Error(), "tiny.npy: bad format: CRC-32 mismatch") {
		t.Fatalf("error %q", err)
	}
	// A deflate stream cut short (the member's compressed size shrunk).
	b = slices.Clone(src)
	e = zipEntry(t, b, "deep.npy")
	binary.LittleEndian.PutUint32(b[e+20:], uint32(csize/2))
	p = writeFile(t, filepath.Join(dir, "short.npz"), b)
	checkErr(t, openErr(p), p, profiler.ErrTruncated)
	// A stored member whose header promises more than the member holds.
	b = readFile(t, filepath.Join(good, "acts.npz"))
	s := strings.Replace(string(b), "(8, 16)", "(9, 16)", 1)
	p = writeFile(t, filepath.Join(dir, "shape.npz"), []byte(s))
	err = openErr(p)
	checkErr(t, err, p, profiler.ErrTruncated)
	if !strings.Contains(err.Error(), "fc1.npy: truncated: header says 576 bytes of data, member has 512") {
		t.Fatalf("error %q", err)
	}
}

// rewriteSafetensors returns the safetensors file b with its JSON header
// edited by f.
func rewriteSafetensors(t *testing.T, b []byte, f func(h map[string]any)) []byte {
	t.Helper()
	n := binary.LittleEndian.Uint64(b)
	var h map[string]any
	if err := json.Unmarshal(b[8:8+n], &h); err != nil {
		t.Fatal(err)
	}
	f(h)
	text, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(text)))
	return append(append(out, text...), b[8+n:]...)
}

// duplicateEntry returns the safetensors file b with the JSON header's entry
// for tensor name given a second time, at the end.
func duplicateEntry(t *testing.T, b []byte, name string) []byte {
	t.Helper()
	n := binary.LittleEndian.Uint64(b)
	text := strings.TrimRight(string(b[8:8+n]), " ")
	key := `"` + name + `":{`
	i := strings.Index(text, key)
	j := strings.Index(text[i:], "}")
	if i < 0 || j < 0 || !strings.HasSuffix(text, "}") {
		t.Fatalf("no entry %q in %s", name, text)
	}
	text = text[:len(text)-1] + "," + text[i:i+j+1] + "}"
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(text)))
	return append(append(out, text...), b[8+n:]...)
}

func TestBadSafetensors(t *testing.T) {
	dir := t.TempDir()
	src := readFile(t, filepath.Join(good, "model.safetensors"))
	tensor := func(name string, f func(e map[string]any)) func(h map[string]any) {
		return func(h map[string]any) { f(h[name].(map[string]any)) }
	}
	hlen := int(binary.LittleEndian.Uint64(src))
	for _, c := range []struct {
		name string
		data []byte
		kind error
		msg  string
	}{
		{"cut.safetensors", src[:len(src)-3], profiler.ErrTruncated, "data end at byte"},
		{"header.safetensors", src[:100], profiler.ErrTruncated, "header says"},
		{"len.safetensors", src[:5], profiler.ErrTruncated, "8-byte header length"},
		{"huge.safetensors", append(binary.LittleEndian.AppendUint64(nil, 1<<40), src[8:]...), profiler.ErrFormat, "exceeds"},
		{"json.safetensors", append(slices.Clone(src[:8+hlen-2]), ']', ' '), profiler.ErrFormat, "not valid JSON"},
		{"size.safetensors", rewriteSafetensors(t, src, tensor("embed", func(e map[string]any) { e["shape"] = []int{3, 3} })),
			profiler.ErrFormat, `tensor "embed": data_offsets`},
		{"offsets.safetensors", rewriteSafetensors(t, src, tensor("embed", func(e map[string]any) { e["data_offsets"] = []int{48, 30} })),
			profiler.ErrFormat, `tensor "embed": bad data_offsets`},
		{"beyond.safetensors", rewriteSafetensors(t, src, tensor("layers.0.mlp", func(e map[string]any) {
			o := e["data_offsets"].([]any)
			e["data_offsets"] = []any{o[0].(float64) + 4096, o[1].(float64) + 4096}
		})), profiler.ErrTruncated, `tensor "layers.0.mlp"`},
		{"overlap.safetensors", rewriteSafetensors(t, src, tensor("embed", func(e map[string]any) { e["data_offsets"] = []int{0, 48} })),
			profiler.ErrFormat, "overlap"},
		{"entry.safetensors", rewriteSafetensors(t, src, func(h map[string]any) { h["x"] = map[string]any{"dtype": "F32"} }),
			profiler.ErrFormat, `tensor "x": entry lacks`},
		{"bf8.safetensors", rewriteSafetensors(t, src, tensor("embed", func(e map[string]any) { e["dtype"] = "F8_E4M3"; e["shape"] = []int{6, 8} })),
			profiler.ErrUnsupported, `tensor "embed": dtype F8_E4M3`},
		{"dup.safetensors", duplicateEntry(t, src, "embed"), profiler.ErrFormat, `tensor "embed" is listed twice in the header`},
	} {
		p := writeFile(t, filepath.Join(dir, c.name), c.data)
		err := openErr(p)
		checkErr(t, err, p, c.kind)
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %q lacks %q", c.name, err, c.msg)
		}
	}
	p := filepath.Join(dir, "dup.safetensors")
	if want := p + `: bad format: tensor "embed" is listed twice in the header`; openErr(p).Error() != want {
		t.Errorf("error %q, want %q", openErr(p), want)
	}
}
