//go:build linux

package store_test

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/actprof/actprof/store"
)

// rewriteChild, set in the environment of a test binary run by
// TestBestMemory, makes it rewrite store SRC at level best to DST
// ("SRC,DST") and exit.
const rewriteChild = "ACTPROF_STORE_TEST_REWRITE_BEST"

func TestMain(m *testing.M) {
	if v := os.Getenv(rewriteChild); v != "" {
		src, dst, _ := strings.Cut(v, ",")
		r, err := store.Open(src)
		if err == nil {
			err = store.Rewrite(context.Background(), r, dst, store.RewriteOptions{Level: "best"})
		}
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		// The peak RSS since exec (a child's rusage counts its parent's
		// memory at the fork).
		st, _ := os.ReadFile("/proc/self/status")
		for _, l := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(l, "VmHWM:") {
				os.Stdout.WriteString(l + "\n")
			}
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestBestMemory: a writer at level best holds, for a small layer, the
// encoder of its first block and one with a dictionary (34 + 76 MB of
// zstd tables and history), and for a large one at most coders("best")
// with a dictionary (min(GOMAXPROCS, 4)), whatever the layer's size.
// Measured as the peak RSS of a process that rewrites a store at best:
// it was 200-215 MB for the small store and about 600 MB for the large on
// 2 cores (an encoder made for each dictionary, 6 at once, and their
// memory reused only after the heap had doubled), 2026-12-07.
func TestBestMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 10 MB store at level best")
	}
	rng := rand.New(rand.NewPCG(81, 82))
	dir := t.TempDir()
	const mb = 1 << 20
	coders := min(max(1, runtimeProcs()), 4)
	for _, c := range []struct {
		name  string
		shape []int
		limit int64 // bytes of RSS
	}{
		// one span: block 0's 4 parts
		{"small", []int{1000, 256}, 160 * mb},
		// 6 spans: 4 of dictionary, 2 coded with all of it
		{"large", []int{12288, 1024}, int64(34+8+76*coders+100) * mb},
	} {
		src := filepath.Join(dir, c.name+".actbits")
		n := c.shape[0] * c.shape[1]
		write(t, src, []layerData{{c.name, c.shape, sparse(rng, n, c.shape[1], 1)}}, 1<<20, "fastest")
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), rewriteChild+"="+src+","+filepath.Join(dir, c.name+"-best.actbits"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", c.name, err, out)
		}
		var rss int64
		if _, v, ok := strings.Cut(string(out), "VmHWM:"); !ok {
			t.Fatalf("%s: no VmHWM in %q", c.name, out)
		} else if kb, err := strconv.ParseInt(strings.Fields(v)[0], 10, 64); err != nil {
			t.Fatalf("%s: VmHWM:%s", c.name, v)
		} else {
			rss = kb << 10
		}
		t.Logf("%s %v at best: peak RSS %.0f MB (limit %d MB)", c.name, c.shape, float64(rss)/mb, c.limit/mb)
		if rss > c.limit {
			t.Errorf("%s %v at best: peak RSS %.0f MB, over %d MB", c.name, c.shape, float64(rss)/mb, c.limit/mb)
		}
	}
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
