package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/actprof/actprof/input"
	"github.com/actprof/actprof/internal/atomicfile"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/report"
	"github.com/actprof/actprof/store"
)

const profileAbout = `Count, for every unit of every layer, the observations on which it fired
(x > T, strictly; NaN never fires) and report dead units (never fired), rare
ones (fired on fewer than --rare-below of observations) and always-on ones.

PATH is a .npy, .npz or .safetensors file, or a folder: each .npy, .npz and
.safetensors in it, and each subfolder of .npy shards (one layer, shards in
lexical order concatenated on axis 0). The unit axis is the last one, or axis
1 (channels) for 4-D and 5-D arrays; --unit-axis changes it.`

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

// sizeFlag parses byte sizes such as 8MiB, 2GiB, 4096.
type sizeFlag int64

func (s *sizeFlag) String() string { return strconv.FormatInt(int64(*s), 10) }
func (s *sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = sizeFlag(n)
	return nil
}

func parseSize(v string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}}
	mult := int64(1)
	num := v
	for _, u := range units {
		if strings.HasSuffix(v, u.suffix) {
			mult, num = u.mult, strings.TrimSuffix(v, u.suffix)
			break
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || f <= 0 || f*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("bad size %q (want e.g. 8MiB, 2GiB)", v)
	}
	return int64(f * float64(mult)), nil
}

// parseUnitAxes reads --unit-axis values: AXIS for all layers, NAME=AXIS for one.
func parseUnitAxes(vals []string) (map[string]int, error) {
	m := map[string]int{}
	for _, v := range vals {
		name, ax, ok := strings.Cut(v, "=")
		if !ok {
			name, ax = "", v
		}
		n, err := strconv.Atoi(ax)
		if err != nil {
			return nil, usagef("--unit-axis %q: want AXIS or LAYER=AXIS (an integer, negative counts from the end)", v)
		}
		m[name] = n
	}
	return m, nil
}

