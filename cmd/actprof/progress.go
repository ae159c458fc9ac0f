package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress reports bytes read: a redrawn bar on a terminal, a plain line
// every logEvery otherwise (batch jobs, CI logs).
type progress struct {
	w        io.Writer
	tty      bool
	start    time.Time
	last     time.Time
	mu       sync.Mutex
	drawn    bool
	logEvery time.Duration
}

func newProgress(w io.Writer, tty bool) *progress {
	now := time.Now()
	return &progress{w: w, tty: tty, start: now, last: now, logEvery: 10 * time.Second}
}

func (p *progress) update(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	every := p.logEvery
	if p.tty {
		every = 100 * time.Millisecond
	}
	if now.Sub(p.last) < every && done < total {
		return
	}
	p.last = now
	el := now.Sub(p.start).Seconds()
	rate := float64(done) / max(el, 1e-9)
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(total-done)/rate) * time.Second / time.Second).Round(time.Second).String()
	}
	frac := float64(done) / float64(max(total, 1))
	if p.tty {
		const width = 30
		n := int(frac * width)
		bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
		fmt.Fprintf(p.w, "\r[%s] %5.1f%% %s / %s  %s  ETA %s   ", bar, 100*frac, humanBytes(done), humanBytes(total), humanRate(rate), eta)
		p.drawn = true
		return
	}
	if done < total {
		fmt.Fprintf(p.w, "actprof: %s / %s (%.0f%%), %s, ETA %s\n", humanBytes(done), humanBytes(total), 100*frac, humanRate(rate), eta)
	}
}

// humanRate is bytes per second in GB/s, or MB/s below 1 GB/s (a store's
// compaction runs at megabytes a second).
func humanRate(r float64) string {
	if r < 1e9 {
		return fmt.Sprintf("%.1f MB/s", r/1e6)
	}
	return fmt.Sprintf("%.2f GB/s", r/1e9)
}

// finish clears the bar.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r"+strings.Repeat(" ", 100)+"\r")
	}
}
