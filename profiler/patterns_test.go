package profiler_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/profiler/backendtest"
)

// collect is a PatternSink that keeps every layer's bits in memory.
type collect struct {
	mu    sync.Mutex
	words []int
	bits  [][]uint64
	seen  [][]bool
	ended []bool
	// chunkObs is its Layout().Chunk: with it, the driver counts
	// several parts of ChunkBytes into each Write's buffer, on any of
	// its workers.
	chunkObs int
}

func (c *collect) BeginLayer(i int, p profiler.Plan) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := profiler.Words(int(p.Geom.Units))
	for len(c.bits) <= i {
		c.bits, c.seen, c.words, c.ended = append(c.bits, nil), append(c.seen, nil), append(c.words, 0), append(c.ended, false)
	}
	c.words[i] = w
	c.bits[i] = make([]uint64, p.Geom.Observations()*int64(w))
	c.seen[i] = make([]bool, p.Geom.Observations())
	return nil
}

func (c *collect) Write(i int, first int64, n int, bits []uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.words[i]
	if len(bits) != n*w {
		return fmt.Errorf("%d words for %d observations", len(bits), n)
	}
	copy(c.bits[i][first*int64(w):], bits)
	for o := first; o < first+int64(n); o++ {
		if c.seen[i][o] {
			return fmt.Errorf("observation %d written twice", o)
		}
		c.seen[i][o] = true
	}
	return nil
}

func (c *collect) Layout(i int) profiler.PatternLayout {
	return profiler.PatternLayout{Chunk: c.chunkObs}
}

func (c *collect) EndLayer(i int) error {
	if slices.Contains(c.seen[i], false) {
		return fmt.Errorf("layer %d: observations missing", i)
	}
	c.ended[i] = true
	return nil
}

func TestPatternsMatchOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for _, dt := range backendtest.DTypes {
		for _, shape := range [][]int{{500, 70}, {7, 9, 130}, {6, 5, 4, 3}, {65, 1}} {
			n := 1
			for _, d := range shape {
				n *= d
			}
			data := backendtest.Gen(rng, dt, n, 0)
			g, _ := profiler.NewGeometry(shape, profiler.DefaultUnitAxis(len(shape)))
			want := backendtest.Oracle(dt, data, 0, g, 0)
			for _, mk := range readPaths {
				for _, chunk := range []int{1, 999, 1 << 20} {
					for _, chunkObs := range []int{0, 37} {
						c := &collect{chunkObs: chunkObs}
						p := run(t, []profiler.Layer{mk("a", dt, shape, data), mk("b", dt, shape, data)},
							profiler.Options{Workers: 3, ChunkBytes: chunk, Patterns: c})
						for i := 0; i < 2; i++ {
							if !c.ended[i] || !slices.Equal(c.bits[i], want.Bits) {
								t.Fatalf("%v %v chunk %d, %d observations per Write, layer %d: patterns differ from the oracle", dt, shape, chunk, chunkObs, i)
							}
							if !slices.Equal(p.Layers[i].Counts, want.Counts) {
								t.Fatalf("counts differ with patterns on")
							}
						}
					}
				}
			}
		}
	}
}

// failing is a sink whose Write fails from its nth call on.
type failing struct {
	collect
	mu    sync.Mutex
	calls int
	n     int
}

var errSinkFull = errors.New("sink full")

func (f *failing) Write(i int, first int64, n int, bits []uint64) error {
	f.mu.Lock()
	f.calls++
	c := f.calls
	f.mu.Unlock()
	if c >= f.n {
		return errSinkFull
	}
	return f.collect.Write(i, first, n, bits)
}

// TestPatternsSinkError: a sink's Write error (handed over to the pattern
// goroutines) stops the run with that error, on both read paths, without
// hanging, however many Writes are in flight.
func TestPatternsSinkError(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	shape := []int{4000, 70}
	data := backendtest.Gen(rng, profiler.Float32, 4000*70, 0)
	for _, mk := range readPaths {
		for _, n := range []int{1, 2, 5} {
			s := &failing{n: n}
			_, err := profiler.Run(context.Background(), []profiler.Layer{mk("a", profiler.Float32, shape, data)},
				profiler.Options{Backend: cpu.New(), Workers: 3, ChunkBytes: 256, Patterns: s})
			if !errors.Is(err, errSinkFull) {
				t.Errorf("Write failing from call %d: Run returned %v", n, err)
			}
		}
	}
}

// slow is a sink of Slow layout whose Writes take a while, and which records
// how many ran at once, chunk 0's aside (the driver writes it from the
// worker that counted it).
type slow struct {
	collect
	mu        sync.Mutex
	now, most int
}

func (s *slow) Layout(i int) profiler.PatternLayout {
	return profiler.PatternLayout{Chunk: s.chunkObs, Slow: true}
}

