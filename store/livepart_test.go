package store_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/profiler/backendtest"
	"github.com/actprof/actprof/store"
)

// The pattern stores of the ranks of a distributed live run, merged,
// answer as the store of one process that added rank 0's batches, then
// rank 1's: the same blocks at the same observations and the same bits,
// and rewritten at level best, the same bytes. Rank 1's part starts in
// the middle of a block and holds more observations than are written at
// once (its chunk 0 is shortened to keep its blocks where one process's
// are); a layer only rank 0 saw is in the run, not in rank 1's part.
func TestLivePartStoresMergeToOneProcess(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	dt := profiler.Float32
	type batch struct {
		layer string
		shape []int
		data  []byte
	}
	gen := func(layer string, shape ...int) batch {
		n := 1
		for _, d := range shape {
			n *= d
		}
		return batch{layer, shape, backendtest.Gen(rng, dt, n, 0.2)}
	}
	ranks := [][]batch{
		{gen("a", 70000, 1), gen("m", 3, 4, 5, 5), gen("only0", 9, 70)},
		{gen("a", 600000, 1), gen("m", 2, 4, 5, 5)},
	}
	dir := t.TempDir()
	opt := profiler.LiveOptions{Backend: cpu.New(), Patterns: true, PatternDir: dir}
	newLive := func() *profiler.Live {
		lv, err := profiler.NewLive(opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(lv.Finish)
		return lv
	}
	one := newLive()
	var lives []*profiler.Live
	var infos [][]profiler.LiveLayerInfo
	for _, bs := range ranks {
		lv := newLive()
		for _, b := range bs {
			for _, l := range []*profiler.Live{one, lv} {
				if err := l.Add(b.layer, dt, b.shape, nil, b.data); err != nil {
					t.Fatal(err)
				}
			}
		}
		li, err := lv.LayerInfos()
		if err != nil {
			t.Fatal(err)
		}
		lives, infos = append(lives, lv), append(infos, li)
	}
	var parts []string
	for r, lv := range lives {
		p, err := lv.Part(r, "run-7", infos)
		if err != nil {
			t.Fatal(err)
		}
		plans, rows, err := lv.PartPlans(r, infos)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "part-"+string(rune('0'+r))+".actbits")
		w, err := store.Create(path, store.NewPartHeader(plans, p.Threshold, rows, p.Shard), "fastest")
		if err != nil {
			t.Fatal(err)
		}
		if err := lv.WritePartPatterns(w, p.Shard.Layers); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, path)
	}
	plans, err := one.Plans()
	if err != nil {
		t.Fatal(err)
	}
	onePath := filepath.Join(dir, "one.actbits")
	w, err := store.Create(onePath, store.NewHeader(plans, 0), "fastest")
	if err != nil {
		t.Fatal(err)
	}
	if err := one.WritePatterns(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// rank 1's part of a: observations [70000, 670000), in the blocks of
	// one process's store that hold them
	if l, err := openStore(t, parts[1]).Layer("a"); err != nil {
		t.Fatal(err)
	} else if b := int64(store.BlockObs(1)); int64(l.Blocks()) != (670000+b-1)/b-70000/b {
		t.Fatalf("rank 1's part of layer a has %d blocks, want %d", l.Blocks(), (670000+b-1)/b-70000/b)
	}
	merged := filepath.Join(dir, "merged.actbits")
	if _, err := store.Merge(context.Background(), merged, []string{parts[1], parts[0]}, store.MergeOptions{}); err != nil {
		t.Fatal(err)
	}
	rm, ro := openStore(t, merged), openStore(t, onePath)
	for _, info := range ro.Header.Layers {
		lm, err1 := rm.Layer(info.Name)
		lo, err2 := ro.Layer(info.Name)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if lm.Blocks() != lo.Blocks() {
			t.Fatalf("layer %s: %d blocks merged, %d in one process's store", info.Name, lm.Blocks(), lo.Blocks())
		}
		for o := int64(0); o < info.Observations; o += 1 + o/7 {
			bm, _ := lm.BlockOf(o)
			bo, _ := lo.BlockOf(o)
			fm, err1 := lm.Fired(o)
			fo, err2 := lo.Fired(o)
			if bm != bo || err1 != nil || err2 != nil || !slices.Equal(fm, fo) {
				t.Fatalf("layer %s observation %d: merged block %d fired %v (%v), one process's block %d fired %v (%v)", info.Name, o, bm, fm, err1, bo, fo, err2)
			}
		}
	}
	var best [2][]byte
	for k, r := range []*store.Reader{rm, ro} {
		out := filepath.Join(dir, "best.actbits")
		if err := store.Rewrite(context.Background(), r, out, store.RewriteOptions{Level: "best"}); err != nil {
			t.Fatal(err)
		}
		best[k], _ = os.ReadFile(out)
	}
	if len(best[0]) == 0 || !bytes.Equal(best[0], best[1]) {
		t.Fatalf("the merged store at level best (%d bytes) is not one process's (%d bytes)", len(best[0]), len(best[1]))
	}
}

func openStore(t *testing.T, path string) *store.Reader {
	t.Helper()
	r, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
