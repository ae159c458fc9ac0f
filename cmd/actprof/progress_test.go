package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestProgressLines(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, false)
	p.logEvery = 0
	p.update(1<<30, 4<<30)
	p.update(4<<30, 4<<30) // done: no line, the summary says it
	p.finish()
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "actprof: 1.00 GiB / 4.00 GiB (25%)") || !strings.Contains(lines[0], "ETA") {
		t.Fatalf("log lines %q", b.String())
	}
	b.Reset()
	p = newProgress(&b, true)
	p.update(2<<20, 4<<20)
	p.update(4<<20, 4<<20)
	p.finish()
	if s := b.String(); !strings.Contains(s, "\r[") || !strings.Contains(s, "100.0%") || !strings.HasSuffix(s, "\r") {
		t.Fatalf("bar %q", s)
	}
}

func TestHumanRate(t *testing.T) {
	for r, want := range map[float64]string{2.5e9: "2.50 GB/s", 1e9: "1.00 GB/s", 12.34e6: "12.3 MB/s", 0: "0.0 MB/s"} {
		if got := humanRate(r); got != want {
			t.Errorf("humanRate(%g) = %q, want %q", r, got, want)
		}
	}
}
