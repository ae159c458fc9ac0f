package cpu_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/profiler/backendtest"
)

// FuzzCountMatchesOracle is a differential check of the counting paths: the
// vector kernels (cpu.New, AVX2 where the processor has it), the plain-Go
// kernels (Backend.Generic) and backendtest.Oracle's naive loop must give
// the same counts, NaN counts and, with patterns, the same bits, for any
// dtype, geometry, threshold, start offset and cut of the data into two
// blocks. The data are backendtest.Gen's (values at and around T, zeros,
// NaNs, infinities, subnormals, raw bit patterns) from seed, their first
// bytes replaced by raw. Seeds: testdata/fuzz/FuzzCountMatchesOracle. Run
// it longer with
//
//	go test -run XXX -fuzz FuzzCountMatchesOracle -fuzztime 60s ./cpu/
func FuzzCountMatchesOracle(f *testing.F) {
	f.Add([]byte{}, uint8(0), uint16(63), uint8(0), uint32(0), 0.0, uint64(1), uint16(4096), uint16(1000), false)
	f.Fuzz(func(t *testing.T, raw []byte, dtIdx uint8, unitsRaw uint16, innerRaw uint8, startRaw uint32,
		tv float64, seed uint64, nRaw uint16, cutRaw uint16, bits bool) {
		dt := backendtest.DTypes[int(dtIdx)%len(backendtest.DTypes)]
		size := dt.Size()
		units := 1 + int64(unitsRaw%1100)
		inner := int64(1) // half the inputs: the [rows, units] kernels
		if innerRaw >= 128 {
			inner = int64(innerRaw) - 126 // 2..129: runs across 64 and 128
		}
		if math.IsNaN(tv) {
			tv = 0 // refused by NewThreshold; T=0 is the default anyway
		}
		thr, err := profiler.NewThreshold(tv)
		if err != nil {
			t.Fatal(err)
		}
		const maxElems = 1 << 16
		n := max(int(nRaw)%8193, len(raw)/size)
		n = min(n, maxElems)
		data := backendtest.Gen(rand.New(rand.NewPCG(seed, uint64(dtIdx))), dt, n, thr.T)
		copy(data, raw)
		start := int64(startRaw)
		group := units * inner
		if bits {
			// patterns need blocks of whole [Units, Inner] groups
			start -= start % group
			n -= n % int(group)
			data = data[:n*size]
		}
		cut := int(cutRaw) % (n + 1)
		if bits {
			cut -= cut % int(group)
		}
		g := profiler.Geometry{Outer: (start+int64(n))/group + 1, Units: units, Inner: inner}
		want := backendtest.Oracle(dt, data, start, g, thr.T)
		desc := fmt.Sprintf("%v T=%v (F32 %v) [%d x %d] start %d, %d elements cut at %d, patterns %v",
			dt, tv, thr.F32, units, inner, start, n, cut, bits)
		var got [2]backendtest.Result
		for i, b := range []*cpu.Backend{cpu.New(), {Generic: true}} {
			r, err := countInTwo(b, dt, thr, g, data, start, cut, bits)
			if err != nil {
				t.Fatalf("%s: %s: %v", b.Name(), desc, err)
			}
			if d := mismatch(r, want, bits); d != "" {
				t.Errorf("%s: %s: %s", b.Name(), desc, d)
			}
			got[i] = r
		}
		if d := mismatch(got[0], got[1], bits); d != "" {
			t.Errorf("cpu against cpu-generic: %s: %s", desc, d)
		}
	})
}

// countInTwo counts data, elements [start, start+n) of an array of geometry
// g, as two blocks cut at element cut, into tallies that start from
// nonzero counts (Count adds to them) and, with bits, into dirty pattern
// buffers with guard words after them (every word of the block's
// observations written, none past them).
func countInTwo(b profiler.Backend, dt profiler.DType, thr profiler.Threshold, g profiler.Geometry, data []byte, start int64, cut int, bits bool) (backendtest.Result, error) {
	const dirty, guard = 0xa5a5a5a5a5a5a5a5, 0x5a5a5a5a5a5a5a5a
	size := dt.Size()
	units := int(g.Units)
	w := profiler.Words(units)
	res := backendtest.Result{Counts: make([]uint64, units), NaNs: make([]uint64, units)}
	if bits {
		res.Bits = []uint64{}
	}
	for _, part := range [][2]int{{0, cut}, {cut, len(data) / size}} {
		tl := profiler.NewTally(units)
		for u := range units {
			tl.Counts[u], tl.NaNs[u] = 1<<40+uint64(u), 1<<41+uint64(u)
		}
		words := 0
		if bits {
			words = (part[1] - part[0]) / units / int(g.Inner) * int(g.Inner) * w
			tl.Bits = make([]uint64, words+2)
			for i := range tl.Bits {
				tl.Bits[i] = dirty
			}
			tl.Bits[words], tl.Bits[words+1] = guard, guard
		}
		blk := &profiler.Block{DType: dt, Thr: thr, Geom: g, Data: data[part[0]*size : part[1]*size], Start: start + int64(part[0])}
		if err := b.Count(blk, tl); err != nil {
			return res, err
		}
		for u := range units {
			res.Counts[u] += tl.Counts[u] - (1<<40 + uint64(u))
			res.NaNs[u] += tl.NaNs[u] - (1<<41 + uint64(u))
		}
		if bits {
			if tl.Bits[words] != guard || tl.Bits[words+1] != guard {
				return res, fmt.Errorf("block [%d, %d): pattern words past its %d observations' written", part[0], part[1], words/max(w, 1))
			}
			res.Bits = append(res.Bits, tl.Bits[:words]...)
		}
	}
	return res, nil
}

// mismatch describes the first difference between two results ("" if
// none); bits are compared only when asked for.
func mismatch(got, want backendtest.Result, bits bool) string {
	cmp := func(name string, a, b []uint64) string {
		if len(a) != len(b) {
			return fmt.Sprintf("%s: %d entries, want %d", name, len(a), len(b))
		}
		for i := range a {
			if a[i] != b[i] {
				return fmt.Sprintf("%s[%d] = %d (%#x), want %d (%#x)", name, i, a[i], a[i], b[i], b[i])
			}
		}
		return ""
	}
	if d := cmp("counts", got.Counts, want.Counts); d != "" {
		return d
	}
	if d := cmp("nans", got.NaNs, want.NaNs); d != "" {
		return d
	}
	if bits {
		return cmp("bits", got.Bits, want.Bits)
	}
	return ""
}
