// Command capi is actprof's C ABI, built with -buildmode=c-shared into
// python/actprof/_libactprof.so (make python), which the Python package
// loads with ctypes. The calls are coarse (one per batch of a layer):
//
//	char *actprof_open(const char *config_json, int64_t *handle);
//	char *actprof_count(int64_t handle, const char *layer, void *data,
//	                    const char *dtype, int ndim, const int64_t *shape,
//	                    const int64_t *strides, const char *device);
//	char *actprof_summary(int64_t handle, char **table);
//	char *actprof_write(int64_t handle, const char *path);
//	char *actprof_layers(int64_t handle, char **json);
//	char *actprof_finish(int64_t handle, const char *outputs_json);
//	char *actprof_close(int64_t handle);
//	void  actprof_free(char *s);
//
// Each returns NULL on success or an error message (free it with
// actprof_free); a Go panic becomes such a message, never a crash.
// Strides are in bytes (NULL: C order). Facts a caller must respect: one
// Go runtime lives in a process, so the library is loaded once and never
// unloaded; a child forked from a process that has called into the
// library must not call into it (the Go runtime's threads are not in the
// child): the Python package checks the process id before every call and
// refuses in a child, and the library checks it again.
package main

/*
#include <stdint.h>
#include <stdlib.h>
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"unsafe"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/internal/atomicfile"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/report"
	"github.com/actprof/actprof/store"
)

// config is open's JSON.
type config struct {
	Threshold float64        `json:"threshold"`
	RareBelow float64        `json:"rare_below"`
	UnitAxis  map[string]int `json:"unit_axis"`
	Stats     bool           `json:"stats"`
	// Statistics' readings (defaults as the CLI's) and saturation ranges
	// by layer pattern.
	DormantTau     *float64              `json:"dormant_tau"`
	SaturatedAbove *float64              `json:"saturated_above"`
	DeadWindow     uint64                `json:"dead_window"`
	Saturate       map[string][2]float64 `json:"saturate"`
	// Patterns keeps every observation's fired bits for a pattern store,
	// in temporary files in PatternDir (default the system's).
	Patterns   bool   `json:"patterns"`
	PatternDir string `json:"pattern_dir"`
	// QueueBytes > 0 counts asynchronously (profiler.LiveOptions).
	QueueBytes int64 `json:"queue_bytes"`
}

// outputs is finish's JSON: the profile's path, the pattern store's path
// and level, and for a process of a distributed run, its part.
type outputs struct {
	Out           string    `json:"out"`
	Patterns      string    `json:"patterns"`
	PatternsLevel string    `json:"patterns_level"`
	Part          *partSpec `json:"part"`
}

// partSpec is a rank's part of a distributed run: its rank, the run's id
// and every rank's layers (layers[r]: rank r's LayerInfos).
type partSpec struct {
	Rank   int                        `json:"rank"`
	Run    string                     `json:"run"`
	Layers [][]profiler.LiveLayerInfo `json:"layers"`
}

// openProfile is a live profile opened by actprof_open, by its handle.
type openProfile struct {
	live *profiler.Live
	pid  int
	thr  profiler.Threshold // the kernels' threshold, for CUDA tensors
	gpu  gpuState
}

var (
	mu       sync.Mutex
	profiles = map[int64]*openProfile{}
	next     int64
)

func main() {}

// cerr is err as a C string (nil for nil).
func cerr(err error) *C.char {
	if err == nil {
		return nil
	}
	return C.CString(err.Error())
}

// guard turns a panic into an error.
func guard(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("actprof: internal error: %v", r)
	}
}

func get(h C.int64_t) (*openProfile, error) {
	mu.Lock()
	s := profiles[int64(h)]
	mu.Unlock()
	if s == nil {
		return nil, fmt.Errorf("actprof: no open profile %d (closed already?)", int64(h))
	}
	if s.pid != os.Getpid() {
		return nil, fmt.Errorf("actprof: the profile was opened in process %d; a forked child (a DataLoader worker) cannot count into it", s.pid)
	}
	return s, nil
}

// getSynced is get, after the counts of the profile's CUDA tensors are
// added to its profile.
func getSynced(h C.int64_t) (*openProfile, error) {
	s, err := get(h)
	if err != nil {
		return nil, err
	}
	if err := s.gpuSync(); err != nil {
		return nil, fmt.Errorf("actprof: %w", err)
	}
	return s, nil
}

func open(cfg string, handle *C.int64_t) (err error) {
	defer guard(&err)
	var c config
	dec := json.NewDecoder(strings.NewReader(cfg))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return fmt.Errorf("actprof: bad configuration: %v", err)
	}
	opt := profiler.LiveOptions{Backend: cpu.New(), Threshold: c.Threshold, RareBelow: c.RareBelow, UnitAxis: c.UnitAxis,
		Patterns: c.Patterns, PatternDir: c.PatternDir, QueueBytes: c.QueueBytes}
	if c.Stats {
		so := profiler.DefaultStats()
		if c.DormantTau != nil {
			so.DormantTau = *c.DormantTau
		}
		if c.SaturatedAbove != nil {
			so.SaturatedAbove = *c.SaturatedAbove
		}
		so.DeadWindow = c.DeadWindow
		if len(c.Saturate) > 0 {
			so.Saturate = map[string]profiler.Range{}
			for k, v := range c.Saturate {
				so.Saturate[k] = profiler.Range{Lo: v[0], Hi: v[1]}
			}
		}
		opt.Stats = so
	} else if c.DormantTau != nil || c.SaturatedAbove != nil || c.DeadWindow != 0 || c.Saturate != nil {
		return fmt.Errorf("actprof: statistics' settings given without stats")
	}
	lv, err := profiler.NewLive(opt)
	if err != nil {
		return fmt.Errorf("actprof: %w", err)
	}
	thr, err := profiler.NewThreshold(c.Threshold)
	if err != nil {
		return fmt.Errorf("actprof: %w", err)
	}
	mu.Lock()
	next++
	profiles[next] = &openProfile{live: lv, pid: os.Getpid(), thr: thr}
	*handle = C.int64_t(next)
	mu.Unlock()
	return nil
}

//export actprof_open
func actprof_open(cfg *C.char, handle *C.int64_t) *C.char {
	return cerr(open(C.GoString(cfg), handle))
}

var dtypes = map[string]profiler.DType{"float32": profiler.Float32, "float16": profiler.Float16, "bfloat16": profiler.BFloat16, "float64": profiler.Float64}

func count(h C.int64_t, layer *C.char, data unsafe.Pointer, dtype *C.char, ndim C.int, shape, strides *C.int64_t, device *C.char) (err error) {
	defer guard(&err)
	s, err := get(h)
	if err != nil {
		return err
	}
	name := C.GoString(layer)
	dev := C.GoString(device)
	if dev != "cpu" {
		return fmt.Errorf("actprof: layer %s: tensor on %s: count it with actprof_count_cuda", name, dev)
	}
	dt, sh, err := batchShape(name, dtype, ndim, shape)
	if err != nil {
		return err
	}
	var st []int64
	if strides != nil {
		st = append(st, unsafe.Slice((*int64)(unsafe.Pointer(strides)), int(ndim))...)
	}
	// the bytes the batch spans
	size := int64(dt.Size())
	n, empty := size, false
	for i, d := range sh {
		if d == 0 {
			empty = true
		}
		if st == nil {
			n *= int64(d)
		} else if st[i] > 0 {
			n += int64(d-1) * st[i]
		} else if st[i] < 0 {
			return fmt.Errorf("actprof: layer %s: negative stride %d", name, st[i])
		}
	}
	var buf []byte
	if !empty {
		if data == nil {
			return fmt.Errorf("actprof: layer %s: null data pointer", name)
		}
		buf = unsafe.Slice((*byte)(data), int(n))
	}
	if err := s.live.Add(name, dt, sh, st, buf); err != nil {
		return fmt.Errorf("actprof: %w", err)
	}
	return nil
}

// batchShape reads a batch's dtype and shape.
func batchShape(name string, dtype *C.char, ndim C.int, shape *C.int64_t) (profiler.DType, []int, error) {
	dt, ok := dtypes[C.GoString(dtype)]
	if !ok {
		return 0, nil, fmt.Errorf("actprof: layer %s: dtype %s not supported (float32, float16, bfloat16, float64)", name, C.GoString(dtype))
	}
	if ndim < 0 || ndim > 32 {
		return 0, nil, fmt.Errorf("actprof: layer %s: %d axes", name, int(ndim))
	}
	sh := make([]int, int(ndim))
	if ndim > 0 {
		cs := unsafe.Slice((*int64)(unsafe.Pointer(shape)), int(ndim))
		for i, d := range cs {
			if d < 0 || d > 1<<50 {
				return 0, nil, fmt.Errorf("actprof: layer %s: dimension %d", name, d)
			}
			sh[i] = int(d)
		}
	}
	return dt, sh, nil
}

func countCUDA(h C.int64_t, layer *C.char, data C.uintptr_t, dtype *C.char, ndim C.int, shape *C.int64_t, ordinal C.int, stream C.uintptr_t) (err error) {
	defer guard(&err)
	s, err := get(h)
	if err != nil {
		return err
	}
	name := C.GoString(layer)
	dt, sh, err := batchShape(name, dtype, ndim, shape)
	if err != nil {
		return err
	}
	if err := s.countCUDA(name, dt, sh, uintptr(data), int(ordinal), uintptr(stream)); err != nil {
		return fmt.Errorf("actprof: %w", err)
	}
	return nil
}

// actprof_count_cuda counts a C-order CUDA tensor of layer in place on GPU
// ordinal, on stream (a CUstream; 0: the legacy default stream): the
// kernels are queued there, and their counts read when the profile is.
//
//export actprof_count_cuda
func actprof_count_cuda(h C.int64_t, layer *C.char, data C.uintptr_t, dtype *C.char, ndim C.int, shape *C.int64_t, ordinal C.int, stream C.uintptr_t) *C.char {
	return cerr(countCUDA(h, layer, data, dtype, ndim, shape, ordinal, stream))
}

//export actprof_count
func actprof_count(h C.int64_t, layer *C.char, data unsafe.Pointer, dtype *C.char, ndim C.int, shape, strides *C.int64_t, device *C.char) *C.char {
	return cerr(count(h, layer, data, dtype, ndim, shape, strides, device))
}

func summary(h C.int64_t, table **C.char) (err error) {
	defer guard(&err)
	s, err := getSynced(h)
	if err != nil {
		return err
	}
	p, err := s.live.Profile()
	if err != nil {
		return fmt.Errorf("actprof: %w", err)
	}
	var b strings.Builder
	if err := report.WriteTable(&b, p); err != nil {
		return fmt.Errorf("actprof: %w", err)
	}
	*table = C.CString(b.String())
	return nil
}

//export actprof_summary
func actprof_summary(h C.int64_t, table **C.char) *C.char {
	return cerr(summary(h, table))
}

func write(h C.int64_t, path string) (err error) {
	defer guard(&err)
	s, err := getSynced(h)
	if err != nil {
		return err
	}
	p, err := s.live.Profile()
	if err != nil {
		return fmt.Errorf("actprof: %w", err)
	}
	if err := atomicfile.Write(path, func(w io.Writer) error { return p.Encode(w) }); err != nil {
		return fmt.Errorf("actprof: %w", err)
	}
	return nil
}

//export actprof_write
func actprof_write(h C.int64_t, path *C.char) *C.char {
	return cerr(write(h, C.GoString(path)))
}

func layers(h C.int64_t, out **C.char) (err error) {
	defer guard(&err)
	s, err := getSynced(h)
	if err != nil {
		return err
	}
	ls, err := s.live.LayerInfos()
	if err != nil {
		return fmt.Errorf("actprof: %w", err)
	}
	b, err := json.Marshal(ls)
	if err != nil {
		return err
	}
	*out = C.CString(string(b))
	return nil
}

//export actprof_layers
func actprof_layers(h C.int64_t, out **C.char) *C.char {
	return cerr(layers(h, out))
}

// finish writes the outputs as the actprof command does: both complete
// before either is renamed into place, so an error leaves neither.
func finish(h C.int64_t, spec string) (err error) {
	defer guard(&err)
	s, err := getSynced(h)
	if err != nil {
		return err
	}
	var o outputs
	dec := json.NewDecoder(strings.NewReader(spec))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return fmt.Errorf("actprof: bad outputs: %v", err)
	}
	if o.Patterns != "" && o.Patterns == o.Out {
		return fmt.Errorf("actprof: the profile and the pattern store are both %s", o.Out)
	}
	var p *profiler.Profile
	if o.Part != nil {
		p, err = s.live.Part(o.Part.Rank, o.Part.Run, o.Part.Layers)
	} else {
		p, err = s.live.Profile()
	}
	if err != nil {
		return fmt.Errorf("actprof: %w", err)
	}
	var pending *atomicfile.Pending
	if o.Out != "" {
		if pending, err = atomicfile.Begin(o.Out); err != nil {
			return fmt.Errorf("actprof: %w", err)
		}
		defer pending.Abort() // after Commit, a no-op
		if err := pending.Fill(p.Encode, false); err != nil {
			return fmt.Errorf("actprof: %w", err)
		}
	}
	if o.Patterns != "" {
		if err := writePatterns(s.live, o.Patterns, o.PatternsLevel, p, o.Part); err != nil {
			return fmt.Errorf("actprof: %w", err)
		}
	}
	if pending != nil {
		if err := pending.Commit(false); err != nil {
			if o.Patterns != "" {
				os.Remove(o.Patterns)
			}
			return fmt.Errorf("actprof: %w", err)
		}
	}
	return nil
}

// writePatterns writes the live profile's pattern store, whole or not at
// all: for part (a rank of a distributed run, whose profile is p), the
// part's store, whose layers are the run's over every rank's batches.
func writePatterns(lv *profiler.Live, path, level string, p *profiler.Profile, part *partSpec) error {
	var h store.Header
	var names []string
	if part != nil {
		plans, rows, err := lv.PartPlans(part.Rank, part.Layers)
		if err != nil {
			return err
		}
		h = store.NewPartHeader(plans, p.Threshold, rows, p.Shard)
		names = p.Shard.Layers
	} else {
		plans, err := lv.Plans()
		if err != nil {
			return err
		}
		h = store.NewHeader(plans, p.Threshold)
	}
	if len(h.Layers) == 0 && part == nil {
		return fmt.Errorf("%s: no layer was counted: no pattern store to write", path)
	}
	w, err := store.Create(path, h, level)
	if err != nil {
		return err
	}
	if part != nil {
		err = lv.WritePartPatterns(w, names)
	} else {
		err = lv.WritePatterns(w)
	}
	if err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}

//export actprof_finish
func actprof_finish(h C.int64_t, spec *C.char) *C.char {
	return cerr(finish(h, C.GoString(spec)))
}

func closeSession(h C.int64_t) (err error) {
	defer guard(&err)
	if _, err := get(h); err != nil {
		return err
	}
	mu.Lock()
	s := profiles[int64(h)]
	delete(profiles, int64(h))
	mu.Unlock()
	s.gpuClose()
	s.live.Finish()
	return nil
}

//export actprof_close
func actprof_close(h C.int64_t) *C.char {
	return cerr(closeSession(h))
}

//export actprof_free
func actprof_free(s *C.char) {
	C.free(unsafe.Pointer(s))
}
