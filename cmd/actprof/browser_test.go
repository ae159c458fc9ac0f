package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/actprof/actprof/internal/synth"
	"github.com/actprof/actprof/profiler"
)

// requireChromium returns the path of a Chromium to drive, or skips the
// test (fails it under CI) when there is none.
func requireChromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if strictCI() {
		t.Fatalf("CI: headless Chromium unavailable (make deps installs Debian's chromium)")
	}
	t.Skipf("headless Chromium unavailable (make deps installs Debian's chromium)")
	return ""
}

// browser is one headless Chromium tab and what it saw: every request the
// page made and every console message, exception or browser log entry of
// level warning or error.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	requests []string
	problems []string
}

func newBrowser(t testing.TB) *browser {
	t.Helper()
	path := requireChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1100, 900), chromedp.Flag("hide-scrollbars", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	b := &browser{ctx: ctx}
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", path, err)
	}
	if err := chromedp.Listen(ctx, b.event); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, log.Enable, struct{}{}); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *browser) event(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		b.requests = append(b.requests, ev.Request.URL)
	case *runtime.EventConsoleAPICalled:
		switch ev.Type {
		case runtime.ConsoleAPICalledTypeError, runtime.ConsoleAPICalledTypeWarning, runtime.ConsoleAPICalledTypeAssert:
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			b.problems = append(b.problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		b.problems = append(b.problems, fmt.Sprintf("exception at %d:%d: %s", d.LineNumber, d.ColumnNumber, msg))
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning {
			b.problems = append(b.problems, fmt.Sprintf("browser log %s (%s): %s %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
		}
	}
}

// open loads a page from a file and waits for its script to finish.
func (b *browser) open(t testing.TB, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	u := (&url.URL{Scheme: "file", Path: abs}).String()
	b.do(t, chromedp.Navigate(u), chromedp.WaitReady(`body[data-ready="1"]`))
	return u
}

func (b *browser) do(t testing.TB, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// waitFor waits until the JavaScript expression is true.
func (b *browser) waitFor(t testing.TB, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr)); err != nil {
		t.Fatalf("waiting for %s: %v", expr, err)
	}
}

func eval[T any](t testing.TB, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// clean fails the test on any console problem, or on any request but the
// page's own document (a self-contained page fetches nothing).
func (b *browser) clean(t testing.TB, page string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		t.Errorf("page %s: %s", page, p)
	}
	for _, r := range b.requests {
		if r != page {
			t.Errorf("page %s requested %s: it must fetch nothing", page, r)
		}
	}
	if !slices.Contains(b.requests, page) {
		t.Errorf("no request seen for the page itself (%s): are network events observed? saw %q", page, b.requests)
	}
	b.requests, b.problems = nil, nil
}

func (b *browser) screenshot(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.(*testing.T).ArtifactDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}

// parseRanges reads a unit list as the report writes it: "3, 7-9, 12".
func parseRanges(t *testing.T, s string) []int {
	t.Helper()
	var out []int
	for _, item := range strings.Split(s, ", ") {
		a, b, isRange := strings.Cut(item, "-")
		lo, err := strconv.Atoi(a)
		hi := lo
		if err == nil && isRange {
			hi, err = strconv.Atoi(b)
		}
		if err != nil {
			t.Fatalf("unit list %q: item %q", s, item)
		}
		for u := lo; u <= hi; u++ {
			out = append(out, u)
		}
	}
	return out
}

// demoProfile writes the demo dataset in the current folder as make demo
// does (the built-in synth configuration, in demo-data), profiles it with
// value statistics (the saturation range -1:6 for the planted saturated
// units) and returns the profile's path and the dataset's manifest (the
// planted units, the independent reference).
func demoProfile(t *testing.T) (string, synth.Manifest) {
	t.Helper()
	data := "demo-data"
	if _, err := synth.Write(synth.DefaultConfig(data)); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(data, "synth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m synth.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	prof := filepath.Join(data, "profile.json")
	if _, se, code := runIn("profile", "--quiet", "--stats", "--saturate=-1:6", "-o", prof, data); code != 0 {
		t.Fatalf("profile: exit %d: %s", code, se)
	}
	return prof, m
}

// TestReportInBrowser opens the demo's report in headless Chromium: it
// loads without console errors and fetches nothing, the index sorts and
// filters, a layer's detail shows exactly its planted dead units.
func TestReportInBrowser(t *testing.T) {
	b := newBrowser(t)
	t.Chdir(t.TempDir())
	prof, m := demoProfile(t)
	html := "report.html"
	if _, se, code := runIn("report", prof, "-o", html); code != 0 {
		t.Fatalf("report: exit %d: %s", code, se)
	}
	p, err := readProfile(prof)
	if err != nil {
		t.Fatal(err)
	}
	page := b.open(t, html)
	b.screenshot(t, "report.png")

	visible := `Array.from(document.querySelectorAll("#layers tbody tr")).filter(r => !r.hidden).map(r => +r.id.slice(1))`
	// First order: layers with dead units (every demo layer has some)
	// first, in depth order.
	var want []int
	for i := range p.Layers {
		want = append(want, i)
	}
	if got := eval[[]int](t, b, visible); !slices.Equal(got, want) {
		t.Errorf("index order %v, want %v", got, want)
	}
	// Sort by dead units: most first, then fewest first.
	byDead := slices.Clone(want)
	slices.SortStableFunc(byDead, func(x, y int) int { return len(p.Layers[y].Dead) - len(p.Layers[x].Dead) })
	b.do(t, chromedp.Click(`th[data-k="dead"]`))
	if got := eval[[]int](t, b, visible); !slices.Equal(got, byDead) {
		t.Errorf("sorted by dead: %v, want %v", got, byDead)
	}
	slices.SortStableFunc(byDead, func(x, y int) int { return len(p.Layers[x].Dead) - len(p.Layers[y].Dead) })
	b.do(t, chromedp.Click(`th[data-k="dead"]`))
	if got := eval[[]int](t, b, visible); !slices.Equal(got, byDead) {
		t.Errorf("sorted by dead, ascending: %v, want %v", got, byDead)
	}
	// Sort by dormant units, most first.
	byDormant := slices.Clone(want)
	slices.SortStableFunc(byDormant, func(x, y int) int { return len(p.Layers[y].Stats.Dormant) - len(p.Layers[x].Stats.Dormant) })
	b.do(t, chromedp.Click(`th[data-k="dormant"]`))
	if got := eval[[]int](t, b, visible); !slices.Equal(got, byDormant) {
		t.Errorf("sorted by dormant: %v, want %v", got, byDormant)
	}
	b.do(t, chromedp.Click(`th[data-k="name"]`))
	byName := slices.Clone(want)
	slices.SortStableFunc(byName, func(x, y int) int { return strings.Compare(p.Layers[x].Name, p.Layers[y].Name) })
	if got := eval[[]int](t, b, visible); !slices.Equal(got, byName) {
		t.Errorf("sorted by name: %v, want %v", got, byName)
	}
	// Filter by name.
	b.do(t, chromedp.SendKeys(`#filter`, "fc"))
	var fc []int
	for _, i := range byName {
		if strings.Contains(p.Layers[i].Name, "fc") {
			fc = append(fc, i)
		}
	}
	if got := eval[[]int](t, b, visible); !slices.Equal(got, fc) || len(fc) == len(p.Layers) {
		t.Errorf("filtered by \"fc\": %v, want %v", got, fc)
	}
	if got, wantText := eval[string](t, b, `document.getElementById("shown").textContent`), fmt.Sprintf("showing %d of %d layers", len(fc), len(p.Layers)); got != wantText {
		t.Errorf("count shown %q, want %q", got, wantText)
	}

	// Open a layer from the index: its planted dead units are listed,
	// exactly.
	ml := m.Layers[0]
	li := slices.IndexFunc(p.Layers, func(l profiler.LayerProfile) bool { return l.Name == ml.Name })
	if li < 0 || len(ml.Dead) == 0 {
		t.Fatalf("demo layer %s: not profiled or no planted dead units", ml.Name)
	}
	b.do(t, chromedp.Click(fmt.Sprintf(`#r%d a.name`, li)), chromedp.WaitVisible(`#detail .list[data-what="dead"]`))
	text := eval[string](t, b, `document.querySelector('#detail .list[data-what="dead"]').textContent`)
	head, list, ok := strings.Cut(text, ": ")
	if !ok || head != fmt.Sprintf("dead (%d)", len(ml.Dead)) {
		t.Fatalf("dead list %q: want %d units", text, len(ml.Dead))
	}
	if got := parseRanges(t, list); !slices.Equal(got, ml.Dead) {
		t.Errorf("layer %s: dead units shown %v, planted %v", ml.Name, got, ml.Dead)
	}
	if h := eval[string](t, b, `document.querySelector("#detail h2").textContent`); h != fmt.Sprintf("%d: %s", li, ml.Name) {
		t.Errorf("detail heading %q", h)
	}
	// The strip has one cell a unit, and the histogram's dead bin holds
	// the dead units.
	if w := eval[int](t, b, `document.getElementById("strip").width`); w <= 0 {
		t.Errorf("strip canvas width %d", w)
	}
	if n := eval[string](t, b, `document.querySelector('#detail svg.hist rect[data-k="0"] + text').textContent`); n != strconv.Itoa(len(ml.Dead)) {
		t.Errorf("dead bin shows %q units, want %d", n, len(ml.Dead))
	}
	// The statistics: every planted dormant and constant unit is in its
	// list, the saturated list is the planted saturated units, each shown
	// with its mean near the cap; the value and L0 histograms are drawn.
	if len(ml.Dormant) == 0 || len(ml.Constant) == 0 || len(ml.Saturated) == 0 {
		t.Fatalf("demo layer %s: planted dormant %v constant %v saturated %v", ml.Name, ml.Dormant, ml.Constant, ml.Saturated)
	}
	listed := func(what string) []int {
		text := eval[string](t, b, fmt.Sprintf(`document.querySelector('#detail .list[data-what="%s"]').textContent`, what))
		_, list, _ := strings.Cut(text, ": ")
		return parseRanges(t, list)
	}
	dormant, constant := listed("dormant"), listed("constant")
	for _, u := range ml.Dormant {
		if !slices.Contains(dormant, u) {
			t.Errorf("layer %s: planted dormant unit %d not among the dormant units shown %v", ml.Name, u, dormant)
		}
	}
	for _, u := range ml.Constant {
		if !slices.Contains(constant, u) {
			t.Errorf("layer %s: planted constant unit %d not among the constant units shown %v", ml.Name, u, constant)
		}
	}
	if got := listed("saturated"); !slices.Equal(got, ml.Saturated) {
		t.Errorf("layer %s: saturated units shown %v, planted %v", ml.Name, got, ml.Saturated)
	}
	rows := eval[[][]string](t, b, `Array.from(document.querySelectorAll('#detail .urows[data-what="saturated"] .u')).map(u => Array.from(u.children).map(c => c.textContent))`)
	if len(rows) != min(len(ml.Saturated), 20) {
		t.Errorf("saturated units' rows %q", rows)
	}
	for k, r := range rows {
		mean, err := strconv.ParseFloat(r[1], 64)
		if r[0] != strconv.Itoa(ml.Saturated[k]) || err != nil || !(mean > 5.9 && mean < synth.SaturatedValue) {
			t.Errorf("saturated unit row %q: want unit %d with a mean just below %g", r, ml.Saturated[k], float64(synth.SaturatedValue))
		}
	}
	if n := eval[int](t, b, `document.querySelectorAll('#detail svg.vhist rect.bar').length + document.querySelectorAll('#detail svg.l0hist rect.bar').length`); n < 10 {
		t.Errorf("%d bars in the value and L0 histograms", n)
	}
	if hidden := eval[bool](t, b, `document.getElementById("index").hidden`); !hidden {
		t.Errorf("index still shown with a layer open")
	}
	b.screenshot(t, "report-layer.png")
	// Back to the index.
	b.do(t, chromedp.Click(`#detail .nav a`))
	b.waitFor(t, `!document.getElementById("index").hidden && document.getElementById("detail").hidden`)
	b.clean(t, page)

	// A profile of no layers gives a page that loads clean too.
	empty := `{"format_version": 1, "tool": "actprof", "backend": "cpu", "threshold": 0, "rare_below": 0.001, "layers": []}`
	if err := os.WriteFile("empty.json", []byte(empty), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, se, code := runIn("report", "empty.json", "-o", "empty.html"); code != 0 {
		t.Fatalf("report of no layers: exit %d: %s", code, se)
	}
	page = b.open(t, "empty.html")
	if got := eval[string](t, b, `document.getElementById("shown").textContent`); got != "showing 0 of 0 layers" {
		t.Errorf("empty report: %q", got)
	}
	b.clean(t, page)
}

// TestTimelineInBrowser opens the timeline of three profiles of the demo
// (at thresholds 0, 1 and 3, so that units die from one to the next):
// it loads clean and fetches nothing, layers whose dead fraction grew come
// first, and a layer's series show each profile's dead fraction.
func TestTimelineInBrowser(t *testing.T) {
	b := newBrowser(t)
	t.Chdir(t.TempDir())
	prof, _ := demoProfile(t)
	paths := []string{prof}
	for _, th := range []string{"1", "3"} {
		p := "profile-t" + th + ".json"
		if _, se, code := runIn("profile", "--quiet", "--threshold", th, "-o", p, "demo-data"); code != 0 {
			t.Fatalf("profile: exit %d: %s", code, se)
		}
		paths = append(paths, p)
	}
	var ps []*profiler.Profile
	for _, p := range paths {
		q, err := readProfile(p)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, q)
	}
	args := append([]string{"timeline", "-o", "timeline.html", "--label", "T=0", "--label", "T=1", "--label", "T=3"}, paths...)
	if _, se, code := runIn(args...); code != 0 {
		t.Fatalf("timeline: exit %d: %s", code, se)
	}
	page := b.open(t, "timeline.html")
	b.screenshot(t, "timeline.png")
	rows := eval[[]int](t, b, `Array.from(document.querySelectorAll("#layers tbody tr")).map(r => +r.id.slice(1))`)
	alerts := eval[[]int](t, b, `Array.from(document.querySelectorAll("#layers tbody tr.alert")).map(r => +r.id.slice(1))`)
	var grew []int
	for i, l := range ps[0].Layers {
		if len(ps[2].Layers[i].Dead)*l.Units > len(l.Dead)*ps[2].Layers[i].Units {
			grew = append(grew, i)
		}
	}
	if len(rows) != len(ps[0].Layers) || !slices.Equal(alerts, grew) || len(grew) == 0 || !slices.Equal(rows[:len(grew)], grew) {
		t.Errorf("rows %v, alerts %v: want the layers whose dead fraction grew (%v) first", rows, alerts, grew)
	}
	b.do(t, chromedp.Click(`#r0 a.name`))
	b.waitFor(t, `!document.getElementById("detail").hidden`)
	cells := eval[[][]string](t, b, `Array.from(document.querySelectorAll("#detail table.series tbody tr")).map(r => Array.from(r.cells).map(c => c.textContent))`)
	if len(cells) != len(ps) {
		t.Fatalf("%d checkpoint rows, want %d", len(cells), len(ps))
	}
	for k, row := range cells {
		l := ps[k].Layers[0]
		dead, err := strconv.ParseFloat(row[2], 64)
		want := float64(len(l.Dead)) / float64(l.Units)
		if row[0] != []string{"T=0", "T=1", "T=3"}[k] || row[1] != strconv.Itoa(l.Units) || err != nil || dead < want*(1-1e-3) || dead > want*(1+1e-3) {
			t.Errorf("checkpoint %d: row %q, want %d units, dead fraction %g", k, row, l.Units, want)
		}
		// the dormant fraction: the first profile has value statistics,
		// the others not ("–")
		if len(row) != 6 {
			t.Fatalf("checkpoint %d: row %q: want a dormant column", k, row)
		}
		if k > 0 {
			if row[4] != "\u2013" {
				t.Errorf("checkpoint %d (no statistics): dormant %q", k, row[4])
			}
			continue
		}
		dorm, err := strconv.ParseFloat(row[4], 64)
		want = float64(len(l.Stats.Dormant)) / float64(l.Units)
		if err != nil || want == 0 || dorm < want*(1-1e-3) || dorm > want*(1+1e-3) {
			t.Errorf("checkpoint %d: dormant %q, want %g", k, row[4], want)
		}
	}
	if n := eval[int](t, b, `document.querySelectorAll("#detail svg.plot").length`); n != 2 {
		t.Errorf("%d plots in a layer's detail, want 2", n)
	}
	b.screenshot(t, "timeline-layer.png")
	b.clean(t, page)
}

// largeProfileFile writes a profile of layers x units with a spread of
// rates (1 in 50 units dead, 1 in 70 rare, 1 in 300 always on) and, with
// stats, value statistics (largeStats).
func largeProfileFile(tb testing.TB, path string, layers, units int, stats bool) {
	tb.Helper()
	obs := uint64(100000)
	if stats {
		obs /= 2 // merged with itself below, which derives the statistics' lists
	}
	p := &profiler.Profile{FormatVersion: profiler.FormatVersion, Tool: profiler.ToolVersion, Backend: "cpu", RareBelow: 1e-3}
	for i := 0; i < layers; i++ {
		l := profiler.LayerProfile{Name: fmt.Sprintf("block%d.layer%d", i/4, i%4), DType: "float32", Shape: []int{int(obs), units}, UnitAxis: 1,
			Units: units, Observations: obs, Counts: make([]uint64, units), NaNCounts: make([]uint64, units),
			Dead: []int{}, Rare: []int{}, AlwaysOn: []int{}}
		var sum float64
		for u := range l.Counts {
			k := u*7919 + i*104729
			switch {
			case k%50 == 0:
				l.Dead = append(l.Dead, u)
			case k%70 == 0:
				l.Counts[u] = uint64(1 + k%90)
				l.Rare = append(l.Rare, u)
			case k%300 == 0:
				l.Counts[u] = obs
				l.AlwaysOn = append(l.AlwaysOn, u)
			default:
				l.Counts[u] = uint64(100 + k%(int(obs)-200))
			}
			sum += float64(l.Counts[u]) / float64(obs)
		}
		l.MeanActivationProbability = sum / float64(units)
		if stats {
			l.Stats = largeStats(&l, i)
		}
		p.Layers = append(p.Layers, l)
	}
	if stats {
		p.Stats = &profiler.StatsParams{DormantTau: profiler.DefaultDormantTau, SaturatedAbove: profiler.DefaultSaturatedAbove}
		var err error
		if p, err = profiler.Merge(p, p); err != nil {
			tb.Fatal(err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := p.Encode(f); err != nil {
		tb.Fatal(err)
	}
}

// largeStats are value statistics that fit a layer's counts: a unit's
// non-firing values are 0, its firing ones 1.5 on average (spread over
// nine bins of the value histogram), always-on units range over [0.5,
// 2.5] and 1 in 2 of them sits at 2.5 (in the saturation range -1:2.4) on
// 99.5% of observations; L0 spread over four bins around its mean. Their
// derived lists are left to profiler.Merge.
func largeStats(l *profiler.LayerProfile, layer int) *profiler.LayerStats {
	n, obs := l.Units, l.Observations
	s := &profiler.LayerStats{Min: make(profiler.Floats, n), Max: make(profiler.Floats, n), Sum: make(profiler.Floats, n), SumAbs: make(profiler.Floats, n),
		PosInfCounts: make([]uint64, n), NegInfCounts: make([]uint64, n), FirstFired: make([]int64, n), LastFired: make([]int64, n),
		Saturate: []float64{-1, 2.4}, SaturatedCounts: make([]uint64, n), ValueHist: make([]uint64, profiler.ValueBins),
		L0BinWidth: profiler.L0Width(n), L0Hist: make([]uint64, profiler.L0BinCount(n))}
	var fires uint64
	for u, c := range l.Counts {
		fires += c
		s.Sum[u], s.SumAbs[u] = 1.5*float64(c), 1.5*float64(c)
		s.FirstFired[u], s.LastFired[u] = -1, -1
		if c > 0 {
			s.FirstFired[u], s.LastFired[u] = int64((u+layer)%int(obs-c+1)), int64((u+layer)%int(obs-c+1))+int64(c)-1
			s.Max[u] = 3
		}
		if c == obs {
			s.Min[u], s.Max[u] = 0.5, 2.5
			if (u+layer)%2 == 0 {
				s.SaturatedCounts[u] = obs - obs/200
			}
		}
		s.ValueHist[profiler.ValueZeroBin] += obs - c
		s.ValueHist[profiler.ValueBin(1.5)+(u+layer)%9-4] += c
	}
	bin := int(fires/obs) / s.L0BinWidth
	for k := range 4 {
		s.L0Hist[min(max(bin+k-2, 0), len(s.L0Hist)-1)] += obs / 4
	}
	s.L0Hist[min(bin, len(s.L0Hist)-1)] += obs % 4
	return s
}

// BenchmarkReportLarge: the report of 1M units, as 1,000 layers of 1,000
// units and as 10 layers of 100,000: the command's time (read the profile, write the page), the
// page's size, and in headless Chromium the time from navigation to the
// script's end (index ready; load-ms, as the test sees it, and
// load-event-ms, the page's own navigation timing) and from a click on a
// layer to its detail drawn. The -stats cases have value statistics
// (largeStats) in the profile.
//
//	go test -run XXX -bench ReportLarge -benchtime 5x ./cmd/actprof
func BenchmarkReportLarge(b *testing.B) {
	br := newBrowser(b)
	for _, c := range []struct{ layers, units int }{{1000, 1000}, {10, 100000}} {
		for _, stats := range []bool{false, true} {
			name := fmt.Sprintf("%dx%d", c.layers, c.units)
			if stats {
				name += "-stats"
			}
			b.Run(name, func(b *testing.B) { benchReport(b, br, c.layers, c.units, stats) })
		}
	}
}

func benchReport(b *testing.B, br *browser, layers, units int, stats bool) {
	dir := b.TempDir()
	prof, html := filepath.Join(dir, "large.json"), filepath.Join(dir, "large.html")
	largeProfileFile(b, prof, layers, units, stats)
	var build, load, open time.Duration
	var loadEvent float64 // ms from navigation start, as the page's timing says
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, se, code := runIn("report", prof, "-o", html); code != 0 {
			b.Fatal(se)
		}
		build += time.Since(t0)
		if _, se, code := runIn("timeline", prof, prof, "-o", filepath.Join(dir, "timeline.html")); code != 0 {
			b.Fatal(se)
		}
		t0 = time.Now()
		page := br.open(b, html)
		load += time.Since(t0)
		loadEvent += eval[float64](b, br, `performance.getEntriesByType("navigation")[0].loadEventEnd`)
		t0 = time.Now()
		br.do(b, chromedp.Click(fmt.Sprintf(`#r%d a.name`, layers-1)))
		br.waitFor(b, `document.querySelector('#detail .list[data-what="dead"]') !== null`)
		open += time.Since(t0)
		br.clean(b, page)
		br.do(b, chromedp.Navigate("about:blank"))
		br.mu.Lock()
		br.requests = nil
		br.mu.Unlock()
	}
	st, err := os.Stat(html)
	if err != nil {
		b.Fatal(err)
	}
	ts, _ := os.Stat(filepath.Join(dir, "timeline.html"))
	ps, _ := os.Stat(prof)
	b.ReportMetric(float64(st.Size())/(1<<20), "page-MiB")
	b.ReportMetric(float64(ts.Size())/(1<<20), "timeline-MiB")
	b.ReportMetric(float64(ps.Size())/(1<<20), "profile-MiB")
	b.ReportMetric(float64(build.Milliseconds())/float64(b.N), "build-ms")
	b.ReportMetric(float64(load.Milliseconds())/float64(b.N), "load-ms")
	b.ReportMetric(loadEvent/float64(b.N), "load-event-ms")
	b.ReportMetric(float64(open.Milliseconds())/float64(b.N), "open-layer-ms")
}
