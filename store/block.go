package store

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"sync"
)

// The raw (uncompressed) block payload, all integers little-endian:
//
//	u32 layer, u64 first observation, u32 nobs, u32 nmixed
//	zero mask:  W u64   units that fire on no observation of the block
//	full mask:  W u64   units that fire on every observation of the block
//	order:      nmixed uvarints: the other units, in storage order (by
//	            how often they fire in the block, then by index)
//	rows:       nobs x ceil(nmixed/8) bytes: observation o's bits over the
//	            stored units, bit j of byte k = stored unit 8k+j, padding zero
//
// W = ceil(units/64). Rows over rate-sorted units keep what plain row
// bitsets have (repeated patterns become zstd matches) while constant
// units cost nothing and bytes hold units of similar rates.
const blockHead = 4 + 8 + 4 + 4

// block is a decoded block.
type block struct {
	layer int
	first int64
	nobs  int
	zero  []uint64 // W words
	full  []uint64
	order []int   // stored units
	raw   []byte  // nobs rows of nb bytes over the stored units
	nb    int     // bytes per stored row
	colOf []int32 // unit -> index in order, or -1
	cw    int     // words per column
	once  sync.Once
	cols  []uint64 // len(order) * cw words, built on first use (columns())
}

// encodeBlock builds the raw payload of observations [first, first+nobs)
// from their row bits (W words each). scratch is reused between calls.
func encodeBlock(layer int, first int64, nobs, units int, rows []uint64, scratch *[]uint64) []byte {
	w := words(units)
	cw := words(nobs)
	// Transpose rows to columns, 64x64 tiles.
	need := w * 64 * cw
	if cap(*scratch) < need {
		*scratch = make([]uint64, need)
	}
	cols := (*scratch)[:need]
	var tile [64]uint64
	for s := 0; s < cw; s++ {
		for k := 0; k < w; k++ {
			for r := 0; r < 64; r++ {
				o := s*64 + r
				if o < nobs {
					tile[r] = rows[o*w+k]
				} else {
					tile[r] = 0
				}
			}
			transpose64(&tile)
			for j := 0; j < 64; j++ {
				cols[(k*64+j)*cw+s] = tile[j]
			}
		}
	}
	zero := make([]uint64, w)
	full := make([]uint64, w)
	type uc struct{ u, c int }
	mixed := make([]uc, 0, units)
	for u := 0; u < units; u++ {
		c := 0
		for _, x := range cols[u*cw : (u+1)*cw] {
			c += bits.OnesCount64(x)
		}
		switch c {
		case 0:
			zero[u/64] |= 1 << (u % 64)
		case nobs:
			full[u/64] |= 1 << (u % 64)
		default:
			mixed = append(mixed, uc{u, c})
		}
	}
	slices.SortFunc(mixed, func(a, b uc) int {
		if a.c != b.c {
			return a.c - b.c
		}
		return a.u - b.u
	})
	out := make([]byte, 0, maxRaw(units, nobs))
	out = binary.LittleEndian.AppendUint32(out, uint32(layer))
	out = binary.LittleEndian.AppendUint64(out, uint64(first))
	out = binary.LittleEndian.AppendUint32(out, uint32(nobs))
	out = binary.LittleEndian.AppendUint32(out, uint32(len(mixed)))
	for _, m := range [][]uint64{zero, full} {
		for _, x := range m {
			out = binary.LittleEndian.AppendUint64(out, x)
		}
	}
	for _, m := range mixed {
		out = binary.AppendUvarint(out, uint64(m.u))
	}
	// Rows over the stored units: transpose the columns back, 64x64.
	nm := len(mixed)
	nb := (nm + 7) / 8
	n := len(out)
	out = out[:n+nobs*nb]
	for k := 0; k < words(nm); k++ {
		for s := 0; s < cw; s++ {
			for j := 0; j < 64; j++ {
				if i := k*64 + j; i < nm {
					tile[j] = cols[mixed[i].u*cw+s]
				} else {
					tile[j] = 0
				}
			}
			transpose64(&tile)
			for r := 0; r < 64; r++ {
				o := s*64 + r
				if o >= nobs {
					break
				}
				row := out[n+o*nb:]
				for by := k * 8; by < min(nb, k*8+8); by++ {
					row[by] = byte(tile[r] >> (8 * (by - k*8)))
				}
			}
		}
	}
	return out
}

// maxRaw bounds the raw payload of a block of nobs observations of units.
func maxRaw(units, nobs int) int {
	return blockHead + 16*words(units) + 5*units + nobs*((units+7)/8)
}

