package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"slices"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/actprof/actprof/profiler"
)

// readParquet reads a Parquet file with Apache Arrow's Go reader (a
// second, independent implementation of the format), column by column.
func readParquet(t *testing.T, b []byte) (names []string, types []arrow.DataType, cols [][]any) {
	t.Helper()
	tbl, err := pqarrow.ReadTable(context.Background(), bytes.NewReader(b), nil, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatalf("arrow's reader: %v", err)
	}
	defer tbl.Release()
	for i, f := range tbl.Schema().Fields() {
		names, types = append(names, f.Name), append(types, f.Type)
		var col []any
		for _, ch := range tbl.Column(i).Data().Chunks() {
			for k := 0; k < ch.Len(); k++ {
				if ch.IsNull(k) {
					col = append(col, nil)
					continue
				}
				switch a := ch.(type) {
				case *array.String:
					col = append(col, a.Value(k))
				case *array.Int64:
					col = append(col, a.Value(k))
				case *array.Uint64:
					col = append(col, a.Value(k))
				case *array.Float64:
					col = append(col, a.Value(k))
				default:
					t.Fatalf("column %s: unexpected array %T", f.Name, ch)
				}
			}
		}
		cols = append(cols, col)
	}
	return names, types, cols
}

func TestParquetMatchesProfileAndCSV(t *testing.T) {
	p := profileOf(t, "enc,fc1", 3000, []float64{0, 0.0002, 1, 0.25, 0.7}, 11)
	q := profileOf(t, "dec.fc2", 3000, []float64{0.5, 0, 0.001, 0.9}, 12)
	p.Layers = append(p.Layers, q.Layers...)
	// a layer wider than one batch of rows
	rates := make([]float64, parquetBatch+37)
	for u := range rates {
		rates[u] = float64(u%7) / 7
	}
	p.Layers = append(p.Layers, profileOf(t, "wide", 20, rates, 13).Layers...)
	var pq, cv bytes.Buffer
	if err := WriteParquet(&pq, p); err != nil {
		t.Fatal(err)
	}
	if err := WriteCSV(&cv, p); err != nil {
		t.Fatal(err)
	}
	names, types, cols := readParquet(t, pq.Bytes())
	if !slices.Equal(names, UnitColumns) {
		t.Fatalf("columns %v, want %v", names, UnitColumns)
	}
	wantTypes := []arrow.DataType{arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Uint64,
		arrow.PrimitiveTypes.Uint64, arrow.PrimitiveTypes.Float64, arrow.PrimitiveTypes.Uint64,
		arrow.PrimitiveTypes.Float64, arrow.PrimitiveTypes.Float64, arrow.PrimitiveTypes.Float64, arrow.PrimitiveTypes.Float64, arrow.BinaryTypes.String}
	for i := range wantTypes {
		if !arrow.TypeEqual(types[i], wantTypes[i]) {
			t.Errorf("column %s: type %s, want %s", names[i], types[i], wantTypes[i])
		}
	}
	// every row against the profile's counts, classified here from them
	row := 0
	for _, l := range p.Layers {
		for u, c := range l.Counts {
			flag := ""
			switch {
			case c == 0:
				flag = "dead"
			case c == l.Observations:
				flag = "always-on"
			case float64(c) < p.RareBelow*float64(l.Observations):
				flag = "rare"
			}
			want := []any{l.Name, int64(u), c, l.Observations, float64(c) / float64(l.Observations), l.NaNCounts[u], nil, nil, nil, nil, flag}
			for k := range want {
				if cols[k][row] != want[k] {
					t.Fatalf("row %d (%s unit %d) %s: %v, want %v", row, l.Name, u, names[k], cols[k][row], want[k])
				}
			}
			row++
		}
	}
	if len(cols[0]) != row {
		t.Fatalf("%d rows, want %d", len(cols[0]), row)
	}
	// the CSV holds the same rows, cell by cell
	recs, err := csv.NewReader(&cv).ReadAll()
	if err != nil || len(recs) != row+1 || !slices.Equal(recs[0], UnitColumns) {
		t.Fatalf("csv: %d records, %v", len(recs), err)
	}
	for r, rec := range recs[1:] {
		for k, cell := range rec {
			var s string
			switch v := cols[k][r].(type) {
			case float64:
				s = strconv.FormatFloat(v, 'g', -1, 64)
			case nil:
				s = ""
			default:
				s = fmt.Sprint(v)
			}
			if cell != s {
				t.Fatalf("row %d %s: csv %q, parquet %q", r, names[k], cell, s)
			}
		}
	}
}

// With value statistics: the optional columns hold the profile's means
// and extremes, null where a unit has no finite value.
func TestParquetStats(t *testing.T) {
	vals := planted(6)
	vals[3][1] = math.NaN() // unit 1 keeps finite values
	p := statsProfile(t, "tanh", vals, &profiler.Range{Lo: -1, Hi: 1})
	var pq bytes.Buffer
	if err := WriteParquet(&pq, p); err != nil {
		t.Fatal(err)
	}
	_, _, cols := readParquet(t, pq.Bytes())
	l := &p.Layers[0]
	for u := range l.Units {
		for k, want := range []float64{l.Mean(u), l.MeanAbs(u), l.Stats.Min[u], l.Stats.Max[u]} {
			if cols[6+k][u] != want {
				t.Errorf("unit %d %s: %v, want %v", u, UnitColumns[6+k], cols[6+k][u], want)
			}
		}
	}
	if cols[10][3] != "dead constant dormant" {
		t.Errorf("flags of unit 3: %q", cols[10][3])
	}
}

func TestParquetEmptyProfile(t *testing.T) {
	var b bytes.Buffer
	if err := WriteParquet(&b, &profiler.Profile{}); err != nil {
		t.Fatal(err)
	}
	names, _, cols := readParquet(t, b.Bytes())
	if !slices.Equal(names, UnitColumns) || len(cols[0]) != 0 {
		t.Fatalf("empty profile: columns %v, %d rows", names, len(cols[0]))
	}
}
