package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/actprof/actprof/internal/atomicfile"
	"github.com/actprof/actprof/report"
)

const reportAbout = `Write a profile as one self-contained HTML page that works offline (inline
CSS, SVG and script; nothing fetched): a summary, Pr[y>0] and the dead
fraction by depth, an index of the layers that sorts and filters (alerts
first), and per layer, one click away, its figures, a histogram of log10
firing rate (dead units in their own bin), the unit strip (each unit's rate
as a coloured cell, dead and NaN units marked) and its unit lists. A profile
with value statistics (profile --stats) adds the dormant fraction by depth,
dormant, saturated and constant units in the index, the alerts, the strip and
the lists (with each unit's mean and mean |x|), and per layer the value
histogram and the histogram of L0 (units firing per observation).
--png DIR writes the plots as PNG files too: DIR/depth-*.png and per layer
DIR/layer-NNNN-NAME-rates.png, -units.png and, with statistics, -values.png.`

func cmdReport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "report", "PROFILE.json -o REPORT.html", reportAbout)
	out := fs.String("o", "", "write the page to `FILE` (atomically; required)")
	pngDir := fs.String("png", "", "write the plots as PNG files into `DIR` too (created; files there of the same names replaced)")
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
	p, err := readProfileNoting(e, pos[0])
	if err != nil {
		return err
	}
	var tmp string
	var names []string
	if *pngDir != "" {
		// Every PNG is written into a folder beside DIR first, then the page,
		// then the PNGs are moved into DIR: a failure leaves neither.
		parent := filepath.Dir(filepath.Clean(*pngDir))
		if tmp, err = os.MkdirTemp(parent, "."+filepath.Base(*pngDir)+".tmp-"); err != nil {
			return fmt.Errorf("--png %s: %w", *pngDir, err)
		}
		defer os.RemoveAll(tmp)
		for _, pl := range report.PNGPlots(p) {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := writePNG(filepath.Join(tmp, pl.Name), pl.Write); err != nil {
				return fmt.Errorf("--png %s: %w", *pngDir, err)
			}
			names = append(names, pl.Name)
		}
	}
	err = writeFile(*out, false, func(w io.Writer) error {
		return report.WriteHTML(w, p, report.HTMLOptions{Source: pos[0]})
	})
	if err != nil || tmp == "" {
		return err
	}
	if err := os.MkdirAll(*pngDir, 0o755); err != nil {
		return err
	}
	for _, name := range names {
		if err := os.Rename(filepath.Join(tmp, name), filepath.Join(*pngDir, name)); err != nil {
			return err
		}
	}
	return nil
}

func writePNG(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	if err := write(bw); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
