package main

import (
	"context"
	"io"

	"github.com/actprof/actprof/internal/atomicfile"
	"github.com/actprof/actprof/report"
)

const reportAbout = `Write a profile as one self-contained HTML page that works offline (inline
CSS, SVG and script; nothing fetched): a summary, Pr[y>0] and the dead
fraction by depth, an index of the layers that sorts and filters (alerts
first), and per layer, one click away, its figures, a histogram of log10
firing rate (dead units in their own bin), the unit strip (each unit's rate
as a coloured cell, dead and NaN units marked) and its unit lists.`

func cmdReport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "report", "PROFILE.json -o REPORT.html", reportAbout)
	out := fs.String("o", "", "write the page to `FILE` (atomically; required)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one PROFILE.json, got %d", len(pos))
	}
	if *out == "" {
		return usagef("-o REPORT.html is required")
	}
	if !atomicfile.Special(*out) && sameFile(*out, pos[0]) {
		return usagef("-o %s is the profile being read: choose another name", *out)
	}
	p, err := readProfile(pos[0])
	if err != nil {
		return err
	}
	return writeFile(*out, false, func(w io.Writer) error {
		return report.WriteHTML(w, p, report.HTMLOptions{Source: pos[0]})
	})
}
