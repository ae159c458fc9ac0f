package report

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/actprof/actprof/profiler"
)

// PNGPlot is one of the report's plots as a PNG file: its file name and
// how to write it.
type PNGPlot struct {
	Name  string
	Write func(w io.Writer) error
}

// PNGPlots are the report's plots as PNG images: Pr[y>0] and the dead
// fraction by depth, and per layer the histogram of log10 firing rate
// (dead units in their own bin) and the unit strip (one cell per unit or
// per run of units, coloured by log10 rate, dead units red, 100 cells a
// row). With value statistics, also the dormant fraction by depth and per
// layer its value histogram. A layer's files are named by its depth and
// name (characters other than letters, digits, '.', '-' and '_' replaced
// by '_').
func PNGPlots(p *profiler.Profile) []PNGPlot {
	s := NewRateScale(p)
	n := len(p.Layers)
	probs, fracs := make(plotter.XYs, n), make(plotter.XYs, n)
	for i := range p.Layers {
		l := &p.Layers[i]
		probs[i] = plotter.XY{X: float64(i), Y: l.MeanActivationProbability}
		fracs[i] = plotter.XY{X: float64(i), Y: frac(len(l.Dead), l.Units)}
	}
	out := []PNGPlot{
		{"depth-activation-probability.png", func(w io.Writer) error {
			return linePNG(w, "Pr[y>0] by depth", "layer (depth)", "Pr[y>0]", probs, 1)
		}},
		{"depth-dead-fraction.png", func(w io.Writer) error {
			return linePNG(w, "Dead fraction by depth", "layer (depth)", "dead fraction", fracs, 0)
		}},
	}
	if p.Stats != nil {
		dorm := make(plotter.XYs, n)
		for i := range p.Layers {
			f := dormantFrac(&p.Layers[i])
			if math.IsNaN(f) { // a layer without statistics
				f = 0
			}
			dorm[i] = plotter.XY{X: float64(i), Y: f}
		}
		out = append(out, PNGPlot{"depth-dormant-fraction.png", func(w io.Writer) error {
			return linePNG(w, "Dormant fraction by depth", "layer (depth)", "dormant fraction", dorm, 0)
		}})
	}
	for i := range p.Layers {
		l := &p.Layers[i]
		base := fmt.Sprintf("layer-%04d-%s", i, fileSafe(l.Name))
		out = append(out,
			PNGPlot{base + "-rates.png", func(w io.Writer) error { return ratesPNG(w, l, s) }},
			PNGPlot{base + "-units.png", func(w io.Writer) error { return stripPNG(w, l, s) }})
		if l.Stats != nil {
			out = append(out, PNGPlot{base + "-values.png", func(w io.Writer) error { return valuesPNG(w, l) }})
		}
	}
	return out
}

func fileSafe(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 80 {
			break
		}
	}
	return b.String()
}

func savePNG(w io.Writer, p *plot.Plot) error {
	wt, err := p.WriterTo(9*vg.Inch, 3*vg.Inch, "png")
	if err != nil {
		return err
	}
	_, err = wt.WriteTo(w)
	return err
}

