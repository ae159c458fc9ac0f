// Package report renders a profile for people: a table with one row per
// layer, the unit lists that matter, and warnings.
package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/actprof/actprof/profiler"
)

// MaxListed bounds how many unit indices a list shows before "…".
const MaxListed = 24

// WriteTable writes the human-readable report of p.
func WriteTable(w io.Writer, p *profiler.Profile) error {
	var b strings.Builder
	fmt.Fprintf(&b, "threshold T = %g (a unit fires when x > T); rare = fires on < %g of observations\n\n", p.Threshold, p.RareBelow)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	head := "layer\tdtype\tshape\tunits\tobservations\tPr[y>0]\tdead\trare\talways-on\tNaN"
	if p.Stats != nil {
		head += "\tmean L0\tdormant\tconstant\tsaturated"
	}
	fmt.Fprintln(tw, head)
	var units, deadN int
	for _, l := range p.Layers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.4f\t%s\t%s\t%s\t%d", SafeName(l.Name), SafeName(l.DType), shapeString(l.Shape, l.UnitAxis),
			l.Units, l.Observations, l.MeanActivationProbability,
			withPct(len(l.Dead), l.Units), withPct(len(l.Rare), l.Units), withPct(len(l.AlwaysOn), l.Units), l.NaNTotal)
		if s := l.Stats; s != nil {
			sat := "-" // no range
			if s.Saturate != nil {
				sat = withPct(len(s.Saturated), l.Units)
			}
			fmt.Fprintf(tw, "\t%.4g\t%s\t%s\t%s", s.MeanL0, withPct(len(s.Dormant), l.Units), withPct(len(s.Constant), l.Units), sat)
		}
		fmt.Fprintln(tw)
		units += l.Units
		deadN += len(l.Dead)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\n%d layers, %d units, %s dead\n", len(p.Layers), units, withPct(deadN, units))
	for _, l := range p.Layers {
		for _, list := range []struct {
			what  string
			units []int
		}{{"dead", l.Dead}, {"rare", l.Rare}, {"always-on", l.AlwaysOn}, {"dormant", statsList(l.Stats, "dormant")},
			{"constant", statsList(l.Stats, "constant")}, {"saturated", statsList(l.Stats, "saturated")},
			{fmt.Sprintf("window-dead (silent on the last %d observations)", deadWindow(p)), statsList(l.Stats, "window")}} {
			if len(list.units) > 0 {
				fmt.Fprintf(&b, "  %s: %s units: %s\n", SafeName(l.Name), list.what, Ranges(list.units, MaxListed))
			}
		}
	}
	for _, l := range p.Layers {
		if l.NaNTotal > 0 {
			nanUnits := 0
			for _, c := range l.NaNCounts {
				if c > 0 {
					nanUnits++
				}
			}
			fmt.Fprintf(&b, "WARNING: %s: %d NaN activations in %d units: the model that produced them is broken (NaN never counts as firing)\n",
				SafeName(l.Name), l.NaNTotal, nanUnits)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// SafeName is a name (a layer's, from a file) as it may be printed to a
// terminal: as it is when every rune is printable (strconv.IsPrint:
// letters, marks, numbers, punctuation, symbols and the ASCII space), else
// quoted by strconv.Quote, the %q that error lines name layers with. A
// newline, tab, ESC or other C0 or C1 control, a format character such as
// U+202E, or a byte that is not UTF-8 is then an escape (\n, \x1b, \u009b),
// so it can neither break the table's rows and columns nor reach the
// terminal. A name that is empty or starts with a quote is quoted too, so a
// quoted name is never mistaken for a plain one.
func SafeName(s string) string {
	if s == "" || s[0] == '"' {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// shapeString shows the shape with the unit axis marked, e.g. [64 (512) 7 7].
func shapeString(shape []int, axis int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.Itoa(d)
		if i == axis {
			parts[i] = "(" + parts[i] + ")"
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func withPct(n, of int) string {
	if n == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%.1f%%)", n, 100*float64(n)/float64(of))
}

// Ranges writes ascending indices compactly, "3, 7-9, 12", showing at most
// max items and then "… (N in all)". It builds only the items it shows, so a
// list of millions of units costs no more than a short one.
func Ranges(idx []int, max int) string {
	var b strings.Builder
	items := 0
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if items == max {
			return b.String() + fmt.Sprintf(", … (%d in all)", len(idx))
		}
		if items > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(idx[i]))
		if j > i {
			b.WriteString("-" + strconv.Itoa(idx[j]))
		}
		items++
		i = j + 1
	}
	return b.String()
}

// statsList is one of a layer's statistics lists (nil without them).
func statsList(s *profiler.LayerStats, which string) []int {
	if s == nil {
		return nil
	}
	switch which {
	case "dormant":
		return s.Dormant
	case "constant":
		return s.Constant
	case "saturated":
		return s.Saturated
	}
	return s.WindowDead
}

func deadWindow(p *profiler.Profile) uint64 {
	if p.Stats == nil {
		return 0
	}
	return p.Stats.DeadWindow
}
