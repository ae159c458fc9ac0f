package input

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
)

func TestCRCCombine(t *testing.T) {
	// The CRC-32 check value: zlib.crc32(b"123456789") == 0xcbf43926.
	if got := crcCombine(crc32.ChecksumIEEE([]byte("1234")), crc32.ChecksumIEEE([]byte("56789")), 5); got != 0xcbf43926 {
		t.Fatalf("CRC of 1234 + 56789: %08x, want cbf43926", got)
	}
	if got := crcCombine(0xcbf43926, 0, 0); got != 0xcbf43926 {
		t.Fatalf("joining an empty run: %08x", got)
	}
	data := pattern(1<<20 + 13)
	want := crc32.ChecksumIEEE(data)
	rng := rand.New(rand.NewPCG(7, 11))
	for range 300 {
		i := rng.IntN(len(data) + 1)
		if got := crcCombine(crc32.ChecksumIEEE(data[:i]), crc32.ChecksumIEEE(data[i:]), int64(len(data)-i)); got != want {
			t.Fatalf("split at %d: %08x, want %08x", i, got, want)
		}
	}
	// Long runs: 2^25+3 zero bytes after "123456789", hash/crc32 against
	// the combination.
	zeros := make([]byte, 1<<20)
	n := int64(1<<25 + 3)
	crc := crc32.ChecksumIEEE([]byte("123456789"))
	zcrc := uint32(0)
	for left := n; left > 0; left -= int64(len(zeros)) {
		k := min(left, int64(len(zeros)))
		crc = crc32.Update(crc, crc32.IEEETable, zeros[:k])
		zcrc = crc32.Update(zcrc, crc32.IEEETable, zeros[:k])
	}
	if got := crcCombine(0xcbf43926, zcrc, n); got != crc {
		t.Fatalf("123456789 + %d zeros: %08x, want %08x", n, got, crc)
	}
	// Lengths up to 2^62: joining is associative.
	for range 200 {
		a, b, c := rng.Uint32(), rng.Uint32(), rng.Uint32()
		nb, nc := rng.Int64N(1<<61), rng.Int64N(1<<61)
		if l, r := crcCombine(crcCombine(a, b, nb), c, nc), crcCombine(a, crcCombine(b, c, nc), nb+nc); l != r {
			t.Fatalf("lengths %d, %d: %08x != %08x", nb, nc, l, r)
		}
	}
}

// storedMember locates member name of the zip archive b from its central
// directory: the CRC-32 recorded there and the member's bytes' offset and
// size.
func storedMember(t *testing.T, b []byte, name string) (crc uint32, start, size int) {
	t.Helper()
	e := zipEntry(t, b, name)
	if m := binary.LittleEndian.Uint16(b[e+10:]); m != zip.Store {
		t.Fatalf("%s: method %d, want stored", name, m)
	}
	crc = binary.LittleEndian.Uint32(b[e+16:])
	size = int(binary.LittleEndian.Uint32(b[e+20:]))
	local := int(binary.LittleEndian.Uint32(b[e+42:]))
	start = local + 30 + int(binary.LittleEndian.Uint16(b[local+26:])) + int(binary.LittleEndian.Uint16(b[local+28:]))
	return crc, start, size
}

// crcWant is the error for member name of archive p holding bytes member
// where the archive records crc.
func crcWant(p, name string, crc uint32, member []byte) string {
	return fmt.Sprintf("%s: %s: bad format: CRC-32 mismatch (stored 0x%08x, computed 0x%08x): the file is corrupt",
		p, name, crc, crc32.ChecksumIEEE(member))
}

// readAtErr reads layer l with ReadAt in parts of n bytes, last to first,
// and returns the first error.
func readAtErr(t *testing.T, l profiler.Layer, n int64) error {
	t.Helper()
	src, err := l.Open()
	if err != nil {
		return err
	}
	defer src.Close()
	ra := src.(profiler.ReaderAtSource)
	total := int64(l.DType.Size())
	for _, d := range l.Shape {
		total *= int64(d)
	}
	buf := make([]byte, n)
	for off := (total - 1) / n * n; off >= 0; off -= n {
		k := min(n, total-off)
		if _, err := ra.ReadAt(buf[:k], off); err != nil {
			return err
		}
	}
	return nil
}