// linePNG plots values by layer on [0, ymax] (ymax 0: the nice ceiling of
// the values).
func linePNG(w io.Writer, title, x, y string, v plotter.XYs, ymax float64) error {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, x, y
	if ymax == 0 {
		top := 0.0
		for _, xy := range v {
			top = max(top, xy.Y)
		}
		ymax = niceCeil(top)
	}
	p.Y.Min, p.Y.Max = 0, ymax
	p.X.Min, p.X.Max = -0.5, math.Max(float64(len(v))-0.5, 0.5)
	var ticks []plot.Tick
	for i, step := 0, niceStep(len(v)); i < len(v); i += step {
		ticks = append(ticks, plot.Tick{Value: float64(i), Label: fmt.Sprint(i)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	if len(v) > 0 {
		line, err := plotter.NewLine(v)
		if err != nil {
			return err
		}
		line.Color = color.RGBA{31, 119, 180, 255}
		p.Add(line)
		if len(v) <= 400 {
			dots, err := plotter.NewScatter(v)
			if err != nil {
				return err
			}
			dots.Color = line.Color
			dots.Radius = vg.Points(2)
			p.Add(dots)
		}
	}
	return savePNG(w, p)
}

// ratesPNG is a layer's histogram of log10 firing rate: the dead bin at
// the left (red), the scale's bins, the always-on bin at the right.
func ratesPNG(w io.Writer, l *profiler.LayerProfile, s RateScale) error {
	lp := NewLayerPlots(l, s)
	p := plot.New()
	p.Title.Text = "Units by log10 firing rate: " + SafeName(l.Name)
	p.X.Label.Text, p.Y.Label.Text = "firing rate (dead | log10 bins | always on)", "units"
	vals := make(plotter.Values, len(lp.Hist))
	for k, c := range lp.Hist {
		vals[k] = float64(c)
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(max(1, 500/float64(len(vals)))))
	if err != nil {
		return err
	}
	bars.Color = color.RGBA{59, 111, 182, 255}
	bars.LineStyle.Width = 0
	p.Add(bars)
	dead := make(plotter.Values, len(vals))
	dead[0] = vals[0]
	db, err := plotter.NewBarChart(dead, bars.Width)
	if err != nil {
		return err
	}
	db.Color = color.RGBA{214, 39, 40, 255}
	db.LineStyle.Width = 0
	p.Add(db)
	ticks := []plot.Tick{{Value: 0, Label: "dead"}, {Value: float64(s.Bins + 1), Label: "always"}}
	for d := math.Ceil(s.Lo) + 1; d < 0; d++ {
		ticks = append(ticks, plot.Tick{Value: 1 + (d-s.Lo)/s.Width - 0.5, Label: fmt.Sprintf("1e%d", int(d))})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Min = 0
	return savePNG(w, p)
}

// stripPNG draws a layer's unit strip: 100 cells a row, 6 pixels a cell.
func stripPNG(w io.Writer, l *profiler.LayerProfile, s RateScale) error {
	lp := NewLayerPlots(l, s)
	const cols, px = 100, 6
	n := len(lp.Cells)
	rows := max(1, (n+cols-1)/cols)
	img := image.NewRGBA(image.Rect(0, 0, cols*px, rows*px))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for k, c := range lp.Cells {
		col := levelColour(s.Level(c.Mean))
		x0, y0 := (k%cols)*px, (k/cols)*px
		deadRows := 0
		if c.Dead > 0 {
			deadRows = max(1, (px-1)*c.Dead/c.Units)
		}
		for y := 0; y < px-1; y++ {
			cc := col
			if y >= px-1-deadRows {
				cc = color.RGBA{214, 39, 40, 255}
			}
			for x := 0; x < px-1; x++ {
				img.SetRGBA(x0+x, y0+y, cc)
			}
		}
	}
	return png.Encode(w, img)
}

// levelColour is the page's colour of a strip level: viridis over log10
// rate, red for dead.
func levelColour(lv byte) color.RGBA {
	if lv == 0 {
		return color.RGBA{214, 39, 40, 255}
	}
	stops := [][3]float64{{68, 1, 84}, {65, 68, 135}, {42, 120, 142}, {34, 168, 132}, {122, 209, 81}, {253, 231, 37}}
	t := float64(lv-1) / 254 * float64(len(stops)-1)
	k := min(int(t), len(stops)-2)
	f := t - float64(k)
	var c [3]uint8
	for j := range c {
		c[j] = uint8(math.Round(stops[k][j] + f*(stops[k+1][j]-stops[k][j])))
	}
	return color.RGBA{c[0], c[1], c[2], 255}
}

// valueBars splits a value histogram into its negative, zero and positive
// bars (each ValueBins long, zero outside its part), as heights
// log10(1 + count).
func valueBars(hist []uint64) (neg, zero, pos plotter.Values) {
	neg, zero, pos = make(plotter.Values, len(hist)), make(plotter.Values, len(hist)), make(plotter.Values, len(hist))
	for k, c := range hist {
		h := math.Log10(1 + float64(c))
		switch {
		case k < profiler.ValueZeroBin:
			neg[k] = h
		case k == profiler.ValueZeroBin:
			zero[k] = h
		default:
			pos[k] = h
		}
	}
	return
}

// valuesPNG is a layer's value histogram: the fixed bins by magnitude
// decade, negative values left of the zero bin, positive right, bar
// heights on a log scale of counts.
func valuesPNG(w io.Writer, l *profiler.LayerProfile) error {
	p := plot.New()
	p.Title.Text = "Values: " + SafeName(l.Name)
	p.X.Label.Text, p.Y.Label.Text = "value x (4 bins a decade of |x|; negative left, 0 centre, positive right)", "values (log scale)"
	neg, zero, pos := valueBars(l.Stats.ValueHist)
	top := 0.0
	for _, part := range []struct {
		v   plotter.Values
		col color.RGBA
	}{{neg, color.RGBA{140, 107, 177, 255}}, {zero, color.RGBA{127, 127, 127, 255}}, {pos, color.RGBA{59, 111, 182, 255}}} {
		bars, err := plotter.NewBarChart(part.v, vg.Points(3.5))
		if err != nil {
			return err
		}
		bars.Color = part.col
		bars.LineStyle.Width = 0
		p.Add(bars)
		for _, h := range part.v {
			top = max(top, h)
		}
	}
	// edge k of the magnitudes is the left edge of bar ValueZeroBin+2+k
	// (positive) and the right edge of bar ValueZeroBin-2-k (negative)
	z := float64(profiler.ValueZeroBin)
	ticks := []plot.Tick{{Value: z, Label: "0"}}
	for k := 8; k < len(profiler.ValueEdges); k += 8 { // every two decades; 1e-8 beside 0 left out
		d := k/4 - 8
		lab := "1"
		if d != 0 {
			lab = fmt.Sprintf("1e%d", d)
		}
		ticks = append(ticks, plot.Tick{Value: z + 1.5 + float64(k), Label: lab}, plot.Tick{Value: z - 1.5 - float64(k), Label: "-" + lab})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = -0.5, float64(profiler.ValueBins)-0.5
	var yt []plot.Tick
	for c := 1.0; math.Log10(1+c) <= top*1.01 || len(yt) == 0; c *= 10 {
		yt = append(yt, plot.Tick{Value: math.Log10(1 + c), Label: fmt.Sprintf("%g", c)})
	}
	p.Y.Tick.Marker = plot.ConstantTicks(yt)
	p.Y.Min, p.Y.Max = 0, math.Max(top, 0.5)*1.05
	return savePNG(w, p)
}
