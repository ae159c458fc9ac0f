package report

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"testing"

	"github.com/actprof/actprof/profiler"
)

// layerOf builds a consistent layer from its counts (the lists and the
// mean computed here by plain loops, as the profiler defines them).
func layerOf(name string, obs uint64, counts, nans []uint64, rareBelow float64) profiler.LayerProfile {
	l := profiler.LayerProfile{Name: name, DType: "float32", Shape: []int{int(obs), len(counts)}, UnitAxis: 1,
		Units: len(counts), Observations: obs, Counts: counts, NaNCounts: nans,
		Dead: []int{}, Rare: []int{}, AlwaysOn: []int{}}
	if l.NaNCounts == nil {
		l.NaNCounts = make([]uint64, len(counts))
	}
	var sum float64
	for u, c := range counts {
		switch {
		case c == 0:
			l.Dead = append(l.Dead, u)
		case c == obs:
			l.AlwaysOn = append(l.AlwaysOn, u)
		case float64(c) < rareBelow*float64(obs):
			l.Rare = append(l.Rare, u)
		}
		sum += float64(c) / float64(obs)
		l.NaNTotal += l.NaNCounts[u]
	}
	if len(counts) > 0 {
		l.MeanActivationProbability = sum / float64(len(counts))
	}
	return l
}

// smallProfile has a plain layer, one with NaNs, a layer wider than
// MaxCells (cells of several units), an empty layer and awkward names.
func smallProfile() *profiler.Profile {
	wide := make([]uint64, 2*MaxCells+5)
	for u := range wide {
		switch {
		case u%97 == 0:
		case u%89 == 0:
			wide[u] = 1
		default:
			wide[u] = uint64(u%1000) + 1
		}
	}
	return &profiler.Profile{FormatVersion: 1, Tool: "actprof test", Backend: "cpu", Threshold: 0, RareBelow: 1e-3, Layers: []profiler.LayerProfile{
		layerOf("enc.fc1", 10000, []uint64{0, 5, 10000, 3000, 0, 0, 1, 4000}, nil, 1e-3),
		layerOf("enc.<conv2>&\"x\"", 400, []uint64{100, 200, 0, 50}, []uint64{0, 3, 400, 0}, 1e-3),
		layerOf("dec.wide", 1000, wide, nil, 1e-3),
		layerOf("dec.ok", 50, []uint64{1, 2, 3, 50}, nil, 1e-3),
	}}
}

func TestHTMLGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHTML(&b, smallProfile(), HTMLOptions{Source: "runs/small.json"}); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.html.golden", b.Bytes())
	// Reproducible: a second run gives the same bytes.
	var c bytes.Buffer
	if err := WriteHTML(&c, smallProfile(), HTMLOptions{Source: "runs/small.json"}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), c.Bytes()) {
		t.Error("two runs of WriteHTML differ")
	}
}

// pageData is the page's data block, decoded.
func pageData(t *testing.T, page []byte) (head map[string]any, layers []htmlLayer) {
	t.Helper()
	m := regexp.MustCompile(`(?s)<script type="application/json" id="data">\n(.*?)\n</script>`).FindSubmatch(page)
	if m == nil {
		t.Fatal("no data block")
	}
	var d struct {
		Head   map[string]any `json:"head"`
		Layers []htmlLayer    `json:"layers"`
	}
	if err := json.Unmarshal(m[1], &d); err != nil {
		t.Fatal(err)
	}
	return d.Head, d.Layers
}