func (s *slow) Write(i int, first int64, n int, bits []uint64) error {
	if first == 0 {
		return s.collect.Write(i, first, n, bits)
	}
	s.mu.Lock()
	s.now++
	s.most = max(s.most, s.now)
	s.mu.Unlock()
	time.Sleep(3 * time.Millisecond)
	err := s.collect.Write(i, first, n, bits)
	s.mu.Lock()
	s.now--
	s.mu.Unlock()
	return err
}

// TestPatternsSlowSink: a Slow sink's Writes run on as many goroutines as
// there are workers (for a quick sink, one fewer), so that every core
// compresses when compression sets the pace; the patterns stay exact.
func TestPatternsSlowSink(t *testing.T) {
	shape, data, want := dense(5)
	for _, mk := range readPaths {
		s := &slow{}
		const workers = 3
		run(t, []profiler.Layer{mk("a", profiler.Float32, shape, data)},
			profiler.Options{Backend: cpu.New(), Workers: workers, ChunkBytes: 1024, Patterns: s})
		if !s.ended[0] || !slices.Equal(s.bits[0], want.Bits) {
			t.Fatal("patterns differ from the oracle")
		}
		if s.most != workers {
			t.Errorf("at most %d Writes at once, want %d (one per worker)", s.most, workers)
		}
	}
}

// ordered is a sink that records any Write of a layer's other chunks
// before its chunk 0's Write returned (chunk 0's Write takes a while).
type ordered struct {
	collect
	omu   sync.Mutex
	done  map[int]bool // layer: chunk 0 written
	early int
}

func (o *ordered) Write(i int, first int64, n int, bits []uint64) error {
	if first == 0 {
		time.Sleep(5 * time.Millisecond)
		err := o.collect.Write(i, first, n, bits)
		o.omu.Lock()
		o.done[i] = true
		o.omu.Unlock()
		return err
	}
	o.omu.Lock()
	if !o.done[i] {
		o.early++
	}
	o.omu.Unlock()
	return o.collect.Write(i, first, n, bits)
}

// TestPatternsFirstChunkFirst: the driver hands a layer's other chunks to
// the sink only once its chunk 0 is written (so that the store need not
// copy them aside), on both read paths, and the patterns stay exact.
func TestPatternsFirstChunkFirst(t *testing.T) {
	shape, data, want := dense(7)
	for _, mk := range readPaths {
		o := &ordered{done: map[int]bool{}}
		run(t, []profiler.Layer{mk("a", profiler.Float32, shape, data), mk("b", profiler.Float32, shape, data)},
			profiler.Options{Backend: cpu.New(), Workers: 3, ChunkBytes: 1024, Patterns: o})
		for i := 0; i < 2; i++ {
			if !o.ended[i] || !slices.Equal(o.bits[i], want.Bits) {
				t.Fatalf("layer %d: patterns differ from the oracle", i)
			}
		}
		if o.early != 0 {
			t.Errorf("%d chunks written before their layer's chunk 0", o.early)
		}
	}
}

// failFirst is a backend that fails on a layer's first block, after the
// others have been counted (and queued behind it).
type failFirst struct{ profiler.Backend }

var errFirst = errors.New("first block failed")

func (f failFirst) Count(b *profiler.Block, t *profiler.Tally) error {
	if b.Start == 0 {
		time.Sleep(20 * time.Millisecond)
		return errFirst
	}
	return f.Backend.Count(b, t)
}

// TestPatternsFirstChunkFails: when the first chunk never reaches the
// sink, the chunks queued behind it are let go and the run ends with the
// error, on both read paths, instead of hanging.
func TestPatternsFirstChunkFails(t *testing.T) {
	shape, data, _ := dense(9)
	for _, mk := range readPaths {
		done := make(chan error, 1)
		go func() {
			_, err := profiler.Run(context.Background(), []profiler.Layer{mk("a", profiler.Float32, shape, data)},
				profiler.Options{Backend: failFirst{cpu.New()}, Workers: 3, ChunkBytes: 1024, Patterns: &collect{}})
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, errFirst) {
				t.Errorf("Run returned %v, want the first block's error", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Run hangs when the first chunk fails")
		}
	}
}

// readPaths make a layer of in-memory data read either way the driver
// reads: as a stream (Next) or at offsets (ReadAt).
var readPaths = []func(string, profiler.DType, []int, []byte) profiler.Layer{profiler.MemoryLayer, readAtLayer}

// dense is an 800 x 70 float32 layer from seed, and the oracle's result.
func dense(seed uint64) ([]int, []byte, backendtest.Result) {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	shape := []int{800, 70}
	data := backendtest.Gen(rng, profiler.Float32, 800*70, 0)
	g, _ := profiler.NewGeometry(shape, 1)
	return shape, data, backendtest.Oracle(profiler.Float32, data, 0, g, 0)
}
