package profiler_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/profiler/backendtest"
)

// atLayer is a memory layer read at offsets (a ReaderAtSource), as files
// are; MemoryLayer's is streamed, as deflated .npz members are.
func atLayer(name string, dt profiler.DType, shape []int, data []byte) profiler.Layer {
	l := profiler.MemoryLayer(name, dt, shape, data)
	l.Open = func() (profiler.Source, error) { return &atSource{data: data}, nil }
	return l
}

type atSource struct {
	data []byte
	off  int
}

func (s *atSource) Next(n int) (profiler.Chunk, error) {
	if s.off == len(s.data) {
		return profiler.Chunk{}, fmt.Errorf("atSource: Next past the end")
	}
	n = min(n, len(s.data)-s.off)
	c := profiler.NewChunk(s.data[s.off:s.off+n:s.off+n], nil)
	s.off += n
	return c, nil
}

func (s *atSource) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(s.data)) {
		return 0, profiler.ErrTruncated
	}
	return copy(p, s.data[off:]), nil
}

func (s *atSource) Close() error { return nil }

// shardLayers are layers whose rows divide evenly by no shard count: 37
// rows of 5 units, tokens [3, 4, 7] (12 rows of 7), NCHW maps of 2 rows
// (fewer than most shard counts), a layer of one row, and a float16 one;
// half read at offsets, half streamed.
func shardLayers(seed uint64) []profiler.Layer {
	rng := rand.New(rand.NewPCG(seed, 99))
	type spec struct {
		name  string
		dt    profiler.DType
		shape []int
	}
	var ls []profiler.Layer
	for i, s := range []spec{
		{"fc", profiler.Float32, []int{37, 5}},
		{"tok", profiler.Float64, []int{3, 4, 7}},
		{"conv", profiler.Float32, []int{2, 3, 5, 4}},
		{"one", profiler.Float32, []int{1, 9}},
		{"half", profiler.Float16, []int{23, 3}},
		{"conv.s", profiler.BFloat16, []int{3, 2, 3, 3}},
	} {
		n := 1
		for _, d := range s.shape {
			n *= d
		}
		data := backendtest.Gen(rng, s.dt, n, 0)
		if i%2 == 0 {
			ls = append(ls, atLayer(s.name, s.dt, s.shape, data))
		} else {
			ls = append(ls, profiler.MemoryLayer(s.name, s.dt, s.shape, data))
		}
	}
	return ls
}

func shardOptions(stats bool) profiler.Options {
	opt := profiler.Options{Backend: cpu.New(), Threshold: 0.25, RareBelow: 0.05, ChunkBytes: 64,
		UnitAxis: map[string]int{"tok": -1}, Inputs: []profiler.InputFile{{Path: "x.npy", Size: 10, Fingerprint: "f"}}}
	if stats {
		so := profiler.DefaultStats()
		so.DeadWindow = 5
		so.Saturate = map[string]profiler.Range{"": {Lo: -0.5, Hi: 0.5}}
		opt.Stats = so
	}
	return opt
}