// profileErr profiles the layers of p with the CPU backend in small chunks
// on several workers, and returns the profile and the error.
func profileErr(p string, opt Options) (*profiler.Profile, error) {
	ls, err := Open([]string{p}, opt)
	if err != nil {
		return nil, err
	}
	return profiler.Run(context.Background(), ls, profiler.Options{Backend: cpu.New(), Workers: 3, ChunkBytes: 64})
}

// TestStoredNpzCRC corrupts one byte of a stored member of NumPy's
// np.savez archive (testdata/good/acts.npz): in its array data or in its
// .npy header's padding (which still parses). NumPy, like Python's zipfile,
// refuses the file; so must every way of reading the member, and the
// profile run.
func TestStoredNpzCRC(t *testing.T) {
	dir := t.TempDir()
	src := readFile(t, filepath.Join(good, "acts.npz"))
	crc, start, size := storedMember(t, src, "fc1.npy")
	if got := crc32.ChecksumIEEE(src[start : start+size]); got != crc {
		t.Fatalf("reference archive: member CRC %08x, directory %08x", got, crc)
	}
	const dataOff = 128 // fc1's .npy header (version 1.0, padded to 64)
	if size != dataOff+8*16*4 || src[start+dataOff-1] != '\n' || src[start+dataOff-2] != ' ' {
		t.Fatalf("reference archive: fc1.npy is not a (8, 16) float32 .npy after a %d-byte header", dataOff)
	}
	for _, c := range []struct {
		name string
		at   int // offset in the member
		to   byte
	}{
		{"first.npz", dataOff, 0},
		{"mid.npz", dataOff + 300, 0},
		{"last.npz", size - 1, 0},
		{"head.npz", dataOff - 2, '\t'},
	} {
		b := slices.Clone(src)
		if c.to == 0 {
			b[start+c.at] ^= 0x40
		} else {
			b[start+c.at] = c.to
		}
		p := writeFile(t, filepath.Join(dir, c.name), b)
		want := crcWant(p, "fc1.npy", crc, b[start:start+size])
		if c.name == "mid.npz" && !strings.Contains(want, "(stored 0x1909f290, computed 0xba961201)") {
			// Python: zipfile.ZipInfo.CRC and zlib.crc32 of the member
			// with that byte flipped.
			t.Fatalf("%s: CRCs differ from Python's: %s", c.name, want)
		}
		check := func(how string, err error) {
			t.Helper()
			checkErr(t, err, p, profiler.ErrFormat)
			if err.Error() != want {
				t.Fatalf("%s, %s: error\n%q, want\n%q", c.name, how, err, want)
			}
		}
		withMmap(t, func(t *testing.T) {
			check("Next", openErr(p))
		})
		ls, err := Open([]string{p}, Options{Layers: []string{"fc1"}})
		if err != nil {
			t.Fatal(err)
		}
		check("ReadAt, 24-byte parts", readAtErr(t, ls[0], 24))
		check("ReadAt, one part", readAtErr(t, ls[0], 1<<20))
		_, err = profileErr(p, Options{})
		check("profile", err)
		// The other member is intact.
		if _, err := profileErr(p, Options{Layers: []string{"fc2"}}); err != nil {
			t.Fatalf("%s: fc2 alone: %v", c.name, err)
		}
	}
}

// writeStoredNpz writes an .npz archive at p of one stored member, name, a
// .npy of float32 data shaped (rows, cols), and returns the member's bytes.
func writeStoredNpz(t testing.TB, p, name string, rows, cols int, data []byte) []byte {
	t.Helper()
	dict := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols)
	for (10+len(dict)+1)%64 != 0 {
		dict += " "
	}
	member := append([]byte(npyMagic+"\x01\x00"), byte(len(dict)+1), byte((len(dict)+1)>>8))
	member = append(append(member, dict+"\n"...), data...)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
	if err == nil {
		_, err = w.Write(member)
	}
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return member
}

