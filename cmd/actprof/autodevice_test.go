package main

import (
	"strings"
	"testing"
)

// TestChooseAuto checks the --device auto rule against the model written
// out by hand: the GPU where bytes/(cores*3.5e9) > 0.5 + bytes/33e9, the
// CPU for --stats, --patterns and object storage whatever the size.
func TestChooseAuto(t *testing.T) {
	gpuFirst := func(bytes int64, cores int) bool {
		return float64(bytes)/(float64(cores)*3.5e9) > 0.5+float64(bytes)/33e9
	}
	for _, cores := range []int{1, 2, 3, 4, 8, 9, 10, 16, 64} {
		be := autoBreakEven(cores)
		if (be == 0) != (float64(cores)*3.5e9 >= 33e9) {
			t.Errorf("%d cores: break-even %d", cores, be)
		}
		for _, bytes := range []int64{0, 1 << 20, 1 << 30, 2e9, 4.4e9, 4.5e9, 1e10, 9.1e10, 9.3e10, 1e12, be - 1e6, be + 1e6} {
			if bytes < 0 {
				continue
			}
			p := autoPlan{bytes: bytes, cores: cores, cached: -1}
			gpu, why := chooseAuto(p)
			if want := gpuFirst(bytes, cores); gpu != want {
				t.Errorf("%d bytes on %d cores: gpu %v, want %v (%s)", bytes, cores, gpu, want, why)
			}
			for _, q := range []autoPlan{{bytes: bytes, cores: cores, stats: true, cached: -1}, {bytes: bytes, cores: cores, patterns: true, cached: -1}, {bytes: bytes, cores: cores, remote: true, cached: -1}} {
				if g, why := chooseAuto(q); g {
					t.Errorf("%+v: gpu (%s)", q, why)
				}
			}
		}
	}
	// inputs mostly out of the page cache: the CPU, where the GPU would
	// otherwise be tried
	for _, c := range []struct {
		cached float64
		gpu    bool
	}{{-1, true}, {0, false}, {0.49, false}, {0.5, true}, {1, true}} {
		if gpu, why := chooseAuto(autoPlan{bytes: 1e11, cores: 2, cached: c.cached}); gpu != c.gpu {
			t.Errorf("%.0f%% cached: gpu %v (%s)", 100*c.cached, gpu, why)
		}
	}
	if _, why := chooseAuto(autoPlan{bytes: 1e11, cores: 2, cached: 0.25}); why != "25% of the input is in the page cache: reads from disk bound both" {
		t.Errorf("why: %q", why)
	}
	// the figures the docs quote
	for _, c := range []struct {
		cores int
		want  string
	}{{1, "1.96 GB"}, {2, "4.44 GB"}, {8, "92.4 GB"}} {
		if got := gbytes(autoBreakEven(c.cores)); got != c.want {
			t.Errorf("break-even on %d cores: %s, want %s", c.cores, got, c.want)
		}
	}
	if r := autoRule(16); !strings.Contains(r, "16 cores count host memory faster") {
		t.Errorf("rule on 16 cores: %q", r)
	}
	if r := autoRule(2); !strings.Contains(r, "more than 4.44 GB") {
		t.Errorf("rule on 2 cores: %q", r)
	}
}