func cmdProfile(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "profile", "[flags] PATH...", profileAbout)
	out := fs.String("o", "", "write the JSON profile to `FILE` (atomically)")
	asJSON := fs.Bool("json", false, "print the JSON profile on stdout instead of the table")
	threshold := fs.Float64("threshold", 0, "firing threshold `T`: a unit fires when x > T")
	rareBelow := fs.Float64("rare-below", profiler.DefaultRareBelow, "a unit is rare when it fires on fewer than this `fraction` of observations (and at least once)")
	var unitAxes, layers multiFlag
	fs.Var(&unitAxes, "unit-axis", "unit axis: `AXIS` for every layer or LAYER=AXIS for one (repeatable)")
	fs.Var(&layers, "layer", "profile only layers whose name matches `GLOB` (repeatable)")
	workers := fs.Int("workers", 0, "counting goroutines (default: one per core on the CPU, two per core on a GPU; at most four per core, at least 16)")
	chunk := sizeFlag(0)
	fs.Var(&chunk, "chunk-size", "bytes per counting block, e.g. 8MiB (default 1MiB on the CPU, 4MiB on a GPU; at least 4KiB)")
	quiet := fs.Bool("quiet", false, "no progress or timing lines on stderr")
	patterns := fs.String("patterns", "", "also write every observation's fired units to the pattern store `FILE` (.actbits)")
	level := fs.String("patterns-level", store.DefaultLevel, "pattern store compression: fastest (quickest to write) or best (smallest)")
	device := fs.String("device", "auto", "where to count: auto (a GPU through actprof-cuda where one is usable and expected to finish first, else the CPU; actprof devices says when), cpu, cuda, cuda:N, cuda:N,M,... or cuda:all (blocks spread over the GPUs)")
	generic := fs.Bool("generic", false, "use the plain-Go CPU kernels, not the vector ones (for comparison)")
	durable := fs.Bool("sync", false, "flush the profile and pattern store to stable storage (fsync) before renaming them into place")
	checkpointEvery := fs.Duration("checkpoint-every", 30*time.Second, "with -o: write the run's progress to OUT.ckpt this often (`DURATION`; 0: never), and when a stop signal ends it (exit 75)")
	resume := fs.Bool("resume", false, "with -o: go on from OUT.ckpt, the checkpoint of an interrupted run of the same command")
	withStats := fs.Bool("stats", false, "also compute value statistics: per unit min, max, mean, mean |x|, first and last fired; per layer the value and L0 histograms; constant, dormant and saturated units (any of the next four flags implies it)")
	dormantTau := fs.Float64("dormant-tau", profiler.DefaultDormantTau, "a unit is dormant when its mean |x| is at most `TAU` times the layer's mean over units (0: the units whose every value is 0)")
	var saturate multiFlag
	fs.Var(&saturate, "saturate", "count per unit the values x <= LO or x >= HI: `LO:HI` for every layer or LAYER_GLOB=LO:HI (repeatable; e.g. -0.99:0.99 for tanh)")
	saturatedAbove := fs.Float64("saturated-above", profiler.DefaultSaturatedAbove, "a unit is saturated when more than this `fraction` of its observations lie in its --saturate range")
	deadWindow := fs.Uint64("dead-window", 0, "also list the units silent on the last `N` observations of each layer")
	shardFlag := fs.String("shard", "", "profile only shard `I/N` of the inputs (0 <= I < N), for 'actprof merge'; default: the Slurm array task or Kubernetes Indexed Job pod (JOB_COMPLETION_INDEX with ACTPROF_SHARDS) when run as one; none: all of the inputs")
	paths, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return usagef("no input: give one or more .npy, .npz, .safetensors files or folders")
	}
	if math.IsNaN(*threshold) || math.IsInf(*threshold, 0) {
		return usagef("--threshold must be a finite number")
	}
	if !(*rareBelow > 0 && *rareBelow <= 1) {
		return usagef("--rare-below must be in (0, 1]")
	}
	axes, err := parseUnitAxes(unitAxes)
	if err != nil {
		return err
	}
	var statsOpt *profiler.StatsOptions
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "stats", "dormant-tau", "saturate", "saturated-above", "dead-window":
			*withStats = *withStats || f.Name != "stats"
		}
	})
	if *withStats {
		if statsOpt, err = parseStatsFlags(*dormantTau, *saturatedAbove, *deadWindow, saturate); err != nil {
			return err
		}
	}
	shard, shardWhy, err := chooseShard(*shardFlag, os.Getenv)
	if err != nil {
		return err
	}
	if *resume && (*out == "" || atomicfile.Special(*out)) {
		return usagef("--resume needs -o FILE: the checkpoint is FILE.ckpt")
	}
	if *resume && *patterns != "" && atomicfile.Special(*patterns) {
		return usagef("--resume with --patterns %s: a store written in place is not checkpointed", *patterns)
	}
	if *checkpointEvery < 0 {
		return usagef("--checkpoint-every must be a duration >= 0 (e.g. 30s; 0: never)")
	}
	if *workers < 0 {
		return usagef("--workers must be positive")
	}
	if *workers > profiler.MaxWorkers() {
		if !*quiet {
			fmt.Fprintf(e.stderr, "actprof: note: --workers %d is more than this machine can use: %d\n", *workers, profiler.MaxWorkers())
		}
		*workers = profiler.MaxWorkers()
	}
	if chunk > 1<<31 {
		return usagef("--chunk-size at most 2GiB")
	}
	if chunk > 0 && chunk < minChunk {
		if !*quiet {
			fmt.Fprintf(e.stderr, "actprof: note: --chunk-size %d rounded up to %d bytes (smaller chunks only cost time)\n", int64(chunk), minChunk)
		}
		chunk = minChunk
	}

	// Outputs are checked before anything is read: each must be a file
	// of its own, not an input, and writable (its temporary file is made
	// now), so that a long run never ends in an output that cannot be
	// written, and the profile and the store are committed together.
	outputs := []output{{*out, "-o"}, {*patterns, "--patterns"}}
	for _, o := range []struct{ path, what string }{{*out, "the profile"}, {*patterns, "the pattern store"}} {
		if strings.HasPrefix(o.path, "s3://") {
			return fmt.Errorf("%s: cannot write %s: outputs are local files (write it here and upload it)", o.path, o.what)
		}
		if o.path != "" && !atomicfile.Special(o.path) {
			if st, err := os.Stat(filepath.Dir(o.path)); err != nil || !st.IsDir() {
				return fmt.Errorf("%s: cannot write %s: folder %s does not exist", o.path, o.what, filepath.Dir(o.path))
			}
			if st, err := os.Stat(o.path); err == nil && st.IsDir() {
				return fmt.Errorf("%s: cannot write %s: it is a folder", o.path, o.what)
			}
		}
	}
	if err := distinctOutputs(outputs); err != nil {
		return err
	}
	ls, err := input.Open(paths, input.Options{Layers: layers})
	if err != nil {
		return err
	}
	if err := outputsNotInputs(outputs, ls); err != nil {
		return err
	}
	warnUnmatchedAxes(e, axes, ls)
	if statsOpt != nil {
		for pat, r := range statsOpt.Saturate {
			if pat != "" && !slices.ContainsFunc(ls, func(l profiler.Layer) bool { ok, _ := path.Match(pat, l.Name); return ok || l.Name == pat }) {
				return usagef("--saturate %s=%g:%g: the pattern matches no layer", pat, r.Lo, r.Hi)
			}
		}
		for _, l := range ls {
			if _, exact := statsOpt.Saturate[l.Name]; exact {
				continue
			}
			var hit []string
			for _, pat := range slices.Sorted(maps.Keys(statsOpt.Saturate)) {
				if ok, _ := path.Match(pat, l.Name); ok && pat != "" {
					hit = append(hit, pat)
				}
			}
			if len(hit) > 1 {
				return usagef("--saturate: layer %q matches the patterns %q and %q: give it one range (its exact name wins)", l.Name, hit[0], hit[1])
			}
		}
	}
	if lv, note, err := store.ResolveLevel(*level); err != nil || *level == "" {
		return usagef("--patterns-level %q: want fastest or best", *level)
	} else if note != "" {
		fmt.Fprintf(e.stderr, "actprof: --patterns-level: %s\n", note)
		*level = lv
	}
	if _, _, err := parseDevice(*device); err != nil {
		return err
	}
	var plans []profiler.Plan
	if *patterns != "" {
		if plans, err = profiler.PlanLayers(ls, axes); err != nil {
			return err
		}
		if err := profiler.CheckPatternOrder(plans); err != nil {
			return err
		}
	}
	shards := 1
	if shard != nil {
		shards = shard.Count
	}
	plan := newAutoPlan(ls, shards, *workers, statsOpt != nil, *patterns != "")
	backend, err := chooseBackend(ctx, e, *device, plan, *generic, *quiet)
	if err != nil {
		return err
	}
	if d, ok := backend.(profiler.Device); ok {
		defer d.Close() // after the run: nothing counts on it then
	}
	var pending *atomicfile.Pending
	if *out != "" {
		if pending, err = atomicfile.Begin(*out); err != nil {
			return err
		}
		defer pending.Abort() // after Commit, a no-op
	}
	var prog *progress
	if !*quiet {
		prog = newProgress(e.stderr, e.stderrTTY)
	}
	opt := profiler.Options{Backend: backend, Threshold: *threshold, RareBelow: *rareBelow, UnitAxis: axes,
		Workers: *workers, ChunkBytes: int(chunk), Stats: statsOpt, Shard: shard}
	if shard != nil {
		if opt.Inputs, err = input.InputFiles(ls); err != nil {
			return err
		}
		if !*quiet {
			fmt.Fprintf(e.stderr, "actprof: shard %s (from %s)\n", shard, shardWhy)
		}
	}
	if prog != nil {
		opt.Progress = prog.update
	}
	// a run with -o is checkpointed; one writing a pattern store in pieces
	// of its layers (runPieces), unless the store is written in place
	ckptOn := *out != "" && !atomicfile.Special(*out) && (*checkpointEvery > 0 || *resume)
	piecewise := ckptOn && *patterns != "" && !atomicfile.Special(*patterns)
	ckpt := checkpointPath(*out)
	var sw *store.Writer
	var acc *profiler.Profile
	var ps *patternsState
	if *patterns != "" {
		h := store.NewHeader(plans, *threshold)
		if shard != nil {
			// a part: the layers of which the shard holds rows, with the
			// shard record its profile carries
			rows, err := profiler.ShardRows(plans, *shard)
			if err != nil {
				return err
			}
			h = store.NewPartHeader(plans, *threshold, rows, profiler.NewShardRecord(plans, &opt))
		}
		if piecewise {
			if opt.Inputs == nil {
				if opt.Inputs, err = input.InputFiles(ls); err != nil {
					return err
				}
			}
			b := profiler.ShardSpec{Index: 0, Count: 1}
			if shard != nil {
				b = *shard
			}
			if *resume {
				if acc, ps, err = readCheckpoint(ckpt, opt, b, true); err != nil {
					return err
				}
				if ps != nil {
					if err := checkStoreCheckpoint(ckpt, ps, *patterns, *level); err != nil {
						return err
					}
				}
			} else if _, err := os.Stat(ckpt); err == nil {
				return fmt.Errorf("%s: a checkpoint of an earlier run of this output is here: pass --resume to go on from it, or remove it", ckpt)
			}
		}
		if ps != nil {
			sw, err = store.Resume(*patterns, h, *level, ps.Store)
		} else {
			sw, err = store.Create(*patterns, h, *level)
		}
		if err != nil {
			return err
		}
		sw.Sync = *durable
		opt.Patterns = sw
	}
	start := time.Now()
	segmented := ckptOn && sw == nil
	var p *profiler.Profile
	switch {
	case piecewise:
		p, err = runPieces(ctx, ls, opt, shard, ckpt, max(*checkpointEvery, 0), sw, *level, acc, ps)
		opt.Shard = shard
	case segmented:
		p, err = runSegments(ctx, e.stderr, ls, opt, shard, ckpt, max(*checkpointEvery, 0), *resume, *durable)
		opt.Shard = shard
	default:
		p, err = profiler.Run(ctx, ls, opt)
	}
	if prog != nil {
		prog.finish()
	}
	// Both outputs complete before either is renamed into place.
	if err == nil && pending != nil {
		err = pending.Fill(p.Encode, *durable)
	}
	if err == nil && sw != nil {
		err = sw.Close()
	} else if sw != nil {
		if _, cerr := os.Stat(ckpt); piecewise && cerr == nil {
			// a checkpoint names the store's temporary file: kept for --resume
			sw.Suspend()
		} else {
			sw.Abort()
		}
	}
	if err == nil && pending != nil {
		err = pending.Commit(*durable)
	}
	if err != nil {
		return err
	}
	if segmented || piecewise {
		removeCheckpoint(ckpt)
	}
	if !*quiet {
		var total int64
		for _, l := range p.Layers {
			total += int64(l.Units) * int64(l.Observations) * int64(dtypeSize(l.DType))
		}
		d := time.Since(start)
		fmt.Fprintf(e.stderr, "actprof: profiled %d layers, %s in %.3f s (%.2f GB/s) on %s\n",
			len(p.Layers), humanBytes(total), d.Seconds(), float64(total)/d.Seconds()/1e9, backend.Name())
	}
	if sw != nil && !*quiet {
		if st, err := os.Stat(*patterns); err == nil && st.Mode().IsRegular() {
			var uo float64
			for _, l := range p.Layers {
				uo += float64(l.Units) * float64(l.Observations)
			}
			fmt.Fprintf(e.stderr, "actprof: wrote patterns to %s: %s, %.3f bits per unit-observation\n",
				*patterns, humanBytes(st.Size()), float64(st.Size())*8/uo)
		}
	}
	if *asJSON {
		return p.Encode(e.stdout)
	}
	return report.WriteTable(e.stdout, p)
}

