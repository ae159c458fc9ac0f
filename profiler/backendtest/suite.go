package backendtest

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/actprof/actprof/profiler"
)

// DTypes are the element types every backend must count.
var DTypes = []profiler.DType{profiler.Float32, profiler.Float16, profiler.BFloat16, profiler.Float64}

// Thresholds are the T values the suite tries: 0 (the default), values
// between representable numbers, subnormal, negative, and +-Inf.
var Thresholds = []float64{0, 0.5, 0.1, -1.5, 1e-40, -1e-300, 3.4e38, math.Inf(1), math.Inf(-1), 65504}

// Gen makes n elements of dt: random bit patterns (every NaN, Inf, subnormal
// and sign), activation-like values (zeros and positives), and values equal
// to, just below and just above t.
func Gen(rng *rand.Rand, dt profiler.DType, n int, t float64) []byte {
	sz := dt.Size()
	out := make([]byte, n*sz)
	near := []float64{t, math.Nextafter(t, math.Inf(-1)), math.Nextafter(t, math.Inf(1)), 0, math.Copysign(0, -1),
		math.Inf(1), math.Inf(-1), math.NaN(), -math.NaN(), 5e-324, -5e-324, 1e-45, 1.4e-45, 65504, 6e-8, 1e-38,
		math.MaxFloat32, 3.4e38, -65504}
	for i := 0; i < n; i++ {
		var v float64
		raw := false
		switch k := rng.IntN(10); {
		case k < 3:
			raw = true
		case k < 5:
			v = 0
		case k < 8:
			v = rng.NormFloat64()
		default:
			v = near[rng.IntN(len(near))]
		}
		p := out[i*sz:]
		switch dt {
		case profiler.Float32:
			if raw {
				binary.LittleEndian.PutUint32(p, rng.Uint32())
			} else {
				binary.LittleEndian.PutUint32(p, math.Float32bits(float32(v)))
			}
		case profiler.Float64:
			if raw {
				binary.LittleEndian.PutUint64(p, rng.Uint64())
			} else {
				binary.LittleEndian.PutUint64(p, math.Float64bits(v))
			}
		case profiler.BFloat16:
			b := uint16(math.Float32bits(float32(v)) >> 16)
			if raw {
				b = uint16(rng.Uint32())
			}
			binary.LittleEndian.PutUint16(p, b)
		case profiler.Float16:
			b := profiler.F32ToF16Nearest(float32(v))
			if raw {
				b = uint16(rng.Uint32())
			}
			binary.LittleEndian.PutUint16(p, b)
		}
	}
	return out
}

// Encode writes values as little-endian elements of dt (rounded to nearest).
func Encode(dt profiler.DType, vals []float64) []byte {
	sz := dt.Size()
	out := make([]byte, len(vals)*sz)
	for i, v := range vals {
		p := out[i*sz:]
		switch dt {
		case profiler.Float32:
			binary.LittleEndian.PutUint32(p, math.Float32bits(float32(v)))
		case profiler.Float64:
			binary.LittleEndian.PutUint64(p, math.Float64bits(v))
		case profiler.BFloat16:
			binary.LittleEndian.PutUint16(p, uint16(math.Float32bits(float32(v))>>16))
		case profiler.Float16:
			binary.LittleEndian.PutUint16(p, profiler.F32ToF16Nearest(float32(v)))
		}
	}
	return out
}

// count runs b over data split at the given element boundaries.
func count(b profiler.Backend, dt profiler.DType, thr profiler.Threshold, g profiler.Geometry, data []byte, cuts []int, bits bool) (Result, error) {
	sz := dt.Size()
	r := Result{Counts: make([]uint64, g.Units), NaNs: make([]uint64, g.Units)}
	w := int64(profiler.Words(int(g.Units)))
	prev := 0
	for _, c := range append(slices.Clone(cuts), len(data)/sz) {
		blk := &profiler.Block{DType: dt, Thr: thr, Geom: g, Data: data[prev*sz : c*sz], Start: int64(prev)}
		t := profiler.NewTally(int(g.Units))
		if bits {
			// Dirty, as the driver's reused buffers are: a backend must
			// write every word, not OR into it.
			t.Bits = make([]uint64, int64(c-prev)/(g.Units*g.Inner)*g.Inner*w)
			for i := range t.Bits {
				t.Bits[i] = 0xa5a5a5a5a5a5a5a5
			}
		}
		if err := b.Count(blk, t); err != nil {
			return r, err
		}
		for i := range t.Counts {
			r.Counts[i] += t.Counts[i]
			r.NaNs[i] += t.NaNs[i]
		}
		r.Bits = append(r.Bits, t.Bits...)
		prev = c
	}
	return r, nil
}

