package report

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
)

// statsLayer is a float32 layer's data, [obs, units] row-major, kept as
// numbers for the plain loops below.
type statsLayer struct {
	name      string
	obs       int
	units     int
	x         []float32 // x[o*units+u]
	saturated bool      // profiled with a saturation range
}

// statsData makes two layers: "act" (8 units, 300 observations) with a
// dead unit at 0, a dormant unit (tiny values), a unit at a ReLU6 cap, a
// constant 0.75, a unit with +Inf and NaN values, and ordinary ones; and
// "wide" (wide units, 40 observations) with dormant units every 97th and
// constant ones every 89th.
func statsData(wide int) []statsLayer {
	rng := rand.New(rand.NewPCG(5, 6))
	a := statsLayer{name: "act", obs: 300, units: 8, saturated: true}
	a.x = make([]float32, a.obs*a.units)
	for o := 0; o < a.obs; o++ {
		for u := 0; u < a.units; u++ {
			v := float32(rng.NormFloat64())
			switch u {
			case 0:
				v = 0
			case 1:
				v = 1e-5 * float32(rng.Float64())
			case 2:
				v = 6
				if o == 7 {
					v = 2.5
				}
			case 3:
				v = 0.75
			case 4:
				switch o {
				case 11:
					v = float32(math.Inf(1))
				case 12:
					v = float32(math.NaN())
				}
			case 5:
				v *= 10
			}
			a.x[o*a.units+u] = v
		}
	}
	w := statsLayer{name: "wide", obs: 40, units: wide}
	w.x = make([]float32, w.obs*w.units)
	for o := 0; o < w.obs; o++ {
		for u := 0; u < w.units; u++ {
			v := float32(rng.Float64() - 0.3)
			switch {
			case u%97 == 0:
				v *= 1e-6
			case u%89 == 0:
				v = -2
			}
			w.x[o*w.units+u] = v
		}
	}
	return []statsLayer{a, w}
}

// dataProfile profiles the layers with value statistics (CPU backend,
// one worker, so that sums are reproducible), "act" with the saturation
// range -100:5.9 and a dead window of 30.
func dataProfile(t *testing.T, data []statsLayer) *profiler.Profile {
	t.Helper()
	var layers []profiler.Layer
	so := profiler.DefaultStats()
	so.DeadWindow = 30
	so.Saturate = map[string]profiler.Range{}
	for _, d := range data {
		b := make([]byte, 4*len(d.x))
		for i, v := range d.x {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		layers = append(layers, profiler.MemoryLayer(d.name, profiler.Float32, []int{d.obs, d.units}, b))
		if d.saturated {
			so.Saturate[d.name] = profiler.Range{Lo: -100, Hi: 5.9}
		}
	}
	p, err := profiler.Run(context.Background(), layers, profiler.Options{Backend: cpu.New(), Workers: 1, Stats: so})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// finite lists unit u's finite values.
func (d statsLayer) finite(u int) []float64 {
	var out []float64
	for o := 0; o < d.obs; o++ {
		if v := float64(d.x[o*d.units+u]); !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, v)
		}
	}
	return out
}

