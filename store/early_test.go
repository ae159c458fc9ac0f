package store

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
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
	h, _ := denseLayer(units, nobs)
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
		writeDense(t, a, level, units, nobs, rows, chunk, inOrder)
		writeDense(t, b, level, units, nobs, rows, chunk, reversed)
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
