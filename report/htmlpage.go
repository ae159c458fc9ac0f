package report

import (
	"bufio"
	_ "embed"
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// The page's style and script, inlined into every report and timeline:
// the pages refer to nothing outside themselves.
var (
	//go:embed html.css
	htmlCSS string
	//go:embed html.js
	htmlJS string
)

// writeHead opens a page: doctype, title, the inline style and an empty
// icon (so that a browser asks for no favicon).
func writeHead(w *bufio.Writer, title string) {
	fmt.Fprintf(w, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"+
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"+
		"<link rel=\"icon\" href=\"data:,\">\n<title>%s</title>\n<style>\n%s</style>\n</head>\n<body>\n", esc(title), htmlCSS)
}

// writeTail writes the data block and the script and closes the page. data
// is JSON from encoding/json, which escapes <, > and & in strings, so the
// block cannot end its script element early.
func writeTail(w *bufio.Writer, data []byte) {
	w.WriteString("<div id=\"tip\" hidden></div>\n<script type=\"application/json\" id=\"data\">\n")
	w.Write(data)
	fmt.Fprintf(w, "\n</script>\n<script>\n%s</script>\n</body>\n</html>\n", htmlJS)
}

// svgSeries is one line of a plot; NaN values are gaps.
type svgSeries struct {
	Name, Class string
	V           []float64
}

// svgPlot is a plot of values at N positions (layers by depth, or
// checkpoints) on [0, YMax], drawn as inline SVG: each series one path, so
// a 10,000-layer plot is still a few elements. The script finds the
// position under the pointer from the data attributes of the svg.
type svgPlot struct {
	ID, Title, XLabel string
	N                 int
	YMax              float64
	XTick             func(i int) string
	Stems             bool // the first series as one bar a position
	Series            []svgSeries
}

// Plot geometry, in pixels.
const (
	plotW, plotH                             = 900, 190
	plotLeft, plotRight, plotTop, plotBottom = 56, 12, 24, 30
)

func (p svgPlot) write(w *bufio.Writer) {
	pw, ph := float64(plotW-plotLeft-plotRight), float64(plotH-plotTop-plotBottom)
	n := max(p.N, 1)
	x := func(i int) float64 { return plotLeft + (float64(i)+0.5)/float64(n)*pw }
	y := func(f float64) float64 { return plotTop + (1-min(max(f/p.YMax, 0), 1))*ph }
	fmt.Fprintf(w, "<svg id=\"%s\" class=\"plot\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" data-n=\"%d\" data-x0=\"%d\" data-pw=\"%s\" role=\"img\" aria-label=\"%s\">\n",
		p.ID, plotW, plotH, plotW, plotH, p.N, plotLeft, fnum(pw), esc(p.Title))
	fmt.Fprintf(w, "<text x=\"%d\" y=\"14\" class=\"title\">%s</text>\n", plotLeft, esc(p.Title))
	for k := 0; k <= 4; k++ {
		f := p.YMax * float64(k) / 4
		fmt.Fprintf(w, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/><text x=\"%d\" y=\"%.1f\" class=\"ytick\">%s</text>\n",
			plotLeft, plotW-plotRight, y(f), y(f), plotLeft-4, y(f)+4, fnum(round6(f)))
	}
	step := niceStep(p.N)
	for i := 0; i < p.N; i += step {
		fmt.Fprintf(w, "<text x=\"%.1f\" y=\"%d\" class=\"xtick\">%s</text>\n", x(i), plotH-plotBottom+14, esc(p.XTick(i)))
	}
	fmt.Fprintf(w, "<text x=\"%d\" y=\"%d\" class=\"xlabel\">%s</text>\n", plotW-plotRight, plotH-2, esc(p.XLabel))
	var d strings.Builder
	for si, s := range p.Series {
		d.Reset()
		if si == 0 && p.Stems {
			for i, f := range s.V {
				if f > 0 {
					fmt.Fprintf(&d, "M%.1f %.1fV%.1f", x(i), y(0), min(y(f), y(0)-1))
				}
			}
			sw := max(1, min(8, 0.7*pw/float64(n)))
			fmt.Fprintf(w, "<path class=\"stems %s\" stroke-width=\"%.1f\" d=\"%s\"/>\n", s.Class, sw, d.String())
			continue
		}
		pen := "M"
		for i, f := range s.V {
			if math.IsNaN(f) {
				pen = "M"
				continue
			}
			fmt.Fprintf(&d, "%s%.1f %.1f", pen, x(i), y(f))
			pen = "L"
		}
		fmt.Fprintf(w, "<path class=\"line %s\" d=\"%s\"/>\n", s.Class, d.String())
		if p.N <= 400 {
			d.Reset()
			for i, f := range s.V {
				if !math.IsNaN(f) {
					fmt.Fprintf(&d, "M%.1f %.1fh0", x(i), y(f))
				}
			}
			fmt.Fprintf(w, "<path class=\"dots %s\" d=\"%s\"/>\n", s.Class, d.String())
		}
	}
	if len(p.Series) > 1 {
		lx := plotW - plotRight
		for si := len(p.Series) - 1; si >= 0; si-- {
			s := p.Series[si]
			fmt.Fprintf(w, "<text x=\"%d\" y=\"14\" class=\"legend %s\">%s</text>\n", lx, s.Class, esc(s.Name))
			lx -= 12 + 7*len(s.Name)
		}
	}
	fmt.Fprintf(w, "<rect class=\"hover\" x=\"%d\" y=\"%d\" width=\"%s\" height=\"%s\"/>\n</svg>\n", plotLeft, plotTop, fnum(pw), fnum(ph))
}

// niceStep is a round step giving at most about 10 ticks over n positions.
func niceStep(n int) int {
	for _, s := range []int{1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000} {
		if n/s <= 10 {
			return s
		}
	}
	return max(1, n/10)
}

// niceCeil is the smallest of 0.01, 0.02, 0.05, 0.1, 0.2, 0.5 and 1 at or
// above f: the axis of a fraction.
func niceCeil(f float64) float64 {
	for _, c := range []float64{0.01, 0.02, 0.05, 0.1, 0.2, 0.5} {
		if f <= c {
			return c
		}
	}
	return 1
}

// esc makes a string (a name from a file) HTML text.
func esc(s string) string { return html.EscapeString(strings.ToValidUTF8(s, "\uFFFD")) }

// pct is n/of as a percentage, "0%" for none.
func pct(n, of int) string {
	if n == 0 || of == 0 {
		return "0%"
	}
	f := 100 * float64(n) / float64(of)
	if f < 0.1 {
		return "&lt;0.1%"
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + "%"
}

func fnum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// round6 keeps 6 significant digits (the page shows at most 4); NaN and
// infinities, which JSON cannot hold, become 0.
func round6(f float64) float64 {
	if f == 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0
	}
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 6, 64), 64)
	return v
}

// frac is n/of, 0 for an empty layer.
func frac(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}
