package store

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/actprof/actprof/internal/bitmat"
)

// The raw (uncompressed) block payload, integers little-endian:
//
//	u32 layer, u64 first observation, u32 nobs
//	rows: nobs x ceil(units/8) bytes: observation first+k's bits, bit j of
//	      byte i = unit order[8i+j] (the layer's storage order), padding 0
//
// The storage order is fixed per layer: at levels other than fastest, units
// sorted by how often they fire in the layer's first block (dead units
// first, always-on last, ties by index), so bytes hold units of similar
// rates and constant units make constant bytes; at level fastest, the
// natural order. How a payload is compressed (zstd with the layer's first
// blocks as dictionary, or byte planes) is the writer's and reader's
// business (writer.go, planes.go, static.go), not this file's.
const blockHead = 4 + 8 + 4

// putHead writes a block payload's head.
func putHead(dst []byte, layer int, first int64, nobs int) {
	binary.LittleEndian.PutUint32(dst, uint32(layer))
	binary.LittleEndian.PutUint64(dst[4:], uint64(first))
	binary.LittleEndian.PutUint32(dst[12:], uint32(nobs))
}

// rowBytes is the size of one stored row.
func rowBytes(units int) int { return (units + 7) / 8 }

// rawLen is the exact raw payload size of a block.
func rawLen(units, nobs int) int { return blockHead + nobs*rowBytes(units) }

// layerOrder sorts units by their fires in rows (nobs observations, W words
// each), ascending, ties by index.
func layerOrder(units, nobs int, rows []uint64) []int32 {
	w := words(units)
	counts := make([]int, units)
	for o := 0; o < nobs; o++ {
		for k, x := range rows[o*w : (o+1)*w] {
			for ; x != 0; x &= x - 1 {
				counts[k*64+bits.TrailingZeros64(x)]++
			}
		}
	}
	order := make([]int32, units)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(a, b int32) int { return counts[a] - counts[b] })
	return order
}

// inverse returns the storage order from unit positions.
func inverse(pos []int32) []int32 {
	order := make([]int32, len(pos))
	for u, p := range pos {
		order[p] = int32(u)
	}
	return order
}

// identityOrder is the natural order of units.
func identityOrder(units int) []int32 {
	order := make([]int32, units)
	for i := range order {
		order[i] = int32(i)
	}
	return order
}

func isIdentity(order []int32) bool {
	for i, u := range order {
		if int(u) != i {
			return false
		}
	}
	return true
}

// encodeBlock builds the raw payload of observations [first, first+nobs)
// from their row bits (W words each, natural unit order), permuted to order.
// scratch is reused between calls; the payload is written into dst when it
// is large enough (the result aliases it), else into a new slice.
func encodeBlock(layer int, first int64, nobs int, order []int32, rows []uint64, scratch *[]uint64, dst []byte) []byte {
	units := len(order)
	w := words(units)
	nb := rowBytes(units)
	out := dst
	if n := rawLen(units, nobs); cap(out) >= n {
		out = out[:n]
	} else {
		out = make([]byte, n)
	}
	putHead(out, layer, first, nobs)
	body := out[blockHead:]
	if isIdentity(order) {
		// Natural order: each row's words, truncated to nb bytes.
		for o := 0; o < nobs; o++ {
			row, src := body[o*nb:(o+1)*nb], rows[o*w:(o+1)*w]
			for k := 0; k < nb/8; k++ {
				binary.LittleEndian.PutUint64(row[k*8:], src[k])
			}
			if r := nb % 8; r != 0 {
				x := src[nb/8]
				for by := nb &^ 7; by < nb; by++ {
					row[by] = byte(x)
					x >>= 8
				}
			}
		}
		return out
	}
	cw := words(nobs)
	// Rows to columns (64x64 tiles), then columns in storage order back to
	// rows: a permutation of each row's bits at the cost of two transposes.
	need := w * 64 * cw
	if cap(*scratch) < need {
		*scratch = make([]uint64, need)
	}
	cols := (*scratch)[:need]
	var tile [64]uint64
	for s := 0; s < cw; s++ {
		for k := 0; k < w; k++ {
			for r := 0; r < 64; r++ {
				if o := s*64 + r; o < nobs {
					tile[r] = rows[o*w+k]
				} else {
					tile[r] = 0
				}
			}
			bitmat.Transpose64(&tile)
			for j := 0; j < 64; j++ {
				cols[(k*64+j)*cw+s] = tile[j]
			}
		}
	}
	for k := 0; k < w; k++ {
		for s := 0; s < cw; s++ {
			for j := 0; j < 64; j++ {
				if i := k*64 + j; i < units {
					tile[j] = cols[int(order[i])*cw+s]
				} else {
					tile[j] = 0
				}
			}
			bitmat.Transpose64(&tile)
			for r := 0; r < 64; r++ {
				o := s*64 + r
				if o >= nobs {
					break
				}
				row := body[o*nb:]
				if k*8+8 <= nb {
					binary.LittleEndian.PutUint64(row[k*8:], tile[r])
					continue
				}
				x := tile[r]
				for by := k * 8; by < nb; by++ {
					row[by] = byte(x)
					x >>= 8
				}
			}
		}
	}
	return out
}

