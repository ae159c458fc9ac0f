package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"io"
	"math/bits"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/actprof/actprof/internal/atomicfile"
	"github.com/actprof/actprof/internal/npyfmt"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/report"
	"github.com/actprof/actprof/store"
)

const patternsAbout = `Query a pattern store written by 'actprof profile --patterns STORE':
  show STORE --layer L --sample N       units that fired on sample N (per position for conv/token layers)
  show STORE --layer L --observation I  units that fired on observation I
  samples STORE --layer L --unit U      observations on which unit U fired (--limit N)
  stats STORE                           per layer: distinct patterns, the most common, bits stored
  verify STORE PROFILE.json [DATA...]   recount from the store (and check observations against DATA); exit 1 on any mismatch
  export STORE --layer L -o OUT.npy     packed uint8 rows [observations, ceil(units/8)] for np.unpackbits
  compact STORE -o OUT [--level best]   rewrite the store at another level (best: smallest), without the activations
  merge -o OUT PART.actbits...          merge the stores of 'profile --shard I/N --patterns' into the whole run's`

func cmdPatterns(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		fmt.Fprintf(e.stdout, "usage: actprof patterns SUBCOMMAND STORE [flags]\n\n%s\n", patternsAbout)
		if len(args) == 0 {
			return usagef("no subcommand")
		}
		return nil
	}
	sub := map[string]func(context.Context, *env, []string) error{
		"show": patternsShow, "samples": patternsSamples, "stats": patternsStats, "verify": patternsVerify, "export": patternsExport,
		"compact": patternsCompact, "merge": patternsMerge,
	}[args[0]]
	if sub == nil {
		return usagef("unknown patterns subcommand %q (show, samples, stats, verify, export, compact, merge)", args[0])
	}
	return sub(ctx, e, args[1:])
}

// openStoreLayer opens STORE (the one positional) and its --layer.
func openStoreLayer(pos []string, layer string) (*store.Reader, *store.Layer, error) {
	if len(pos) != 1 {
		return nil, nil, usagef("want one STORE argument, got %d", len(pos))
	}
	if layer == "" {
		return nil, nil, usagef("--layer is required")
	}
	r, err := store.Open(pos[0])
	if err != nil {
		return nil, nil, err
	}
	if err := notPart(r, pos[0]); err != nil {
		r.Close()
		return nil, nil, err
	}
	l, err := r.Layer(layer)
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	return r, l, nil
}