// The data the page draws from, against plain loops over the counts:
// the histogram's bins, each cell's mean level and the dead marks.
func TestHTMLDataMatchesCounts(t *testing.T) {
	p := smallProfile()
	var b bytes.Buffer
	if err := WriteHTML(&b, p, HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b.Bytes(), []byte("http:")) || bytes.Contains(b.Bytes(), []byte("https:")) || bytes.Contains(b.Bytes(), []byte(" src=")) {
		t.Error("the page refers to something outside itself")
	}
	head, layers := pageData(t, b.Bytes())
	lo, bw, bins := head["lo"].(float64), head["bw"].(float64), int(head["bins"].(float64))
	// smallest rate 1/10000: the axis starts at 1e-4, bins of 0.1 decades
	if lo != -4 || bw != 0.1 || bins != 40 {
		t.Fatalf("scale lo %g width %g bins %d", lo, bw, bins)
	}
	if len(layers) != len(p.Layers) {
		t.Fatalf("%d layers in the data, want %d", len(layers), len(p.Layers))
	}
	for i, l := range p.Layers {
		h := layers[i]
		hist := make([]int, bins+2)
		for _, c := range l.Counts {
			r := float64(c) / float64(l.Observations)
			switch {
			case c == 0:
				hist[0]++
			case c == l.Observations:
				hist[bins+1]++
			default:
				k := 1
				for k < bins && math.Log10(r) >= lo+float64(k)*bw-1e-12 {
					k++
				}
				hist[k]++
			}
		}
		for k := range hist {
			if h.Hist[k] != hist[k] {
				t.Errorf("%s: bin %d holds %d, want %d", l.Name, k, h.Hist[k], hist[k])
			}
		}
		run := 1
		for (l.Units+run-1)/run > MaxCells {
			run++
		}
		if h.Run != run || len(h.Levels) != (l.Units+run-1)/run {
			t.Fatalf("%s: run %d cells %d, want %d and %d", l.Name, h.Run, len(h.Levels), run, (l.Units+run-1)/run)
		}
		deadPer := map[int]int{}
		for _, u := range l.Dead {
			deadPer[u/run]++
		}
		for k := range h.Levels {
			var sum float64
			n := 0
			for u := k * run; u < min(l.Units, (k+1)*run); u++ {
				sum += float64(l.Counts[u]) / float64(l.Observations)
				n++
			}
			mean := sum / float64(n)
			want := byte(0)
			if mean > 0 {
				want = byte(1 + math.Round(min(max((math.Log10(mean)-lo)/-lo, 0), 1)*254))
			}
			if h.Levels[k] != want {
				t.Errorf("%s: cell %d level %d, want %d (mean rate %g)", l.Name, k, h.Levels[k], want, mean)
			}
		}
		marks := h.Marks["dead"]
		got := map[int]int{}
		for j := 0; j+1 < len(marks); j += 2 {
			got[marks[j]] = marks[j+1]
		}
		if len(got) != len(deadPer) {
			t.Errorf("%s: dead marks in %d cells, want %d", l.Name, len(got), len(deadPer))
		}
		for c, n := range deadPer {
			if got[c] != n {
				t.Errorf("%s: cell %d marks %d dead, want %d", l.Name, c, got[c], n)
			}
		}
		if h.Lists[0].What != "dead" || h.Lists[0].N != len(l.Dead) || h.Lists[0].Text != Ranges(l.Dead, HTMLListed) {
			t.Errorf("%s: dead list %+v", l.Name, h.Lists[0])
		}
	}
	// the layer with NaNs: units 1 and 2 marked
	if got := layers[1].Marks["NaN"]; len(got) != 4 || got[0] != 1 || got[1] != 1 || got[2] != 2 || got[3] != 1 {
		t.Errorf("NaN marks %v, want [1 1 2 1]", got)
	}
	// names are escaped in the index and in the data
	if !bytes.Contains(b.Bytes(), []byte("enc.&lt;conv2&gt;&amp;&#34;x&#34;")) || bytes.Contains(b.Bytes(), []byte("<conv2>")) {
		t.Error("a layer name is not escaped")
	}
}

// The page of a model of 1,000 layers of 1,000 units stays small: the data
// is bounded per layer, whatever the units.
func TestHTMLSizeOfLargeModel(t *testing.T) {
	p := largeProfile(1000, 1000)
	var b bytes.Buffer
	if err := WriteHTML(&b, p, HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	if b.Len() > 20<<20 {
		t.Errorf("%d bytes for 1,000 layers of 1,000 units: above 20 MiB", b.Len())
	}
	_, layers := pageData(t, b.Bytes())
	if len(layers) != 1000 || len(layers[999].Levels) != 1000 {
		t.Fatalf("%d layers, the last with %d cells", len(layers), len(layers[999].Levels))
	}
	// A layer of 10 million units costs no more than MaxCells cells.
	q := largeProfile(1, 10_000_000)
	b.Reset()
	if err := WriteHTML(&b, q, HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, ls := pageData(t, b.Bytes()); len(ls[0].Levels) > MaxCells || b.Len() > 2<<20 {
		t.Errorf("a 10M-unit layer: %d cells, %d bytes", len(ls[0].Levels), b.Len())
	}
}

// largeProfile is layers x units with a spread of rates: 1 in 50 units
// dead, 1 in 70 rare, 1 in 300 always on.
func largeProfile(layers, units int) *profiler.Profile {
	p := &profiler.Profile{FormatVersion: 1, Tool: "actprof test", Backend: "cpu", RareBelow: 1e-3}
	const obs = 100000
	for i := 0; i < layers; i++ {
		counts := make([]uint64, units)
		for u := range counts {
			k := u*7919 + i*104729
			switch {
			case k%50 == 0:
			case k%70 == 0:
				counts[u] = uint64(1 + k%90)
			case k%300 == 0:
				counts[u] = obs
			default:
				counts[u] = uint64(100 + k%(obs-200))
			}
		}
		p.Layers = append(p.Layers, layerOf("block"+strconv.Itoa(i/4)+".layer"+strconv.Itoa(i%4), obs, counts, nil, 1e-3))
	}
	return p
}
