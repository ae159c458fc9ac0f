// Package store keeps per-observation activation patterns (which units
// fired) in a compressed, seekable file written during profiling: the
// .actbits format, documented in docs/format.md.
//
// A layer's observations are cut into blocks of about 64 KiB of raw bits
// (layout.go). A block holds one row of bits per observation over the
// layer's storage order (units sorted by firing rate at level best, their
// natural order at level fastest) and is stored with one of two codecs:
// byte planes Huffman-coded (package huff) with the layer's tables, which
// block 0 carries, or with tables of its own; or zstd with the layer's
// first blocks as dictionary. Header, blocks and index are checksummed.
// The index at the end of the file locates every block, so any
// observation is decoded by reading one block (and block 0's tables once).
package store

import (
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"

	"github.com/actprof/actprof/profiler"
)

// Sentinel errors.
var (
	// ErrCorrupt: the store is damaged (checksum, length or consistency).
	ErrCorrupt = errors.New("corrupt pattern store")
	// ErrRange: a layer, observation or unit that the store does not have.
	ErrRange = errors.New("out of range")
)

// FormatVersion of the .actbits files this package writes and reads.
const FormatVersion = 3

// Codecs is the header's codec field for version 3: every stored block
// starts with a codec byte, codecZstd, codecHuff or codecHuffOwn.
const Codecs = "zstd+huff"

const (
	codecZstd    = 0 // a zstd frame (block 0 plain, the others with the first blocks as dictionary)
	codecHuff    = 1 // byte planes, Huffman-coded with the layer's tables (block 0's)
	codecHuffOwn = 2 // byte planes, Huffman-coded with tables the block carries
)

const (
	magic       = "ACTBITS\x00"
	footerMagic = "ACTBEND\x00"
	footerLen   = 32
	entryLen    = 32
	headLen     = 16 // magic, u32 header length, u32 header checksum
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
	}
	if msg := checkLayers(h); msg != "" {
		return fmt.Errorf("%w: the pattern store cannot hold it: %s", profiler.ErrShape, msg)
	}
	return nil
}

// checkHeader says what makes h a header no store has, or "": every field
// is checked against the others (a header whose checksum matches was
// written so; these checks keep a reader from trusting a writer's bug).
func checkHeader(h Header) string {
	switch {
	case h.FormatVersion != FormatVersion || h.Codec != Codecs:
		return fmt.Sprintf("format version %d codec %q (this actprof reads version %d, codec %s)", h.FormatVersion, h.Codec, FormatVersion, Codecs)
	case math.IsNaN(h.Threshold) || math.IsInf(h.Threshold, 0):
		return fmt.Sprintf("threshold %v", h.Threshold)
	}
	return checkLayers(h)
}

// checkLayers says what makes h's layers ones no store holds, or "".
func checkLayers(h Header) string {
	if len(h.Layers) == 0 {
		return "no layers"
	}
	seen := map[string]bool{}
	for _, l := range h.Layers {
		if seen[l.Name] {
			return fmt.Sprintf("layer %q twice", l.Name)
		}
		seen[l.Name] = true
		if msg := checkLayer(l); msg != "" {
			return fmt.Sprintf("layer %q: %s", l.Name, msg)
		}
	}
	return ""
}

// checkLayer says what makes l a layer no store holds, or "".
func checkLayer(l LayerInfo) string {
	if l.Name == "" {
		return "no name"
	}
	if !slices.ContainsFunc([]profiler.DType{profiler.Float32, profiler.Float16, profiler.BFloat16, profiler.Float64},
		func(d profiler.DType) bool { return d.String() == l.DType }) {
		return fmt.Sprintf("dtype %q", l.DType)
	}
	if l.Units <= 0 || l.Units > maxUnits {
		return fmt.Sprintf("%d units (1 to %d)", l.Units, maxUnits)
	}
	g, err := profiler.NewGeometry(l.Shape, l.UnitAxis)
	switch {
	case err != nil:
		return err.Error()
	case l.UnitAxis < 0 || l.UnitAxis >= len(l.Shape):
		return fmt.Sprintf("unit axis %d of a %d-D shape", l.UnitAxis, len(l.Shape))
	case g.Units != int64(l.Units) || g.Observations() != l.Observations:
		return fmt.Sprintf("shape %v with unit axis %d has %d units and %d observations, not %d and %d",
			l.Shape, l.UnitAxis, g.Units, g.Observations(), l.Units, l.Observations)
	case l.ObsPerSample != obsPerSample(l.Shape, l.UnitAxis, l.Observations):
		return fmt.Sprintf("%d observations per sample, its shape %v gives %d", l.ObsPerSample, l.Shape, obsPerSample(l.Shape, l.UnitAxis, l.Observations))
	}
	return ""
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// words is the number of 64-bit words of n bits.
func words(n int) int { return (n + 63) / 64 }