func diff(name string, got, want []uint64) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%s: %d entries, want %d", name, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Sprintf("%s[%d] = %d, want %d", name, i, got[i], want[i])
		}
	}
	return ""
}

// Options adjust the suite for one backend.
type Options struct {
	// SkipPast2to32, if set, is the reason to skip the 2^32 overflow case
	// (8.6 GB of counting).
	SkipPast2to32 string
}

// Run is the conformance suite. newBackend is called once; a backend that
// cannot be made skips the suite with the reason.
func Run(t *testing.T, newBackend func() (profiler.Backend, error), opt Options) {
	b, err := newBackend()
	if err != nil {
		t.Skipf("backend unavailable: %v", err)
	}
	t.Run("Empty", func(t *testing.T) { testEmpty(t, b) })
	t.Run("Shapes", func(t *testing.T) { testShapes(t, b) })
	t.Run("Chunks", func(t *testing.T) { testChunks(t, b) })
	t.Run("Patterns", func(t *testing.T) { testPatterns(t, b) })
	t.Run("Stats", func(t *testing.T) { testStats(t, b) })
	t.Run("Large", func(t *testing.T) { testLarge(t, b) })
	t.Run("HostBuffers", func(t *testing.T) { testHostBuffers(t, b) })
	t.Run("Past2to32", func(t *testing.T) {
		if opt.SkipPast2to32 != "" {
			t.Skip(opt.SkipPast2to32)
		}
		testPast2to32(t, b)
	})
}

// testEmpty: a block of 0 rows changes nothing and is no error.
func testEmpty(t *testing.T, b profiler.Backend) {
	for _, dt := range DTypes {
		for _, inner := range []int64{1, 7} {
			g := profiler.Geometry{Outer: 5, Units: 33, Inner: inner}
			thr, _ := profiler.NewThreshold(0)
			tl := profiler.NewTally(33)
			tl.Counts[3], tl.NaNs[4] = 7, 9
			tl.Bits = []uint64{}
			blk := &profiler.Block{DType: dt, Thr: thr, Geom: g, Data: []byte{}, Start: 33 * inner}
			if err := b.Count(blk, tl); err != nil {
				t.Fatalf("%v inner %d: empty block: %v", dt, inner, err)
			}
			for u := range tl.Counts {
				want, wantNaN := uint64(0), uint64(0)
				if u == 3 {
					want = 7
				}
				if u == 4 {
					wantNaN = 9
				}
				if tl.Counts[u] != want || tl.NaNs[u] != wantNaN {
					t.Fatalf("%v inner %d: empty block changed unit %d", dt, inner, u)
				}
			}
		}
	}
}

// testShapes: every dtype and threshold over unit counts around the vector
// widths (8, 32, 64) and row counts around warp and block sizes, whole.
func testShapes(t *testing.T, b profiler.Backend) {
	rng := rand.New(rand.NewPCG(1, 2))
	units := []int{1, 3, 7, 8, 9, 31, 32, 33, 63, 64, 65, 100, 513}
	rows := []int{1, 31, 32, 33, 1023, 1024, 1025}
	inner := []int{1, 2, 49}
	for _, dt := range DTypes {
		for ti, tv := range Thresholds {
			thr, _ := profiler.NewThreshold(tv)
			for _, u := range units {
				for _, in := range inner {
					for _, r := range rows {
						if (ti+u+r+in)%3 != 0 && !(ti == 0 && in == 1) {
							continue // a third of the cross product, all of it at T=0, Inner=1
						}
						if u*r*in > 1<<20 {
							continue
						}
						g := profiler.Geometry{Outer: int64(r), Units: int64(u), Inner: int64(in)}
						data := Gen(rng, dt, u*r*in, tv)
						want := Oracle(dt, data, 0, g, tv)
						got, err := count(b, dt, thr, g, data, nil, false)
						if err != nil {
							t.Fatalf("%v T=%g [%d,%d,%d]: %v", dt, tv, r, u, in, err)
						}
						if d := diff("counts", got.Counts, want.Counts) + diff("nans", got.NaNs, want.NaNs); d != "" {
							t.Fatalf("%v T=%g [%d,%d,%d]: %s", dt, tv, r, u, in, d)
						}
					}
				}
			}
		}
	}
}