// parseStatsFlags checks the value statistics' flags.
func parseStatsFlags(tau, above float64, window uint64, saturate []string) (*profiler.StatsOptions, error) {
	if !(tau >= 0 && tau <= 1) {
		return nil, usagef("--dormant-tau must be in [0, 1]")
	}
	if !(above >= 0 && above < 1) {
		return nil, usagef("--saturated-above must be in [0, 1)")
	}
	so := &profiler.StatsOptions{StatsParams: profiler.StatsParams{DormantTau: tau, SaturatedAbove: above, DeadWindow: window}}
	for _, v := range saturate {
		name, rng := "", v
		if i := strings.LastIndex(v, "="); i >= 0 {
			name, rng = v[:i], v[i+1:]
		}
		lo, hi, ok := strings.Cut(rng, ":")
		l, err1 := strconv.ParseFloat(strings.TrimSpace(lo), 64)
		h, err2 := strconv.ParseFloat(strings.TrimSpace(hi), 64)
		if !ok || err1 != nil || err2 != nil || math.IsNaN(l) || math.IsNaN(h) || (name == "" && strings.Contains(v, "=")) {
			return nil, usagef("--saturate %q: want LO:HI or LAYER=LO:HI (numbers, e.g. -0.99:0.99)", v)
		}
		if !(l < h) {
			return nil, usagef("--saturate %q: LO must be below HI", v)
		}
		if _, err := path.Match(name, ""); err != nil {
			return nil, usagef("--saturate %q: bad layer pattern %q", v, name)
		}
		if so.Saturate == nil {
			so.Saturate = map[string]profiler.Range{}
		}
		so.Saturate[name] = profiler.Range{Lo: l, Hi: h}
	}
	return so, nil
}

