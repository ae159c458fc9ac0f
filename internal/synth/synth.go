// Package synth writes synthetic activation datasets: .npy files of
// post-ReLU-like values with planted dead, rare, always-on, dormant,
// constant and saturated units, streamed
// so that any size can be made, and a manifest (synth.json) that names the
// planted units. Output is deterministic for a seed.
package synth

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/actprof/actprof/internal/atomicfile"
	"github.com/actprof/actprof/internal/npyfmt"
	"github.com/actprof/actprof/profiler"
)

// LayerSpec is one layer to write: its name and the shape of one sample
// (the file's shape is [Rows] + Dims).
type LayerSpec struct {
	Name string
	Dims []int
}

// ParseLayerSpec reads NAME:D1xD2x... (e.g. fc1:512, conv1:64x8x8,
// attn:16x256).
func ParseLayerSpec(s string) (LayerSpec, error) {
	name, dims, ok := strings.Cut(s, ":")
	if !ok || name == "" || strings.ContainsAny(name, "/\\") {
		return LayerSpec{}, fmt.Errorf("layer spec %q: want NAME:D1xD2..., e.g. fc1:512", s)
	}
	var ls LayerSpec
	ls.Name = name
	for _, d := range strings.Split(dims, "x") {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return LayerSpec{}, fmt.Errorf("layer spec %q: bad dimension %q", s, d)
		}
		ls.Dims = append(ls.Dims, n)
	}
	return ls, nil
}

// Config describes a dataset.
type Config struct {
	Dir    string
	Rows   int // samples (axis 0)
	Layers []LayerSpec
	DType  profiler.DType // Float32, Float16 or Float64 (.npy has no bfloat16)
	Seed   uint64
	// Fractions of each layer's units planted dead (never > 0), rare (fire
	// on about RareRate of observations, at least once) and always on.
	Dead, Rare, AlwaysOn float64
	RareRate             float64
	// Fractions planted dormant (fire as ordinary units do, with values
	// 1e-4 times theirs), constant (ConstantValue on every observation)
	// and saturated (SaturatedValue, the cap of a ReLU6, on about 99.5% of
	// observations, an ordinary positive value on the rest). Constant and
	// saturated units fire on every observation: they are always on too.
	Dormant, Constant, Saturated float64
	// Workers generating in parallel; default GOMAXPROCS.
	Workers int
}

// DefaultConfig is the built-in example: a small MLP-and-conv stack.
func DefaultConfig(dir string) Config {
	return Config{Dir: dir, Rows: 20000, DType: profiler.Float32, Seed: 1,
		Layers: []LayerSpec{{"fc1", []int{512}}, {"fc2", []int{256}}, {"conv3", []int{32, 6, 6}}, {"fc4", []int{64}}},
		Dead:   0.05, Rare: 0.02, AlwaysOn: 0.01, RareRate: 1e-4, Dormant: 0.02, Constant: 0.01, Saturated: 0.01}
}

// The values of planted constant and saturated units.
const (
	ConstantValue  = 0.75
	SaturatedValue = 6
)

// Manifest is what synth.json records: the planted units of each layer.
type Manifest struct {
	Seed     uint64          `json:"seed"`
	DType    string          `json:"dtype"`
	RareRate float64         `json:"rare_rate"`
	Layers   []ManifestLayer `json:"layers"`
}

// ManifestLayer lists one layer's planted units.
type ManifestLayer struct {
	Name     string `json:"name"`
	File     string `json:"file"`
	Shape    []int  `json:"shape"`
	UnitAxis int    `json:"unit_axis"`
	Dead     []int  `json:"dead"`
	Rare     []int  `json:"rare"`
	// AlwaysOn: every unit that fires on every observation, the constant
	// and saturated ones too.
	AlwaysOn []int `json:"always_on"`
	// Dormant: the units planted dormant (a profile's dormant units are
	// these, the dead and the rare ones: all have a mean |x| near 0).
	Dormant   []int `json:"dormant"`
	Constant  []int `json:"constant"`
	Saturated []int `json:"saturated"`
}

// unit kinds
const (
	normal = iota
	dead
	rare
	always
	dormant
	constant
	saturated
)