// decodeBlock parses and checks a raw payload against what the index says.
func decodeBlock(raw []byte, layer int, first int64, nobs, units int) (*block, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
	}
	w := words(units)
	if len(raw) < blockHead+16*w {
		return nil, bad("block of %d bytes is too short", len(raw))
	}
	if l := int(binary.LittleEndian.Uint32(raw)); l != layer {
		return nil, bad("block belongs to layer %d, index says %d", l, layer)
	}
	if f := int64(binary.LittleEndian.Uint64(raw[4:])); f != first {
		return nil, bad("block starts at observation %d, index says %d", f, first)
	}
	if n := int(binary.LittleEndian.Uint32(raw[12:])); n != nobs {
		return nil, bad("block holds %d observations, index says %d", n, nobs)
	}
	nm := int(binary.LittleEndian.Uint32(raw[16:]))
	if nm > units {
		return nil, bad("%d stored units of %d", nm, units)
	}
	b := &block{layer: layer, first: first, nobs: nobs, cw: words(nobs)}
	p := raw[blockHead:]
	b.zero, b.full = make([]uint64, w), make([]uint64, w)
	for i := 0; i < w; i++ {
		b.zero[i] = binary.LittleEndian.Uint64(p[8*i:])
		b.full[i] = binary.LittleEndian.Uint64(p[8*(w+i):])
	}
	p = p[16*w:]
	b.colOf = make([]int32, units)
	for u := range b.colOf {
		b.colOf[u] = -1
	}
	tail := uint64(0)
	if units%64 != 0 {
		tail = ^uint64(0) << (units % 64)
	}
	if b.zero[w-1]&tail != 0 || b.full[w-1]&tail != 0 {
		return nil, bad("unit masks name units past %d", units)
	}
	for i := 0; i < w; i++ {
		if b.zero[i]&b.full[i] != 0 {
			return nil, bad("a unit is both silent and always on")
		}
	}
	b.order = make([]int, nm)
	for i := range b.order {
		u, n := binary.Uvarint(p)
		if n <= 0 || u >= uint64(units) {
			return nil, bad("bad unit number in block order")
		}
		p = p[n:]
		if b.colOf[u] >= 0 || (b.zero[u/64]|b.full[u/64])>>(u%64)&1 != 0 {
			return nil, bad("unit %d stored twice", u)
		}
		b.colOf[u] = int32(i)
		b.order[i] = int(u)
	}
	masked := 0
	for i := 0; i < w; i++ {
		masked += bits.OnesCount64(b.zero[i] | b.full[i])
	}
	if masked+nm != units {
		return nil, bad("block covers %d of %d units", masked+nm, units)
	}
	nb := (nm + 7) / 8
	if len(p) != nobs*nb {
		return nil, bad("block rows are %d bytes, want %d", len(p), nobs*nb)
	}
	if nm%8 != 0 {
		pad := byte(0xff) << (nm % 8)
		for o := 0; o < nobs; o++ {
			if p[o*nb+nb-1]&pad != 0 {
				return nil, bad("bits past the last stored unit")
			}
		}
	}
	b.raw, b.nb = p, nb
	return b, nil
}

// columns transposes the stored rows into one bitset per stored unit
// (64x64 tiles), once.
func (b *block) columns() []uint64 {
	b.once.Do(func() {
		nm, nb := len(b.order), b.nb
		b.cols = make([]uint64, b.cw*nm)
		var tile [64]uint64
		for k := 0; k < words(nm); k++ {
			for s := 0; s < b.cw; s++ {
				for r := 0; r < 64; r++ {
					var x uint64
					if o := s*64 + r; o < b.nobs {
						row := b.raw[o*nb:]
						for by := k * 8; by < min(nb, k*8+8); by++ {
							x |= uint64(row[by]) << (8 * (by - k*8))
						}
					}
					tile[r] = x
				}
				transpose64(&tile)
				for j := 0; j < 64; j++ {
					if i := k*64 + j; i < nm {
						b.cols[i*b.cw+s] = tile[j]
					}
				}
			}
		}
	})
	return b.cols
}

// fired reports whether unit u fired on observation o (relative to the
// block).
func (b *block) fired(u, o int) bool {
	if b.full[u/64]>>(u%64)&1 != 0 {
		return true
	}
	c := b.colOf[u]
	if c < 0 {
		return false
	}
	return b.raw[o*b.nb+int(c)/8]>>(c%8)&1 != 0
}

// unitCounts adds each unit's fires in the block to counts.
func (b *block) unitCounts(counts []uint64) {
	for u := range counts {
		if b.full[u/64]>>(u%64)&1 != 0 {
			counts[u] += uint64(b.nobs)
		}
	}
	cols := b.columns()
	for i, u := range b.order {
		n := 0
		for _, x := range cols[i*b.cw : (i+1)*b.cw] {
			n += bits.OnesCount64(x)
		}
		counts[u] += uint64(n)
	}
}

// rows rebuilds the block's row bits: nobs rows of W words.
func (b *block) rows(units int) []uint64 {
	w := words(units)
	out := make([]uint64, b.nobs*w)
	cols := b.columns()
	var tile [64]uint64
	for k := 0; k < w; k++ {
		for s := 0; s < b.cw; s++ {
			for j := 0; j < 64; j++ {
				u := k*64 + j
				switch {
				case u >= units:
					tile[j] = 0
				case b.full[k]>>j&1 != 0:
					tile[j] = ^uint64(0)
				case b.colOf[u] >= 0:
					tile[j] = cols[int(b.colOf[u])*b.cw+s]
				default:
					tile[j] = 0
				}
			}
			transpose64(&tile)
			for r := 0; r < 64; r++ {
				if o := s*64 + r; o < b.nobs {
					out[o*w+k] = tile[r]
				}
			}
		}
	}
	return out
}