// notPart refuses a query by observation of a part of a sharded run,
// whose observations are numbered from the first it holds.
func notPart(r *store.Reader, path string) error {
	if sr := r.Header.Shard; sr != nil {
		return &profiler.FileError{Path: path, Err: fmt.Errorf("a part of a sharded run (shards %s of %d): merge the parts with 'actprof patterns merge' to query it", joinInts(sr.Shards), sr.Count)}
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// position maps an observation to its sample and its index over the axes
// other than the sample axis (0) and the unit axis.
func position(info store.LayerInfo, o int64) (sample int64, index []int) {
	sample = o / info.ObsPerSample
	rel := o % info.ObsPerSample
	var axes []int
	for a := 1; a < len(info.Shape); a++ {
		if a != info.UnitAxis {
			axes = append(axes, a)
		}
	}
	index = make([]int, len(axes))
	for k := len(axes) - 1; k >= 0; k-- {
		d := int64(info.Shape[axes[k]])
		index[k] = int(rel % d)
		rel /= d
	}
	return sample, index
}

func patternsShow(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "patterns show", "STORE --layer L (--sample N | --observation I) [--json]", "Print the units that fired on one sample or observation.")
	layer := fs.String("layer", "", "layer `NAME`")
	sample := fs.Int64("sample", -1, "sample index `N` (axis 0)")
	obs := fs.Int64("observation", -1, "observation index `I`")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if (*sample < 0) == (*obs < 0) {
		return usagef("give one of --sample N or --observation I")
	}
	r, l, err := openStoreLayer(pos, *layer)
	if err != nil {
		return err
	}
	defer r.Close()
	info := l.Info
	if *obs >= 0 {
		fired, err := l.Fired(*obs)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, map[string]any{"layer": info.Name, "observation": *obs, "fired": fired})
		}
		s, idx := position(info, *obs)
		fmt.Fprintf(e.stdout, "%s observation %d (sample %d, position %v): %d of %d units fired: %s\n", info.Name, *obs, s, idx, len(fired), info.Units, unitList(fired, 1<<30))
		return nil
	}
	samples := info.Observations / info.ObsPerSample
	if *sample >= samples {
		return &profiler.FileError{Path: pos[0], Err: fmt.Errorf("layer %s: %w: sample %d (the layer has %d)", info.Name, store.ErrRange, *sample, samples)}
	}
	type posFired struct {
		Observation int64 `json:"observation"`
		Index       []int `json:"index"`
		Fired       []int `json:"fired"`
	}
	var ps []posFired
	for o := *sample * info.ObsPerSample; o < (*sample+1)*info.ObsPerSample; o++ {
		fired, err := l.Fired(o)
		if err != nil {
			return err
		}
		_, idx := position(info, o)
		ps = append(ps, posFired{o, idx, fired})
	}
	if *asJSON {
		if info.ObsPerSample == 1 {
			return writeJSON(e.stdout, map[string]any{"layer": info.Name, "sample": *sample, "fired": ps[0].Fired})
		}
		return writeJSON(e.stdout, map[string]any{"layer": info.Name, "sample": *sample, "positions": ps})
	}
	for _, p := range ps {
		where := ""
		if info.ObsPerSample > 1 {
			where = fmt.Sprintf(" position %v", p.Index)
		}
		fmt.Fprintf(e.stdout, "%s sample %d%s: %d of %d units fired: %s\n", info.Name, *sample, where, len(p.Fired), info.Units, unitList(p.Fired, 1<<30))
	}
	return nil
}

func patternsSamples(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "patterns samples", "STORE --layer L --unit U [--limit N] [--json]", "Print the observations on which a unit fired, ascending.")
	layer := fs.String("layer", "", "layer `NAME`")
	unit := fs.Int("unit", -1, "unit index `U`")
	limit := fs.Int("limit", 0, "at most `N` observations (0: all)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *unit < 0 {
		return usagef("--unit U is required")
	}
	r, l, err := openStoreLayer(pos, *layer)
	if err != nil {
		return err
	}
	defer r.Close()
	obs, err := l.UnitObservationsContext(ctx, *unit, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, map[string]any{"layer": l.Info.Name, "unit": *unit, "observations": obs})
	}
	fmt.Fprintf(e.stdout, "%s unit %d fired on %d observations%s:\n", l.Info.Name, *unit, len(obs), map[bool]string{true: " (limit reached)", false: ""}[*limit > 0 && len(obs) == *limit])
	for _, o := range obs {
		if l.Info.ObsPerSample > 1 {
			s, idx := position(l.Info, o)
			fmt.Fprintf(e.stdout, "  %d (sample %d, position %v)\n", o, s, idx)
		} else {
			fmt.Fprintf(e.stdout, "  %d\n", o)
		}
	}
	return nil
}

// layerStats is what stats reports for a layer.
type layerStats struct {
	Layer            string          `json:"layer"`
	Units            int             `json:"units"`
	Observations     int64           `json:"observations"`
	DistinctPatterns int             `json:"distinct_patterns"`
	MostCommon       []commonPattern `json:"most_common"`
	StoredBytes      int64           `json:"stored_bytes"`
	BitsPerUnitObs   float64         `json:"bits_per_unit_observation"`
	Blocks           map[string]int  `json:"blocks"` // by codec
}

type commonPattern struct {
	Count int64 `json:"count"`
	Fired []int `json:"fired"`
}

