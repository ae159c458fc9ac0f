package report

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/actprof/actprof/profiler"
)

// A Rule is one limit of a check: Metric must stay on the right side of
// Limit for every layer whose name matches Glob (all layers when empty).
type Rule struct {
	Metric Metric
	Glob   string
	Limit  float64
}

// Metric is what a rule limits.
type Metric int

// Metrics.
const (
	MaxDeadFrac              Metric = iota // dead units / units <= limit
	MaxDead                                // dead units <= limit
	MaxRareFrac                            // rare units / units <= limit
	MinActivationProbability               // mean Pr[x > T] >= limit
	MaxNewDead                             // units dead now that fired in the baseline <= limit
	MaxDormantFrac                         // dormant units / units <= limit (value statistics)
	MaxSaturatedFrac                       // saturated units / units <= limit (value statistics, a saturation range)
	MaxConstantFrac                        // constant units / units <= limit (value statistics)
)

var metricFlags = [...]string{"max-dead-frac", "max-dead", "max-rare-frac", "min-activation-probability", "max-new-dead",
	"max-dormant-frac", "max-saturated-frac", "max-constant-frac"}

// needsStats reports whether the metric reads the value statistics.
func (m Metric) needsStats() bool { return m >= MaxDormantFrac }

// Flag is the metric's command-line name.
func (m Metric) Flag() string { return metricFlags[m] }

// ParseRule reads a rule's flag value: LIMIT for every layer, or
// GLOB=LIMIT for the layers whose name matches GLOB (path.Match syntax).
func ParseRule(m Metric, v string) (Rule, error) {
	glob, lim := "", v
	if i := strings.LastIndex(v, "="); i >= 0 {
		glob, lim = v[:i], v[i+1:]
		if glob == "" {
			return Rule{}, fmt.Errorf("--%s %q: empty layer pattern before '='", m.Flag(), v)
		}
		if _, err := path.Match(glob, ""); err != nil {
			return Rule{}, fmt.Errorf("--%s %q: bad layer pattern %q", m.Flag(), v, glob)
		}
	}
	f, err := strconv.ParseFloat(lim, 64)
	if err != nil || f != f || f < 0 {
		return Rule{}, fmt.Errorf("--%s %q: want LIMIT or LAYER_GLOB=LIMIT, LIMIT a number >= 0", m.Flag(), v)
	}
	switch m {
	case MaxDeadFrac, MaxRareFrac, MinActivationProbability, MaxDormantFrac, MaxSaturatedFrac, MaxConstantFrac:
		if f > 1 {
			return Rule{}, fmt.Errorf("--%s %q: a fraction, in [0, 1]", m.Flag(), v)
		}
	case MaxDead, MaxNewDead:
		if f != float64(int64(f)) {
			return Rule{}, fmt.Errorf("--%s %q: a whole number of units", m.Flag(), v)
		}
	}
	return Rule{Metric: m, Glob: glob, Limit: f}, nil
}

// A Violation is a rule a layer breaks.
type Violation struct {
	Layer string  `json:"layer"`
	Rule  string  `json:"rule"`
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
}

func (v Violation) String() string {
	cmp := ">"
	if v.Rule == MinActivationProbability.Flag() {
		cmp = "<"
	}
	return fmt.Sprintf("layer %s: %s %s %s %s", SafeName(v.Layer), v.Rule, fmtValue(v.Value), cmp, fmtValue(v.Limit))
}

func fmtValue(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }

// ParseLayerGlob checks a --layer pattern (path.Match syntax).
func ParseLayerGlob(g string) error {
	if g == "" {
		return fmt.Errorf("--layer: empty layer pattern")
	}
	if _, err := path.Match(g, ""); err != nil {
		return fmt.Errorf("--layer %q: bad layer pattern", g)
	}
	return nil
}

