package main

import (
	"slices"
	"testing"
)

func TestParseDevice(t *testing.T) {
	for _, c := range []struct {
		in       string
		kind     string
		ordinals []int
	}{
		{"auto", "auto", []int{0}}, {"cpu", "cpu", []int{0}}, {"cuda", "cuda", []int{0}}, {"cuda:3", "cuda", []int{3}},
		{"cuda:0,2,1", "cuda", []int{0, 2, 1}}, {"cuda:all", "cuda", nil},
	} {
		kind, ords, err := parseDevice(c.in)
		if err != nil || kind != c.kind || !slices.Equal(ords, c.ordinals) || (ords == nil) != (c.ordinals == nil) {
			t.Errorf("%q: %q %v %v, want %q %v", c.in, kind, ords, err, c.kind, c.ordinals)
		}
	}
	for _, bad := range []string{"gpu", "cuda:", "cuda:-1", "cuda:0,0", "cuda:1,x", "cuda:all,1", "CPU"} {
		if _, _, err := parseDevice(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
