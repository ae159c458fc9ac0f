package store_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/profiler/backendtest"
	"github.com/actprof/actprof/store"
)

var update = flag.Bool("update", false, "rewrite the golden files")

type layerData struct {
	name  string
	shape []int
	data  []byte
}

// write profiles layers with patterns on and returns the store's path and
// the profile.
func write(t testing.TB, path string, layers []layerData, chunk int, level string) *profiler.Profile {
	t.Helper()
	var ls []profiler.Layer
	for _, l := range layers {
		ls = append(ls, profiler.MemoryLayer(l.name, profiler.Float32, l.shape, l.data))
	}
	plans, err := profiler.PlanLayers(ls, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := store.Create(path, store.NewHeader(plans, 0), level)
	if err != nil {
		t.Fatal(err)
	}
	p, err := profiler.Run(context.Background(), ls, profiler.Options{Backend: cpu.New(), Patterns: w, ChunkBytes: chunk, Workers: 3})
	if err != nil {
		w.Abort()
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// sparse makes post-ReLU-like data where unit u fires with probability
// rate(u): 0 for some, 1 for some.
func sparse(rng *rand.Rand, n int, units int, inner int) []byte {
	vals := make([]float64, n)
	for i := range vals {
		u := (i / inner) % units
		var p float64
		switch u % 7 {
		case 0:
			p = 0
		case 1:
			p = 1
		default:
			p = float64(u%7) / 40
		}
		if rng.Float64() < p {
			vals[i] = rng.ExpFloat64() + 0.01
		}
	}
	return backendtest.Encode(profiler.Float32, vals)
}

func check(t *testing.T, path string, layers []layerData) {
	t.Helper()
	r, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, ld := range layers {
		g, _ := profiler.NewGeometry(ld.shape, profiler.DefaultUnitAxis(len(ld.shape)))
		want := backendtest.Oracle(profiler.Float32, ld.data, 0, g, 0)
		l, err := r.Layer(ld.name)
		if err != nil {
			t.Fatal(err)
		}
		counts, err := l.Counts()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(counts, want.Counts) {
			t.Fatalf("%s: recounted %v, want %v", ld.name, counts, want.Counts)
		}
		w := profiler.Words(int(g.Units))
		var rows []uint64
		if err := l.Rows(func(first int64, n int, b []uint64) error {
			if first != int64(len(rows)/w) {
				t.Fatalf("rows out of order")
			}
			rows = append(rows, b...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rows, want.Bits) {
			t.Fatalf("%s: rows differ", ld.name)
		}
		obs := g.Observations()
		for _, o := range []int64{0, obs / 2, obs - 1} {
			fired, err := l.Fired(o)
			if err != nil {
				t.Fatal(err)
			}
			var wf []int
			for u := 0; u < int(g.Units); u++ {
				if want.Bits[o*int64(w)+int64(u/64)]>>(u%64)&1 != 0 {
					wf = append(wf, u)
				}
			}
			if !slices.Equal(fired, wf) && !(len(fired) == 0 && len(wf) == 0) {
				t.Fatalf("%s obs %d: fired %v want %v", ld.name, o, fired, wf)
			}
		}
		for u := 0; u < int(g.Units); u += max(1, int(g.Units)/5) {
			got, err := l.UnitObservations(u, 0)
			if err != nil {
				t.Fatal(err)
			}
			var wo []int64
			for o := int64(0); o < obs; o++ {
				if want.Bits[o*int64(w)+int64(u/64)]>>(u%64)&1 != 0 {
					wo = append(wo, o)
				}
			}
			if !slices.Equal(got, wo) && !(len(got) == 0 && len(wo) == 0) {
				t.Fatalf("%s unit %d: %d observations, want %d", ld.name, u, len(got), len(wo))
			}
			if lim, _ := l.UnitObservations(u, 3); len(lim) > 3 {
				t.Fatalf("limit ignored")
			}
		}
		if _, err := l.Fired(obs); !errors.Is(err, store.ErrRange) {
			t.Fatalf("observation past the end: %v", err)
		}
		if _, err := l.UnitObservations(int(g.Units), 1); !errors.Is(err, store.ErrRange) {
			t.Fatalf("unit past the end: %v", err)
		}
	}
	if _, err := r.Layer("nope"); !errors.Is(err, store.ErrRange) {
		t.Fatalf("missing layer: %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dir := t.TempDir()
	for trial, shapes := range [][][]int{
		{{1, 1}, {1, 70}, {2, 64}},
		{{3000, 13}, {700, 65}, {129, 130}},
		{{9, 5, 7}, {4, 6, 5, 3}, {50, 1000}},
	} {
		var layers []layerData
		for i, s := range shapes {
			n := 1
			for _, d := range s {
				n *= d
			}
			inner := 1
			if len(s) == 4 {
				inner = s[2] * s[3]
			}
			g, _ := profiler.NewGeometry(s, profiler.DefaultUnitAxis(len(s)))
			layers = append(layers, layerData{string(rune('a' + i)), s, sparse(rng, n, int(g.Units), inner)})
		}
		// all-dead and all-firing layers
		layers = append(layers, layerData{"dead", []int{100, 33}, make([]byte, 4*3300)},
			layerData{"full", []int{100, 33}, backendtest.Encode(profiler.Float32, slices.Repeat([]float64{1}, 3300))})
		for _, chunk := range []int{1, 4096, 1 << 20} {
			for _, level := range []string{"fastest", "best"} {
				path := filepath.Join(dir, "s.actbits")
				write(t, path, layers, chunk, level)
				check(t, path, layers)
			}
			_ = trial
		}
	}
}

func goldenLayers() []layerData {
	rng := rand.New(rand.NewPCG(5, 6))
	return []layerData{{"wide", []int{260, 2100}, sparse(rng, 260*2100, 2100, 1)}, {"fc", []int{200, 70}, sparse(rng, 200*70, 70, 1)},
		{"conv", []int{3, 9, 4, 4}, sparse(rng, 3*9*16, 9, 16)}}
}

// TestGolden: the writer's bytes for a fixed dataset at levels best
// (rate-sorted order, zstd and Huffman blocks) and fastest (natural order,
// Huffman blocks with the layer's tables), and the reader's view of the
// committed files, are those of testdata/golden-*.actbits.
func TestGolden(t *testing.T) {
	layers := goldenLayers()
	for _, level := range []string{"best", "fastest"} {
		golden := filepath.Join("testdata", "golden-"+level+".actbits")
		path := filepath.Join(t.TempDir(), "g.actbits")
		layers := layers
		if level == "fastest" {
			// and a layer of several blocks, coded with block 0's tables
			// (units firing 1 time in 256: a small file)
			rng := rand.New(rand.NewPCG(7, 8))
			vals := make([]float64, 1300*2048)
			for i := range vals {
				if rng.IntN(256) == 0 {
					vals[i] = 1
				}
			}
			layers = append(slices.Clone(layers), layerData{"long", []int{1300, 2048}, backendtest.Encode(profiler.Float32, vals)})
		}
		write(t, path, layers, 2000, level)
		got, _ := os.ReadFile(path)
		if *update {
			os.WriteFile(golden, got, 0o644)
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (go test ./store -update creates it)", err)
		}
		check(t, golden, layers)
		if !bytes.Equal(got, want) {
			t.Errorf("writer output differs from %s (format change? go test ./store -update, and bump the format version if readers must tell)", golden)
		}
		if level == "fastest" {
			// a store of version 3 (testdata/v3-fastest.actbits, written
			// before the index entries named their base block) still reads
			check(t, filepath.Join("testdata", "v3-fastest.actbits"), layers)
		}
	}
}

func TestCorruption(t *testing.T) {
	layers := goldenLayers()
	good, err := os.ReadFile(filepath.Join("testdata", "golden-best.actbits"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	readAll := func(b []byte) error {
		p := filepath.Join(dir, "c.actbits")
		os.WriteFile(p, b, 0o644)
		r, err := store.Open(p)
		if err != nil {
			return err
		}
		defer r.Close()
		for _, l := range r.Layers() {
			if _, err := l.Counts(); err != nil {
				return err
			}
		}
		return nil
	}
	if err := readAll(good); err != nil {
		t.Fatal(err)
	}
	_ = layers
	hl := int(binary.LittleEndian.Uint32(good[8:]))
	dataStart := 16 + hl
	// A flipped bit in the first block.
	flip := slices.Clone(good)
	flip[dataStart+5] ^= 0x10
	if err := readAll(flip); !errors.Is(err, store.ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte("block 0")) {
		t.Errorf("flipped bit: %v", err)
	}
	// Truncated anywhere.
	for _, n := range []int{0, 5, dataStart, len(good) / 2, len(good) - 1} {
		if err := readAll(good[:n]); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("truncated to %d: %v", n, err)
		}
	}
	// Two blocks' index entries swapped (offset, length, checksum): each
	// decodes, but claims other observations. A store of many blocks:
	rng := rand.New(rand.NewPCG(7, 8))
	multi := filepath.Join(dir, "multi.actbits")
	write(t, multi, []layerData{{"wide", []int{2000, 2100}, sparse(rng, 2000*2100, 2100, 1)}}, 1<<20, "fastest")
	good, _ = os.ReadFile(multi)
	foot := good[len(good)-32:]
	idxOff := int(binary.LittleEndian.Uint64(foot))
	swapped := slices.Clone(good)
	ents := idxOff + 4 + 4*2100 + 8 // past the layer's unit count, storage order and block count
	e0 := swapped[ents : ents+32]
	e1 := swapped[ents+32 : ents+64]
	for i := 0; i < 16; i++ {
		e0[i], e1[i] = e1[i], e0[i]
	}
	binary.LittleEndian.PutUint32(swapped[len(swapped)-16:], crc(swapped[idxOff:len(swapped)-32]))
	if err := readAll(swapped); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("swapped blocks 0 and 1: %v", err)
	}
	// Blocks 1 and 2 (both compressed against block 0) swapped: they
	// decompress, and their own header gives them away.
	swapped = slices.Clone(good)
	e1, e2 := swapped[ents+32:ents+64], swapped[ents+64:ents+96]
	for i := 0; i < 16; i++ {
		e1[i], e2[i] = e2[i], e1[i]
	}
	binary.LittleEndian.PutUint32(swapped[len(swapped)-16:], crc(swapped[idxOff:len(swapped)-32]))
	if err := readAll(swapped); !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "index says") {
		t.Errorf("swapped blocks 1 and 2: %v", err)
	}
}

// TestChunkIndependence: the store's bytes depend on the activations
// alone, not on the chunk size the driver reads with (a GPU backend uses
// larger chunks than the CPU) or the number of workers: blocks start at the
// same observations whatever the chunks. Layers: dense rows, a conv map
// whose 36 positions do not divide the block, and two whose positions per
// sample are more than a block of 1024: 1089 and the prime 1031, each cut
// into two parts per sample. Level better also checks its four dictionary
// blocks, which span two samples there.
func TestChunkIndependence(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	layers := []layerData{
		{"dense", []int{10000, 512}, sparse(rng, 10000*512, 512, 1)},
		{"conv", []int{1000, 256, 6, 6}, sparse(rng, 1000*256*36, 256, 36)},
		{"wide", []int{3, 2048, 33, 33}, sparse(rng, 3*2048*1089, 2048, 1089)},
		{"prime", []int{3, 2048, 1, 1031}, sparse(rng, 3*2048*1031, 2048, 1031)},
	}
	dir := t.TempDir()
	for _, level := range []string{"fastest", "best"} {
		var first []byte
		for _, chunk := range []int{64 << 10, 20 << 20, 64 << 20} {
			path := filepath.Join(dir, level+".actbits")
			write(t, path, layers, chunk, level)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = b
				check(t, path, layers)
				if level == "best" {
					// 1031 positions, blocks of at most BlockObs(units):
					// ceil(1031/BlockObs) parts a sample, not 1031 blocks
					// of the largest divisor, 1.
					r, err := store.Open(path)
					if err != nil {
						t.Fatal(err)
					}
					l, _ := r.Layer("prime")
					codecs, err := l.Codecs()
					r.Close()
					want := int(l.Info.Observations/1031) * ((1031 + store.BlockObs(l.Info.Units) - 1) / store.BlockObs(l.Info.Units))
					if n := codecs["zstd"] + codecs["huffman-own"]; err != nil || n != want {
						t.Fatalf("layer prime: %v blocks (%v), want %d", codecs, err, want)
					}
				}
				continue
			}
			if !bytes.Equal(b, first) {
				t.Fatalf("%s: the store read in %d-byte chunks differs from the one read in 64 KiB chunks", level, chunk)
			}
		}
	}
}

// TestConcurrentQueries queries one Layer from several goroutines at once
// (Fired, UnitObservations, Counts, Rows): blocks decode into recycled
// buffers, and a block one goroutine still reads must not be handed to
// another. Every answer is checked against the oracle; make test also runs
// it under the race detector.
func TestConcurrentQueries(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const n, units = 20000, 300 // BlockObs(300) = 4096: 5 blocks, 20 at fastest
	ld := layerData{"fc", []int{n, units}, sparse(rng, n*units, units, 1)}
	g, _ := profiler.NewGeometry(ld.shape, 1)
	want := backendtest.Oracle(profiler.Float32, ld.data, 0, g, 0)
	w := profiler.Words(units)
	firedOf := func(o int64) []int {
		f := []int{}
		for u := 0; u < units; u++ {
			if want.Bits[o*int64(w)+int64(u/64)]>>(u%64)&1 != 0 {
				f = append(f, u)
			}
		}
		return f
	}
	for _, level := range []string{"fastest", "best"} {
		path := filepath.Join(t.TempDir(), "s.actbits")
		write(t, path, []layerData{ld}, 1<<16, level)
		r, err := store.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		l, err := r.Layer("fc")
		if err != nil {
			t.Fatal(err)
		}
		if l.Blocks() < 3 {
			t.Fatalf("%s: %d blocks; the test needs several", level, l.Blocks())
		}
		errc := make(chan error, 4)
		for gi := range 4 {
			go func() {
				qr := rand.New(rand.NewPCG(uint64(gi), 3))
				for q := range 300 {
					o := qr.Int64N(n)
					switch q % 50 {
					case 10:
						c, err := l.Counts()
						if err != nil || !slices.Equal(c, want.Counts) {
							errc <- fmt.Errorf("%s: Counts %v (%v)", level, c, err)
							return
						}
					case 20:
						u := qr.IntN(units)
						got, err := l.UnitObservations(u, 500)
						var wo []int64
						for o := int64(0); o < n && len(wo) < 500; o++ {
							if want.Bits[o*int64(w)+int64(u/64)]>>(u%64)&1 != 0 {
								wo = append(wo, o)
							}
						}
						if err != nil || !slices.Equal(got, wo) && len(got)+len(wo) > 0 {
							errc <- fmt.Errorf("%s: unit %d: %d observations, want %d (%v)", level, u, len(got), len(wo), err)
							return
						}
					case 30:
						var rows []uint64
						err := l.Rows(func(first int64, k int, b []uint64) error { rows = append(rows, b...); return nil })
						if err != nil || !slices.Equal(rows, want.Bits) {
							errc <- fmt.Errorf("%s: rows differ (%v)", level, err)
							return
						}
					default:
						got, err := l.Fired(o)
						if err != nil || !slices.Equal(got, firedOf(o)) {
							errc <- fmt.Errorf("%s: observation %d: fired %v, want %v (%v)", level, o, got, firedOf(o), err)
							return
						}
					}
				}
				errc <- nil
			}()
		}
		for range 4 {
			if err := <-errc; err != nil {
				t.Error(err)
			}
		}
		r.Close()
	}
}