// plan assigns kinds and firing probabilities to units.
type plan struct {
	kind  []uint8
	p     []uint32 // firing probability * 2^32 for normal units
	rareP []uint64 // rare: period and phase
	rareF []uint64
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func makePlan(seed uint64, layer int, units int, c *Config, obs int64) plan {
	pl := plan{kind: make([]uint8, units), p: make([]uint32, units), rareP: make([]uint64, units), rareF: make([]uint64, units)}
	period := uint64(math.Max(1, math.Round(1/c.RareRate)))
	for u := 0; u < units; u++ {
		h := splitmix(seed ^ uint64(layer)<<40 ^ uint64(u))
		f := float64(h>>11) / (1 << 53)
		switch {
		case f < c.Dead:
			pl.kind[u] = dead
		case f < c.Dead+c.Rare:
			pl.kind[u] = rare
			pl.rareP[u] = period
			first := splitmix(h) % uint64(min(int64(period), obs))
			pl.rareF[u] = (period - first) % period
		case f < c.Dead+c.Rare+c.AlwaysOn:
			pl.kind[u] = always
		case f < c.Dead+c.Rare+c.AlwaysOn+c.Dormant:
			pl.kind[u] = dormant
		case f < c.Dead+c.Rare+c.AlwaysOn+c.Dormant+c.Constant:
			pl.kind[u] = constant
		case f < c.Dead+c.Rare+c.AlwaysOn+c.Dormant+c.Constant+c.Saturated:
			pl.kind[u] = saturated
		}
		switch pl.kind[u] {
		case normal, dormant:
			// Activation probability spread over (0.02, 0.7), mean about
			// 0.3: sparse, as trained ReLU layers are.
			g := float64(splitmix(h^0x5555)>>11) / (1 << 53)
			pr := 0.02 + 0.68*g*g
			pl.p[u] = uint32(pr * (1 << 32))
		}
	}
	return pl
}

// Write makes the dataset and its manifest. Each file is written atomically.
func Write(c Config) (*Manifest, error) {
	if c.Rows <= 0 {
		return nil, fmt.Errorf("rows must be positive")
	}
	if len(c.Layers) == 0 {
		return nil, fmt.Errorf("no layers")
	}
	switch c.DType {
	case profiler.Float32, profiler.Float16, profiler.Float64:
	default:
		return nil, fmt.Errorf("dtype %v: synth writes float32, float16 or float64", c.DType)
	}
	// written so that NaN, which compares false, fails too
	if !(c.RareRate > 0 && c.RareRate <= 1 && c.Dead >= 0 && c.Rare >= 0 && c.AlwaysOn >= 0 && c.Dormant >= 0 && c.Constant >= 0 && c.Saturated >= 0 &&
		c.Dead+c.Rare+c.AlwaysOn+c.Dormant+c.Constant+c.Saturated <= 1) {
		return nil, fmt.Errorf("fractions must be in [0, 1] and add up to at most 1, rare rate in (0, 1]")
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	// every layer's shape is checked before the folder is made
	for _, ls := range c.Layers {
		shape := append([]int{c.Rows}, ls.Dims...)
		if _, err := profiler.NewGeometry(shape, profiler.DefaultUnitAxis(len(shape))); err != nil {
			return nil, fmt.Errorf("layer %s: %w", ls.Name, err)
		}
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, err
	}
	m := &Manifest{Seed: c.Seed, DType: c.DType.String(), RareRate: c.RareRate}
	for li, ls := range c.Layers {
		shape := append([]int{c.Rows}, ls.Dims...)
		axis := profiler.DefaultUnitAxis(len(shape))
		g, err := profiler.NewGeometry(shape, axis)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", ls.Name, err)
		}
		pl := makePlan(c.Seed, li, int(g.Units), &c, g.Observations())
		ml := ManifestLayer{Name: ls.Name, File: ls.Name + ".npy", Shape: shape, UnitAxis: axis,
			Dead: []int{}, Rare: []int{}, AlwaysOn: []int{}, Dormant: []int{}, Constant: []int{}, Saturated: []int{}}
		for u, k := range pl.kind {
			switch k {
			case dead:
				ml.Dead = append(ml.Dead, u)
			case rare:
				ml.Rare = append(ml.Rare, u)
			case dormant:
				ml.Dormant = append(ml.Dormant, u)
			case constant:
				ml.Constant = append(ml.Constant, u)
			case saturated:
				ml.Saturated = append(ml.Saturated, u)
			}
			if k == always || k == constant || k == saturated {
				ml.AlwaysOn = append(ml.AlwaysOn, u)
			}
		}
		path := filepath.Join(c.Dir, ml.File)
		err = atomicfile.Write(path, func(w io.Writer) error {
			if _, err := w.Write(NpyHeader(c.DType, shape)); err != nil {
				return err
			}
			return writeData(w, &c, g, &pl, uint64(li))
		})
		if err != nil {
			return nil, err
		}
		m.Layers = append(m.Layers, ml)
	}
	err := atomicfile.Write(filepath.Join(c.Dir, "synth.json"), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	})
	return m, err
}

