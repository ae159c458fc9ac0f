package input

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
)

// TestLargeFileRSS profiles a file of ACTPROF_BIG_GIB GiB (4 unless set;
// run only with ACTPROF_BIG_TESTS set) and checks that peak RSS stays far
// below its size: data are mapped a window at a time. Example:
// ACTPROF_BIG_TESTS=1 ACTPROF_BIG_GIB=20 go test -run LargeFile -v ./input/
func TestLargeFileRSS(t *testing.T) {
	gib := 4
	if v := os.Getenv("ACTPROF_BIG_GIB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("ACTPROF_BIG_GIB=%q: want a whole number of GiB", v)
		}
		gib = n
	}
	bigTest(t, fmt.Sprintf("writes a %d GiB file", gib))
	dir := os.Getenv("ACTPROF_BIG_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	p := filepath.Join(dir, "big.npy")
	rows := gib << 30 / 4096
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(p)
	dict := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 1024), }", rows)
	for (10+len(dict)+1)%64 != 0 {
		dict += " "
	}
	f.Write(append([]byte(npyMagic+"\x01\x00"), byte(len(dict)+1), byte((len(dict)+1)>>8)))
	f.Write([]byte(dict + "\n"))
	block := pattern(16 << 20)
	for i := 0; i < gib*64; i++ {
		if _, err := f.Write(block); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	ls, err := Open([]string{p}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := profiler.Run(context.Background(), ls, profiler.Options{Backend: cpu.New()}); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	hwm := peakRSS(t)
	t.Logf("%d GiB in %v (%.2f GB/s), peak RSS %d MiB", gib, d, float64(gib<<30)/d.Seconds()/1e9, hwm>>20)
	if hwm > 512<<20 {
		t.Fatalf("peak RSS %d MiB", hwm>>20)
	}
}

// peakRSS reads VmHWM from /proc/self/status.
func peakRSS(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Skip("no VmHWM")
	return 0
}
