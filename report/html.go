package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/actprof/actprof/profiler"
)

// HTMLListed bounds the items (single units or ranges) of a unit list in
// the HTML report's detail; the rest is counted ("… (N in all)").
const HTMLListed = 500

// HTMLOptions are the report's labels.
type HTMLOptions struct {
	// Source names the profile (its path) in the title and header.
	Source string
}

// WriteHTML writes p as one self-contained HTML page: inline CSS, inline
// SVG and one inline script; it refers to nothing outside itself, so it
// works offline and loads nothing from the network.
//
// The page holds a summary; the by-depth plots of Pr[y>0] and of the dead
// fraction (inline SVG, drawn here); an index of the layers, alerts
// (layers with NaNs, then layers with dead units) first, which the script
// sorts and filters; and, one click away, a layer's detail (summary,
// log10-rate histogram, unit strip, unit lists), which the script draws
// only when the layer is opened, from a compact JSON block: the strip's
// cells as one byte each (base64), at most MaxCells a layer, marked units
// as sparse per-cell counts, unit lists cut at HTMLListed items. The
// page's size and load time therefore grow with the layers and, per
// layer, are bounded by MaxCells and HTMLListed, not by the units.
//
// A profile with value statistics adds the dormant fraction by depth,
// index columns of dormant, saturated and constant units (such layers
// among the alerts) and, per layer, the value histogram, the L0 histogram
// (at most HTMLL0Bins bars), those units marked on the strip and listed,
// the first HTMLStatRows of each list with their mean and mean |x|.
//
// The output depends only on p and o (no clock, no map order): it is
// byte-for-byte reproducible.
func WriteHTML(w io.Writer, p *profiler.Profile, o HTMLOptions) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	s := NewRateScale(p)
	title := "actprof report"
	if o.Source != "" {
		title += ": " + o.Source
	}
	writeHead(bw, title)

	var units, dead, rare, on, nanLayers, deadLayers int
	var dormant, saturated, constant, statLayers int
	for i := range p.Layers {
		l := &p.Layers[i]
		if st := l.Stats; st != nil {
			dormant += len(st.Dormant)
			saturated += len(st.Saturated)
			constant += len(st.Constant)
			if statsAlert(l) {
				statLayers++
			}
		}
		units += l.Units
		dead += len(l.Dead)
		rare += len(l.Rare)
		on += len(l.AlwaysOn)
		if l.NaNTotal > 0 {
			nanLayers++
		}
		if len(l.Dead) > 0 {
			deadLayers++
		}
	}
	bw.WriteString("<header>\n<h1>actprof report</h1>\n<p class=\"meta\">")
	if o.Source != "" {
		fmt.Fprintf(bw, "profile <b>%s</b> · ", esc(o.Source))
	}
	if p.Tool != "" {
		fmt.Fprintf(bw, "%s · ", esc(p.Tool))
	}
	if p.Backend != "" {
		fmt.Fprintf(bw, "backend %s · ", esc(p.Backend))
	}
	fmt.Fprintf(bw, "a unit fires when x &gt; %s · rare: fires on fewer than %s of observations</p>\n</header>\n", fnum(p.Threshold), fnum(p.RareBelow))
	fmt.Fprintf(bw, "<section id=\"summary\">\n<div class=\"stats\">"+
		"<div><b>%d</b> layers</div><div><b>%d</b> units</div>"+
		"<div%s><b>%d</b> dead (%s)</div><div><b>%d</b> rare</div><div><b>%d</b> always on</div>"+
		"<div%s><b>%d</b> layers with NaNs</div></div>\n",
		len(p.Layers), units, alertAttr(dead > 0), dead, pct(dead, units), rare, on, alertAttr(nanLayers > 0), nanLayers)
	if p.Stats != nil {
		fmt.Fprintf(bw, "<div class=\"stats\"><div%s><b>%d</b> dormant (%s)</div><div%s><b>%d</b> saturated</div><div%s><b>%d</b> constant</div></div>\n"+
			"<p class=\"note\">Value statistics: dormant units have a mean |x| at most %s of their layer's mean over units; saturated units have more than %s of their values in the layer's saturation range (when one was given); constant units took one value on every observation.</p>\n",
			alertAttr(dormant > 0), dormant, pct(dormant, units), alertAttr(saturated > 0), saturated, alertAttr(constant > 0), constant,
			fnum(p.Stats.DormantTau), fnum(p.Stats.SaturatedAbove))
	}
	if nanLayers > 0 || deadLayers > 0 || statLayers > 0 {
		bw.WriteString("<p class=\"alerts\">Alerts: ")
		if nanLayers > 0 {
			fmt.Fprintf(bw, "%d layers saw NaN activations (the model that produced them is broken; NaN never counts as firing). ", nanLayers)
		}
		if deadLayers > 0 {
			fmt.Fprintf(bw, "%d layers have dead units. ", deadLayers)
		}
		if statLayers > 0 {
			fmt.Fprintf(bw, "%d layers have dormant, saturated or constant units. ", statLayers)
		}
		bw.WriteString("They head the index below.</p>\n")
	} else if p.Stats != nil {
		bw.WriteString("<p class=\"ok\">No dead, dormant, saturated or constant units and no NaNs.</p>\n")
	} else {
		bw.WriteString("<p class=\"ok\">No dead units and no NaNs.</p>\n")
	}
	bw.WriteString("</section>\n")

	if n := len(p.Layers); n > 0 {
		probs := make([]float64, n)
		fracs := make([]float64, n)
		maxFrac := 0.0
		for i := range p.Layers {
			l := &p.Layers[i]
			probs[i] = l.MeanActivationProbability
			fracs[i] = frac(len(l.Dead), l.Units)
			maxFrac = max(maxFrac, fracs[i])
		}
		tick := func(i int) string { return strconv.Itoa(i) }
		bw.WriteString("<section id=\"depth\">\n<h2>By depth</h2>\n<p class=\"note\">Layers in profile order (input to output). Point at a layer to name it, click to open it.</p>\n")
		svgPlot{ID: "pdepth", Title: "Pr[y>0] by depth: the mean over a layer's units of the firing rate", XLabel: "layer (depth)",
			N: n, YMax: 1, XTick: tick, Series: []svgSeries{{Name: "Pr[y>0]", Class: "s0", V: probs}}}.write(bw)
		dp := svgPlot{ID: "ddepth", Title: "Dead fraction by depth: the share of a layer's units that never fired", XLabel: "layer (depth)",
			N: n, YMax: niceCeil(maxFrac), XTick: tick, Stems: true, Series: []svgSeries{{Name: "dead", Class: "dead", V: fracs}}}
		if p.Stats != nil {
			dorm := make([]float64, n)
			for i := range p.Layers {
				dorm[i] = dormantFrac(&p.Layers[i])
				if !math.IsNaN(dorm[i]) {
					maxFrac = max(maxFrac, dorm[i])
				}
			}
			dp.Title = "Dead and dormant fractions by depth: the shares of a layer's units that never fired (bars) and that are dormant (line)"
			dp.YMax = niceCeil(maxFrac)
			dp.Series = append(dp.Series, svgSeries{Name: "dormant", Class: "dormant", V: dorm})
		}
		dp.write(bw)
		bw.WriteString("</section>\n")
	}

	bw.WriteString("<section id=\"index\">\n<h2>Layers</h2>\n<div class=\"controls\"><input id=\"filter\" type=\"search\" placeholder=\"filter by name\" aria-label=\"filter layers by name\">" +
		" <label><input type=\"checkbox\" id=\"alertsonly\"> alerts only</label> <span id=\"shown\"></span>" +
		" <span class=\"note\">Click a column to sort, a layer to open it.</span></div>\n")
	bw.WriteString("<table id=\"layers\">\n<thead><tr><th data-k=\"i\">#</th><th data-k=\"name\">layer</th><th data-k=\"units\">units</th>" +
		"<th data-k=\"dead\">dead</th><th data-k=\"deadf\">dead %</th><th data-k=\"rare\">rare</th><th data-k=\"on\">always on</th>" +
		"<th data-k=\"nan\">NaNs</th><th data-k=\"p\">Pr[y&gt;0]</th>")
	if p.Stats != nil {
		bw.WriteString("<th data-k=\"dormant\">dormant</th><th data-k=\"dormantf\">dormant %</th><th data-k=\"saturated\">saturated</th><th data-k=\"constant\">constant</th>")
	}
	bw.WriteString("</tr></thead>\n<tbody>\n")
	for _, i := range alertOrder(p) {
		l := &p.Layers[i]
		cls, badges := "", ""
		if l.NaNTotal > 0 {
			cls = " class=\"alert nan\""
			badges += " <span class=\"badge nan\">NaN</span>"
		} else if len(l.Dead) > 0 || statsAlert(l) {
			cls = " class=\"alert\""
		}
		if len(l.Dead) > 0 {
			badges += " <span class=\"badge dead\">dead</span>"
		}
		var cols string
		if p.Stats != nil {
			cols, badges = statsCells(l, badges)
		}
		fmt.Fprintf(bw, "<tr id=\"r%d\"%s><td>%d</td><td><a href=\"#L%d\" class=\"name\">%s</a>%s</td><td>%d</td><td>%d</td><td>%s</td><td>%d</td><td>%d</td><td>%d</td><td>%.4f</td>%s</tr>\n",
			i, cls, i, i, esc(SafeName(l.Name)), badges, l.Units, len(l.Dead), pct(len(l.Dead), l.Units), len(l.Rare), len(l.AlwaysOn), l.NaNTotal, l.MeanActivationProbability, cols)
	}
	bw.WriteString("</tbody>\n</table>\n</section>\n<section id=\"detail\" hidden></section>\n")

	var data strings.Builder
	hm := map[string]any{"kind": "report", "lo": s.Lo, "bw": s.Width, "bins": s.Bins, "rareBelow": p.RareBelow, "maxCells": MaxCells}
	if p.Stats != nil {
		// the value histogram's layout (profiler.ValueBins): the zero bin,
		// bins a decade and the decade of the first magnitude edge
		hm["vzero"], hm["vdec"], hm["vlo"] = profiler.ValueZeroBin, 4, -8
		hm["tau"], hm["satAbove"], hm["window"] = p.Stats.DormantTau, p.Stats.SaturatedAbove, p.Stats.DeadWindow
	}
	head, err := json.Marshal(hm)
	if err != nil {
		return err
	}
	data.WriteString(`{"head":`)
	data.Write(head)
	data.WriteString(",\"layers\":[\n")
	for i := range p.Layers {
		b, err := json.Marshal(newHTMLLayer(&p.Layers[i], s, p.Stats))
		if err != nil {
			return err
		}
		if i > 0 {
			data.WriteString(",\n")
		}
		data.Write(b)
	}
	data.WriteString("\n]}")
	writeTail(bw, []byte(data.String()))
	return bw.Flush()
}

