// Command mergeparts measures the merge of the parts of a sharded run: it
// profiles each shard of a synthetic layer of -parts rows of -units units
// (one row a shard, generated on the fly, never on disk), encodes the
// part, then times decoding it and merging it into the parts before, as
// actprof merge does. The baseline, timed in the same process, is
// decoding the whole run's profile once: a part costs about one such
// decode and a merge of its arrays. The merged counts are checked against
// a plain count of the generated values.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
)

// value is element e of the layer: a float32 that is positive about one
// time in three.
func value(e int64) float32 {
	x := uint64(e)*0x9e3779b97f4a7c15 + 1
	x ^= x >> 29
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 32
	return float32(int64(x%3)-1) * 0.5
}

type genSource struct{}

func (genSource) Next(int) (profiler.Chunk, error) {
	return profiler.Chunk{}, fmt.Errorf("read at offsets only")
}
func (genSource) Close() error { return nil }
func (genSource) ReadAt(p []byte, off int64) (int, error) {
	for i := 0; i+4 <= len(p); i += 4 {
		binary.LittleEndian.PutUint32(p[i:], math.Float32bits(value((off+int64(i))/4)))
	}
	return len(p), nil
}

func main() {
	parts := flag.Int("parts", 1000, "shards (rows of the layer)")
	units := flag.Int("units", 1<<20, "units of the layer")
	flag.Parse()
	layer := profiler.Layer{Name: "wide", Path: "generated", DType: profiler.Float32, Shape: []int{*parts, *units},
		Open: func() (profiler.Source, error) { return genSource{}, nil }}
	opt := profiler.Options{Backend: cpu.New(), Inputs: []profiler.InputFile{{Path: "generated", Size: int64(*parts) * int64(*units) * 4, Fingerprint: "none"}}}
	want := make([]uint64, *units)
	var merged *profiler.Profile
	var decode, merge time.Duration
	var buf bytes.Buffer
	var partBytes int
	for i := range *parts {
		o := opt
		o.Shard = &profiler.ShardSpec{Index: i, Count: *parts}
		p, err := profiler.Run(context.Background(), []profiler.Layer{layer}, o)
		if err != nil {
			fail(err)
		}
		buf.Reset()
		if err := p.Encode(&buf); err != nil {
			fail(err)
		}
		partBytes = buf.Len()
		for u := range want {
			if value(int64(i)*int64(*units)+int64(u)) > 0 {
				want[u]++
			}
		}
		t0 := time.Now()
		q, err := profiler.DecodeProfile(bytes.NewReader(buf.Bytes()))
		t1 := time.Now()
		if err != nil {
			fail(err)
		}
		if merged == nil {
			merged = q
		} else if merged, err = profiler.Merge(merged, q); err != nil {
			fail(err)
		}
		decode += t1.Sub(t0)
		merge += time.Since(t1)
	}
	merged, err := profiler.CompleteShards(merged)
	if err != nil {
		fail(err)
	}
	if merged.Shard != nil || merged.Layers[0].Observations != uint64(*parts) {
		fail(fmt.Errorf("the merge is not the whole layer"))
	}
	for u, c := range merged.Layers[0].Counts {
		if c != want[u] {
			fail(fmt.Errorf("unit %d: merged count %d, plain count %d", u, c, want[u]))
		}
	}
	// baseline: decoding the whole profile once
	buf.Reset()
	merged.Encode(&buf)
	t0 := time.Now()
	if _, err := profiler.DecodeProfile(bytes.NewReader(buf.Bytes())); err != nil {
		fail(err)
	}
	base := time.Since(t0)
	per := (decode + merge) / time.Duration(*parts)
	fmt.Printf("merge of %d parts of %d units (%.1f MiB each): %.2f s (decode %.2f s, merge %.2f s); %.1f ms a part, %.2fx decoding the whole profile once (%.1f ms); counts equal a plain count\n",
		*parts, *units, float64(partBytes)/(1<<20), (decode + merge).Seconds(), decode.Seconds(), merge.Seconds(),
		float64(per.Microseconds())/1000, float64(per)/float64(base), float64(base.Microseconds())/1000)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mergeparts:", err)
	os.Exit(1)
}