// block is a decoded block: its rows, or its byte planes (from the planes
// codec: a single-observation query then needs no transpose).
type block struct {
	layer   int
	first   int64
	nobs    int
	raw     []byte // nobs rows of nb bytes, storage order (from planes on first use)
	planes  []byte // or nil: nb planes of nobs bytes
	rawOnce sync.Once
	nb      int     // bytes per row
	pos     []int32 // unit -> position in the storage order
	order   []int32 // position -> unit (the layer's storage order)
	cw      int     // words per column
	once    sync.Once
	cols    []uint64     // per position, cw words each, built on first use
	refs    atomic.Int32 // see Layer.block
	rawBuf  []byte       // raw's whole buffer, from blockBufs, when the block owns it
}

// blockBufs recycles the buffers blocks decode into (getBuf, putBuf).
var blockBufs sync.Pool

// getBuf returns a buffer of n bytes, recycled if one large enough is at
// hand; its contents are whatever it held.
func getBuf(n int) []byte {
	if p, _ := blockBufs.Get().(*[]byte); p != nil && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]byte, n)
}

// putBuf hands buf back for getBuf; nobody may use it after.
func putBuf(buf []byte) {
	if cap(buf) > 0 {
		buf = buf[:0]
		blockBufs.Put(&buf)
	}
}

// release drops a reference taken by Layer.block. The last returns the
// block's buffers for reuse.
func (b *block) release() {
	if b.refs.Add(-1) != 0 {
		return
	}
	putBuf(b.planes)
	putBuf(b.rawBuf)
	b.planes, b.raw, b.rawBuf = nil, nil, nil
}

// rowData returns the block's rows.
func (b *block) rowData() []byte {
	b.rawOnce.Do(func() {
		if b.raw == nil {
			b.rawBuf = getBuf(b.nb * b.nobs)
			b.raw = b.rawBuf
			fromPlanes(b.raw, b.planes, b.nb, b.nobs)
		}
	})
	return b.raw
}

// decodeBlock parses and checks a payload against what the index says
// (pos and order: the layer's unit positions and their inverse; layer its
// index among the run's, first the whole layer's observation of the
// store's local one): raw is the head and rows, or, when planes is not
// nil, the head alone and planes the rows as byte planes.
func decodeBlock(raw, planes []byte, layer int, first, local int64, nobs int, pos, order []int32) (*block, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
	}
	units := len(pos)
	if planes != nil {
		if len(raw) != blockHead || len(planes) != nobs*rowBytes(units) {
			return nil, bad("block is %d bytes, want %d", len(raw)+len(planes), rawLen(units, nobs))
		}
	} else if len(raw) != rawLen(units, nobs) {
		return nil, bad("block is %d bytes, want %d", len(raw), rawLen(units, nobs))
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
	b := &block{layer: layer, first: local, nobs: nobs, nb: rowBytes(units), pos: pos, order: order, cw: words(nobs)}
	if units%8 != 0 {
		pad := byte(0xff) << (units % 8)
		last := planes[min(len(planes), (b.nb-1)*nobs):]
		for o := 0; o < nobs; o++ {
			x := byte(0)
			if planes != nil {
				x = last[o]
			} else {
				x = raw[blockHead+o*b.nb+b.nb-1]
			}
			if x&pad != 0 {
				return nil, bad("bits past the last unit")
			}
		}
	}
	if planes != nil {
		b.planes = planes
	} else {
		b.raw, b.rawBuf = raw[blockHead:], raw
	}
	return b, nil
}

