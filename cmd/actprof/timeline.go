package main

import (
	"context"
	"io"

	"github.com/actprof/actprof/internal/atomicfile"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/report"
)

const timelineAbout = `Line up profiles of one model at several checkpoints, in the order given:
per layer (matched by name) and for the whole model, the dead and rare
fractions and Pr[y>0] at each checkpoint, and the dormant fraction where the
profiles have value statistics (profile --stats). Writes one self-contained HTML page
(offline, the report's style: plots, an index that sorts and filters, layers
whose dead fraction grew first, a layer's series one click away), or with
--json the figures as JSON (null where a checkpoint lacks a layer).`

func cmdTimeline(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "timeline", "P1.json P2.json... (-o TIMELINE.html | --json [-o OUT.json])", timelineAbout)
	out := fs.String("o", "", "write to `FILE` (atomically; required for the page, default stdout for --json)")
	asJSON := fs.Bool("json", false, "write the figures as JSON")
	var labels multiFlag
	fs.Var(&labels, "label", "a checkpoint's `NAME`, one per profile in their order (repeatable; default the file names)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("want one or more profiles")
	}
	if len(labels) > 0 && len(labels) != len(pos) {
		return usagef("%d --label for %d profiles: give one per profile or none", len(labels), len(pos))
	}
	if *out == "" && !*asJSON {
		return usagef("-o TIMELINE.html is required (or --json)")
	}
	if *out != "" && !atomicfile.Special(*out) {
		for _, p := range pos {
			if sameFile(*out, p) {
				return usagef("-o %s is a profile being read: choose another name", *out)
			}
		}
	}
	if len(labels) == 0 {
		labels = append(labels, pos...)
	}
	ps := make([]*profiler.Profile, len(pos))
	for i, path := range pos {
		if ps[i], err = readProfile(path); err != nil {
			return err
		}
	}
	t, err := report.NewTimeline(ps, labels)
	if err != nil {
		return err
	}
	write := func(w io.Writer) error { return report.WriteTimelineHTML(w, t) }
	if *asJSON {
		write = func(w io.Writer) error { return report.WriteTimelineJSON(w, t) }
		if *out == "" {
			return write(e.stdout)
		}
	}
	return writeFile(*out, false, write)
}
