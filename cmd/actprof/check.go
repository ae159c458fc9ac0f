package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/actprof/actprof/internal/atomicfile"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/report"
)

// readProfile decodes the JSON profile at path; errors name the file.
func readProfile(path string) (*profiler.Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := profiler.DecodeProfile(f)
	if err != nil {
		return nil, &profiler.FileError{Path: path, Err: err}
	}
	return p, nil
}

// readProfileNoting is readProfile, with a note on stderr when the profile is a
// part of a sharded run.
func readProfileNoting(e *env, path string) (*profiler.Profile, error) {
	p, err := readProfile(path)
	if err == nil {
		notePart(e, path, p)
	}
	return p, err
}

// notePart says on stderr that a profile is a part of a sharded run: its
// figures are of some shards of the data, not of all of it.
func notePart(e *env, path string, p *profiler.Profile) {
	if p.Shard == nil {
		return
	}
	shards := make([]string, len(p.Shard.Shards))
	for i, s := range p.Shard.Shards {
		shards[i] = strconv.Itoa(s)
	}
	fmt.Fprintf(e.stderr, "actprof: note: %s holds shard %s of %d only: merge every part (actprof merge) for the whole dataset\n",
		path, strings.Join(shards, ", "), p.Shard.Count)
}

// ruleFlag collects one metric's repeatable LIMIT or GLOB=LIMIT values.
type ruleFlag struct {
	m     report.Metric
	rules *[]report.Rule
}

func (r ruleFlag) String() string { return "" }
func (r ruleFlag) Set(v string) error {
	rule, err := report.ParseRule(r.m, v)
	if err != nil {
		return err
	}
	*r.rules = append(*r.rules, rule)
	return nil
}

const checkAbout = `Check a profile against limits, for CI: exit 0 when every rule holds, 1 with
one line per violation (layer, rule, value, limit) otherwise. Each rule is
LIMIT for every layer or LAYER_GLOB=LIMIT for the layers whose name matches
(repeatable; e.g. --max-dead-frac 0.1 --max-dead-frac 'encoder.*=0.02').
--layer GLOB (repeatable) checks only the layers that match one of its
patterns; a rule's own LAYER_GLOB narrows that selection further. A pattern
that matches no layer is an error.`

func cmdCheck(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "check", "PROFILE.json [flags]", checkAbout)
	var rules []report.Rule
	for _, m := range []struct {
		metric report.Metric
		help   string
	}{
		{report.MaxDeadFrac, "at most this `fraction` of a layer's units dead"},
		{report.MaxDead, "at most this many dead `units` in a layer"},
		{report.MaxRareFrac, "at most this `fraction` of a layer's units rare"},
		{report.MinActivationProbability, "a layer's mean Pr[x > T] at least this `fraction`"},
		{report.MaxNewDead, "with --baseline: at most this many `units` dead that fired in the baseline"},
		{report.MaxDormantFrac, "at most this `fraction` of a layer's units dormant (a profile with --stats)"},
		{report.MaxSaturatedFrac, "at most this `fraction` of a layer's units saturated (a profile with --stats --saturate)"},
		{report.MaxConstantFrac, "at most this `fraction` of a layer's units constant (a profile with --stats)"},
	} {
		fs.Var(ruleFlag{m.metric, &rules}, m.metric.Flag(), m.help)
	}
	var layers multiFlag
	fs.Var(&layers, "layer", "check only layers whose name matches `GLOB` (repeatable)")
	baseline := fs.String("baseline", "", "an earlier profile `FILE` of the same model, for --max-new-dead")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one PROFILE.json, got %d", len(pos))
	}
	for _, g := range layers {
		if err := report.ParseLayerGlob(g); err != nil {
			return usagef("%v", err)
		}
	}
	if len(rules) == 0 {
		return usagef("no rules: give at least one of --max-dead-frac, --max-dead, --max-rare-frac, --min-activation-probability, --max-new-dead, --max-dormant-frac, --max-saturated-frac, --max-constant-frac")
	}
	p, err := readProfileNoting(e, pos[0])
	if err != nil {
		return err
	}
	var base *profiler.Profile
	if *baseline != "" {
		if base, err = readProfile(*baseline); err != nil {
			return err
		}
	}
	vs, checked, err := report.Check(p, base, rules, layers)
	if err != nil {
		return &profiler.FileError{Path: pos[0], Err: err}
	}
	if *asJSON {
		if vs == nil {
			vs = []report.Violation{}
		}
		if err := writeJSON(e.stdout, map[string]any{"ok": len(vs) == 0, "checked": checked, "violations": vs}); err != nil {
			return err
		}
	} else {
		for _, v := range vs {
			fmt.Fprintf(e.stdout, "FAIL %s\n", v)
		}
		if len(vs) == 0 {
			fmt.Fprintf(e.stdout, "ok: %d layers, %d checks hold\n", len(p.Layers), checked)
		}
	}
	if len(vs) > 0 {
		return checkFailed{len(vs), checked}
	}
	return nil
}

// checkFailed is a check whose rules do not all hold: exit 1, the
// violations already printed.
type checkFailed struct{ n, of int }

func (c checkFailed) Error() string {
	return fmt.Sprintf("check: %d of %d checks failed", c.n, c.of)
}

func cmdDiff(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "diff", "OLD.json NEW.json [flags]", "Compare two profiles of one model (checkpoints): per layer, the units that\ndied (fired before, dead now), revived, became rare or stopped being rare,\nand whose rate rose or fell by --factor or more. Layers are matched by name.")
	factor := fs.Float64("factor", 10, "report rate changes of this `ratio` or more")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("want OLD.json and NEW.json, got %d arguments", len(pos))
	}
	if !(*factor > 1) {
		return usagef("--factor must be above 1")
	}
	old, err := readProfileNoting(e, pos[0])
	if err != nil {
		return err
	}
	cur, err := readProfileNoting(e, pos[1])
	if err != nil {
		return err
	}
	d, err := report.DiffProfiles(old, cur, *factor)
	if err != nil {
		return &profiler.FileError{Path: pos[1], Err: fmt.Errorf("does not compare with %s: %w", pos[0], err)}
	}
	if *asJSON {
		return writeJSON(e.stdout, d)
	}
	return report.WriteDiff(e.stdout, d)
}

func cmdExport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "export", "PROFILE.json --csv|--parquet [-o OUT]", "Write a profile's per-unit figures, one row per unit: layer, unit, count,\nobservations, rate (count / observations), nan_count, flags (dead, rare,\nalways-on). --csv: pandas pd.read_csv(\"units.csv\"); --parquet (zstd):\npd.read_parquet(\"units.parquet\").")
	asCSV := fs.Bool("csv", false, "write CSV")
	asParquet := fs.Bool("parquet", false, "write Parquet")
	out := fs.String("o", "", "write to `FILE` (atomically; default stdout)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one PROFILE.json, got %d", len(pos))
	}
	if *asCSV == *asParquet {
		return usagef("give one of --csv or --parquet")
	}
	if *out != "" && !atomicfile.Special(*out) && sameFile(*out, pos[0]) {
		return usagef("-o %s is the profile being read: choose another name", *out)
	}
	p, err := readProfileNoting(e, pos[0])
	if err != nil {
		return err
	}
	write := report.WriteCSV
	if *asParquet {
		write = report.WriteParquet
	}
	if *out == "" {
		return write(e.stdout, p)
	}
	return writeFile(*out, false, func(w io.Writer) error { return write(w, p) })
}
