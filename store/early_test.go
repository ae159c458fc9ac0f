package store

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/actprof/actprof/profiler"
)

// TestEarlyChunks: chunks written before their layer's chunk 0 (kept aside
// by the writer, then coded once chunk 0 sets the codes) give the same
// store, byte for byte, as chunks written in order, at every level.
// (profiler.Run writes chunk 0 first; other callers of Write need not.)
func TestEarlyChunks(t *testing.T) {
	const units = 100
	bo := BlockObs(units)
	nobs := 9*bo + 77
	w := words(units)
	rng := rand.New(rand.NewPCG(11, 12))
	rows := make([]uint64, nobs*w)
	for o := 0; o < nobs; o++ {
		for u := 0; u < units; u++ {
			if rng.Float64() < float64(u%10)/10 {
				rows[o*w+u/64] |= 1 << (u % 64)
			}
		}
	}
	h := Header{FormatVersion: FormatVersion, Codec: Codecs, Layers: []LayerInfo{{Name: "l", DType: "float32",
		Shape: []int{nobs, units}, UnitAxis: 1, Units: units, Observations: int64(nobs), ObsPerSample: 1}}}
	plan := profiler.Plan{Layer: profiler.Layer{Name: "l", Shape: []int{nobs, units}}, Geom: profiler.Geometry{Outer: int64(nobs), Units: units, Inner: 1}}
	write := func(path, level string, order []int) {
		wr, err := Create(path, h, level)
		if err != nil {
			t.Fatal(err)
		}
		if err := wr.BeginLayer(0, plan); err != nil {
			t.Fatal(err)
		}
		chunk := wr.ChunkObservations(0)
		for _, c := range order {
			first := c * chunk
			n := min(chunk, nobs-first)
			if err := wr.Write(0, int64(first), n, rows[first*w:(first+n)*w]); err != nil {
				t.Fatal(err)
			}
		}
		if err := wr.EndLayer(0); err != nil {
			t.Fatal(err)
		}
		if err := wr.Close(); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	for _, level := range []string{"fastest", "balanced", "better"} {
		wr, err := Create(filepath.Join(dir, "probe"), h, level)
		if err != nil {
			t.Fatal(err)
		}
		chunk := wr.ChunkObservations(0)
		wr.Abort()
		nchunks := (nobs + chunk - 1) / chunk
		if nchunks < 3 {
			t.Fatalf("level %s: %d chunks; the test needs several", level, nchunks)
		}
		var inOrder, reversed []int
		for c := 0; c < nchunks; c++ {
			inOrder = append(inOrder, c)
			reversed = append(reversed, nchunks-1-c)
		}
		a, b := filepath.Join(dir, level+"-a"), filepath.Join(dir, level+"-b")
		write(a, level, inOrder)
		write(b, level, reversed)
		da, err := os.ReadFile(a)
		if err != nil {
			t.Fatal(err)
		}
		db, err := os.ReadFile(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(da, db) {
			t.Errorf("level %s: chunks written before chunk 0 give another store", level)
		}
		r, err := Open(b)
		if err != nil {
			t.Fatal(err)
		}
		l := r.Layers()[0]
		for _, o := range []int64{0, int64(bo) + 5, int64(nobs) - 1} {
			got, err := l.Fired(o)
			if err != nil {
				t.Fatal(err)
			}
			var want []int
			for u := 0; u < units; u++ {
				if rows[int(o)*w+u/64]>>(u%64)&1 != 0 {
					want = append(want, u)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("level %s: observation %d reads %v, want %v", level, o, got, want)
			}
		}
		r.Close()
	}
}
