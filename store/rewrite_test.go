package store_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/actprof/actprof/store"
)

// TestRewrite: a store rewritten at another level is byte for byte the
// store that profiling at that level writes, from every level to every
// other (the layers of TestChunkIndependence, with positions per sample
// above a block); rewriting a store onto its own path
// works; a cancelled context stops it with no file left.
func TestRewrite(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	layers := []layerData{
		{"dense", []int{6000, 130}, sparse(rng, 6000*130, 130, 1)},
		{"conv", []int{700, 40, 6, 6}, sparse(rng, 700*40*36, 40, 36)},
		{"prime", []int{2, 2048, 1, 1031}, sparse(rng, 2*2048*1031, 2048, 1031)},
	}
	dir := t.TempDir()
	levels := []string{"fastest", "best"}
	direct := map[string][]byte{}
	for _, lv := range levels {
		p := filepath.Join(dir, "direct-"+lv+".actbits")
		write(t, p, layers, 1<<20, lv)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		direct[lv] = b
	}
	for _, from := range levels {
		r, err := store.Open(filepath.Join(dir, "direct-"+from+".actbits"))
		if err != nil {
			t.Fatal(err)
		}
		for _, to := range levels {
			var last, all int64
			p := filepath.Join(dir, from+"-"+to+".actbits")
			if err := store.Rewrite(context.Background(), r, p, store.RewriteOptions{Level: to, Progress: func(d, t int64) { last, all = d, t }}); err != nil {
				t.Fatalf("%s -> %s: %v", from, to, err)
			}
			if last != all || all == 0 {
				t.Errorf("%s -> %s: progress ended at %d of %d bytes", from, to, last, all)
			}
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, direct[to]) {
				t.Errorf("%s rewritten at %s: %d bytes, not the %d bytes profiling at %s writes", from, to, len(got), len(direct[to]), to)
			}
			if from != to {
				check(t, p, layers) // every observation's bits against the oracle
			}
		}
		r.Close()
	}

	// onto its own path
	p := filepath.Join(dir, "self.actbits")
	if err := os.WriteFile(p, direct["fastest"], 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := store.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Rewrite(context.Background(), r, p, store.RewriteOptions{Level: "best"}); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if got, _ := os.ReadFile(p); !bytes.Equal(got, direct["best"]) {
		t.Error("a store rewritten onto its own path differs")
	}

	// cancelled: an error, and neither the file nor a temporary one left
	r, err = store.Open(filepath.Join(dir, "direct-fastest.actbits"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sub := filepath.Join(dir, "cancel")
	os.Mkdir(sub, 0o755)
	if err := store.Rewrite(ctx, r, filepath.Join(sub, "c.actbits"), store.RewriteOptions{Level: "best"}); err == nil {
		t.Error("a cancelled rewrite succeeded")
	}
	if ents, _ := os.ReadDir(sub); len(ents) != 0 {
		t.Errorf("a cancelled rewrite left %v", ents)
	}
}
