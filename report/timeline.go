package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"

	"github.com/actprof/actprof/profiler"
)

// Timeline is a model's profiles at several checkpoints, in the order
// given: per layer (matched by name) and for the whole model, the dead and
// rare fractions and the mean firing rate at each checkpoint, and the
// dormant fraction where the profiles have value statistics.
type Timeline struct {
	Labels []string        `json:"labels"` // one per checkpoint
	Model  TimelineSeries  `json:"model"`  // over all units of each checkpoint
	Layers []TimelineLayer `json:"layers"`
}

// TimelineSeries holds one value per checkpoint of each figure: the share
// of units dead and rare, and Pr[y>0], the mean over units of the firing
// rate. When some profile has value statistics, DormantFrac is the share
// of dormant units among the units of layers with statistics (null at a
// checkpoint without any).
type TimelineSeries struct {
	DeadFrac                  []float64  `json:"dead_frac"`
	RareFrac                  []float64  `json:"rare_frac"`
	MeanActivationProbability []float64  `json:"mean_activation_probability"`
	DormantFrac               []*float64 `json:"dormant_frac,omitempty"`
}

// TimelineLayer is one layer across the checkpoints: null (nil) where a
// checkpoint's profile lacks the layer. Layers are in the order in which
// they first appear, checkpoint by checkpoint. DormantFrac is present for
// a layer with value statistics in some profile, null where it has none.
type TimelineLayer struct {
	Name                      string     `json:"name"`
	Units                     []*int     `json:"units"`
	DeadFrac                  []*float64 `json:"dead_frac"`
	RareFrac                  []*float64 `json:"rare_frac"`
	MeanActivationProbability []*float64 `json:"mean_activation_probability"`
	DormantFrac               []*float64 `json:"dormant_frac,omitempty"`
}

// NewTimeline lines up profiles (checkpoints, in order) under their labels.
func NewTimeline(ps []*profiler.Profile, labels []string) (*Timeline, error) {
	if len(ps) != len(labels) {
		return nil, fmt.Errorf("%d profiles and %d labels", len(ps), len(labels))
	}
	n := len(ps)
	t := &Timeline{Labels: slices.Clone(labels), Model: TimelineSeries{
		DeadFrac: make([]float64, n), RareFrac: make([]float64, n), MeanActivationProbability: make([]float64, n)}}
	at := map[string]int{}
	for _, p := range ps {
		for i := range p.Layers {
			if p.Layers[i].Stats != nil {
				t.Model.DormantFrac = make([]*float64, n)
			}
		}
	}
	for k, p := range ps {
		var units, dead, rare, statUnits, dormant int
		var rateSum float64
		for i := range p.Layers {
			l := &p.Layers[i]
			j, ok := at[l.Name]
			if !ok {
				j = len(t.Layers)
				at[l.Name] = j
				t.Layers = append(t.Layers, TimelineLayer{Name: l.Name, Units: make([]*int, n), DeadFrac: make([]*float64, n),
					RareFrac: make([]*float64, n), MeanActivationProbability: make([]*float64, n)})
			}
			tl := &t.Layers[j]
			u := l.Units
			df, rf, mp := frac(len(l.Dead), l.Units), frac(len(l.Rare), l.Units), l.MeanActivationProbability
			tl.Units[k], tl.DeadFrac[k], tl.RareFrac[k], tl.MeanActivationProbability[k] = &u, &df, &rf, &mp
			if l.Stats != nil {
				if tl.DormantFrac == nil {
					tl.DormantFrac = make([]*float64, n)
				}
				f := frac(len(l.Stats.Dormant), l.Units)
				tl.DormantFrac[k] = &f
				statUnits += l.Units
				dormant += len(l.Stats.Dormant)
			}
			units += l.Units
			dead += len(l.Dead)
			rare += len(l.Rare)
			rateSum += l.MeanActivationProbability * float64(l.Units)
		}
		t.Model.DeadFrac[k] = frac(dead, units)
		t.Model.RareFrac[k] = frac(rare, units)
		if t.Model.DormantFrac != nil && statUnits > 0 {
			f := frac(dormant, statUnits)
			t.Model.DormantFrac[k] = &f
		}
		if units > 0 {
			t.Model.MeanActivationProbability[k] = rateSum / float64(units)
		}
	}
	return t, nil
}

