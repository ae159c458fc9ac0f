package store

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/actprof/actprof/profiler"
)

// Levels are the compression levels a writer takes, by name.
var Levels = map[string]zstd.EncoderLevel{
	"fastest": zstd.SpeedFastest, "default": zstd.SpeedDefault,
	"better": zstd.SpeedBetterCompression, "best": zstd.SpeedBestCompression,
}

// Writer writes a store during a profiling run: it is the run's
// profiler.PatternSink. Blocks are encoded and compressed in the counting
// goroutines that deliver them, then written in order. The file appears
// under its name only when Close succeeds.
type Writer struct {
	path string
	f    *os.File
	bw   *bufio.Writer
	enc  *zstd.Encoder
	hdr  Header
	off  int64

	mu      sync.Mutex
	err     error
	index   [][]entry
	layer   int
	next    int64                   // next observation to write of the layer
	pending map[int64]*encodedChunk // chunks that arrived early, by first obs
	scratch sync.Pool
}

type encodedChunk struct {
	nobs   int64
	blocks []encoded
}

type encoded struct {
	first int64
	nobs  int
	data  []byte
}

// NewHeader describes plans as a store header.
func NewHeader(plans []profiler.Plan, threshold float64) Header {
	h := Header{FormatVersion: FormatVersion, Codec: "zstd", Threshold: threshold}
	for _, p := range plans {
		h.Layers = append(h.Layers, LayerInfo{
			Name: p.Layer.Name, DType: p.Layer.DType.String(), Shape: slices.Clone(p.Layer.Shape),
			UnitAxis: p.Geom.UnitAxis, Units: int(p.Geom.Units), Observations: p.Geom.Observations(),
			ObsPerSample: p.Geom.Observations() / int64(max(p.Layer.Shape[0], 1)),
		})
	}
	return h
}

// Create starts a store at path (written to a temporary file beside it).
// level is a key of Levels ("" means "default").
func Create(path string, h Header, level string) (*Writer, error) {
	if level == "" {
		level = "default"
	}
	lv, ok := Levels[level]
	if !ok {
		return nil, fmt.Errorf("%w: compression level %q (fastest, default, better, best)", profiler.ErrBadOption, level)
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(lv), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithEncoderCRC(false), zstd.WithZeroFrames(true))
	if err != nil {
		return nil, err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, &profiler.FileError{Path: path, Err: err}
	}
	w := &Writer{path: path, f: f, bw: bufio.NewWriterSize(f, 1<<20), enc: enc, hdr: h,
		index: make([][]entry, len(h.Layers)), layer: -1}
	w.write([]byte(magic))
	w.write(binary.LittleEndian.AppendUint32(nil, uint32(len(hj))))
	w.write(hj)
	if w.err != nil {
		w.Abort()
		return nil, w.err
	}
	return w, nil
}

func (w *Writer) write(b []byte) {
	if w.err != nil {
		return
	}
	if _, err := w.bw.Write(b); err != nil {
		w.err = &profiler.FileError{Path: w.path, Err: err}
	}
	w.off += int64(len(b))
}

// BeginLayer implements profiler.PatternSink.
func (w *Writer) BeginLayer(i int, p profiler.Plan) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if i < 0 || i >= len(w.hdr.Layers) || w.hdr.Layers[i].Name != p.Layer.Name || w.hdr.Layers[i].Units != int(p.Geom.Units) {
		return fmt.Errorf("%s: layer %d (%s) is not the store header's", w.path, i, p.Layer.Name)
	}
	w.layer, w.next, w.pending = i, 0, map[int64]*encodedChunk{}
	return w.err
}

// Write implements profiler.PatternSink: it encodes and compresses the
// observations, then writes them in order.
func (w *Writer) Write(i int, first int64, n int, bits []uint64) error {
	info := w.hdr.Layers[i]
	units := info.Units
	wd := words(units)
	bo := BlockObs(units)
	sp, _ := w.scratch.Get().(*[]uint64)
	if sp == nil {
		sp = new([]uint64)
	}
	ch := &encodedChunk{nobs: int64(n)}
	for o := 0; o < n; o += bo {
		k := min(bo, n-o)
		raw := encodeBlock(i, first+int64(o), k, units, bits[o*wd:(o+k)*wd], sp)
		ch.blocks = append(ch.blocks, encoded{first + int64(o), k, w.enc.EncodeAll(raw, nil)})
	}
	w.scratch.Put(sp)

	w.mu.Lock()
	defer w.mu.Unlock()
	if i != w.layer {
		return fmt.Errorf("%s: patterns of layer %d written during layer %d", w.path, i, w.layer)
	}
	w.pending[first] = ch
	for {
		c, ok := w.pending[w.next]
		if !ok {
			break
		}
		delete(w.pending, w.next)
		for _, b := range c.blocks {
			w.index[i] = append(w.index[i], entry{Offset: uint64(w.off), Length: uint32(len(b.data)),
				CRC: checksum(b.data), FirstObs: uint64(b.first), NObs: uint32(b.nobs)})
			w.write(b.data)
		}
		w.next += c.nobs
	}
	return w.err
}

// ChunkObservations implements profiler.PatternSink: whole blocks.
func (w *Writer) ChunkObservations(i int) int { return BlockObs(w.hdr.Layers[i].Units) }

// EndLayer implements profiler.PatternSink.
func (w *Writer) EndLayer(i int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.next != w.hdr.Layers[i].Observations || len(w.pending) != 0 {
		return fmt.Errorf("%s: layer %s: %d of %d observations written", w.path, w.hdr.Layers[i].Name, w.next, w.hdr.Layers[i].Observations)
	}
	return w.err
}

// Close writes the index and footer and renames the file into place.
func (w *Writer) Close() error {
	for i, l := range w.hdr.Layers {
		var n int64
		for _, e := range w.index[i] {
			n += int64(e.NObs)
		}
		if n != l.Observations {
			w.Abort()
			return fmt.Errorf("%s: layer %s: %d of %d observations written", w.path, l.Name, n, l.Observations)
		}
	}
	var idx []byte
	for _, es := range w.index {
		idx = binary.LittleEndian.AppendUint64(idx, uint64(len(es)))
		for _, e := range es {
			var b [entryLen]byte
			e.put(b[:])
			idx = append(idx, b[:]...)
		}
	}
	idxOff := w.off
	w.write(idx)
	foot := binary.LittleEndian.AppendUint64(nil, uint64(idxOff))
	foot = binary.LittleEndian.AppendUint64(foot, uint64(len(idx)))
	foot = binary.LittleEndian.AppendUint32(foot, checksum(idx))
	foot = binary.LittleEndian.AppendUint32(foot, FormatVersion)
	foot = append(foot, footerMagic...)
	w.write(foot)
	if w.err == nil {
		if err := w.bw.Flush(); err != nil {
			w.err = err
		} else if err := w.f.Sync(); err != nil {
			w.err = err
		} else if err := w.f.Close(); err != nil {
			w.err = err
		} else if err := os.Chmod(w.f.Name(), 0o644); err != nil {
			w.err = err
		} else if err := os.Rename(w.f.Name(), w.path); err != nil {
			w.err = err
		}
	}
	if w.err != nil {
		err := w.err
		w.Abort()
		if _, ok := err.(*profiler.FileError); !ok {
			err = &profiler.FileError{Path: w.path, Err: err}
		}
		return err
	}
	w.enc.Close()
	return nil
}

// Abort removes the temporary file; the store is not written.
func (w *Writer) Abort() {
	w.f.Close()
	os.Remove(w.f.Name())
	w.enc.Close()
}
