package main

import (
	"context"
	"fmt"

	"github.com/actprof/actprof/internal/synth"
	"github.com/actprof/actprof/profiler"
)

const synthAbout = `Write a synthetic dataset of post-ReLU-like activations, one .npy per layer,
streamed (any size), with planted dead units (never > 0), rare units (fire on
about --rare-rate of observations, at least once), always-on units, dormant
units (fire as others do, with values 1e-4 times theirs), constant units (0.75
on every observation) and saturated units (6, a ReLU6's cap, on about 99.5% of
observations: profile --saturate=-1:6 finds them), and DIR/synth.json naming
them. The same seed gives the same bytes.

Layers are NAME:D1xD2...: the shape of one sample (the file is [rows, D1, ...]).
fc1:512 is a dense layer of 512 units, conv1:64x8x8 a conv map of 64 channels,
attn:16x256 16 tokens of 256 units.`

func cmdSynth(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "synth", "-o DIR [flags]", synthAbout)
	dir := fs.String("o", "", "output `DIR` (created)")
	def := synth.DefaultConfig("")
	rows := fs.Int("rows", def.Rows, "samples (axis 0) per layer")
	size := sizeFlag(0)
	fs.Var(&size, "size", "make each layer about this `SIZE` (e.g. 2GiB), setting --rows")
	var layers multiFlag
	fs.Var(&layers, "layer", "a layer `NAME:D1xD2...` (repeatable; default fc1:512 fc2:256 conv3:32x6x6 fc4:64)")
	dtype := fs.String("dtype", "float32", "float32, float16 or float64")
	seed := fs.Uint64("seed", def.Seed, "random seed")
	dead := fs.Float64("dead", def.Dead, "fraction of units planted dead")
	rare := fs.Float64("rare", def.Rare, "fraction of units planted rare")
	always := fs.Float64("always-on", def.AlwaysOn, "fraction of units planted always on")
	rareRate := fs.Float64("rare-rate", def.RareRate, "firing rate of rare units")
	dormant := fs.Float64("dormant", def.Dormant, "fraction of units planted dormant")
	constant := fs.Float64("constant", def.Constant, "fraction of units planted constant")
	saturated := fs.Float64("saturated", def.Saturated, "fraction of units planted saturated")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usagef("-o DIR is required")
	}
	c := def
	c.Dir, c.Rows, c.Seed, c.Dead, c.Rare, c.AlwaysOn, c.RareRate = *dir, *rows, *seed, *dead, *rare, *always, *rareRate
	c.Dormant, c.Constant, c.Saturated = *dormant, *constant, *saturated
	switch *dtype {
	case "float32":
		c.DType = profiler.Float32
	case "float16":
		c.DType = profiler.Float16
	case "float64":
		c.DType = profiler.Float64
	default:
		return usagef("--dtype %q: want float32, float16 or float64", *dtype)
	}
	if len(layers) > 0 {
		c.Layers = nil
		for _, s := range layers {
			ls, err := synth.ParseLayerSpec(s)
			if err != nil {
				return usagef("%v", err)
			}
			c.Layers = append(c.Layers, ls)
		}
	}
	if size > 0 {
		per := 0
		for _, l := range c.Layers {
			n := c.DType.Size()
			for _, d := range l.Dims {
				n *= d
			}
			per = max(per, n)
		}
		c.Rows = max(1, int(int64(size)/int64(per)))
	}
	if c.Rows <= 0 {
		return usagef("--rows must be positive")
	}
	if _, err := synth.Write(c); err != nil {
		return fmt.Errorf("%s: %w", *dir, err)
	}
	return nil
}
