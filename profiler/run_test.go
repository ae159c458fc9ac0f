package profiler_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/profiler/backendtest"
)

func run(t *testing.T, layers []profiler.Layer, opt profiler.Options) *profiler.Profile {
	t.Helper()
	if opt.Backend == nil {
		opt.Backend = cpu.New()
	}
	p, err := profiler.Run(context.Background(), layers, opt)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// wantLayer is the oracle's reading of a whole array.
func checkLayer(t *testing.T, lp profiler.LayerProfile, dt profiler.DType, data []byte, g profiler.Geometry, thr float64) {
	t.Helper()
	want := backendtest.Oracle(dt, data, 0, g, thr)
	if !slices.Equal(lp.Counts, want.Counts) || !slices.Equal(lp.NaNCounts, want.NaNs) {
		t.Fatalf("layer %s: counts %v nans %v, oracle %v %v", lp.Name, lp.Counts, lp.NaNCounts, want.Counts, want.NaNs)
	}
	if lp.Observations != uint64(g.Observations()) || lp.Units != int(g.Units) {
		t.Fatalf("layer %s: %d units x %d observations, want %d x %d", lp.Name, lp.Units, lp.Observations, g.Units, g.Observations())
	}
}

func TestRunMatchesOracleForAnyWorkersAndChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	cases := []struct {
		shape []int
		axis  int // expected default unit axis
	}{
		{[]int{777, 37}, 1},
		{[]int{5, 9, 64}, 2},      // tokens: units last
		{[]int{6, 13, 7, 5}, 1},   // NCHW: channels
		{[]int{3, 4, 2, 3, 5}, 1}, // NCDHW
		{[]int{1, 1}, 1},
	}
	for _, dt := range backendtest.DTypes {
		for _, c := range cases {
			n := 1
			for _, d := range c.shape {
				n *= d
			}
			data := backendtest.Gen(rng, dt, n, 0)
			g, err := profiler.NewGeometry(c.shape, c.axis)
			if err != nil {
				t.Fatal(err)
			}
			var first *profiler.Profile
			for _, workers := range []int{1, 2, 5} {
				for _, chunk := range []int{1, 7, 100, 4096, 1 << 20} {
					p := run(t, []profiler.Layer{profiler.MemoryLayer("l", dt, c.shape, data)},
						profiler.Options{Workers: workers, ChunkBytes: chunk})
					if p.Layers[0].UnitAxis != c.axis {
						t.Fatalf("%v: unit axis %d, want %d", c.shape, p.Layers[0].UnitAxis, c.axis)
					}
					if first == nil {
						first = p
						checkLayer(t, p.Layers[0], dt, data, g, 0)
					} else if !reflect.DeepEqual(first, p) {
						t.Fatalf("%v %v: workers %d chunk %d differ from workers 1", dt, c.shape, workers, chunk)
					}
				}
			}
		}
	}
}

// readAtLayer is a layer whose source supports concurrent ReadAt, like a
// file region; truncate cuts its bytes short of the shape.
func readAtLayer(name string, dt profiler.DType, shape []int, data []byte) profiler.Layer {
	l := profiler.MemoryLayer(name, dt, shape, data)
	l.Open = func() (profiler.Source, error) { return &readAtSource{bytes.NewReader(data)}, nil }
	return l
}

type readAtSource struct{ r *bytes.Reader }

func (s *readAtSource) Next(n int) (profiler.Chunk, error) { panic("driver must use ReadAt") }
func (s *readAtSource) Close() error                       { return nil }
func (s *readAtSource) ReadAt(p []byte, off int64) (int, error) {
	return s.r.ReadAt(p, off)
}

func TestReadAtPathMatchesStreamPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for _, dt := range backendtest.DTypes {
		for _, shape := range [][]int{{1000, 37}, {9, 13, 6, 5}, {3, 2000}} {
			n := 1
			for _, d := range shape {
				n *= d
			}
			data := backendtest.Gen(rng, dt, n, 0)
			want := run(t, []profiler.Layer{profiler.MemoryLayer("l", dt, shape, data)}, profiler.Options{})
			for _, workers := range []int{1, 3} {
				for _, chunk := range []int{1, 40, 4096, 1 << 20} {
					got := run(t, []profiler.Layer{readAtLayer("l", dt, shape, data)}, profiler.Options{Workers: workers, ChunkBytes: chunk})
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("%v %v workers %d chunk %d: ReadAt path differs", dt, shape, workers, chunk)
					}
				}
			}
		}
	}
	short := readAtLayer("s", profiler.Float32, []int{100, 10}, make([]byte, 3990))
	if _, err := profiler.Run(context.Background(), []profiler.Layer{short}, profiler.Options{Backend: cpu.New(), ChunkBytes: 400}); !errors.Is(err, profiler.ErrTruncated) {
		t.Fatalf("short ReadAt source: %v", err)
	}
}

func TestUnitAxisOverrideAndFortranOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	shape := []int{40, 6, 9}
	data := backendtest.Gen(rng, profiler.Float32, 40*6*9, 0)
	for axis := -3; axis < 3; axis++ {
		p := run(t, []profiler.Layer{profiler.MemoryLayer("x", profiler.Float32, shape, data)},
			profiler.Options{UnitAxis: map[string]int{"x": axis}, ChunkBytes: 64})
		g, _ := profiler.NewGeometry(shape, axis)
		checkLayer(t, p.Layers[0], profiler.Float32, data, g, 0)
	}
	// The same bytes read as a Fortran-order array of the reversed shape
	// are the same logical array: unit axis k there is axis 2-k here.
	f := profiler.MemoryLayer("f", profiler.Float32, []int{9, 6, 40}, data)
	f.FortranOrder = true
	for axis := 0; axis < 3; axis++ {
		p := run(t, []profiler.Layer{f}, profiler.Options{UnitAxis: map[string]int{"": axis}, ChunkBytes: 100})
		g, _ := profiler.NewGeometry(shape, 2-axis)
		checkLayer(t, p.Layers[0], profiler.Float32, data, g, 0)
		if p.Layers[0].UnitAxis != axis {
			t.Fatalf("fortran unit axis %d, want %d", p.Layers[0].UnitAxis, axis)
		}
	}
}

func TestClassification(t *testing.T) {
	// 2000 observations of 5 units: dead, rare (1/2000 < 1e-3), 2/2000 (not
	// rare), always on, half.
	const n = 2000
	vals := make([]float32, n*5)
	for r := 0; r < n; r++ {
		row := vals[r*5:]
		row[0] = float32(math.Copysign(0, -1))
		if r == 17 {
			row[1] = 1
		}
		if r == 3 || r == 1999 {
			row[2] = 0.5
		}
		row[3] = 2
		if r%2 == 0 {
			row[4] = 1
		} else {
			row[4] = float32(math.NaN())
		}
	}
	data := f32bytes(vals)
	p := run(t, []profiler.Layer{profiler.MemoryLayer("c", profiler.Float32, []int{n, 5}, data)}, profiler.Options{})
	l := p.Layers[0]
	if !slices.Equal(l.Dead, []int{0}) || !slices.Equal(l.Rare, []int{1}) || !slices.Equal(l.AlwaysOn, []int{3}) {
		t.Fatalf("dead %v rare %v always %v", l.Dead, l.Rare, l.AlwaysOn)
	}
	if l.NaNTotal != n/2 || l.NaNCounts[4] != n/2 {
		t.Fatalf("nan total %d", l.NaNTotal)
	}
	want := (0 + 1.0/n + 2.0/n + 1 + 0.5) / 5
	if math.Abs(l.MeanActivationProbability-want) > 1e-15 {
		t.Fatalf("mean %v want %v", l.MeanActivationProbability, want)
	}
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		u := math.Float32bits(x)
		b = append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
	}
	return b
}

