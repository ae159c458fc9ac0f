// Package store keeps per-observation activation patterns (which units
// fired) in a compressed, seekable file written during profiling: the
// .actbits format, documented in docs/format.md.
//
// A layer's observations are cut into blocks of at most BlockObs(units)
// observations. A block holds one row of bits per observation over the
// layer's storage order (units sorted by firing rate, or their natural order
// at level fastest) and is stored with one of three codecs: zstd with the
// layer's first blocks as dictionary, byte planes Huffman-coded per plane
// (planes.go), or byte planes coded with Huffman codes fixed for the layer
// by block 0 (static.go); each block is checksummed. An index at the end of
// the file locates every block, so any observation is decoded by reading
// one block (and block 0 once).
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/bits"

	"github.com/actprof/actprof/profiler"
)

// Sentinel errors.
var (
	// ErrCorrupt: the store is damaged (checksum, length or consistency).
	ErrCorrupt = errors.New("corrupt pattern store")
	// ErrRange: a layer, observation or unit that the store does not have.
	ErrRange = errors.New("out of range")
)

// FormatVersion of the .actbits files this package writes. It reads
// version 1 too (every block a bare zstd frame, header codec "zstd").
const FormatVersion = 2

// Codecs is the header's codec field for version 2: every stored block
// starts with a codec byte, codecZstd, codecPlanes or codecStatic.
const Codecs = "zstd+planes+static"

const (
	codecZstd   = 0 // a zstd frame (block 0 plain, the others with the first blocks as dictionary)
	codecPlanes = 1 // the planes codec (planes.go)
	codecStatic = 2 // byte planes, Huffman codes fixed per layer by block 0 (static.go)
)

const (
	magic       = "ACTBITS\x00"
	footerMagic = "ACTBEND\x00"
	footerLen   = 32
	entryLen    = 32
	maxHeader   = 64 << 20
	maxUnits    = 1 << 20 // per layer; bounds what a damaged header can make a reader allocate
)

// Header describes the store's layers; it is stored as JSON after the magic.
type Header struct {
	FormatVersion int         `json:"format_version"`
	Codec         string      `json:"codec"`
	Threshold     float64     `json:"threshold"`
	Layers        []LayerInfo `json:"layers"`
}

// LayerInfo is one layer of a store.
type LayerInfo struct {
	Name         string `json:"name"`
	DType        string `json:"dtype"`
	Shape        []int  `json:"shape"`
	UnitAxis     int    `json:"unit_axis"`
	Units        int    `json:"units"`
	Observations int64  `json:"observations"`
	// ObsPerSample is the number of observations per sample (axis-0
	// index): the product of the axes after the unit axis, times those
	// between axis 0 and the unit axis. Where the unit axis is axis 0 there
	// is no sample axis: the array is one sample, and ObsPerSample is
	// Observations (obsPerSample).
	ObsPerSample int64 `json:"observations_per_sample"`
}

// obsPerSample is LayerInfo.ObsPerSample for a layer of shape, unit axis
// and observations.
func obsPerSample(shape []int, unitAxis int, observations int64) int64 {
	if unitAxis == 0 || len(shape) == 0 || shape[0] <= 0 {
		return observations
	}
	return observations / int64(shape[0])
}

// CheckHeader reports why a store with header h could not be read back
// (what Open refuses in a layer), or nil. Create calls it, so that a store
// it starts is one that Open takes; a header made by NewHeader from plans
// that profiler.PlanLayers accepted passes, unless a layer has more units
// than a store takes (1<<20).
func CheckHeader(h Header) error {
	for _, l := range h.Layers {
		if l.Units > maxUnits {
			return fmt.Errorf("%w: layer %s: %d units; the pattern store takes at most %d per layer", profiler.ErrBadOption, l.Name, l.Units, maxUnits)
		}
		if msg := checkLayer(l); msg != "" {
			return fmt.Errorf("%w: layer %s: the pattern store cannot hold it: %s", profiler.ErrShape, l.Name, msg)
		}
	}
	return nil
}

// checkLayer says what makes l a layer no store holds, or "".
func checkLayer(l LayerInfo) string {
	switch {
	case l.Units <= 0 || l.Units > maxUnits:
		return fmt.Sprintf("%d units (1 to %d)", l.Units, maxUnits)
	case l.Observations <= 0:
		return fmt.Sprintf("%d observations", l.Observations)
	case l.ObsPerSample <= 0 || l.ObsPerSample > l.Observations || l.Observations%l.ObsPerSample != 0:
		return fmt.Sprintf("%d observations per sample does not divide its %d observations", l.ObsPerSample, l.Observations)
	}
	return ""
}

// entry locates one block.
type entry struct {
	Offset   uint64
	Length   uint32
	CRC      uint32
	FirstObs uint64
	NObs     uint32
}

func (e *entry) put(b []byte) {
	binary.LittleEndian.PutUint64(b[0:], e.Offset)
	binary.LittleEndian.PutUint32(b[8:], e.Length)
	binary.LittleEndian.PutUint32(b[12:], e.CRC)
	binary.LittleEndian.PutUint64(b[16:], e.FirstObs)
	binary.LittleEndian.PutUint32(b[24:], e.NObs)
	binary.LittleEndian.PutUint32(b[28:], 0)
}

func getEntry(b []byte) entry {
	return entry{
		Offset: binary.LittleEndian.Uint64(b[0:]), Length: binary.LittleEndian.Uint32(b[8:]),
		CRC: binary.LittleEndian.Uint32(b[12:]), FirstObs: binary.LittleEndian.Uint64(b[16:]),
		NObs: binary.LittleEndian.Uint32(b[24:]),
	}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// BlockObs is the number of observations per block for a layer of units:
// a power of two of at least 64 that keeps a block's raw bits near 256 KiB
// (measured: larger blocks compress real activations better, smaller ones
// answer single-observation queries sooner).
func BlockObs(units int) int {
	n := (1 << 21) / max(units, 1)
	if n < 64 {
		return 64
	}
	n = 1 << (bits.Len(uint(n)) - 1)
	return min(n, 1<<18)
}

// blockLen is the length of the block a writer cuts at observation o of a
// layer of units whose Geometry has inner observations per group of units
// (one sample's positions), with at most rem observations left. With
// bo = BlockObs(units): where a group fits in a block, blocks are bo
// rounded down to whole groups; where it does not, each group is cut into
// ceil(inner/bo) nearly even parts. The driver hands the writer chunks of
// whole groups (and whole blocks, ChunkObservations), so blocks start at
// the same observations whatever the chunk size: the store's bytes do not
// depend on the backend or its chunk size.
func blockLen(units int, inner, o int64, rem int) int {
	bo := int64(BlockObs(units))
	inner = max(inner, 1)
	n := bo / inner * inner
	if inner > bo {
		q := (inner + bo - 1) / bo
		pos := o % inner
		// part j spans [floor(j*inner/q), floor((j+1)*inner/q)); the one
		// holding pos has j < (pos+1)*q/inner <= j+1
		j := ((pos+1)*q - 1) / inner
		n = (j+1)*inner/q - pos
	}
	return int(min(n, int64(rem)))
}

// firstBlocksObs is the observations that a layer's first k blocks span,
// rounded up to whole groups: what chunk 0 must hold for them.
func firstBlocksObs(units int, inner int64, k int) int {
	inner = max(inner, 1)
	var o int64
	for ; k > 0; k-- {
		o += int64(blockLen(units, inner, o, math.MaxInt))
	}
	return int((o + inner - 1) / inner * inner)
}

// words is the number of 64-bit words of n bits.
func words(n int) int { return (n + 63) / 64 }