// testChunks: the same array cut into blocks at arbitrary element
// boundaries (mid-row, mid-run) gives the counts of the whole.
func testChunks(t *testing.T, b profiler.Backend) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, dt := range DTypes {
		for _, geo := range [][3]int{{500, 37, 1}, {300, 64, 1}, {40, 5, 33}, {7, 16, 200}, {1, 3, 5000}, {2000, 1, 1}} {
			g := profiler.Geometry{Outer: int64(geo[0]), Units: int64(geo[1]), Inner: int64(geo[2])}
			n := int(g.Elements())
			data := Gen(rng, dt, n, 0)
			want := Oracle(dt, data, 0, g, 0)
			for trial := 0; trial < 5; trial++ {
				var cuts []int
				for k := rng.IntN(8); k >= 0; k-- {
					cuts = append(cuts, rng.IntN(n+1))
				}
				slices.Sort(cuts)
				thr, _ := profiler.NewThreshold(0)
				got, err := count(b, dt, thr, g, data, cuts, false)
				if err != nil {
					t.Fatal(err)
				}
				if d := diff("counts", got.Counts, want.Counts) + diff("nans", got.NaNs, want.NaNs); d != "" {
					t.Fatalf("%v %v cuts %v: %s", dt, geo, cuts, d)
				}
			}
		}
	}
}

// testPatterns: per-observation bits equal the oracle's, blocks of whole
// observation groups; with NaNs and without (a backend may count from the
// bits it packs where no NaN needs counting).
func testPatterns(t *testing.T, b profiler.Backend) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, dt := range DTypes {
		for _, geo := range [][3]int{{33, 1, 1}, {65, 63, 1}, {40, 64, 1}, {9, 65, 1}, {10, 130, 1}, {6, 5, 7}, {3, 70, 33}, {4, 3, 64}, {3, 65, 130}, {12, 16, 64}, {6, 8, 36}} {
			g := profiler.Geometry{Outer: int64(geo[0]), Units: int64(geo[1]), Inner: int64(geo[2])}
			for _, nans := range []bool{true, false} {
				data := Gen(rng, dt, int(g.Elements()), 0.25)
				if !nans {
					for i := range int(g.Elements()) {
						if math.IsNaN(Value(dt, data, i)) {
							copy(data[i*dt.Size():], Encode(dt, []float64{1}))
						}
					}
				}
				want := Oracle(dt, data, 0, g, 0.25)
				group := int(g.Units * g.Inner)
				cuts := []int{group * (geo[0] / 3), group * (geo[0] / 2)}
				thr, _ := profiler.NewThreshold(0.25)
				got, err := count(b, dt, thr, g, data, cuts, true)
				if err != nil {
					t.Fatal(err)
				}
				if d := diff("counts", got.Counts, want.Counts) + diff("nans", got.NaNs, want.NaNs) + diff("bits", got.Bits, want.Bits); d != "" {
					t.Fatalf("%v %v (NaNs %v): %s", dt, geo, nans, d)
				}
			}
		}
	}
}

