package report

import (
	"bufio"
	"encoding/csv"
	"io"
	"strconv"

	"github.com/actprof/actprof/profiler"
)

// CSVHeader is the first row WriteCSV writes: one row per unit follows.
// rate is count / observations; flags is dead, rare, always-on or empty.
var CSVHeader = []string{"layer", "unit", "count", "observations", "rate", "nan_count", "flags"}

// WriteCSV writes one row per unit of every layer (pandas: pd.read_csv),
// streaming: memory does not grow with the units.
func WriteCSV(w io.Writer, p *profiler.Profile) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	cw := csv.NewWriter(bw)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	row := make([]string, len(CSVHeader))
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
		obs := strconv.FormatUint(l.Observations, 10)
		for u := 0; u < l.Units && u < len(l.Counts); u++ {
			var nan uint64
			if u < len(l.NaNCounts) {
				nan = l.NaNCounts[u]
			}
			row[0], row[1], row[2], row[3] = l.Name, strconv.Itoa(u), strconv.FormatUint(l.Counts[u], 10), obs
			row[4] = strconv.FormatFloat(float64(l.Counts[u])/float64(l.Observations), 'g', -1, 64)
			row[5], row[6] = strconv.FormatUint(nan, 10), flags[u]
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}
