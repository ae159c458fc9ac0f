package report

import (
	"bufio"
	"encoding/csv"
	"io"
	"strconv"

	"github.com/actprof/actprof/profiler"
)

// UnitColumns are the columns of the per-unit exports (WriteCSV's header,
// WriteParquet's schema), one row per unit of every layer: rate is count /
// observations; flags is dead, rare, always-on or empty.
var UnitColumns = []string{"layer", "unit", "count", "observations", "rate", "nan_count", "flags"}

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
	flags        string
}

// eachUnit calls fn with every unit of every layer in order, reusing one
// row: memory does not grow with the units.
func eachUnit(p *profiler.Profile, fn func(*unitRow) error) error {
	var r unitRow
	for i := range p.Layers {
		l := &p.Layers[i]
		flags := make([]string, l.Units)
		for _, f := range []struct {
			name  string
			units []int
		}{{"dead", l.Dead}, {"rare", l.Rare}, {"always-on", l.AlwaysOn}} {
			for _, u := range f.units {
				if u >= 0 && u < l.Units {
					flags[u] = f.name
				}
			}
		}
		r.layer, r.observations = l.Name, l.Observations
		for u := 0; u < l.Units && u < len(l.Counts); u++ {
			r.unit, r.count = u, l.Counts[u]
			r.rate = float64(l.Counts[u]) / float64(l.Observations)
			r.nanCount = 0
			if u < len(l.NaNCounts) {
				r.nanCount = l.NaNCounts[u]
			}
			r.flags = flags[u]
			if err := fn(&r); err != nil {
				return err
			}
		}
	}
	return nil
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
		rec[5], rec[6] = strconv.FormatUint(r.nanCount, 10), r.flags
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