// TestStoredNpzCRCReads reads a stored member in orders a reader may use:
// out of order, from several goroutines, twice over, overlapping. An intact
// member reads without error and profiles as the same data in a .npy file;
// a corrupt one fails once its data are all read.
func TestStoredNpzCRCReads(t *testing.T) {
	dir := t.TempDir()
	const rows, cols = 4099, 64
	data := pattern(rows * cols * 4)
	npy := filepath.Join(dir, "x.npy")
	writeNpy(t, npy, "<f4", fmt.Sprintf("(%d, %d)", rows, cols), false, data)
	good := filepath.Join(dir, "good.npz")
	member := writeStoredNpz(t, good, "x.npy", rows, cols, data)
	b := readFile(t, good)
	crc, start, size := storedMember(t, b, "x.npy")
	if size != len(member) || crc != crc32.ChecksumIEEE(member) {
		t.Fatal("archive/zip wrote an unexpected member")
	}
	b[start+size/3] ^= 1
	bad := writeFile(t, filepath.Join(dir, "bad.npz"), b)
	want := crcWant(bad, "x.npy", crc, b[start:start+size])

	ref, err := profileErr(npy, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := profileErr(good, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Layers[0].Counts, ref.Layers[0].Counts) {
		t.Fatal("stored member: counts differ from the .npy file's")
	}
	if _, err := profileErr(bad, Options{}); err == nil || err.Error() != want {
		t.Fatalf("profile of the corrupt archive: %v, want %s", err, want)
	}

	n := int64(len(data))
	type span struct{ off, len int64 }
	orders := map[string][]span{
		"halves overlapping": {{0, n/2 + 10}, {n / 2, n - n/2}, {n/2 + 10, n - n/2 - 10}},
		"a part twice":       {{100, 900}, {100, 900}, {0, 100}, {1000, n - 1000}},
		"whole then again":   {{0, n}, {0, n}},
	}
	shuffled := []span{}
	for off := int64(0); off < n; off += 4093 {
		shuffled = append(shuffled, span{off, min(4093, n-off)})
	}
	rand.New(rand.NewPCG(3, 5)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	orders["shuffled"] = shuffled
	for name, order := range orders {
		for _, c := range []struct {
			p string
			g int // goroutines the parts are dealt to
		}{{good, 1}, {bad, 1}, {good, 4}, {bad, 4}} {
			p, g := c.p, c.g
			ls, err := Open([]string{p}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			s, err := ls[0].Open()
			if err != nil {
				t.Fatal(err)
			}
			ra := s.(profiler.ReaderAtSource)
			var mu sync.Mutex
			var errs []error
			var wg sync.WaitGroup
			for w := range g {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < len(order); i += g {
						buf := make([]byte, order[i].len)
						if _, err := ra.ReadAt(buf, order[i].off); err != nil {
							mu.Lock()
							errs = append(errs, err)
							mu.Unlock()
						} else if p == good && !bytes.Equal(buf, data[order[i].off:][:len(buf)]) {
							t.Errorf("%s: bytes at %d differ", name, order[i].off)
						}
					}
				}()
			}
			wg.Wait()
			s.Close()
			switch {
			case p == good && len(errs) > 0:
				t.Errorf("%s, %d goroutines: intact member: %v", name, g, errs[0])
			case p == bad && (len(errs) != 1 || errs[0].Error() != want):
				t.Errorf("%s, %d goroutines: corrupt member: errors %v, want one: %s", name, g, errs, want)
			}
		}
	}
	// Once a member checked out, later readers of it skip the check.
	ls, _ := Open([]string{good}, Options{})
	if err := readAtErr(t, ls[0], 1<<16); err != nil {
		t.Fatal(err)
	}
	s, err := ls[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	if s.(*regionSource).crc != nil {
		t.Fatal("member checked again")
	}
	s.Close()
	// An empty member: its header alone is checked, when opened.
	empty := filepath.Join(dir, "empty.npz")
	member = writeStoredNpz(t, empty, "e.npy", 0, 3, nil)
	b = readFile(t, empty)
	crc, start, size = storedMember(t, b, "e.npy")
	b[start+size-2] = '\t'
	writeFile(t, empty, b)
	ls, err = Open([]string{empty}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ls[0].Open()
	if want := crcWant(empty, "e.npy", crc, b[start:start+size]); err == nil || err.Error() != want {
		t.Fatalf("empty member: %v, want %s", err, want)
	}
	if !errors.Is(err, profiler.ErrFormat) || strings.Count(err.Error(), "\n") != 0 {
		t.Fatalf("empty member: %v", err)
	}
}

// BenchmarkStoredMember reads 256 MiB of float32 data (65,536 x 1,024) as
// a .npy file and as the stored member of an .npz archive, whose CRC-32 is
// checked as it is read: "readat" reads it with ReadAt in 1 MiB parts on
// GOMAXPROCS goroutines, as the profiler's driver does; "profile" profiles
// it with the CPU backend; "check" is the CRC check alone on the same
// parts, from memory. Each iteration opens the file afresh (Open
// reads the zip directory and the .npy header). The files stay in the page
// cache.
//
//	go test -run '^$' -bench StoredMember -count 5 ./input/
func BenchmarkStoredMember(b *testing.B) {
	dir := b.TempDir()
	const rows, cols = 1 << 16, 1024
	// Activation-like float32s: half exact zeros, the rest in (-1, 3).
	data := make([]byte, rows*cols*4)
	x := uint32(1)
	for i := 0; i < len(data); i += 4 {
		x = x*1664525 + 1013904223
		if x&1 != 0 {
			binary.LittleEndian.PutUint32(data[i:], math.Float32bits(float32(x>>8)/(1<<22)-1))
		}
	}
	npy := filepath.Join(dir, "x.npy")
	writeNpy(b, npy, "<f4", fmt.Sprintf("(%d, %d)", rows, cols), false, data)
	npz := filepath.Join(dir, "x.npz")
	member := writeStoredNpz(b, npz, "x.npy", rows, cols, data)
	data = nil
	// The check's own work, on bytes in memory: what it adds to each read.
	b.Run("check", func(b *testing.B) {
		m := &npzMember{crc: crc32.ChecksumIEEE(member), hdr: NpyHeader{DataOffset: 128, DataBytes: rows * cols * 4}}
		m.headCRC = crc32.ChecksumIEEE(member[:128])
		part := int64(1 << 20)
		b.SetBytes(rows * cols * 4)
		for b.Loop() {
			c := newCRCCheck(m)
			var next atomic.Int64
			var wg sync.WaitGroup
			for range runtime.GOMAXPROCS(0) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for off := next.Add(part) - part; off < m.hdr.DataBytes; off = next.Add(part) - part {
						if err := c.add(off, member[128+off:][:min(part, m.hdr.DataBytes-off)]); err != nil {
							b.Error(err)
						}
					}
				}()
			}
			wg.Wait()
			if !c.done.Load() {
				b.Fatal("not checked")
			}
			m.crcChecked.Store(false)
		}
	})
	open := func(b *testing.B, p string) profiler.Layer {
		ls, err := Open([]string{p}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		return ls[0]
	}
	for _, p := range []string{npy, npz} {
		kind := filepath.Ext(p)[1:]
		b.Run("readat/"+kind, func(b *testing.B) {
			b.SetBytes(rows * cols * 4)
			for b.Loop() {
				if err := parallelRead(open(b, p), 1<<20, runtime.GOMAXPROCS(0)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, p := range []string{npy, npz} {
		kind := filepath.Ext(p)[1:]
		b.Run("profile/"+kind, func(b *testing.B) {
			b.SetBytes(rows * cols * 4)
			for b.Loop() {
				if _, err := profiler.Run(context.Background(), []profiler.Layer{open(b, p)}, profiler.Options{Backend: cpu.New()}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// parallelRead reads layer l with ReadAt in parts of n bytes, each of g
// goroutines claiming the next part into a buffer of its own.
func parallelRead(l profiler.Layer, n int64, g int) error {
	src, err := l.Open()
	if err != nil {
		return err
	}
	defer src.Close()
	ra := src.(profiler.ReaderAtSource)
	total := int64(l.DType.Size())
	for _, d := range l.Shape {
		total *= int64(d)
	}
	var next atomic.Int64
	errs := make([]error, g)
	var wg sync.WaitGroup
	for w := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, n)
			for {
				off := next.Add(n) - n
				if off >= total {
					return
				}
				if _, err := ra.ReadAt(buf[:min(n, total-off)], off); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
