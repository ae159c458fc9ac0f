package store

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"sort"

	"github.com/actprof/actprof/profiler"
)

// The layout of a layer's blocks: where they start, which of them make the
// layer's Huffman tables and zstd dictionaries. A writer and a reader of
// any chunking agree on it, so the store's bytes do not depend on the
// backend, the chunk size or the workers.

// BlockObs is the number of observations per block for a layer of units:
// the largest power of two not above 2^19/units, clamped to [64, 2^16], so
// that a block's raw bits are about 64 KiB (one observation is found by
// decoding that much).
func BlockObs(units int) int {
	n := (1 << 19) / max(units, 1)
	if n < 64 {
		return 64
	}
	n = 1 << (bits.Len(uint(n)) - 1)
	return min(n, 1<<16)
}

// blockLen is the length of the block a writer cuts at observation o of a
// layer of units whose Geometry has inner observations per group of units
// (one sample's positions), with at most rem observations left. With
// bo = BlockObs(units): where a group fits in a block, blocks are bo
// rounded down to whole groups; where it does not, each group is cut into
// ceil(inner/bo) nearly even parts. o is an observation of the whole
// layer: in a part of a sharded run, whose observations start further
// in, the first block ends where the whole layer's block does, so that
// the parts' blocks are the whole layer's but at the parts' ends.
func blockLen(units int, inner, o int64, rem int) int {
	bo := int64(BlockObs(units))
	inner = max(inner, 1)
	n := bo / inner * inner
	if n > 0 {
		n -= o % n
	}
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

// tableBlocks: at level fastest the layer's Huffman tables, which block 0
// carries, are made from the layer's first tableBlocks blocks (about 256
// KiB of raw bits: enough bytes for a table per plane on most layers),
// and the storage order at level best is sorted by the fires in them.
const tableBlocks = 4

// dictBlocks: at level best the blocks after the first dictBlocks take
// the raw payloads of the first dictBlocks (about 1 MiB) as zstd
// dictionary.
const dictBlocks = 16

// dictOf is the number of the layer's first blocks whose raw payloads are
// block k's zstd dictionary: 0 for block 0, else the largest power of two
// not above k, at most dictBlocks (1; 2, 2; 4 x 4; 8 x 8; then 16): a
// block sees at least half of the blocks before it, with 5 dictionaries
// per layer.
func dictOf(k int) int {
	if k <= 0 {
		return 0
	}
	return min(1<<(bits.Len(uint(k))-1), dictBlocks)
}

// ownTablesMargin: at level fastest a block is stored with tables of its
// own where the layer's tables code it in more than ownTablesMargin times
// the bytes its own would (tables included).
const ownTablesMargin = 1.05

// entry locates one block.
type entry struct {
	Offset   uint64
	Length   uint32
	CRC      uint32
	FirstObs uint64
	NObs     uint32
	// Base is the block whose Huffman tables a codec-1 block is coded
	// with, and from which the first blocks of a codec-0 block's zstd
	// dictionary are counted: the first block of the run of blocks that
	// one writer coded together (0 but in the merge of parts).
	Base uint32
}

func (e *entry) put(b []byte) {
	binary.LittleEndian.PutUint64(b[0:], e.Offset)
	binary.LittleEndian.PutUint32(b[8:], e.Length)
	binary.LittleEndian.PutUint32(b[12:], e.CRC)
	binary.LittleEndian.PutUint64(b[16:], e.FirstObs)
	binary.LittleEndian.PutUint32(b[24:], e.NObs)
	binary.LittleEndian.PutUint32(b[28:], e.Base)
}

func getEntry(b []byte) entry {
	return entry{
		Offset: binary.LittleEndian.Uint64(b[0:]), Length: binary.LittleEndian.Uint32(b[8:]),
		CRC: binary.LittleEndian.Uint32(b[12:]), FirstObs: binary.LittleEndian.Uint64(b[16:]),
		NObs: binary.LittleEndian.Uint32(b[24:]), Base: binary.LittleEndian.Uint32(b[28:]),
	}
}

// appendIndex appends the index of the layers' storage orders and entries.
func appendIndex(idx []byte, orders [][]int32, index [][]entry) []byte {
	for i, es := range index {
		idx = binary.LittleEndian.AppendUint32(idx, uint32(len(orders[i])))
		for _, u := range orders[i] {
			idx = binary.LittleEndian.AppendUint32(idx, uint32(u))
		}
		idx = binary.LittleEndian.AppendUint64(idx, uint64(len(es)))
		for _, e := range es {
			var b [entryLen]byte
			e.put(b[:])
			idx = append(idx, b[:]...)
		}
	}
	return idx
}

// appendFooter appends the footer of an index idx at offset off.
func appendFooter(dst []byte, off int64, idx []byte) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, uint64(off))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(len(idx)))
	dst = binary.LittleEndian.AppendUint32(dst, checksum(idx))
	dst = binary.LittleEndian.AppendUint32(dst, FormatVersion)
	return append(dst, footerMagic...)
}