func TestBadLayersAndOptions(t *testing.T) {
	data := make([]byte, 4*12)
	bad := []struct {
		name  string
		layer profiler.Layer
		opt   profiler.Options
		kind  error
	}{
		{"1-D", profiler.MemoryLayer("a", profiler.Float32, []int{12}, data), profiler.Options{}, profiler.ErrShape},
		{"0-D", profiler.MemoryLayer("a", profiler.Float32, []int{}, data), profiler.Options{}, profiler.ErrShape},
		{"0 rows", profiler.MemoryLayer("a", profiler.Float32, []int{0, 12}, data), profiler.Options{}, profiler.ErrShape},
		{"0 units", profiler.MemoryLayer("a", profiler.Float32, []int{12, 0}, data), profiler.Options{}, profiler.ErrShape},
		{"axis", profiler.MemoryLayer("a", profiler.Float32, []int{3, 4}, data), profiler.Options{UnitAxis: map[string]int{"": 2}}, profiler.ErrShape},
		{"truncated", profiler.MemoryLayer("a", profiler.Float32, []int{4, 4}, data), profiler.Options{}, profiler.ErrTruncated},
		{"NaN T", profiler.MemoryLayer("a", profiler.Float32, []int{3, 4}, data), profiler.Options{Threshold: math.NaN()}, profiler.ErrBadOption},
		{"Inf T", profiler.MemoryLayer("a", profiler.Float32, []int{3, 4}, data), profiler.Options{Threshold: math.Inf(1)}, profiler.ErrBadOption},
		{"rare", profiler.MemoryLayer("a", profiler.Float32, []int{3, 4}, data), profiler.Options{RareBelow: 2}, profiler.ErrBadOption},
	}
	for _, b := range bad {
		if b.opt.Backend == nil {
			b.opt.Backend = cpu.New()
		}
		_, err := profiler.Run(context.Background(), []profiler.Layer{b.layer}, b.opt)
		if !errors.Is(err, b.kind) {
			t.Errorf("%s: err %v, want %v", b.name, err, b.kind)
		}
	}
	// Duplicate names.
	l := profiler.MemoryLayer("a", profiler.Float32, []int{3, 4}, data)
	if _, err := profiler.Run(context.Background(), []profiler.Layer{l, l}, profiler.Options{Backend: cpu.New()}); !errors.Is(err, profiler.ErrShape) {
		t.Errorf("duplicate: %v", err)
	}
}

