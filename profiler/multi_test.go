package profiler_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/profiler/backendtest"
)

// fakeDevice is a GPU stand-in: the CPU reference behind the Device
// interface, with host buffers of its own and a count of the blocks it
// counted, and of those that lay in its own buffers.
type fakeDevice struct {
	name          string
	ref           *cpu.Backend
	blocks, owned atomic.Int64
	mu            sync.Mutex
	bufs          map[uintptr]int // base address: length
	closed        bool
}

func newFake(name string) *fakeDevice {
	return &fakeDevice{name: name, ref: cpu.New(), bufs: map[uintptr]int{}}
}

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

func (f *fakeDevice) Name() string { return f.name }
func (f *fakeDevice) Count(b *profiler.Block, t *profiler.Tally) error {
	f.blocks.Add(1)
	if len(b.Data) > 0 {
		a := addr(b.Data)
		f.mu.Lock()
		for base, n := range f.bufs {
			if a >= base && a < base+uintptr(n) {
				f.owned.Add(1)
				break
			}
		}
		f.mu.Unlock()
	}
	return f.ref.Count(b, t)
}
func (f *fakeDevice) Workers() int    { return 2 }
func (f *fakeDevice) ChunkBytes() int { return 1 << 16 }
func (f *fakeDevice) AllocHost(n int) ([]byte, error) {
	b := make([]byte, n)
	if n > 0 {
		f.mu.Lock()
		f.bufs[addr(b)] = n
		f.mu.Unlock()
	}
	return b, nil
}
func (f *fakeDevice) FreeHost(b []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.bufs[addr(b)]; !ok {
		panic(fmt.Sprintf("%s: FreeHost of a buffer it did not allocate", f.name))
	}
	delete(f.bufs, addr(b))
}
func (f *fakeDevice) Close() error { f.closed = true; return nil }

func TestMultiConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("the whole conformance suite again; run without -short (make test does)")
	}
	backendtest.Run(t, func() (profiler.Backend, error) {
		return profiler.NewMulti(newFake("fake:0"), newFake("fake:1"), newFake("fake:2"))
	}, backendtest.Options{SkipPast2to32: "the CPU reference's own suite runs it"})
}

// A run over three fake devices spreads its blocks over all three, each
// counting mostly blocks in its own buffers, and gives the CPU's profile.
func TestMultiSpreadsBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	data := backendtest.Gen(rng, profiler.Float32, 4000*96, 0)
	layer := readAtLayer("fc", profiler.Float32, []int{4000, 96}, data)
	want := run(t, []profiler.Layer{layer}, profiler.Options{Stats: profiler.DefaultStats()})
	fakes := []*fakeDevice{newFake("fake:0"), newFake("fake:1"), newFake("fake:2")}
	m, err := profiler.NewMulti(fakes[0], fakes[1], fakes[2])
	if err != nil {
		t.Fatal(err)
	}
	if m.Name() != "fake:0+fake:1+fake:2" || m.Workers() != 6 {
		t.Fatalf("name %q, workers %d", m.Name(), m.Workers())
	}
	got, err := profiler.Run(context.Background(), []profiler.Layer{layer}, profiler.Options{Backend: m, Stats: profiler.DefaultStats(), ChunkBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	g, _ := profiler.NewGeometry([]int{4000, 96}, 1)
	checkLayer(t, got.Layers[0], profiler.Float32, data, g, 0)
	checkStats(t, got.Layers[0], statsOf(profiler.Float32, data, g, 0, nil))
	if a, b := got.Layers[0].Stats, want.Layers[0].Stats; !reflect.DeepEqual(a.ValueHist, b.ValueHist) || !reflect.DeepEqual(a.Dormant, b.Dormant) {
		t.Fatal("the statistics over three devices differ from the CPU's")
	}
	var total int64
	for _, f := range fakes {
		total += f.blocks.Load()
		if f.owned.Load() != f.blocks.Load() {
			t.Errorf("%s counted %d blocks, only %d of them in its own buffers", f.name, f.blocks.Load(), f.owned.Load())
		}
	}
	if total == 0 {
		t.Fatal("no block counted")
	}
	// routing, deterministically: a block in part k's buffer goes to part
	// k; buffers are handed out by the parts in turn
	before := []int64{fakes[0].blocks.Load(), fakes[1].blocks.Load(), fakes[2].blocks.Load()}
	thr, _ := profiler.NewThreshold(0)
	for i := range 6 {
		buf, err := m.AllocHost(4 * 96 * 10)
		if err != nil {
			t.Fatal(err)
		}
		copy(buf, data)
		tl := profiler.NewTally(96)
		if err := m.Count(&profiler.Block{DType: profiler.Float32, Thr: thr, Geom: g, Data: buf[4*96:]}, tl); err != nil {
			t.Fatal(err)
		}
		if k := i % 3; fakes[k].blocks.Load() != before[k]+int64(i/3+1) {
			t.Fatalf("buffer %d: not counted by part %d", i, k)
		}
		m.FreeHost(buf) // panics in the fake if it goes back elsewhere
	}
	if err := m.Close(); err != nil || !fakes[0].closed || !fakes[2].closed {
		t.Errorf("Close: %v", err)
	}
	if _, err := profiler.NewMulti(fakes[0], fakes[0]); err == nil {
		t.Error("a backend given twice")
	}
}