// encode is p's JSON.
func encode(t *testing.T, p *profiler.Profile) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := p.Encode(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// roundTrip is p encoded and decoded (as merge reads parts).
func roundTrip(t *testing.T, p *profiler.Profile) *profiler.Profile {
	t.Helper()
	q, err := profiler.DecodeProfile(bytes.NewReader(encode(t, p)))
	if err != nil {
		t.Fatalf("decode: %v\n%s", err, encode(t, p))
	}
	return q
}

// sameAsRun compares a merge with the single run: every byte of their
// JSON but the value sums, which are compared within the float64 error
// of adding in another order.
func sameAsRun(t *testing.T, what string, got, want *profiler.Profile) {
	t.Helper()
	g, w := roundTrip(t, got), roundTrip(t, want)
	for i := range w.Layers {
		gs, ws := g.Layers[i].Stats, w.Layers[i].Stats
		if ws == nil {
			continue
		}
		for u := range ws.Sum {
			tol := 2 * backendtest.SumTolerance(w.Layers[i].Observations, ws.SumAbs[u])
			if math.Abs(gs.Sum[u]-ws.Sum[u]) > tol || math.Abs(gs.SumAbs[u]-ws.SumAbs[u]) > tol {
				t.Fatalf("%s: layer %s unit %d: sums %g, %g, want %g, %g", what, w.Layers[i].Name, u, gs.Sum[u], gs.SumAbs[u], ws.Sum[u], ws.SumAbs[u])
			}
			gs.Sum[u], gs.SumAbs[u] = ws.Sum[u], ws.SumAbs[u]
		}
	}
	if a, b := encode(t, g), encode(t, w); !bytes.Equal(a, b) {
		t.Fatalf("%s: merged parts differ from one run:\n--- merged\n%s\n--- run\n%s", what, a, b)
	}
}

func TestShardRowsPartition(t *testing.T) {
	plans, err := profiler.PlanLayers(shardLayers(1), map[string]int{"tok": -1})
	if err != nil {
		t.Fatal(err)
	}
	var total, maxRow int64
	for _, p := range plans {
		total += p.Bytes()
		maxRow = max(maxRow, p.Bytes()/p.Geom.Outer)
	}
	for _, n := range []int{1, 2, 3, 7, 50} {
		seen := make([][]int, len(plans))
		for i, p := range plans {
			seen[i] = make([]int, p.Geom.Outer)
		}
		for s := range n {
			rows, err := profiler.ShardRows(plans, profiler.ShardSpec{Index: s, Count: n})
			if err != nil {
				t.Fatal(err)
			}
			var bytes int64
			for i, r := range rows {
				for k := r.First; k < r.First+r.Count; k++ {
					seen[i][k]++
				}
				bytes += r.Count * plans[i].Bytes() / plans[i].Geom.Outer
			}
			// a shard's bytes are within one row of the even share
			if share := float64(total) / float64(n); math.Abs(float64(bytes)-share) > float64(maxRow) {
				t.Errorf("N=%d shard %d: %d bytes, share %.1f, largest row %d", n, s, bytes, share, maxRow)
			}
		}
		for i := range seen {
			for k, c := range seen[i] {
				if c != 1 {
					t.Fatalf("N=%d: layer %s row %d is in %d shards", n, plans[i].Layer.Name, k, c)
				}
			}
		}
	}
	for _, bad := range []profiler.ShardSpec{{0, 0}, {3, 3}, {-1, 2}} {
		if _, err := profiler.ShardRows(plans, bad); !errors.Is(err, profiler.ErrBadOption) {
			t.Errorf("shard %v: err %v, want ErrBadOption", bad, err)
		}
	}
}

// parts runs every shard of n and returns their profiles, each through
// its JSON.
func parts(t *testing.T, ls []profiler.Layer, opt profiler.Options, n int) []*profiler.Profile {
	t.Helper()
	var out []*profiler.Profile
	for s := range n {
		o := opt
		o.Shard = &profiler.ShardSpec{Index: s, Count: n}
		p, err := profiler.Run(context.Background(), ls, o)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, roundTrip(t, p))
	}
	return out
}

