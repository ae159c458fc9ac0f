package report

import (
	"io"
	"math"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/actprof/actprof/profiler"
)

// parquetRow is the Parquet schema of the per-unit export: UnitColumns, in
// order. Counts are unsigned 64-bit integers (pandas: uint64), the layer
// name and flags dictionary-encoded strings, the value statistics optional
// doubles (null where the CSV cell is empty).
type parquetRow struct {
	Layer        string   `parquet:"layer,dict"`
	Unit         int64    `parquet:"unit"`
	Count        uint64   `parquet:"count"`
	Observations uint64   `parquet:"observations"`
	Rate         float64  `parquet:"rate"`
	NaNCount     uint64   `parquet:"nan_count"`
	Mean         *float64 `parquet:"mean,optional"`
	MeanAbs      *float64 `parquet:"mean_abs,optional"`
	Min          *float64 `parquet:"min,optional"`
	Max          *float64 `parquet:"max,optional"`
	Flags        string   `parquet:"flags,dict"`
}

// optional is x, or nil (null) for NaN or without value statistics.
func optional(has bool, x float64) *float64 {
	if !has || math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

// parquetBatch is how many rows are handed to the writer at a time.
const parquetBatch = 4096

// WriteParquet writes the rows WriteCSV writes, with the same columns, as
// one Parquet file (zstd; pandas: pd.read_parquet). Rows are handed to the
// writer in batches; the writer holds a row group (at most 1<<20 rows) in
// memory before writing it.
func WriteParquet(w io.Writer, p *profiler.Profile) error {
	pw := parquet.NewGenericWriter[parquetRow](w, parquet.Compression(&zstd.Codec{}), parquet.MaxRowsPerRowGroup(1<<20))
	batch := make([]parquetRow, 0, parquetBatch)
	flush := func() error {
		_, err := pw.Write(batch)
		batch = batch[:0]
		return err
	}
	err := eachUnit(p, func(r *unitRow) error {
		batch = append(batch, parquetRow{Layer: r.layer, Unit: int64(r.unit), Count: r.count, Observations: r.observations,
			Rate: r.rate, NaNCount: r.nanCount, Mean: optional(r.hasStats, r.mean), MeanAbs: optional(r.hasStats, r.meanAbs),
			Min: optional(r.hasStats, r.min), Max: optional(r.hasStats, r.max), Flags: r.flags})
		if len(batch) == parquetBatch {
			return flush()
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	if err != nil {
		return err
	}
	return pw.Close()
}