// testHostBuffers: a backend that is a profiler.Device counts data
// that lies in its own buffers (as the driver reads it there), at the start
// of a buffer and inside one, and a buffer given back is handed out again
// with the data of another layer: the results equal the oracle's.
func testHostBuffers(t *testing.T, b profiler.Backend) {
	h, ok := b.(profiler.Device)
	if !ok {
		t.Skipf("%s allocates no host buffers", b.Name())
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for _, dt := range DTypes {
		for _, geo := range [][3]int{{1000, 512, 1}, {777, 33, 1}, {50, 6, 36}} {
			g := profiler.Geometry{Outer: int64(geo[0]), Units: int64(geo[1]), Inner: int64(geo[2])}
			data := Gen(rng, dt, int(g.Elements()), 0)
			want := Oracle(dt, data, 0, g, 0)
			for _, off := range []int{0, 4096} {
				buf, err := h.AllocHost(off + len(data))
				if err != nil {
					t.Fatal(err)
				}
				copy(buf[off:], data)
				group := int(g.Units * g.Inner)
				thr, _ := profiler.NewThreshold(0)
				got, err := count(b, dt, thr, g, buf[off:off+len(data)], []int{group * (geo[0] / 2)}, true)
				h.FreeHost(buf)
				if err != nil {
					t.Fatal(err)
				}
				if d := diff("counts", got.Counts, want.Counts) + diff("nans", got.NaNs, want.NaNs) + diff("bits", got.Bits, want.Bits); d != "" {
					t.Fatalf("%v %v at offset %d: %s", dt, geo, off, d)
				}
			}
		}
	}
}

// testLarge: a few hundred thousand rows in one block.
func testLarge(t *testing.T, b profiler.Backend) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, dt := range DTypes {
		g := profiler.Geometry{Outer: 300001, Units: 19, Inner: 1}
		data := Gen(rng, dt, int(g.Elements()), 0)
		want := Oracle(dt, data, 0, g, 0)
		thr, _ := profiler.NewThreshold(0)
		got, err := count(b, dt, thr, g, data, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		if d := diff("counts", got.Counts, want.Counts) + diff("nans", got.NaNs, want.NaNs); d != "" {
			t.Fatalf("%v: %s", dt, d)
		}
	}
}

// testPast2to32: counts beyond 2^32 accumulated over repeated blocks stay
// exact (no 32-bit wrap anywhere).
func testPast2to32(t *testing.T, b profiler.Backend) {
	if testing.Short() {
		t.Skip("processes 8.6 GB; skipped with -short")
	}
	const n = 1 << 20
	data := make([]byte, 2*n)
	for i := 0; i < n; i++ {
		v := uint16(0x3f80) // bfloat16 1.0
		if i%1000 == 999 {
			v = 0x8000 // -0: never fires
		}
		binary.LittleEndian.PutUint16(data[2*i:], v)
	}
	g := profiler.Geometry{Outer: 1 << 40, Units: 1, Inner: 1}
	thr, _ := profiler.NewThreshold(0)
	tl := profiler.NewTally(1)
	perBlock := uint64(n - n/1000)
	reps := int((1<<32)/perBlock + 2)
	for r := 0; r < reps; r++ {
		blk := &profiler.Block{DType: profiler.BFloat16, Thr: thr, Geom: g, Data: data, Start: int64(r) * n}
		if err := b.Count(blk, tl); err != nil {
			t.Fatal(err)
		}
	}
	if want := perBlock * uint64(reps); tl.Counts[0] != want {
		t.Fatalf("count after %d blocks = %d, want %d", reps, tl.Counts[0], want)
	}
	if tl.Counts[0] <= 1<<32 {
		t.Fatalf("test did not pass 2^32")
	}
}

// SumTolerance is how far a backend's float64 sum of a unit's values may
// lie from the oracle's, which adds them in observation order: n rounding
// errors of at most half an ulp of the running sum of |x|.
func SumTolerance(n uint64, sumAbs float64) float64 {
	return float64(n+1) * sumAbs * 0x1p-53
}

// DiffStats describes the first difference between a backend's statistics
// and the oracle's ("" if none): integers and extremes exactly, sums within
// SumTolerance of finite observations n.
func DiffStats(got, want *profiler.Stats, n uint64) string {
	for _, f := range []struct {
		name      string
		got, want []uint64
	}{{"pos_inf", got.PosInf, want.PosInf}, {"neg_inf", got.NegInf, want.NegInf}, {"saturated", got.Saturated, want.Saturated},
		{"value_hist", got.Values, want.Values}, {"l0_hist", got.L0, want.L0}} {
		if d := diff(f.name, f.got, f.want); d != "" {
			return d
		}
	}
	for u := range want.Min {
		switch {
		case got.Min[u] != want.Min[u] || got.Max[u] != want.Max[u]:
			return fmt.Sprintf("unit %d: min, max %g, %g, want %g, %g", u, got.Min[u], got.Max[u], want.Min[u], want.Max[u])
		case got.First[u] != want.First[u] || got.Last[u] != want.Last[u]:
			return fmt.Sprintf("unit %d: first, last fired %d, %d, want %d, %d", u, got.First[u], got.Last[u], want.First[u], want.Last[u])
		}
		tol := SumTolerance(n, want.SumAbs[u])
		near := func(a, b float64) bool { return a == b || math.Abs(a-b) <= tol || math.IsNaN(a) && math.IsNaN(b) }
		if !near(got.Sum[u], want.Sum[u]) || !near(got.SumAbs[u], want.SumAbs[u]) {
			return fmt.Sprintf("unit %d: sum, sum |x| %g, %g, want %g, %g (within %g)", u, got.Sum[u], got.SumAbs[u], want.Sum[u], want.SumAbs[u], tol)
		}
	}
	return ""
}

// testStats: value statistics equal the oracle's for every dtype, with and
// without a saturation range, over blocks of whole observation groups,
// each counted into a fresh tally and added as the driver adds them.
func testStats(t *testing.T, b profiler.Backend) {
	rng := rand.New(rand.NewPCG(13, 14))
	sats := []*profiler.Range{nil, {Lo: -0.5, Hi: 0.75}, {Lo: math.Inf(-1), Hi: 1e-30}}
	for _, dt := range DTypes {
		for gi, geo := range [][3]int{{1, 1, 1}, {97, 37, 1}, {40, 1500, 1}, {9, 5, 33}, {3, 70, 600}, {6, 2049, 1}, {4, 3, 1025}} {
			g := profiler.Geometry{Outer: int64(geo[0]), Units: int64(geo[1]), Inner: int64(geo[2])}
			tv := Thresholds[gi%len(Thresholds)]
			thr, _ := profiler.NewThreshold(tv)
			sat := sats[gi%len(sats)]
			data := Gen(rng, dt, int(g.Elements()), tv)
			want := StatsOracle(dt, data, 0, g, tv, sat)
			wantCounts := Oracle(dt, data, 0, g, tv)
			group := int(g.Units * g.Inner)
			sz := dt.Size()
			cuts := []int{0, group * (geo[0] / 3), group * (geo[0] / 2), geo[0] * group}
			got := profiler.NewStats(int(g.Units), sat)
			counts := profiler.NewTally(int(g.Units))
			for k := 1; k < len(cuts); k++ {
				tl := profiler.NewTally(int(g.Units))
				tl.Stats = profiler.NewStats(int(g.Units), sat)
				blk := &profiler.Block{DType: dt, Thr: thr, Geom: g, Data: data[cuts[k-1]*sz : cuts[k]*sz], Start: int64(cuts[k-1])}
				if err := b.Count(blk, tl); err != nil {
					t.Fatalf("%v %v: %v", dt, geo, err)
				}
				got.Add(tl.Stats)
				counts.Add(tl)
			}
			if d := diff("counts", counts.Counts, wantCounts.Counts) + diff("nans", counts.NaNs, wantCounts.NaNs); d != "" {
				t.Fatalf("%v %v T=%g with stats: %s", dt, geo, tv, d)
			}
			if d := DiffStats(got, want, uint64(g.Observations())); d != "" {
				t.Fatalf("%v %v T=%g saturate %v: %s", dt, geo, tv, sat, d)
			}
		}
	}
	// a block that is not whole groups is refused, not miscounted
	g := profiler.Geometry{Outer: 4, Units: 3, Inner: 2}
	thr, _ := profiler.NewThreshold(0)
	tl := profiler.NewTally(3)
	tl.Stats = profiler.NewStats(3, nil)
	blk := &profiler.Block{DType: profiler.Float32, Thr: thr, Geom: g, Data: make([]byte, 4*5), Start: 0}
	if err := b.Count(blk, tl); err == nil {
		t.Errorf("statistics of a block of 5 elements in groups of 6: no error")
	}
}