func mergeAll(t *testing.T, ps []*profiler.Profile) *profiler.Profile {
	t.Helper()
	m := ps[0]
	for _, p := range ps[1:] {
		var err error
		if m, err = profiler.Merge(m, p); err != nil {
			t.Fatal(err)
		}
	}
	m, err := profiler.CompleteShards(m)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestShardsMergeToOneRun(t *testing.T) {
	for _, stats := range []bool{false, true} {
		ls, opt := shardLayers(2), shardOptions(stats)
		one, err := profiler.Run(context.Background(), ls, opt)
		if err != nil {
			t.Fatal(err)
		}
		// the single run against the plain loop's counts and first fires
		plans, _ := profiler.PlanLayers(ls, opt.UnitAxis)
		for i, p := range plans {
			src, _ := p.Layer.Open()
			var data []byte
			for {
				c, err := src.Next(1 << 20)
				if err != nil {
					break
				}
				data = append(data, c.Data...)
			}
			want := backendtest.Oracle(p.Layer.DType, data, 0, p.Geom, opt.Threshold)
			if !slices.Equal(one.Layers[i].Counts, want.Counts) || !slices.Equal(one.Layers[i].NaNCounts, want.NaNs) {
				t.Fatalf("layer %s: the run's counts differ from the oracle's", p.Layer.Name)
			}
			if stats {
				ws := backendtest.StatsOracle(p.Layer.DType, data, 0, p.Geom, opt.Threshold, &profiler.Range{Lo: -0.5, Hi: 0.5})
				gs := one.Layers[i].Stats
				for u := range ws.Last {
					f := ws.First[u]
					if f == math.MaxInt64 {
						f = -1
					}
					if gs.FirstFired[u] != f || gs.LastFired[u] != ws.Last[u] {
						t.Fatalf("layer %s unit %d: first/last fired %d/%d, oracle %d/%d", p.Layer.Name, u, gs.FirstFired[u], gs.LastFired[u], f, ws.Last[u])
					}
				}
			}
		}
		for _, n := range []int{1, 2, 3, 7} {
			ps := parts(t, ls, opt, n)
			what := fmt.Sprintf("stats=%v N=%d", stats, n)
			// some shard holds nothing of the 1-row layer (N > 1), and
			// records it in its layer list only
			if n > 1 {
				lacks := 0
				for _, p := range ps {
					if !slices.ContainsFunc(p.Layers, func(l profiler.LayerProfile) bool { return l.Name == "one" }) {
						lacks++
						if !slices.Contains(p.Shard.Layers, "one") {
							t.Fatalf("%s: the shard record lacks layer one", what)
						}
					}
				}
				if lacks != n-1 {
					t.Fatalf("%s: %d shards lack the 1-row layer, want %d", what, lacks, n-1)
				}
			}
			sameAsRun(t, what+" in order", mergeAll(t, ps), one)
			// in reverse, and as merges of merges (associative)
			rev := slices.Clone(ps)
			slices.Reverse(rev)
			sameAsRun(t, what+" reversed", mergeAll(t, rev), one)
			if n >= 3 {
				left := roundTrip(t, mergeAll(t, ps[:n/2]))
				right := roundTrip(t, mergeAll(t, ps[n/2:]))
				if left.Shard == nil || len(left.MissingShards()) != n-n/2 {
					t.Fatalf("%s: a merge of %d parts misses %v", what, n/2, left.MissingShards())
				}
				m, err := profiler.Merge(right, left)
				if err != nil {
					t.Fatal(err)
				}
				sameAsRun(t, what+" merged halves", m, one)
			}
		}
	}
}

func TestShardMergeRefusals(t *testing.T) {
	ls, opt := shardLayers(3), shardOptions(true)
	ps := parts(t, ls, opt, 3)
	variant := func(f func(*profiler.Options)) *profiler.Profile {
		o := opt
		f(&o)
		return parts(t, ls, o, 3)[1]
	}
	one, err := profiler.Run(context.Background(), ls, opt)
	if err != nil {
		t.Fatal(err)
	}
	m01, err := profiler.Merge(ps[0], ps[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		a, b *profiler.Profile
		want string
	}{
		{"threshold", ps[0], variant(func(o *profiler.Options) { o.Threshold = 0.5 }), "different settings: thresholds 0.25 and 0.5"},
		{"rare-below", ps[0], variant(func(o *profiler.Options) { o.RareBelow = 0.1 }), "different settings: rare-below"},
		{"unit axes", ps[0], variant(func(o *profiler.Options) { o.UnitAxis = map[string]int{"tok": 2} }), "different settings: unit axes tok=-1 and tok=2"},
		{"stats", ps[0], variant(func(o *profiler.Options) {
			so := *o.Stats
			so.DeadWindow = 6
			o.Stats = &so
		}), "different settings: value statistics"},
		{"saturate", ps[0], variant(func(o *profiler.Options) {
			so := *o.Stats
			so.Saturate = map[string]profiler.Range{"": {Lo: -1, Hi: 1}}
			o.Stats = &so
		}), "different settings: saturation ranges"},
		{"inputs", ps[0], variant(func(o *profiler.Options) {
			o.Inputs = []profiler.InputFile{{Path: "x.npy", Size: 10, Fingerprint: "g"}}
		}), "different input sets: input 1, x.npy, was 10 bytes with fingerprint f and 10 bytes with g"},
		{"same shard", ps[1], ps[1], "overlapping shards: both hold shard 1 of 3"},
		{"merged overlap", m01, ps[0], "overlapping shards: both hold shard 0 of 3"},
		{"count", ps[0], parts(t, ls, opt, 2)[1], "parts of 3 shards and of 2"},
		{"whole", ps[0], one, "a part of a sharded run (--shard) and a profile of a whole run"},
	} {
		_, err := profiler.Merge(c.a, c.b)
		if !errors.Is(err, profiler.ErrMerge) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err %v, want one line with %q", c.name, err, c.want)
		}
	}
	// overlapping ranges under distinct shard indices (a forged part)
	forged := roundTrip(t, ps[2])
	forged.Shard.Shards = []int{1}
	if _, err := profiler.Merge(ps[0], forged); err != nil {
		t.Fatal(err)
	}
	if _, err := profiler.Merge(roundTrip(t, ps[2]), forged); err == nil || !strings.Contains(err.Error(), "overlapping shards: layer") {
		t.Errorf("overlapping ranges: err %v", err)
	}
	// missing shards are named
	m02, err := profiler.Merge(ps[0], ps[2])
	if err != nil {
		t.Fatal(err)
	}
	if got := m02.MissingShards(); !slices.Equal(got, []int{1}) {
		t.Errorf("missing %v, want [1]", got)
	}
}

func TestPartEncodeIsEncodingJSONsBytes(t *testing.T) {
	ls, opt := shardLayers(4), shardOptions(true)
	ps := parts(t, ls, opt, 3)
	m, err := profiler.Merge(ps[0], ps[2])
	if err != nil {
		t.Fatal(err)
	}
	plain := shardOptions(false)
	plain.UnitAxis, plain.Inputs = nil, nil // settings {}, inputs null
	for i, p := range append(append(ps, m), parts(t, ls, plain, 2)...) {
		if got, want := encode(t, p), stdEncode(t, p); !bytes.Equal(got, want) {
			t.Errorf("part %d: Encode differs from encoding/json:\n--- got\n%s\n--- want\n%s", i, got, want)
		}
	}
}

func TestPartChecks(t *testing.T) {
	ls, opt := shardLayers(5), shardOptions(false)
	ps := parts(t, ls, opt, 2)
	doc := string(encode(t, ps[0]))
	for _, c := range []struct {
		name string
		edit func(*profiler.Profile)
		want string
	}{
		{"observations", func(p *profiler.Profile) { p.Layers[0].Ranges[0].Count-- }, "but its ranges hold"},
		{"past the layer", func(p *profiler.Profile) { p.Layers[0].Ranges[0].First = 1 << 40 }, "past the layer's"},
		{"overlapping ranges", func(p *profiler.Profile) {
			r := p.Layers[0].Ranges[0]
			p.Layers[0].Ranges = []profiler.ObsRange{{r.First, 1}, {r.First, r.Count - 1}}
		}, "not after the range before it"},
		{"no ranges", func(p *profiler.Profile) { p.Layers[0].Ranges = nil }, "a part without ranges"},
		{"unlisted layer", func(p *profiler.Profile) { p.Shard.Layers = p.Shard.Layers[1:] }, "not in the shard record's layers"},
		{"shard index", func(p *profiler.Profile) { p.Shard.Shards = []int{2} }, "want ascending indices below count 2"},
		{"ranges without record", func(p *profiler.Profile) { p.Shard = nil }, "observations"},
	} {
		p, err := profiler.DecodeProfile(strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		c.edit(p)
		var b bytes.Buffer
		p.Encode(&b)
		if _, err := profiler.DecodeProfile(&b); !errors.Is(err, profiler.ErrFormat) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", c.name, err, c.want)
		}
	}
	// every shard merged, but a layer's observations not all there (a
	// part forged to hold less)
	short := roundTrip(t, ps[1])
	split := ""
	for i, l := range short.Layers {
		if slices.ContainsFunc(ps[0].Layers, func(m profiler.LayerProfile) bool { return m.Name == l.Name }) {
			split = l.Name
			short.Layers = slices.Delete(short.Layers, i, i+1)
			break
		}
	}
	if split == "" {
		t.Fatal("no layer is split between the two shards")
	}
	if _, err := profiler.Merge(ps[0], short); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("every shard is merged, but layer %q holds observations [0, ", split)) {
		t.Errorf("a gap: err %v", err)
	}
}