// NpyHeader returns a .npy header for a C-order little-endian array.
func NpyHeader(dt profiler.DType, shape []int) []byte {
	descr := map[profiler.DType]string{profiler.Float32: "<f4", profiler.Float16: "<f2", profiler.Float64: "<f8"}[dt]
	return npyfmt.Header(descr, shape)
}

// blockRows is how many samples (axis 0) one generating task makes.
const blockRows = 256

// writeData generates the array in blocks of samples, in parallel, and
// writes them in order.
func writeData(w io.Writer, c *Config, g profiler.Geometry, pl *plan, layer uint64) error {
	perRow := int(g.Units*g.Inner) * c.DType.Size()
	outerPerRow := g.Outer / int64(c.Rows) // outer groups per sample
	nblocks := (c.Rows + blockRows - 1) / blockRows
	results := make([]chan []byte, nblocks)
	for i := range results {
		results[i] = make(chan []byte, 1)
	}
	sem := make(chan struct{}, c.Workers*2)
	var wg sync.WaitGroup
	go func() {
		for b := 0; b < nblocks; b++ {
			sem <- struct{}{}
			wg.Add(1)
			go func(b int) {
				defer wg.Done()
				r0 := b * blockRows
				r1 := min(r0+blockRows, c.Rows)
				buf := make([]byte, (r1-r0)*int(outerPerRow)*perRow)
				fill(buf, c, g, pl, layer, int64(r0)*outerPerRow, int64(r1)*outerPerRow)
				results[b] <- buf
			}(b)
		}
	}()
	for b := 0; b < nblocks; b++ {
		buf := <-results[b]
		<-sem
		if _, err := w.Write(buf); err != nil {
			// drain so goroutines finish
			for b++; b < nblocks; b++ {
				<-results[b]
				<-sem
			}
			wg.Wait()
			return err
		}
	}
	wg.Wait()
	return nil
}

// fill writes outer groups [o0, o1) into buf.
func fill(buf []byte, c *Config, g profiler.Geometry, pl *plan, layer uint64, o0, o1 int64) {
	rng := splitmix(c.Seed ^ layer<<48 ^ uint64(o0)*0x9e3779b97f4a7c15)
	sz := c.DType.Size()
	pos := 0
	for o := o0; o < o1; o++ {
		for u := 0; u < int(g.Units); u++ {
			kind := pl.kind[u]
			for i := int64(0); i < g.Inner; i++ {
				// xorshift64*
				rng ^= rng >> 12
				rng ^= rng << 25
				rng ^= rng >> 27
				r := rng * 0x2545f4914f6cdd1d
				var v float32
				switch kind {
				case normal:
					if uint32(r>>32) < pl.p[u] {
						v = 0.0625 + float32(r&0xffff)*(4.0/65536)
					}
				case always:
					v = 0.5 + float32(r&0xffff)*(2.0/65536)
				case dormant:
					if uint32(r>>32) < pl.p[u] {
						v = 1e-4 * (0.0625 + float32(r&0xffff)*(4.0/65536))
					}
				case constant:
					v = ConstantValue
				case saturated:
					v = SaturatedValue
					if uint32(r>>32) < 1<<32/200 { // 0.5%
						v = 0.0625 + float32(r&0xffff)*(4.0/65536)
					}
				case rare:
					obs := uint64(o*g.Inner + i)
					if (obs+pl.rareF[u])%pl.rareP[u] == 0 {
						v = 1 + float32(r&0xff)/256
					}
				}
				switch c.DType {
				case profiler.Float32:
					binary.LittleEndian.PutUint32(buf[pos:], math.Float32bits(v))
				case profiler.Float16:
					binary.LittleEndian.PutUint16(buf[pos:], profiler.F32ToF16Nearest(v))
				case profiler.Float64:
					binary.LittleEndian.PutUint64(buf[pos:], math.Float64bits(float64(v)))
				}
				pos += sz
			}
		}
	}
}