// htmlLayer is one layer as the page's script reads it (short keys: the
// block is most of a large report).
type htmlLayer struct {
	Name     string  `json:"name"`
	Source   string  `json:"src,omitempty"`
	DType    string  `json:"dtype"`
	Shape    []int   `json:"shape"`
	Axis     int     `json:"axis"`
	Units    int     `json:"units"`
	Obs      uint64  `json:"obs"`
	NaN      uint64  `json:"nan"`
	NaNUnits int     `json:"nanUnits"`
	P        float64 `json:"p"`
	Dead     int     `json:"dead"`
	Rare     int     `json:"rare"`
	On       int     `json:"on"`
	// Hist counts units by log10 rate: dead, the scale's bins, always on.
	Hist []int `json:"hist"`
	// The strip: Run units a cell; per cell the level (RateScale.Level) of
	// the mean rate and, when Run > 1, of the least rate (base64).
	Run    int    `json:"run"`
	Levels []byte `json:"mean"`
	MinLv  []byte `json:"min,omitempty"`
	// Marks are the units of each class per cell: cell, units, cell,
	// units... (cells with none left out).
	Marks map[string][]int `json:"marks"`
	Lists []htmlList       `json:"lists"`
	// St holds the value statistics, when the layer has them.
	St *htmlStats `json:"st,omitempty"`
}