func patternsStats(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "patterns stats", "STORE [--top N] [--json]", "Per layer: distinct activation patterns (linear regions visited), the most\ncommon ones, and the bits the store keeps per unit-observation.")
	top := fs.Int("top", 5, "show the `N` most common patterns")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one STORE argument")
	}
	r, err := store.Open(pos[0])
	if err != nil {
		return err
	}
	defer r.Close()
	var all []layerStats
	for _, l := range r.Layers() {
		st, err := statsOf(ctx, l, *top)
		if err != nil {
			return err
		}
		all = append(all, st)
	}
	if *asJSON {
		return writeJSON(e.stdout, all)
	}
	for _, st := range all {
		var blocks []string
		for _, c := range []string{"huffman", "huffman-own", "zstd"} {
			if n := st.Blocks[c]; n > 0 {
				blocks = append(blocks, fmt.Sprintf("%d %s", n, c))
			}
		}
		fmt.Fprintf(e.stdout, "%s: %d units x %d observations: %d distinct patterns; %.4f bits stored per unit-observation (%d bytes; blocks: %s)\n",
			st.Layer, st.Units, st.Observations, st.DistinctPatterns, st.BitsPerUnitObs, st.StoredBytes, strings.Join(blocks, ", "))
		for _, c := range st.MostCommon {
			fmt.Fprintf(e.stdout, "  %d x  %d units fired: %s\n", c.Count, len(c.Fired), unitList(c.Fired, 16))
		}
	}
	return nil
}

// statsOf counts distinct row patterns by a 128-bit hash of each (32 bytes
// of memory per distinct pattern, with its count and first observation,
// whatever the layer's width; a collision among fewer than 2^40 patterns
// has probability below 2^-48), then reads the most common ones back from
// their first observations.
func statsOf(ctx context.Context, l *store.Layer, top int) (layerStats, error) {
	info := l.Info
	w := (info.Units + 63) / 64
	seed1, seed2 := maphash.MakeSeed(), maphash.MakeSeed()
	type key [2]uint64
	hashRow := func(row []uint64, buf []byte) key {
		for k, x := range row {
			binary.LittleEndian.PutUint64(buf[8*k:], x)
		}
		return key{maphash.Bytes(seed1, buf), maphash.Bytes(seed2, buf)}
	}
	// Per distinct pattern (by two 64-bit hashes), its count and the first
	// observation that has it, read back at the end: one pass.
	type seenAt struct{ c, first int64 }
	seen := map[key]seenAt{}
	buf := make([]byte, 8*w)
	err := l.RowsContext(ctx, func(first int64, n int, rows []uint64) error {
		for o := 0; o < n; o++ {
			k := hashRow(rows[o*w:(o+1)*w], buf)
			v, ok := seen[k]
			if !ok {
				v.first = first + int64(o)
			}
			v.c++
			seen[k] = v
		}
		return nil
	})
	if err != nil {
		return layerStats{}, err
	}
	type kc struct {
		k     key
		c     int64
		first int64
	}
	list := make([]kc, 0, len(seen))
	for k, v := range seen {
		list = append(list, kc{k, v.c, v.first})
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].c != list[j].c {
			return list[i].c > list[j].c
		}
		// ties: the pattern seen first comes first, the same on every
		// run (the hashes' seeds are random)
		return list[i].first < list[j].first
	})
	list = list[:min(top, len(list))]
	st := layerStats{Layer: info.Name, Units: info.Units, Observations: info.Observations, DistinctPatterns: len(seen),
		StoredBytes: l.StoredBytes(), MostCommon: []commonPattern{}}
	st.BitsPerUnitObs = float64(st.StoredBytes*8) / float64(int64(info.Units)*info.Observations)
	if st.Blocks, err = l.Codecs(); err != nil {
		return layerStats{}, err
	}
	found := make([][]int, len(list))
	for i, p := range list {
		if found[i], err = l.Fired(p.first); err != nil {
			return layerStats{}, err
		}
	}
	for i, p := range list {
		st.MostCommon = append(st.MostCommon, commonPattern{p.c, found[i]})
	}
	return st, nil
}

func patternsVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "patterns verify", "STORE PROFILE.json [DATA...]", "Recount every layer's fires from the store and compare them with the profile;\nexit 1 on any mismatch (or damage in the store). Given the DATA that was\nprofiled, also compare the fired units of --check observations of each\nlayer, spread over it, with the data itself: a store that holds the right\ncounts with observations out of place fails there.")
	check := fs.Int("check", 1000, "with DATA: observations a layer to compare (0: all)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return usagef("want STORE and PROFILE.json (and optionally the DATA profiled)")
	}
	if *check < 0 {
		return usagef("--check must be 0 (all) or positive")
	}
	f, err := os.Open(pos[1])
	if err != nil {
		return err
	}
	p, err := profiler.DecodeProfile(f)
	f.Close()
	if err != nil {
		return &profiler.FileError{Path: pos[1], Err: err}
	}
	r, err := store.Open(pos[0])
	if err != nil {
		return err
	}
	defer r.Close()
	mismatch := func(format string, args ...any) error {
		return &profiler.FileError{Path: pos[0], Err: fmt.Errorf("verify: "+format, args...)}
	}
	if r.Header.Threshold != p.Threshold {
		return mismatch("threshold %g, profile %g", r.Header.Threshold, p.Threshold)
	}
	if len(r.Header.Layers) != len(p.Layers) {
		return mismatch("%d layers, profile has %d", len(r.Header.Layers), len(p.Layers))
	}
	var obs int64
	for _, lp := range p.Layers {
		l, err := r.Layer(lp.Name)
		if err != nil {
			return err
		}
		if l.Info.Units != lp.Units || uint64(l.Info.Observations) != lp.Observations {
			return mismatch("layer %s: %d units x %d observations, profile %d x %d", lp.Name, l.Info.Units, l.Info.Observations, lp.Units, lp.Observations)
		}
		counts, err := l.CountsContext(ctx)
		if err != nil {
			return err
		}
		for u, c := range counts {
			if c != lp.Counts[u] {
				return mismatch("layer %s unit %d: %d fires in the store, %d in the profile", lp.Name, u, c, lp.Counts[u])
			}
		}
		obs += l.Info.Observations
	}
	if len(pos) > 2 {
		n, err := verifyData(ctx, r, pos[0], pos[2:], *check)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "ok: %d layers, %d observations: the store's patterns give the profile's counts; %d observations' patterns match the data\n", len(p.Layers), obs, n)
		return nil
	}
	fmt.Fprintf(e.stdout, "ok: %d layers, %d observations: the store's patterns give the profile's counts\n", len(p.Layers), obs)
	return nil
}

func patternsExport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "patterns export", "STORE --layer L -o OUT.npy", "Write a layer's patterns as a .npy of uint8, shape [observations,\nceil(units/8)], packed as np.packbits packs (first unit in the high bit):\nnp.unpackbits(a, axis=1)[:, :units] gives the fired matrix.")
	layer := fs.String("layer", "", "layer `NAME`")
	out := fs.String("o", "", "output `FILE` (.npy)")
	durable := fs.Bool("sync", false, "flush FILE to stable storage (fsync) before renaming it into place")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *out == "" {
		return usagef("-o FILE is required")
	}
	if len(pos) == 1 && !atomicfile.Special(*out) && sameFile(pos[0], *out) {
		return usagef("-o %s is the store being read: choose another name", *out)
	}
	r, l, err := openStoreLayer(pos, *layer)
	if err != nil {
		return err
	}
	defer r.Close()
	info := l.Info
	nb := (info.Units + 7) / 8
	w := (info.Units + 63) / 64
	return writeFile(*out, *durable, func(wr io.Writer) error {
		if _, err := wr.Write(npyfmt.Header("|u1", []int{int(info.Observations), nb})); err != nil {
			return err
		}
		var buf []byte
		return l.RowsContext(ctx, func(first int64, n int, rows []uint64) error {
			// np.packbits order: unit 8i+j at bit 7-j of byte i, so each
			// byte of the words bit-reversed, 8 at a time
			buf = slices.Grow(buf[:0], n*nb)[:n*nb]
			for o := 0; o < n; o++ {
				dst, src := buf[o*nb:(o+1)*nb], rows[o*w:(o+1)*w]
				k := 0
				for ; k+8 <= nb; k += 8 {
					binary.LittleEndian.PutUint64(dst[k:], bits.ReverseBytes64(bits.Reverse64(src[k/8])))
				}
				for i := k; i < nb; i++ {
					dst[i] = bits.Reverse8(byte(src[k/8] >> (8 * (i - k))))
				}
			}
			_, err := wr.Write(buf)
			return err
		})
	})
}

