package store_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/store"
)

// runPieces writes ls to w piece by piece, pieces [from, to) of the
// PieceCuts of one row; after piece stop (if in range) it takes the
// writer's checkpoint, writes the next piece too and returns the
// checkpoint (the writer suspended, as a process killed there leaves it).
func runPieces(t *testing.T, w *store.Writer, ls []profiler.Layer, level string, from, stop int) (*store.State, int) {
	t.Helper()
	plans, err := profiler.PlanLayers(ls, nil)
	if err != nil {
		t.Fatal(err)
	}
	type piece struct {
		layer    int
		rows     profiler.RowRange
		from, to int64
	}
	var pieces []piece
	for i, p := range plans {
		start := int64(0)
		for _, c := range append(store.PieceCuts(int(p.Geom.Units), p.Geom.Inner, 0, p.Geom.Outer, 1, level), p.Geom.Outer) {
			pieces = append(pieces, piece{i, profiler.RowRange{First: start, Count: c - start}, start * p.Geom.Inner, c * p.Geom.Inner})
			start = c
		}
	}
	var st *store.State
	for j := from; j < len(pieces); j++ {
		pc := pieces[j]
		rows := make([]profiler.RowRange, len(plans))
		rows[pc.layer] = pc.rows
		opt := profiler.Options{Backend: cpu.New(), Workers: 3, ChunkBytes: 64 << 10, Shard: &profiler.ShardSpec{Index: j, Count: len(pieces)},
			Rows: rows, Patterns: w.Piece(pc.layer, pc.from, pc.to)}
		if _, err := profiler.Run(context.Background(), ls, opt); err != nil {
			t.Fatalf("piece %d: %v", j, err)
		}
		if j == stop {
			if st, err = w.Checkpoint(w.Mark()); err != nil {
				t.Fatal(err)
			}
		}
		if j == stop+1 {
			w.Suspend()
			return st, j
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return nil, len(pieces)
}

// A store written in pieces is the store of one run, byte for byte; one
// checkpointed after a piece, left with more written, and resumed from
// there is too, at both levels, for layers of several blocks a sample and
// of several samples a block. A partial store whose blocks or header do
// not match its checkpoint is refused.
func TestResumePieces(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a dozen stores of 80 MB of activations")
	}
	rng := rand.New(rand.NewPCG(31, 32))
	data := []layerData{
		{"dense", []int{40000, 256}, sparse(rng, 40000*256, 256, 1)},
		{"conv", []int{6000, 128, 2, 2}, sparse(rng, 6000*128*4, 128, 4)},
		{"wide", []int{12, 1024, 600}, sparse(rng, 12*1024*600, 1024, 600)},
	}
	var ls []profiler.Layer
	for _, l := range data {
		ls = append(ls, profiler.MemoryLayer(l.name, profiler.Float32, l.shape, l.data))
	}
	plans, _ := profiler.PlanLayers(ls, nil)
	h := store.NewHeader(plans, 0)
	dir := t.TempDir()
	for _, level := range []string{"fastest", "best"} {
		whole := filepath.Join(dir, level+".actbits")
		write(t, whole, data, 1<<20, level)
		want, _ := os.ReadFile(whole)
		path := filepath.Join(dir, "pieces.actbits")
		w, err := store.Create(path, h, level)
		if err != nil {
			t.Fatal(err)
		}
		_, n := runPieces(t, w, ls, level, 0, -2)
		if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
			t.Fatalf("%s: the store in %d pieces differs from the one of one run", level, n)
		}
		os.Remove(path)
		for _, stop := range []int{0, n / 2, n - 2} {
			w, err := store.Create(path, h, level)
			if err != nil {
				t.Fatal(err)
			}
			st, next := runPieces(t, w, ls, level, 0, stop)
			tmp, err := store.TempPath(path, st)
			if err != nil {
				t.Fatal(err)
			}
			// a checkpoint of another threshold, or of another level: refused
			other := store.NewHeader(plans, 0.5)
			if _, err := store.Resume(path, other, level, st); !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("%s: a partial store of another header resumed: %v", level, err)
			}
			if _, err := store.Resume(path, h, map[string]string{"fastest": "best", "best": "fastest"}[level], st); err == nil {
				t.Fatalf("%s: a partial store resumed at another level", level)
			}
			// a block changed: refused, the file kept
			b, _ := os.ReadFile(tmp)
			b[st.Offset-3] ^= 1
			os.WriteFile(tmp, b, 0o644)
			if _, err := store.Resume(path, h, level, st); !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("%s: a changed block resumed: %v", level, err)
			}
			b[st.Offset-3] ^= 1
			os.WriteFile(tmp, b, 0o644)
			w, err = store.Resume(path, h, level, st)
			if err != nil {
				t.Fatalf("%s: resume after piece %d: %v", level, stop, err)
			}
			runPieces(t, w, ls, level, next, -2)
			if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
				t.Fatalf("%s: the store resumed after piece %d of %d differs from the one of one run", level, stop, n)
			}
			if _, err := os.Stat(tmp); err == nil {
				t.Fatal("the partial store is left")
			}
			os.Remove(path)
		}
	}
}
