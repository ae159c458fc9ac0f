package store_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/actprof/actprof/store"
)

// readEverything opens the store at path and reads every layer's rows and
// counts, returning them printed, or the first error.
func readEverything(path string) (out string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
			out = "PANIC"
		}
	}()
	r, err := store.Open(path)
	if err != nil {
		return "", err
	}
	defer r.Close()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%+v\n", r.Header)
	for _, l := range r.Layers() {
		if err := l.Rows(func(first int64, n int, rows []uint64) error {
			fmt.Fprintln(&b, first, n, rows)
			return nil
		}); err != nil {
			return "", err
		}
		c, err := l.Counts()
		if err != nil {
			return "", err
		}
		fmt.Fprintln(&b, c)
	}
	return b.String(), nil
}

// TestBitFlips: every one-bit flip of a small store's magic and header, and
// a sample of those of its blocks, index and footer, makes Open or a query
// fail with an error; none reads as other patterns or panics.
func TestBitFlips(t *testing.T) {
	for _, name := range []string{"golden-best.actbits", "golden-fastest.actbits"} {
		good, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		p := filepath.Join(dir, "f.actbits")
		want, err := readEverything(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		hl := int(binary.LittleEndian.Uint32(good[8:]))
		headEnd := 16 + hl
		var bitsToFlip []int
		for i := 0; i < headEnd*8; i++ {
			bitsToFlip = append(bitsToFlip, i)
		}
		step := max(1, (len(good)-headEnd)*8/1000)
		for i := headEnd * 8; i < len(good)*8; i += step {
			bitsToFlip = append(bitsToFlip, i)
		}
		for i := len(good)*8 - 32*8; i < len(good)*8; i++ { // the footer, every bit
			bitsToFlip = append(bitsToFlip, i)
		}
		wrong, panics := 0, 0
		for _, bit := range bitsToFlip {
			b := slices.Clone(good)
			b[bit/8] ^= 1 << (bit % 8)
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := readEverything(p)
			switch {
			case got == "PANIC":
				panics++
				if panics < 4 {
					t.Errorf("%s: bit %d (byte %d): %v", name, bit, bit/8, err)
				}
			case err == nil:
				wrong++
				if wrong < 4 {
					t.Errorf("%s: bit %d (byte %d of %d) flipped reads without error (same answer: %v)", name, bit, bit/8, len(good), got == want)
				}
			}
		}
		if wrong+panics > 0 {
			t.Errorf("%s: %d of %d flips read without error, %d panicked", name, wrong, len(bitsToFlip), panics)
		}
	}
}