// Runs over pieces of the layers' rows (Options.Rows), one piece of one
// layer each, layer by layer as a run writing patterns is checkpointed,
// merge into the profile of one run; rows outside a layer are refused.
func TestRowPiecesMergeToOneRun(t *testing.T) {
	ls, opt := shardLayers(3), shardOptions(true)
	one, err := profiler.Run(context.Background(), ls, opt)
	if err != nil {
		t.Fatal(err)
	}
	plans, err := profiler.PlanLayers(ls, opt.UnitAxis)
	if err != nil {
		t.Fatal(err)
	}
	var pieces [][]profiler.RowRange
	for i, p := range plans {
		for r := int64(0); r < p.Geom.Outer; r += 3 {
			rows := make([]profiler.RowRange, len(plans))
			rows[i] = profiler.RowRange{First: r, Count: min(3, p.Geom.Outer-r)}
			pieces = append(pieces, rows)
		}
	}
	var ps []*profiler.Profile
	for j, rows := range pieces {
		o := opt
		o.Shard, o.Rows = &profiler.ShardSpec{Index: j, Count: len(pieces)}, rows
		p, err := profiler.Run(context.Background(), ls, o)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, roundTrip(t, p))
	}
	sameAsRun(t, "pieces of rows", mergeAll(t, ps), one)
	o := opt
	o.Shard, o.Rows = &profiler.ShardSpec{Index: 0, Count: 1}, make([]profiler.RowRange, len(plans))
	o.Rows[0] = profiler.RowRange{First: plans[0].Geom.Outer - 1, Count: 2}
	if _, err := profiler.Run(context.Background(), ls, o); !errors.Is(err, profiler.ErrBadOption) {
		t.Fatalf("rows past the layer: %v", err)
	}
}