// htmlList is one unit list of a layer: its class, length and text.
type htmlList struct {
	What string `json:"what"`
	N    int    `json:"n"`
	Text string `json:"text"`
	// Rows: for a statistics list, its first units with their mean and
	// mean |x| (unitStats).
	Rows []profiler.Floats `json:"rows,omitempty"`
}

func newHTMLLayer(l *profiler.LayerProfile, s RateScale, sp *profiler.StatsParams) htmlLayer {
	lp := NewLayerPlots(l, s)
	h := htmlLayer{
		Name: SafeName(l.Name), Source: strings.ToValidUTF8(l.Source, "\uFFFD"), DType: SafeName(l.DType), Shape: l.Shape, Axis: l.UnitAxis,
		Units: l.Units, Obs: l.Observations, NaN: l.NaNTotal, NaNUnits: lp.NaNUnits, P: round6(l.MeanActivationProbability),
		Dead: len(l.Dead), Rare: len(l.Rare), On: len(l.AlwaysOn),
		Hist: lp.Hist, Run: lp.RunUnits, Levels: make([]byte, len(lp.Cells)), Marks: map[string][]int{},
	}
	if h.Shape == nil {
		h.Shape = []int{}
	}
	if lp.RunUnits > 1 {
		h.MinLv = make([]byte, len(lp.Cells))
	}
	for k, c := range lp.Cells {
		h.Levels[k] = s.Level(c.Mean)
		if h.MinLv != nil {
			h.MinLv[k] = s.Level(c.Min)
		}
	}
	var nan []int
	if lp.NaNUnits > 0 {
		nan = make([]int, 0, lp.NaNUnits)
		for u, c := range l.NaNCounts {
			if c > 0 && u < l.Units {
				nan = append(nan, u)
			}
		}
	}
	for _, list := range []struct {
		what  string
		units []int
	}{{"dead", l.Dead}, {"rare", l.Rare}, {"always-on", l.AlwaysOn}, {"NaN", nan}} {
		if list.what == "dead" || list.what == "NaN" {
			h.Marks[list.what] = cellMarks(list.units, lp.RunUnits)
		}
		h.Lists = append(h.Lists, htmlList{What: list.what, N: len(list.units), Text: Ranges(list.units, HTMLListed)})
	}
	if st := l.Stats; st != nil && sp != nil {
		h.St = newHTMLStats(l)
		lists := []struct {
			what  string
			units []int
		}{{"dormant", st.Dormant}, {"saturated", st.Saturated}, {"constant", st.Constant}, {"window-dead", st.WindowDead}}
		for _, list := range lists {
			if list.what == "saturated" && st.Saturate == nil || list.what == "window-dead" && sp.DeadWindow == 0 {
				continue
			}
			if list.what != "window-dead" {
				h.Marks[list.what] = cellMarks(list.units, lp.RunUnits)
			}
			h.Lists = append(h.Lists, htmlList{What: list.what, N: len(list.units), Text: Ranges(list.units, HTMLListed), Rows: unitStats(l, list.units)})
		}
	}
	return h
}

// alertOrder is the index's first order: layers with NaNs, then layers
// with dead units, then layers with dormant, saturated or constant units,
// then the rest, each group in depth order.
func alertOrder(p *profiler.Profile) []int {
	rank := func(l *profiler.LayerProfile) int {
		switch {
		case l.NaNTotal > 0:
			return 0
		case len(l.Dead) > 0:
			return 1
		case statsAlert(l):
			return 2
		}
		return 3
	}
	idx := make([]int, len(p.Layers))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return rank(&p.Layers[a]) - rank(&p.Layers[b]) })
	return idx
}

func alertAttr(alert bool) string {
	if alert {
		return " class=\"alert\""
	}
	return ""
}