// minChunk is the smallest --chunk-size used: below it, the per-chunk work
// dominates the counting and only costs time.
const minChunk = 4 << 10

// output is an output path and the flag that named it.
type output struct{ path, flag string }

// sameFile reports whether a and b name the same file: by identity where
// both exist (so ./x, x, hard and symbolic links are caught), else by
// cleaned absolute path.
func sameFile(a, b string) bool {
	sa, ea := os.Stat(a)
	sb, eb := os.Stat(b)
	if ea == nil && eb == nil {
		return os.SameFile(sa, sb)
	}
	aa, err1 := filepath.Abs(a)
	ab, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == ab
}

// distinctOutputs refuses two outputs that are one file (devices such as
// /dev/null may be shared).
func distinctOutputs(outs []output) error {
	for i, a := range outs {
		for _, b := range outs[i+1:] {
			if a.path != "" && b.path != "" && !atomicfile.Special(a.path) && sameFile(a.path, b.path) {
				return usagef("%s %s and %s %s are the same file: each output needs its own", a.flag, a.path, b.flag, b.path)
			}
		}
	}
	return nil
}

// outputsNotInputs refuses an output that is one of the inputs, or a file
// in a folder of shards being read.
func outputsNotInputs(outs []output, ls []profiler.Layer) error {
	for _, o := range outs {
		if o.path == "" || atomicfile.Special(o.path) {
			continue
		}
		if _, err := os.Stat(o.path); err != nil {
			continue // a new file is no input
		}
		for _, l := range ls {
			if sameFile(o.path, l.Path) {
				return fmt.Errorf("%s: %s would overwrite an input (layer %s): choose another name", o.path, o.flag, l.Name)
			}
			if st, err := os.Stat(l.Path); err == nil && st.IsDir() && sameFile(filepath.Dir(o.path), l.Path) &&
				strings.HasSuffix(o.path, ".npy") {
				return fmt.Errorf("%s: %s would overwrite a shard of %s (layer %s): choose another name", o.path, o.flag, l.Path, l.Name)
			}
		}
	}
	return nil
}

