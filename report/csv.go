package report

import (
	"bufio"
	"encoding/csv"
	"io"
	"math"
	"strconv"

	"github.com/actprof/actprof/profiler"
)

// UnitColumns are the columns of the per-unit exports (WriteCSV's header,
// WriteParquet's schema), one row per unit of every layer: rate is count /
// observations; mean, mean_abs, min and max are over the unit's finite
// values (empty, or null, without value statistics or finite values);
// flags are the unit's classes, space-separated: dead, rare or always-on,
// then constant, dormant, saturated and window-dead when the profile has
// value statistics.
var UnitColumns = []string{"layer", "unit", "count", "observations", "rate", "nan_count", "mean", "mean_abs", "min", "max", "flags"}

// CSVHeader is the first row WriteCSV writes.
var CSVHeader = UnitColumns

// unitRow is one unit's row of an export.
type unitRow struct {
	layer        string
	unit         int
	count        uint64
	observations uint64
	rate         float64
	nanCount     uint64
	// hasStats: mean, meanAbs, min and max are set (NaN: no finite value)
	hasStats                bool
	mean, meanAbs, min, max float64
	flags                   string
}

// eachUnit calls fn with every unit of every layer in order, reusing one
// row: memory does not grow with the units.
func eachUnit(p *profiler.Profile, fn func(*unitRow) error) error {
	var r unitRow
	for i := range p.Layers {
		l := &p.Layers[i]
		flags := make([]string, l.Units)
		lists := []struct {
			name  string
			units []int
		}{{"dead", l.Dead}, {"rare", l.Rare}, {"always-on", l.AlwaysOn}}
		if s := l.Stats; s != nil {
			lists = append(lists, []struct {
				name  string
				units []int
			}{{"constant", s.Constant}, {"dormant", s.Dormant}, {"saturated", s.Saturated}, {"window-dead", s.WindowDead}}...)
		}
		for _, f := range lists {
			for _, u := range f.units {
				if u >= 0 && u < l.Units {
					if flags[u] != "" {
						flags[u] += " "
					}
					flags[u] += f.name
				}
			}
		}
		r.layer, r.observations = l.Name, l.Observations
		r.hasStats = l.Stats != nil
		for u := 0; u < l.Units && u < len(l.Counts); u++ {
			r.unit, r.count = u, l.Counts[u]
			r.rate = float64(l.Counts[u]) / float64(l.Observations)
			r.nanCount = 0
			if u < len(l.NaNCounts) {
				r.nanCount = l.NaNCounts[u]
			}
			if r.hasStats {
				r.mean, r.meanAbs, r.min, r.max = l.Mean(u), l.MeanAbs(u), l.Stats.Min[u], l.Stats.Max[u]
				if math.IsNaN(r.mean) {
					r.meanAbs = math.NaN()
				}
			}
			r.flags = flags[u]
			if err := fn(&r); err != nil {
				return err
			}
		}
	}
	return nil
}

// csvFloat is a float cell: empty for NaN (no value).
func csvFloat(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return ""
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}

// WriteCSV writes one row per unit of every layer (pandas: pd.read_csv),
// streaming.
func WriteCSV(w io.Writer, p *profiler.Profile) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	cw := csv.NewWriter(bw)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	rec := make([]string, len(CSVHeader))
	obs := ""
	err := eachUnit(p, func(r *unitRow) error {
		if r.unit == 0 {
			obs = strconv.FormatUint(r.observations, 10)
		}
		rec[0], rec[1], rec[2], rec[3] = r.layer, strconv.Itoa(r.unit), strconv.FormatUint(r.count, 10), obs
		rec[4] = strconv.FormatFloat(r.rate, 'g', -1, 64)
		rec[5] = strconv.FormatUint(r.nanCount, 10)
		rec[6], rec[7], rec[8], rec[9] = "", "", "", ""
		if r.hasStats {
			rec[6], rec[7], rec[8], rec[9] = csvFloat(r.mean), csvFloat(r.meanAbs), csvFloat(r.min), csvFloat(r.max)
		}
		rec[10] = r.flags
		return cw.Write(rec)
	})
	if err != nil {
		return err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}