// Check applies rules to p's layers (MaxNewDead against baseline, which
// must then be given and hold the same layers with the same units). When
// layers (path.Match patterns) are given, only the layers whose name
// matches one of them are checked, and a rule's own pattern narrows that
// selection further. It returns the violations in layer order, then rule
// order, and the number of (layer, rule) pairs checked. A pattern, of
// layers or of a rule, that matches no layer (of the selection) is an
// error: a misspelt pattern must not pass silently.
func Check(p, baseline *profiler.Profile, rules []Rule, layers []string) ([]Violation, int, error) {
	for _, g := range layers {
		if err := ParseLayerGlob(g); err != nil {
			return nil, 0, err
		}
	}
	selected := make([]bool, len(p.Layers))
	for i := range p.Layers {
		selected[i] = len(layers) == 0
	}
	for _, g := range layers {
		hit := false
		for i := range p.Layers {
			if ok, _ := path.Match(g, p.Layers[i].Name); ok {
				selected[i], hit = true, true
			}
		}
		if !hit {
			return nil, 0, fmt.Errorf("--layer %s: the pattern matches no layer", g)
		}
	}
	var base map[string]*profiler.LayerProfile
	for _, r := range rules {
		if r.Metric == MaxNewDead && baseline == nil {
			return nil, 0, fmt.Errorf("--%s needs --baseline", r.Metric.Flag())
		}
		if r.Metric.needsStats() && p.Stats == nil {
			return nil, 0, fmt.Errorf("--%s: the profile has no value statistics (profile with --stats)", r.Metric.Flag())
		}
	}
	if baseline != nil {
		base = map[string]*profiler.LayerProfile{}
		for i := range baseline.Layers {
			base[baseline.Layers[i].Name] = &baseline.Layers[i]
		}
	}
	matched := make([]bool, len(rules))
	var out []Violation
	checked := 0
	for i := range p.Layers {
		if !selected[i] {
			continue
		}
		l := &p.Layers[i]
		for k, r := range rules {
			if r.Glob != "" {
				if ok, _ := path.Match(r.Glob, l.Name); !ok {
					continue
				}
			}
			matched[k] = true
			checked++
			var v float64
			switch r.Metric {
			case MaxDeadFrac:
				v = float64(len(l.Dead)) / float64(l.Units)
			case MaxDead:
				v = float64(len(l.Dead))
			case MaxRareFrac:
				v = float64(len(l.Rare)) / float64(l.Units)
			case MinActivationProbability:
				v = l.MeanActivationProbability
			case MaxNewDead:
				b, ok := base[l.Name]
				if !ok {
					return nil, 0, fmt.Errorf("layer %s is not in the baseline", SafeName(l.Name))
				}
				if b.Units != l.Units {
					return nil, 0, fmt.Errorf("layer %s: %d units, %d in the baseline", SafeName(l.Name), l.Units, b.Units)
				}
				v = float64(len(died(b, l)))
			case MaxDormantFrac, MaxConstantFrac, MaxSaturatedFrac:
				if l.Stats == nil {
					return nil, 0, fmt.Errorf("layer %s has no value statistics", SafeName(l.Name))
				}
				switch r.Metric {
				case MaxDormantFrac:
					v = float64(len(l.Stats.Dormant)) / float64(l.Units)
				case MaxConstantFrac:
					v = float64(len(l.Stats.Constant)) / float64(l.Units)
				default:
					if l.Stats.Saturate == nil {
						return nil, 0, fmt.Errorf("--%s: layer %s has no saturation counts (profile with --saturate, or scope the rule with LAYER_GLOB=LIMIT)", r.Metric.Flag(), SafeName(l.Name))
					}
					v = float64(len(l.Stats.Saturated)) / float64(l.Units)
				}
			}
			broken := v > r.Limit
			if r.Metric == MinActivationProbability {
				broken = v < r.Limit
			}
			if broken {
				out = append(out, Violation{Layer: l.Name, Rule: r.Metric.Flag(), Value: v, Limit: r.Limit})
			}
		}
	}
	for k, r := range rules {
		if !matched[k] && r.Glob != "" {
			if len(layers) > 0 {
				return nil, 0, fmt.Errorf("--%s %s=%s: the pattern matches no layer selected by --layer", r.Metric.Flag(), r.Glob, fmtValue(r.Limit))
			}
			return nil, 0, fmt.Errorf("--%s %s=%s: the pattern matches no layer", r.Metric.Flag(), r.Glob, fmtValue(r.Limit))
		}
	}
	return out, checked, nil
}

// died lists the units dead in now that fired in before.
func died(before, now *profiler.LayerProfile) []int {
	var out []int
	for _, u := range now.Dead {
		if u < len(before.Counts) && before.Counts[u] > 0 {
			out = append(out, u)
		}
	}
	return out
}