// parseIndex reads the index idx of a store whose header h is valid
// (checkHeader) and whose blocks lie in [dataStart, idxOff): each layer's
// storage order (pos: unit -> position) and entries, which must cover its
// observations in order, in blocks no longer than BlockObs, within the
// data. It returns what is wrong, or "".
//
// A block's base must be at or before it (block 0 in version 3), and in a
// part each block lies within one of the layer's ranges.
func parseIndex(idx []byte, h Header, dataStart, idxOff int64) (pos [][]int32, index [][]entry, msg string) {
	for _, l := range h.Layers {
		gm := newGlobalMap(l)
		if len(idx) < 4 || int(binary.LittleEndian.Uint32(idx)) != l.Units || len(idx) < 4+4*l.Units+8 {
			return nil, nil, fmt.Sprintf("index too short or wrong unit count for layer %q", l.Name)
		}
		p := make([]int32, l.Units)
		for u := range p {
			p[u] = -1
		}
		for k := 0; k < l.Units; k++ {
			u := binary.LittleEndian.Uint32(idx[4+4*k:])
			if u >= uint32(l.Units) || p[u] >= 0 {
				return nil, nil, fmt.Sprintf("layer %q: storage order is not a permutation", l.Name)
			}
			p[u] = int32(k)
		}
		idx = idx[4+4*l.Units:]
		n := binary.LittleEndian.Uint64(idx)
		idx = idx[8:]
		if n > uint64(len(idx)/entryLen) || n == 0 {
			return nil, nil, fmt.Sprintf("index too short for layer %q", l.Name)
		}
		es := make([]entry, n)
		var next uint64
		for k := range es {
			e := getEntry(idx[k*entryLen:])
			if e.FirstObs != next || e.NObs == 0 || int(e.NObs) > BlockObs(l.Units) || int64(e.Offset) < dataStart ||
				e.Length == 0 || int64(e.Offset)+int64(e.Length) > idxOff || int(e.Base) > k ||
				h.FormatVersion == oldFormatVersion && e.Base != 0 || !gm.within(e.FirstObs, e.NObs) {
				return nil, nil, fmt.Sprintf("layer %q: index entry %d is inconsistent", l.Name, k)
			}
			next += uint64(e.NObs)
			es[k] = e
		}
		if next != uint64(l.Observations) {
			return nil, nil, fmt.Sprintf("layer %q: index covers %d of %d observations", l.Name, next, l.Observations)
		}
		idx = idx[n*entryLen:]
		pos, index = append(pos, p), append(index, es)
	}
	if len(idx) != 0 {
		return nil, nil, fmt.Sprintf("index has %d extra bytes", len(idx))
	}
	return pos, index, ""
}

// globalMap maps a layer's observations to the whole layer's: the
// identity in a store of a whole run, through the ranges in a part.
type globalMap struct {
	ranges []profiler.ObsRange
	starts []uint64 // the part's first observation in each range
}

func newGlobalMap(l LayerInfo) globalMap {
	m := globalMap{ranges: l.Ranges}
	var n uint64
	for _, r := range l.Ranges {
		m.starts = append(m.starts, n)
		n += r.Count
	}
	return m
}

// rangeOf returns the range holding the part's observation o (-1 for a
// whole run's layer).
func (m globalMap) rangeOf(o uint64) int {
	if m.ranges == nil {
		return -1
	}
	return sort.Search(len(m.starts), func(k int) bool { return m.starts[k] > o }) - 1
}

// global is the whole layer's observation of the part's o.
func (m globalMap) global(o uint64) uint64 {
	k := m.rangeOf(o)
	if k < 0 {
		return o
	}
	return m.ranges[k].First + o - m.starts[k]
}

// within reports whether observations [o, o+n) lie in one range.
func (m globalMap) within(o uint64, n uint32) bool {
	k := m.rangeOf(o)
	return k < 0 || o+uint64(n) <= m.starts[k]+m.ranges[k].Count
}

// dictID names, in a zstd frame of layer i, the dictionary made of the
// layer's first j blocks.
func dictID(i, j int) uint32 { return uint32(i+1) | uint32(j-1)<<24 }