// columns transposes the rows into one bitset per storage position, once.
func (b *block) columns() []uint64 {
	b.once.Do(func() {
		units, nb := len(b.pos), b.nb
		raw := b.rowData()
		b.cols = make([]uint64, b.cw*units)
		var tile [64]uint64
		for k := 0; k < words(units); k++ {
			for s := 0; s < b.cw; s++ {
				for r := 0; r < 64; r++ {
					var x uint64
					if o := s*64 + r; o < b.nobs {
						row := raw[o*nb:]
						if k*8+8 <= nb {
							x = binary.LittleEndian.Uint64(row[k*8:])
						} else {
							for by := k * 8; by < nb; by++ {
								x |= uint64(row[by]) << (8 * (by - k*8))
							}
						}
					}
					tile[r] = x
				}
				bitmat.Transpose64(&tile)
				for j := 0; j < 64; j++ {
					if i := k*64 + j; i < units {
						b.cols[i*b.cw+s] = tile[j]
					}
				}
			}
		}
	})
	return b.cols
}

// column is unit u's bits over the block's observations.
func (b *block) column(u int) []uint64 {
	p := int(b.pos[u])
	return b.columns()[p*b.cw : (p+1)*b.cw]
}

// fired reports whether unit u fired on observation o (relative to the
// block).
func (b *block) fired(u, o int) bool {
	p := b.pos[u]
	if b.planes != nil {
		return b.planes[int(p)/8*b.nobs+o]>>(p%8)&1 != 0
	}
	return b.raw[o*b.nb+int(p)/8]>>(p%8)&1 != 0
}

// firedCount is the number of units that fired on observation o (relative
// to the block).
func (b *block) firedCount(o int) int {
	n := 0
	for j := 0; j < b.nb; j++ {
		if b.planes != nil {
			n += bits.OnesCount8(b.planes[j*b.nobs+o])
		} else {
			n += bits.OnesCount8(b.raw[o*b.nb+j])
		}
	}
	return n
}

// unitCounts adds each unit's fires in the block to counts.
func (b *block) unitCounts(counts []uint64) {
	if b.planes != nil {
		// Per storage position, straight from the planes: bit k of every
		// byte of plane j is position 8j+k.
		const lsb = 0x0101010101010101
		var pc [8]int
		for j := 0; j < b.nb; j++ {
			clear(pc[:])
			p := b.planes[j*b.nobs : (j+1)*b.nobs]
			i := 0
			for ; i+8 <= len(p); i += 8 {
				x := binary.LittleEndian.Uint64(p[i:])
				for k := range pc {
					pc[k] += bits.OnesCount64(x >> k & lsb)
				}
			}
			for ; i < len(p); i++ {
				for k := range pc {
					pc[k] += int(p[i] >> k & 1)
				}
			}
			for k, n := range pc {
				if q := 8*j + k; q < len(b.pos) {
					counts[b.order[q]] += uint64(n)
				}
			}
		}
		return
	}
	for u := range counts {
		n := 0
		for _, x := range b.column(u) {
			n += bits.OnesCount64(x)
		}
		counts[u] += uint64(n)
	}
}

// rows rebuilds the block's row bits in natural unit order: nobs rows of
// W words.
func (b *block) rows() []uint64 {
	units := len(b.pos)
	w := words(units)
	out := make([]uint64, b.nobs*w)
	if isIdentity(b.pos) {
		// Natural storage order (level fastest): the rows' bytes are the
		// words' bytes.
		raw := b.rowData()
		for o := 0; o < b.nobs; o++ {
			row := raw[o*b.nb : (o+1)*b.nb]
			for k := 0; k < w; k++ {
				var x uint64
				if k*8+8 <= len(row) {
					x = binary.LittleEndian.Uint64(row[k*8:])
				} else {
					for by := len(row) - 1; by >= k*8; by-- {
						x = x<<8 | uint64(row[by])
					}
				}
				out[o*w+k] = x
			}
		}
		return out
	}
	cols := b.columns()
	var tile [64]uint64
	for k := 0; k < w; k++ {
		for s := 0; s < b.cw; s++ {
			for j := 0; j < 64; j++ {
				if u := k*64 + j; u < units {
					tile[j] = cols[int(b.pos[u])*b.cw+s]
				} else {
					tile[j] = 0
				}
			}
			bitmat.Transpose64(&tile)
			for r := 0; r < 64; r++ {
				if o := s*64 + r; o < b.nobs {
					out[o*w+k] = tile[r]
				}
			}
		}
	}
	return out
}