func patternsCompact(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "patterns compact", "STORE -o OUT [--level best]", "Rewrite a pattern store at another compression level, from the store alone:\n'profile --patterns' writes level fastest to keep up with the reads; level\nbest stores the same patterns in fewer bytes on correlated units (trained\nReLU nets: docs/performance.md), writing many times slower. OUT is the\nstore profiling at that level writes, byte for byte; it may be STORE. On\nindependent units (the demo's synthetic data) best is no smaller.")
	out := fs.String("o", "", "output `FILE` (.actbits)")
	level := fs.String("level", "best", "compression `LEVEL`: fastest or best")
	durable := fs.Bool("sync", false, "flush FILE to stable storage (fsync) before renaming it into place")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one STORE argument, got %d", len(pos))
	}
	if *out == "" {
		return usagef("-o FILE is required")
	}
	if lv, note, err := store.ResolveLevel(*level); err != nil || *level == "" || *level == "default" {
		return usagef("--level %q: want fastest or best", *level)
	} else if note != "" {
		fmt.Fprintf(e.stderr, "actprof: --level: %s\n", note)
		*level = lv
	}
	r, err := store.Open(pos[0])
	if err != nil {
		return err
	}
	defer r.Close()
	var before int64
	for _, l := range r.Layers() {
		before += l.StoredBytes()
	}
	opt := store.RewriteOptions{Level: *level, Sync: *durable}
	var prog *progress
	if !*quiet {
		prog = newProgress(e.stderr, e.stderrTTY)
		opt.Progress = prog.update
	}
	err = store.Rewrite(ctx, r, *out, opt)
	if prog != nil {
		prog.finish()
	}
	if err != nil || *quiet {
		return err
	}
	// The blocks' bytes before and after: level best is smaller on
	// correlated units (real activations), not on independent ones, where
	// level fastest's codes are already near their entropy.
	if w, err := store.Open(*out); err == nil {
		var after int64
		for _, l := range w.Layers() {
			after += l.StoredBytes()
		}
		w.Close()
		fmt.Fprintf(e.stderr, "actprof: wrote %s at level %s: patterns in %s, %.2fx the %s of %s\n",
			*out, *level, humanBytes(after), float64(after)/float64(max(before, 1)), humanBytes(before), pos[0])
	}
	return nil
}

func patternsMerge(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "patterns merge", "-o OUT.actbits PART.actbits...", "Merge the pattern stores of the shards of a run (profile --shard I/N\n--patterns), in any order, into the store of a single run over all the\ninputs: every query answers as that run's store does, with the whole\nlayers' observation numbers. Blocks within a part are copied, not coded\nagain. Parts of other settings or inputs, overlapping parts and missing\nshards are refused.")
	out := fs.String("o", "", "write the merged store to `FILE` (atomically)")
	durable := fs.Bool("sync", false, "flush FILE to stable storage (fsync) before renaming it into place")
	partial := fs.Bool("partial", false, "write the merge of some of the shards, itself a part, instead of refusing the missing ones")
	quiet := fs.Bool("quiet", false, "no summary line on stderr")
	paths, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *out == "" {
		return usagef("-o FILE is required")
	}
	if len(paths) == 0 {
		return usagef("no pattern stores to merge")
	}
	for _, p := range paths {
		if !atomicfile.Special(*out) && sameFile(p, *out) {
			return usagef("-o %s is one of the stores being merged: choose another name", *out)
		}
	}
	st, err := store.Merge(ctx, *out, paths, store.MergeOptions{Partial: *partial, Sync: *durable})
	if err != nil {
		return err
	}
	if !*quiet {
		what := "the whole run's store"
		if !st.Complete {
			what = "a part"
		}
		fmt.Fprintf(e.stderr, "actprof: merged %d stores into %s (%s): %d blocks copied, %d coded again, %s\n",
			len(paths), *out, what, st.Copied, st.Recoded, humanBytes(st.Bytes))
	}
	return nil
}

// unitList is report.Ranges of the units, or "none".
func unitList(units []int, max int) string {
	if len(units) == 0 {
		return "none"
	}
	return report.Ranges(units, max)
}