// warnUnmatchedAxes notes each --unit-axis LAYER=AXIS that names no layer:
// a misspelt name would otherwise leave the layer on its default axis.
func warnUnmatchedAxes(e *env, axes map[string]int, ls []profiler.Layer) {
	names := slices.Sorted(maps.Keys(axes))
	for _, name := range names {
		if name != "" && !slices.ContainsFunc(ls, func(l profiler.Layer) bool { return l.Name == name }) {
			fmt.Fprintf(e.stderr, "actprof: warning: --unit-axis %s=%d names no layer being profiled\n", name, axes[name])
		}
	}
}

func dtypeSize(name string) int {
	for _, d := range []profiler.DType{profiler.Float32, profiler.Float16, profiler.BFloat16, profiler.Float64} {
		if d.String() == name {
			return d.Size()
		}
	}
	return 0
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func cmdMerge(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "merge", "-o OUT.json PROFILE.json...", "Merge the profiles of disjoint parts of a dataset (same layers, same threshold)\ninto the profile of the whole: counts and observations add, exactly. The parts\nof a sharded run (profile --shard I/N) merge by the observations each holds,\nin any order, into the profile of a single run over all the inputs; parts of\nother settings or inputs, overlapping parts and missing shards are refused.")
	out := fs.String("o", "", "write the merged profile to `FILE` (default: stdout)")
	durable := fs.Bool("sync", false, "flush FILE to stable storage (fsync) before renaming it into place")
	partial := fs.Bool("partial", false, "parts of a sharded run (profile --shard): write the merge of some of the shards, itself a part, instead of refusing the missing ones")
	paths, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(paths) < 1 {
		return usagef("no profiles to merge")
	}
	var merged *profiler.Profile
	for i, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		p, err := profiler.DecodeProfile(f)
		f.Close()
		if err != nil {
			return &profiler.FileError{Path: path, Err: err}
		}
		if merged == nil {
			merged = p
			continue
		}
		if merged, err = profiler.Merge(merged, p); err != nil {
			// "the first profile" is what was merged before it
			before := paths[0]
			if i > 1 {
				before = fmt.Sprintf("%s and %d more before it", paths[0], i-1)
			}
			return &profiler.FileError{Path: path, Err: fmt.Errorf("does not merge with %s (the first profile): %w", before, err)}
		}
	}
	if merged, err = profiler.CompleteShards(merged); err != nil {
		return err
	}
	if miss := merged.MissingShards(); miss != nil && !*partial {
		return fmt.Errorf("%w: missing shards %s of %d: merge every part (or pass --partial to write a merge of some)", profiler.ErrMerge, joinInts(miss), merged.Shard.Count)
	}
	if *out == "" {
		return merged.Encode(e.stdout)
	}
	return writeFile(*out, *durable, merged.Encode)
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}

// writeFile writes path atomically, with an fsync before the rename if
// durable (--sync).
func writeFile(path string, durable bool, fill func(io.Writer) error) error {
	if durable {
		return atomicfile.WriteSync(path, fill)
	}
	return atomicfile.Write(path, fill)
}
