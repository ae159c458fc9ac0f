package tensorapi_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"gorgonia.org/tensor"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/profiler/tensorapi"
)

func TestProfileTensors(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	back := make([]float32, 64*10)
	for i := range back {
		back[i] = float32(rng.NormFloat64())
	}
	d := tensor.New(tensor.WithShape(64, 10), tensor.WithBacking(back))
	p, err := tensorapi.Profile(context.Background(), []string{"fc"}, map[string]*tensor.Dense{"fc": d},
		profiler.Options{Backend: cpu.New()})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]uint64, 10)
	for i, v := range back {
		if v > 0 {
			want[i%10]++
		}
	}
	if !slices.Equal(p.Layers[0].Counts, want) {
		t.Fatalf("counts %v want %v", p.Layers[0].Counts, want)
	}

	// A view: rows 8..40, columns 2..7 of a float64 tensor.
	back64 := make([]float64, 64*10)
	for i := range back64 {
		back64[i] = rng.NormFloat64()
	}
	d64 := tensor.New(tensor.WithShape(64, 10), tensor.WithBacking(back64))
	v, err := d64.Slice(tensor.S(8, 40), tensor.S(2, 7))
	if err != nil {
		t.Fatal(err)
	}
	l, err := tensorapi.Layer("view", v.(*tensor.Dense))
	if err != nil {
		t.Fatal(err)
	}
	p, err = profiler.Run(context.Background(), []profiler.Layer{l}, profiler.Options{Backend: cpu.New()})
	if err != nil {
		t.Fatal(err)
	}
	want = make([]uint64, 5)
	for r := 8; r < 40; r++ {
		for c := 2; c < 7; c++ {
			if back64[r*10+c] > 0 {
				want[c-2]++
			}
		}
	}
	if !slices.Equal(p.Layers[0].Counts, want) || p.Layers[0].Observations != 32 {
		t.Fatalf("view counts %v want %v", p.Layers[0].Counts, want)
	}

	ints := tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]int{1, 2, 3, 4}))
	if _, err := tensorapi.Layer("ints", ints); !errors.Is(err, profiler.ErrUnsupported) {
		t.Fatalf("int tensor: %v", err)
	}
}