func TestMergeEqualsWhole(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	shape := []int{300, 70}
	data := backendtest.Gen(rng, profiler.BFloat16, 300*70, 0)
	whole := run(t, []profiler.Layer{profiler.MemoryLayer("m", profiler.BFloat16, shape, data)}, profiler.Options{})
	cut := 2 * 70 * 111
	a := run(t, []profiler.Layer{profiler.MemoryLayer("m", profiler.BFloat16, []int{111, 70}, data[:cut])}, profiler.Options{})
	b := run(t, []profiler.Layer{profiler.MemoryLayer("m", profiler.BFloat16, []int{189, 70}, data[cut:])}, profiler.Options{})
	m, err := profiler.Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, whole) {
		t.Fatalf("merge differs from whole:\n%+v\n%+v", m.Layers[0], whole.Layers[0])
	}
	c := run(t, []profiler.Layer{profiler.MemoryLayer("m", profiler.BFloat16, []int{10, 7, 10}, data[:1400])}, profiler.Options{})
	if _, err := profiler.Merge(a, c); !errors.Is(err, profiler.ErrMerge) {
		t.Fatalf("merge of different shapes: %v", err)
	}
	d := run(t, []profiler.Layer{profiler.MemoryLayer("m", profiler.BFloat16, shape, data)}, profiler.Options{Threshold: 1})
	if _, err := profiler.Merge(a, d); !errors.Is(err, profiler.ErrMerge) {
		t.Fatalf("merge of different thresholds: %v", err)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	data := backendtest.Gen(rng, profiler.Float16, 50*9, 0)
	p := run(t, []profiler.Layer{profiler.MemoryLayer("j", profiler.Float16, []int{50, 9}, data)}, profiler.Options{Threshold: -0.25})
	var buf bytes.Buffer
	if err := p.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	q, err := profiler.DecodeProfile(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, q) {
		t.Fatalf("round trip differs")
	}
	for _, bad := range []string{`{`, `{"format_version": 99, "layers": []}`,
		`{"format_version": 1, "layers": [{"name": "x", "units": 2, "observations": 3, "counts": [1], "nan_counts": [0, 0]}]}`,
		`{"format_version": 1, "layers": [{"name": "x", "units": 1, "observations": 3, "counts": [3], "nan_counts": [1]}]}`} {
		if _, err := profiler.DecodeProfile(bytes.NewBufferString(bad)); !errors.Is(err, profiler.ErrFormat) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func TestThresholdRounding(t *testing.T) {
	// down_F(T) is the largest F value not above T, checked against every
	// float16 and bfloat16 value and a sweep of float32 neighbours.
	for _, tv := range []float64{0, 0.1, -0.1, 1, -1, 65504, 65519, 1e-8, -1e-8, 3e38, -3e38, 1e-45, -1e-45, 1e-300, -1e-300, math.MaxFloat32 * 1.5} {
		th, err := profiler.NewThreshold(tv)
		if err != nil {
			t.Fatal(err)
		}
		if float64(th.F32) > tv || (th.F32 < math.MaxFloat32 && float64(math.Nextafter32(th.F32, float32(math.Inf(1)))) <= tv) {
			t.Errorf("T=%g: F32 %g", tv, th.F32)
		}
		for h := 0; h < 1<<16; h++ {
			for _, half := range []struct {
				name string
				bits uint16
				val  func(uint16) float64
			}{{"f16", th.F16, func(b uint16) float64 { return backendtest.Value(profiler.Float16, []byte{byte(b), byte(b >> 8)}, 0) }},
				{"bf16", th.B16, func(b uint16) float64 { return backendtest.Value(profiler.BFloat16, []byte{byte(b), byte(b >> 8)}, 0) }}} {
				v, tb := half.val(uint16(h)), half.val(half.bits)
				if math.IsNaN(v) {
					continue
				}
				// v > T must equal v > down(T)
				if (v > tv) != (v > tb) {
					t.Fatalf("T=%g %s: value %g: (v > T) = %v but against rounded %g = %v", tv, half.name, v, v > tv, tb, v > tb)
				}
			}
		}
	}
}

// Wide layers, whose blocks are shorter than an observation group, are
// counted by unit span into one shared tally: the oracle's counts on
// either source path, for chunks that split groups anywhere.
func TestWideLayersSharedTally(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for _, dt := range backendtest.DTypes {
		for _, c := range []struct {
			shape []int
			axis  int
		}{{[]int{3, 5000}, 1}, {[]int{2, 5000, 3}, 1}, {[]int{4, 3, 2001}, 2}} {
			n := 1
			for _, d := range c.shape {
				n *= d
			}
			data := backendtest.Gen(rng, dt, n, 0.3)
			g, err := profiler.NewGeometry(c.shape, c.axis)
			if err != nil {
				t.Fatal(err)
			}
			for _, chunk := range []int{998, 4096, 12345} {
				for _, l := range []profiler.Layer{profiler.MemoryLayer("l", dt, c.shape, data), readAtLayer("l", dt, c.shape, data)} {
					p := run(t, []profiler.Layer{l}, profiler.Options{Workers: 3, ChunkBytes: chunk, UnitAxis: map[string]int{"": c.axis}})
					checkLayer(t, p.Layers[0], dt, data, g, 0)
				}
			}
		}
	}
}
