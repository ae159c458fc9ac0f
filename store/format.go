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

// FormatVersion of the .actbits files this package writes. It reads
// these and those of version 3 (whose index entries all name block 0 as
// their base, the only difference).
const FormatVersion = 4

// oldFormatVersion is the earlier version a reader still takes.
const oldFormatVersion = 3

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
	// Shard, in a part of a sharded run (profile --shard I/N --patterns),
	// says which shards of which input set it holds: the record its
	// partial profile carries. Its Layers are every layer of the run; a
	// layer of which the part holds no observation is not in Layers, and
	// each layer that is lists its Ranges. nil in a store of a whole run.
	Shard *profiler.ShardRecord `json:"shard,omitempty"`
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
	// Ranges, in a part (Header.Shard), are the observations of the whole
	// layer that the part holds, ascending and apart: the part's
	// observation o is the o-th of them. Observations is their sum;
	// Shape, and so ObsPerSample, are the whole layer's.
	Ranges []profiler.ObsRange `json:"ranges,omitempty"`
}

// WholeObservations is the observations of the whole layer: Observations,
// or for a part of it those its shape gives.
func (l LayerInfo) WholeObservations() int64 {
	if l.Ranges == nil {
		return l.Observations
	}
	g, err := profiler.NewGeometry(l.Shape, l.UnitAxis)
	if err != nil {
		return l.Observations
	}
	return g.Observations()
}

// runIndex is the index of header layer i among the run's layers: the
// layer number its blocks carry (the same in a part and in the merge of
// parts, so that blocks move between them unchanged).
func (h *Header) runIndex(i int) int {
	if h.Shard == nil {
		return i
	}
	return slices.Index(h.Shard.Layers, h.Layers[i].Name)
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
	case h.FormatVersion != FormatVersion && h.FormatVersion != oldFormatVersion || h.Codec != Codecs:
		return fmt.Sprintf("format version %d codec %q (this actprof reads versions %d and %d, codec %s)", h.FormatVersion, h.Codec, oldFormatVersion, FormatVersion, Codecs)
	case h.Shard != nil && h.FormatVersion == oldFormatVersion:
		return "a shard record in a version 3 header"
	case math.IsNaN(h.Threshold) || math.IsInf(h.Threshold, 0):
		return fmt.Sprintf("threshold %v", h.Threshold)
	}
	return checkLayers(h)
}

// checkLayers says what makes h's layers ones no store holds, or "".
func checkLayers(h Header) string {
	if msg := checkShard(h); msg != "" {
		return msg
	}
	if len(h.Layers) == 0 && h.Shard == nil {
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
		if msg := checkRanges(l, h.Shard != nil); msg != "" {
			return fmt.Sprintf("layer %q: %s", l.Name, msg)
		}
	}
	return ""
}

// checkShard says what makes h's shard record one no part has, or "":
// shards ascending below the count, the run's layers distinct, the
// header's layers among them in their order.
func checkShard(h Header) string {
	sr := h.Shard
	if sr == nil {
		return ""
	}
	if sr.Count < 1 || len(sr.Shards) == 0 {
		return fmt.Sprintf("shard: count %d with shards %v", sr.Count, sr.Shards)
	}
	for i, s := range sr.Shards {
		if s < 0 || s >= sr.Count || i > 0 && s <= sr.Shards[i-1] {
			return fmt.Sprintf("shard: shards %v: want ascending indices below count %d", sr.Shards, sr.Count)
		}
	}
	for i, name := range sr.Layers {
		if slices.Index(sr.Layers, name) != i {
			return fmt.Sprintf("shard: layer %q is listed twice", name)
		}
	}
	last := -1
	for i := range h.Layers {
		k := h.runIndex(i)
		if k <= last {
			return fmt.Sprintf("layer %q: not in the shard record's layers, or out of their order", h.Layers[i].Name)
		}
		last = k
	}
	return ""
}

// checkRanges says what is wrong with l's ranges, or "": a part's layers
// have them (ascending, apart, none empty, within the whole layer, adding
// up to Observations), a whole run's have none.
func checkRanges(l LayerInfo, part bool) string {
	if !part {
		if l.Ranges != nil {
			return "ranges without the header's shard record"
		}
		return ""
	}
	if len(l.Ranges) == 0 {
		return "a part's layer without ranges"
	}
	whole := uint64(l.WholeObservations())
	var sum, end uint64
	for i, r := range l.Ranges {
		last := r.First + r.Count
		if r.Count == 0 || last < r.First || last > whole || i > 0 && r.First <= end {
			return fmt.Sprintf("ranges: [%d, +%d) is empty, past the layer's %d observations or not after the range before it", r.First, r.Count, whole)
		}
		sum += r.Count
		end = last
	}
	if sum != uint64(l.Observations) {
		return fmt.Sprintf("%d observations, but its ranges hold %d", l.Observations, sum)
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
	case g.Units != int64(l.Units) || l.Ranges == nil && g.Observations() != l.Observations:
		return fmt.Sprintf("shape %v with unit axis %d has %d units and %d observations, not %d and %d",
			l.Shape, l.UnitAxis, g.Units, g.Observations(), l.Units, l.Observations)
	case l.ObsPerSample != obsPerSample(l.Shape, l.UnitAxis, g.Observations()):
		return fmt.Sprintf("%d observations per sample, its shape %v gives %d", l.ObsPerSample, l.Shape, obsPerSample(l.Shape, l.UnitAxis, g.Observations()))
	}
	return ""
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// words is the number of 64-bit words of n bits.
func words(n int) int { return (n + 63) / 64 }
