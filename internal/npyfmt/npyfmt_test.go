package npyfmt_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/actprof/actprof/input"
	"github.com/actprof/actprof/internal/npyfmt"
)

// The headers parse back with the reader's parser, at version 1 and, for a
// header too long for version 1, version 2; data starts 64-byte aligned.
func TestHeaderRoundTrip(t *testing.T) {
	long := make([]int, 25000) // too long a header for version 1
	for i := range long {
		long[i] = 1
	}
	for _, shape := range [][]int{{5}, {3, 4}, {2, 3, 4, 5}, long} {
		h := npyfmt.Header("<f4", shape)
		if len(h)%64 != 0 {
			t.Fatalf("header of %d bytes", len(h))
		}
		got, err := input.ParseNpyHeader(bytes.NewReader(h))
		if err != nil {
			t.Fatalf("%v: %v", shape[:min(4, len(shape))], err)
		}
		if !slices.Equal(got.Shape, shape) || got.DataOffset != int64(len(h)) {
			t.Fatalf("shape %v offset %d", got.Shape[:min(4, len(got.Shape))], got.DataOffset)
		}
		if wantMajor := map[bool]int{true: 2, false: 1}[len(shape) > 1000]; got.Major != wantMajor {
			t.Fatalf("version %d, want %d", got.Major, wantMajor)
		}
	}
	if h := string(npyfmt.Header("|u1", []int{2, 3})); !strings.Contains(h, "'descr': '|u1'") {
		t.Fatalf("%q", h)
	}
}
