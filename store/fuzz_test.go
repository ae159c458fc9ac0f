package store_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/actprof/actprof/store"
)

// FuzzOpen: any bytes, opened and read through every query, give an error
// or a result, never a panic or a hang. Seeds: testdata/fuzz/FuzzOpen and
// the golden stores.
func FuzzOpen(f *testing.F) {
	for _, name := range []string{"golden-best.actbits", "golden-fastest.actbits"} {
		good, err := os.ReadFile(filepath.Join("testdata", name))
		if err == nil {
			f.Add(good)
			f.Add(good[:len(good)/2])
		}
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "f.actbits")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := store.Open(p)
		if err != nil {
			return
		}
		defer r.Close()
		for _, l := range r.Layers() {
			if _, err := l.Counts(); err != nil {
				continue
			}
			l.Fired(0)
			l.Fired(l.Info.Observations - 1)
			l.UnitObservations(0, 10)
		}
	})
}