// The page's statistics against the data, by plain loops: the layer's
// range and infinities, the L0 bars (the number of units above 0 on each
// observation, bucketed as the page says), the value histogram as the
// profile holds it, the lists, the marks per cell and the listed units'
// means.
func TestHTMLStatsMatchData(t *testing.T) {
	data := statsData(2*MaxCells + 3) // cells of 3 units
	p := dataProfile(t, data)
	var b bytes.Buffer
	if err := WriteHTML(&b, p, HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	head, layers := pageData(t, b.Bytes())
	if head["vzero"] != float64(profiler.ValueZeroBin) || head["vdec"] != 4.0 || head["vlo"] != -8.0 || head["window"] != 30.0 ||
		profiler.ValueEdges[0] != 1e-8 || profiler.ValueEdges[4] != 1e-7 || len(profiler.ValueEdges) != 65 {
		t.Fatalf("head %v: the value histogram's layout is not the profiler's", head)
	}
	for i, d := range data {
		l, h := &p.Layers[i], layers[i]
		st := h.St
		if st == nil {
			t.Fatalf("%s: no statistics on the page", d.name)
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		var pinf, ninf uint64
		for _, v := range d.x {
			switch {
			case math.IsInf(float64(v), 1):
				pinf++
			case math.IsInf(float64(v), -1):
				ninf++
			case !math.IsNaN(float64(v)):
				lo, hi = min(lo, float64(v)), max(hi, float64(v))
			}
		}
		if st.Min == nil || *st.Min != lo || *st.Max != hi || st.PosInf != pinf || st.NegInf != ninf {
			t.Errorf("%s: range %v..%v, inf %d %d; want %g..%g, %d %d", d.name, st.Min, st.Max, st.PosInf, st.NegInf, lo, hi, pinf, ninf)
		}
		if !slices.Equal(st.Values, l.Stats.ValueHist) || len(st.Values) != profiler.ValueBins {
			t.Errorf("%s: value histogram %v, the profile's %v", d.name, st.Values, l.Stats.ValueHist)
		}
		// L0, observation by observation
		l0 := make([]int, d.obs)
		var fires int
		for o := range l0 {
			for u := 0; u < d.units; u++ {
				if d.x[o*d.units+u] > 0 {
					l0[o]++
				}
			}
			fires += l0[o]
		}
		if len(st.L0.Counts) == 0 || len(st.L0.Counts) > HTMLL0Bins || st.L0.Lo > slices.Min(l0) || st.L0.Lo+len(st.L0.Counts)*st.L0.Width <= slices.Max(l0) {
			t.Fatalf("%s: L0 bars from %d, %d of width %d: L0 spans %d..%d", d.name, st.L0.Lo, len(st.L0.Counts), st.L0.Width, slices.Min(l0), slices.Max(l0))
		}
		want := make([]uint64, len(st.L0.Counts))
		for _, n := range l0 {
			want[(n-st.L0.Lo)/st.L0.Width]++
		}
		if !slices.Equal(st.L0.Counts, want) {
			t.Errorf("%s: L0 bars %v, want %v", d.name, st.L0.Counts, want)
		}
		if m := float64(fires) / float64(d.obs); math.Abs(st.L0.Mean-m) > 1e-5*m {
			t.Errorf("%s: mean L0 %g, want %g", d.name, st.L0.Mean, m)
		}
		// the lists: each as the profile derives it, and by hand where
		// the data plants it
		lists := map[string]htmlList{}
		for _, x := range h.Lists {
			lists[x.What] = x
		}
		for what, units := range map[string][]int{"dormant": l.Stats.Dormant, "saturated": l.Stats.Saturated, "constant": l.Stats.Constant, "window-dead": l.Stats.WindowDead} {
			x, ok := lists[what]
			if what == "saturated" && !d.saturated {
				if ok || st.Saturate != nil {
					t.Errorf("%s: a saturated list without a saturation range", d.name)
				}
				continue
			}
			if !ok || x.N != len(units) || x.Text != Ranges(units, HTMLListed) {
				t.Errorf("%s: %s list %+v, the profile's %v", d.name, what, x, units)
				continue
			}
			if len(x.Rows) != min(len(units), HTMLStatRows) {
				t.Errorf("%s: %s: %d rows for %d units", d.name, what, len(x.Rows), len(units))
			}
			for k, r := range x.Rows {
				u := units[k]
				vs := d.finite(u)
				var sum, abs float64
				for _, v := range vs {
					sum += v
					abs += math.Abs(v)
				}
				mean, meanAbs := sum/float64(len(vs)), abs/float64(len(vs))
				if int(r[0]) != u || !near(r[1], mean) || !near(r[2], meanAbs) {
					t.Errorf("%s: %s row %v, want unit %d mean %g mean |x| %g", d.name, what, r, u, mean, meanAbs)
				}
			}
			if what == "window-dead" {
				continue
			}
			per := map[int]int{}
			for _, u := range units {
				per[u/h.Run]++
			}
			marks := h.Marks[what]
			got := map[int]int{}
			for j := 0; j+1 < len(marks); j += 2 {
				got[marks[j]] = marks[j+1]
			}
			if !mapsEqual(got, per) {
				t.Errorf("%s: %s marks %v, want %v", d.name, what, got, per)
			}
		}
		switch d.name {
		case "act":
			if st.Dormant != len(l.Stats.Dormant) || !slices.Contains(l.Stats.Dormant, 1) || !slices.Contains(l.Stats.Dormant, 0) ||
				!slices.Equal(l.Stats.Constant, []int{0, 3}) || !slices.Equal(l.Stats.Saturated, []int{2}) || st.Saturated != 1 ||
				!slices.Equal(st.Saturate, []float64{-100, 5.9}) || !slices.Contains(l.Stats.WindowDead, 0) {
				t.Errorf("act: dormant %v constant %v saturated %v window-dead %v", l.Stats.Dormant, l.Stats.Constant, l.Stats.Saturated, l.Stats.WindowDead)
			}
		case "wide":
			if h.Run != 3 || !slices.Contains(l.Stats.Dormant, 97) || !slices.Contains(l.Stats.Constant, 89) {
				t.Errorf("wide: run %d, dormant %v, constant %v", h.Run, l.Stats.Dormant, l.Stats.Constant)
			}
		}
	}
	// The index: the statistics columns, and the layers with such units
	// among the alerts.
	page := b.String()
	for _, s := range []string{`<th data-k="dormant">`, `<th data-k="saturated">`, `<th data-k="constant">`, `<span class="badge dormant">`,
		`<path class="line dormant"`, `layers have dormant, saturated or constant units`} {
		if !strings.Contains(page, s) {
			t.Errorf("the page lacks %s", s)
		}
	}
}

func near(got, want float64) bool { return math.Abs(got-want) <= 1e-5*math.Abs(want) }

func mapsEqual(a, b map[int]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A page with statistics, byte for byte.
func TestHTMLStatsGolden(t *testing.T) {
	data := statsData(200)
	var b bytes.Buffer
	if err := WriteHTML(&b, dataProfile(t, data), HTMLOptions{Source: "runs/stats.json"}); err != nil {
		t.Fatal(err)
	}
	golden(t, "report-stats.html.golden", b.Bytes())
}

// pageL0 merges the bins between the first and last non-empty ones into
// at most HTMLL0Bins bars of equal width.
func TestPageL0(t *testing.T) {
	hist := make([]uint64, 1001)
	hist[10], hist[11], hist[350], hist[700] = 1, 2, 3, 4
	h := pageL0(hist, 1)
	// 691 bins from 10 to 700: groups of 7, 99 bars
	if h.Lo != 10 || h.Width != 7 || len(h.Counts) != 99 || h.Counts[0] != 3 || h.Counts[(350-10)/7] != 3 || h.Counts[98] != 4 {
		t.Errorf("%+v", h)
	}
	if h := pageL0([]uint64{0, 5, 0, 2}, 3); h.Lo != 3 || h.Width != 3 || !slices.Equal(h.Counts, []uint64{5, 0, 2}) {
		t.Errorf("%+v", h)
	}
	if h := pageL0(make([]uint64, 4), 1); len(h.Counts) != 0 {
		t.Errorf("%+v", h)
	}
}