// WriteTimelineJSON writes t as indented JSON.
func WriteTimelineJSON(w io.Writer, t *Timeline) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(t)
}

// span is the first and last checkpoints at which a layer is present
// (-1, -1 when none).
func (l *TimelineLayer) span() (first, last int) {
	first, last = -1, -1
	for k, u := range l.Units {
		if u != nil {
			if first < 0 {
				first = k
			}
			last = k
		}
	}
	return first, last
}

// timelinePageLayer is a layer as the page's script reads it: the series
// and the index's sort keys.
type timelinePageLayer struct {
	TimelineLayer
	UnitsLast  int     `json:"units_last"`
	DeadFirst  float64 `json:"dead_first"`
	DeadLast   float64 `json:"dead_last"`
	DeadChange float64 `json:"dead_change"`
	RareLast   float64 `json:"rare_last"`
	// DormantLast: the last checkpoint's dormant fraction that has one.
	DormantLast *float64 `json:"dormant_last,omitempty"`
	PFirst      float64  `json:"p_first"`
	PLast       float64  `json:"p_last"`
}

// WriteTimelineHTML writes t as one self-contained page in the report's
// style: the model's fractions and Pr[y>0] by checkpoint (inline SVG), an
// index of the layers that sorts and filters, layers whose dead fraction
// grew first, and each layer's series, drawn by the script when it is
// opened. The output depends only on t.
func WriteTimelineHTML(w io.Writer, t *Timeline) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	writeHead(bw, "actprof timeline")
	n := len(t.Labels)
	fmt.Fprintf(bw, "<header>\n<h1>actprof timeline</h1>\n<p class=\"meta\">%d checkpoints, in the order given: ", n)
	for k, lab := range t.Labels {
		if k > 0 {
			bw.WriteString(" · ")
		}
		fmt.Fprintf(bw, "<b>%s</b>", esc(lab))
	}
	bw.WriteString("</p>\n</header>\n")

	page := make([]timelinePageLayer, len(t.Layers))
	grew := 0
	for i := range t.Layers {
		l := &t.Layers[i]
		first, last := l.span()
		pl := timelinePageLayer{TimelineLayer: *l}
		pl.Name = SafeName(l.Name)
		if first >= 0 {
			pl.UnitsLast = *l.Units[last]
			pl.DeadFirst, pl.DeadLast = *l.DeadFrac[first], *l.DeadFrac[last]
			pl.DeadChange = pl.DeadLast - pl.DeadFirst
			pl.RareLast = *l.RareFrac[last]
			pl.PFirst, pl.PLast = *l.MeanActivationProbability[first], *l.MeanActivationProbability[last]
		}
		for k := len(l.DormantFrac) - 1; k >= 0; k-- {
			if l.DormantFrac[k] != nil {
				pl.DormantLast = l.DormantFrac[k]
				break
			}
		}
		if pl.DeadChange > 0 {
			grew++
		}
		page[i] = pl
	}
	bw.WriteString("<section id=\"summary\">\n")
	if grew > 0 {
		fmt.Fprintf(bw, "<p class=\"alerts\">Alerts: in %d layers the dead fraction grew from the first checkpoint to the last. They head the index below.</p>\n", grew)
	} else {
		bw.WriteString("<p class=\"ok\">No layer's dead fraction grew from the first checkpoint to the last.</p>\n")
	}
	bw.WriteString("</section>\n<section id=\"depth\">\n<h2>The model by checkpoint</h2>\n")
	tick := func(i int) string { return t.Labels[i] }
	top := 0.0
	for k := 0; k < n; k++ {
		top = max(top, t.Model.DeadFrac[k], t.Model.RareFrac[k])
	}
	mf := svgPlot{ID: "mfrac", Title: "Fractions of all units: dead and rare", XLabel: "checkpoint", N: n, YMax: niceCeil(top), XTick: tick,
		Series: []svgSeries{{Name: "dead", Class: "dead", V: t.Model.DeadFrac}, {Name: "rare", Class: "rare", V: t.Model.RareFrac}}}
	if d := t.Model.DormantFrac; d != nil {
		v := make([]float64, n)
		for k := range v {
			v[k] = math.NaN()
			if d[k] != nil {
				v[k] = *d[k]
				top = max(top, v[k])
			}
		}
		mf.Title, mf.YMax = "Fractions of all units: dead, rare and dormant (of the units with value statistics)", niceCeil(top)
		mf.Series = append(mf.Series, svgSeries{Name: "dormant", Class: "dormant", V: v})
	}
	mf.write(bw)
	svgPlot{ID: "mprob", Title: "Pr[y>0]: the mean over all units of the firing rate", XLabel: "checkpoint", N: n, YMax: 1, XTick: tick,
		Series: []svgSeries{{Name: "Pr[y>0]", Class: "s0", V: t.Model.MeanActivationProbability}}}.write(bw)
	bw.WriteString("</section>\n")

	bw.WriteString("<section id=\"index\">\n<h2>Layers</h2>\n<div class=\"controls\"><input id=\"filter\" type=\"search\" placeholder=\"filter by name\" aria-label=\"filter layers by name\">" +
		" <label><input type=\"checkbox\" id=\"alertsonly\"> alerts only</label> <span id=\"shown\"></span>" +
		" <span class=\"note\">First and last: the first and last checkpoints that have the layer. Click a column to sort, a layer to open it.</span></div>\n")
	bw.WriteString("<table id=\"layers\">\n<thead><tr><th data-k=\"i\">#</th><th data-k=\"name\">layer</th><th data-k=\"units_last\">units</th>" +
		"<th data-k=\"dead_first\">dead first</th><th data-k=\"dead_last\">dead last</th><th data-k=\"dead_change\">change</th>" +
		"<th data-k=\"rare_last\">rare last</th><th data-k=\"p_first\">Pr[y&gt;0] first</th><th data-k=\"p_last\">Pr[y&gt;0] last</th>")
	stats := t.Model.DormantFrac != nil
	if stats {
		bw.WriteString("<th data-k=\"dormant_last\">dormant last</th>")
	}
	bw.WriteString("</tr></thead>\n<tbody>\n")
	order := make([]int, len(page))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return b2i(page[b].DeadChange > 0) - b2i(page[a].DeadChange > 0) })
	for _, i := range order {
		pl := &page[i]
		cls, badge := "", ""
		if pl.DeadChange > 0 {
			cls, badge = " class=\"alert\"", " <span class=\"badge dead\">more dead</span>"
		}
		var dorm string
		switch {
		case stats && pl.DormantLast != nil:
			dorm = "<td>" + pctf(*pl.DormantLast) + "</td>"
		case stats:
			dorm = "<td>&ndash;</td>"
		}
		fmt.Fprintf(bw, "<tr id=\"r%d\"%s><td>%d</td><td><a href=\"#L%d\" class=\"name\">%s</a>%s</td><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%.4f</td><td>%.4f</td>%s</tr>\n",
			i, cls, i, i, esc(pl.Name), badge, pl.UnitsLast, pctf(pl.DeadFirst), pctf(pl.DeadLast), signedPct(pl.DeadChange), pctf(pl.RareLast), pl.PFirst, pl.PLast, dorm)
	}
	bw.WriteString("</tbody>\n</table>\n</section>\n<section id=\"detail\" hidden></section>\n")

	head, err := json.Marshal(map[string]any{"kind": "timeline", "labels": t.Labels})
	if err != nil {
		return err
	}
	model, err := json.Marshal(t.Model)
	if err != nil {
		return err
	}
	data := []byte(`{"head":`)
	data = append(data, head...)
	data = append(data, `,"model":`...)
	data = append(data, model...)
	data = append(data, ",\"layers\":[\n"...)
	for i := range page {
		b, err := json.Marshal(&page[i])
		if err != nil {
			return err
		}
		if i > 0 {
			data = append(data, ",\n"...)
		}
		data = append(data, b...)
	}
	data = append(data, "\n]}"...)
	writeTail(bw, data)
	return bw.Flush()
}

// pctf is a fraction as a percentage.
func pctf(f float64) string {
	switch {
	case f == 0:
		return "0%"
	case f < 0.001:
		return "&lt;0.1%"
	}
	return strconv.FormatFloat(100*f, 'f', 1, 64) + "%"
}

// signedPct is a change of fraction in percentage points, signed.
func signedPct(f float64) string {
	switch {
	case f == 0 || math.IsNaN(f):
		return "0"
	case f > 0:
		return "+" + strconv.FormatFloat(100*f, 'f', 2, 64) + " pp"
	}
	return strconv.FormatFloat(100*f, 'f', 2, 64) + " pp"
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
