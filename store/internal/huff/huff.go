// Package huff is the pattern store's entropy coder: canonical Huffman
// codes of at most MaxCodeLen bits over byte planes, several planes sharing
// one table, each table with an escape for bytes it has no code for (the
// escape's code, then the byte in 8 bits). A block's planes are coded as
// two bit streams so that the encoder and the decoder run two dependency
// chains at once.
//
// Encoded form of nb planes of nobs bytes (Codes.Encode):
//
//	u32 length of stream A, stream A, stream B
//
// Stream A holds planes 0 .. h-1 (h = ceil(nb/2)), stream B planes h ..
// nb-1, each plane's bytes in order coded with table p/Group, least
// significant bit first, each stream zero-padded to a whole byte.
//
// Tables (Codes.AppendTables): u32 Group, then ceil(nb/Group) tables of
// TableBytes bytes: 257 code lengths of 4 bits (bytes 0..255, then the
// escape; symbol 2i in the low nibble of byte i, 2i+1 in the high one;
// 0 = no code). A table must be a complete prefix code with an escape.
package huff

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync"
)

const (
	// MaxCodeLen is the longest code, in bits.
	MaxCodeLen = 11
	nsym       = 257 // the bytes and the escape
	esc        = 256
	// TableBytes is the stored size of one table.
	TableBytes  = (nsym + 1) / 2
	escapedFlag = 1 << 31 // in an encode entry: escape code and literal
)

// Hist is a histogram of byte values.
type Hist = [256]uint32

// Codes are the tables of a block's planes: table t codes planes
// [t*Group, (t+1)*Group).
type Codes struct {
	Group int
	lens  [][]uint8                  // per table, nsym code lengths
	enc   []*[256]uint32             // per table: reversed code | length<<24 (| escapedFlag); built by the first Encode
	once  sync.Once                  // builds enc: codes may be made to be sized only, and are shared by goroutines encoding
	dec   []*[1 << MaxCodeLen]uint16 // per table: symbol | length<<9 (ReadTables)
}

// Group is the number of planes of nobs bytes that share a table: the
// smallest power of two whose planes hold at least 4096 bytes (a table is
// not paid for every few hundred bytes), at most nb.
func Group(nb, nobs int) int {
	g := 1
	for g*nobs < 4096 && g < nb {
		g *= 2
	}
	return min(g, max(nb, 1))
}

// Histograms returns the histograms of the groups of g planes of nobs
// bytes in planes (nb of them), in dst's memory where it is large enough.
func Histograms(dst []Hist, planes []byte, nb, nobs, g int) []Hist {
	n := (nb + g - 1) / g
	if cap(dst) < n {
		dst = make([]Hist, n)
	}
	dst = dst[:n]
	for t := range dst {
		histogram(&dst[t], planes[t*g*nobs:min((t+1)*g, nb)*nobs])
	}
	return dst
}

// histogram sets h to the histogram of b, counting into four tables so
// that runs of one byte (the planes of dead units) do not wait on the same
// counter.
func histogram(h *Hist, b []byte) {
	var c [4]Hist
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		c[0][byte(x)]++
		c[1][byte(x>>8)]++
		c[2][byte(x>>16)]++
		c[3][byte(x>>24)]++
		c[0][byte(x>>32)]++
		c[1][byte(x>>40)]++
		c[2][byte(x>>48)]++
		c[3][byte(x>>56)]++
	}
	for ; i < len(b); i++ {
		c[0][b[i]]++
	}
	for s := range h {
		h[s] = c[0][s] + c[1][s] + c[2][s] + c[3][s]
	}
}

// Merge returns the histograms of groups of k consecutive groups of h.
func Merge(h []Hist, k int) []Hist { return MergeInto(nil, h, k) }

// MergeInto is Merge in dst's memory where it is large enough.
func MergeInto(dst, h []Hist, k int) []Hist {
	n := (len(h) + k - 1) / k
	if cap(dst) < n {
		dst = make([]Hist, n)
	}
	dst = dst[:n]
	clear(dst)
	for t := range h {
		o, x := &dst[t/k], &h[t]
		for s := range x {
			o[s] += x[s]
		}
	}
	return dst
}

// MinBits is a lower bound on the bits of the bytes counted in h coded
// with tables New(_, _, false) makes for them or for unions of consecutive
// histograms of h: per histogram of n bytes, the larger of its empirical
// entropy (no prefix code does better) and n bits, or 2n less the most
// frequent byte's count where it has two bytes or more (the escape has a
// code too, so at most one symbol has a code of 1 bit).
func MinBits(h []Hist) float64 {
	var b float64
	for t := range h {
		var n, top uint32
		distinct := 0
		var sum float64
		for _, c := range h[t] {
			if c > 0 {
				n += c
				top = max(top, c)
				distinct++
				sum += clog2c(c)
			}
		}
		if n == 0 {
			continue
		}
		floor := float64(n)
		if distinct >= 2 {
			floor = 2*float64(n) - float64(top)
		}
		b += max(clog2c(n)-sum, floor)
	}
	return b
}

// EntropyBits is a lower bound on the bits of any coding of the bytes
// counted in h by one prefix code per histogram, or per union of
// histograms: the sum of their empirical entropies.
func EntropyBits(h []Hist) float64 {
	var b float64
	for t := range h {
		n := uint32(0)
		var sum float64
		for _, c := range h[t] {
			if c > 0 {
				n += c
				sum += clog2c(c)
			}
		}
		if n > 0 {
			b += clog2c(n) - sum
		}
	}
	return b
}

// clogTable holds c*log2(c) for small counts.
var clogTable = func() []float64 {
	t := make([]float64, 4096)
	for c := 1; c < len(t); c++ {
		t[c] = float64(c) * math.Log2(float64(c))
	}
	return t
}()

func clog2c(c uint32) float64 {
	if int(c) < len(clogTable) {
		return clogTable[c]
	}
	return float64(c) * math.Log2(float64(c))
}

// New makes codes for planes of group g from the histograms of their
// groups (h[t]: planes [t*g, (t+1)*g)). With goodTuring the escape gets
// the weight of the bytes seen once (how often unseen bytes come, for
// codes that later planes use), else 1 (codes for these planes alone).
// Every byte counted gets a code.
func New(h []Hist, g int, goodTuring bool) *Codes {
	c := &Codes{Group: g, lens: make([][]uint8, len(h))}
	freq := make([]uint64, nsym)
	lens := make([]uint8, len(h)*nsym)
	sc := new(lengthScratch)
	for t := range h {
		ones := uint64(0)
		for s, n := range h[t] {
			freq[s] = uint64(n)
			if n == 1 {
				ones++
			}
		}
		freq[esc] = 1
		if goodTuring {
			freq[esc] = max(ones, 1)
		}
		c.lens[t] = lens[t*nsym : (t+1)*nsym : (t+1)*nsym]
		sc.lengths(c.lens[t], freq)
	}
	return c
}

// Tables is the number of tables.
func (c *Codes) Tables() int { return len(c.lens) }

// TablesLen is the stored size of the tables (AppendTables).
func (c *Codes) TablesLen() int { return 4 + len(c.lens)*TableBytes }

// Size is the exact length of Encode's output for the nb planes of nobs
// bytes in planes whose groups of c.Group planes have histograms h.
func (c *Codes) Size(h []Hist, planes []byte, nb, nobs int) int {
	ha := (nb + 1) / 2 // stream A: planes [0, ha), stream B: [ha, nb)
	var ba, bb uint64
	for t := range h {
		p0, p1 := t*c.Group, min((t+1)*c.Group, nb)
		switch {
		case p1 <= ha:
			ba += c.groupBits(t, &h[t])
		case p0 >= ha:
			bb += c.groupBits(t, &h[t])
		default: // the group the streams' boundary cuts: its two parts
			var x Hist
			histogram(&x, planes[p0*nobs:ha*nobs])
			ba += c.groupBits(t, &x)
			histogram(&x, planes[ha*nobs:p1*nobs])
			bb += c.groupBits(t, &x)
		}
	}
	return 4 + int((ba+7)/8+(bb+7)/8)
}

// groupBits is the bits of the bytes counted in h coded with table t.
func (c *Codes) groupBits(t int, h *Hist) uint64 {
	l := c.lens[t]
	e := uint64(l[esc]) + 8
	var n uint64
	for s, k := range h {
		if k == 0 {
			continue
		}
		if m := l[s]; m > 0 {
			n += uint64(k) * uint64(m)
		} else {
			n += uint64(k) * e
		}
	}
	return n
}

// encoders returns the encode tables, made from lens on first use.
func (c *Codes) encoders() []*[256]uint32 {
	c.once.Do(c.buildEnc)
	return c.enc
}

// buildEnc makes the encode tables from lens.
func (c *Codes) buildEnc() {
	tabs := make([][256]uint32, len(c.lens))
	c.enc = make([]*[256]uint32, len(c.lens))
	var codes [nsym]uint16
	for t, l := range c.lens {
		canonicalInto(codes[:], l)
		enc := &tabs[t]
		for s := 0; s < 256; s++ {
			if n := l[s]; n > 0 {
				enc[s] = uint32(codes[s]) | uint32(n)<<24
			} else {
				n := l[esc]
				enc[s] = (uint32(codes[esc]) | uint32(s)<<n) | uint32(n+8)<<24 | escapedFlag
			}
		}
		c.enc[t] = enc
	}
}

// buildDec makes the decode tables from lens. (A writer never decodes.)
func (c *Codes) buildDec() {
	c.dec = c.dec[:0]
	for _, l := range c.lens {
		codes := canonical(l)
		dec := new([1 << MaxCodeLen]uint16)
		for s := 0; s < nsym; s++ {
			if n := l[s]; n > 0 {
				for f := 0; f < 1<<(MaxCodeLen-n); f++ {
					dec[int(codes[s])|f<<n] = uint16(s) | uint16(n)<<9
				}
			}
		}
		c.dec = append(c.dec, dec)
	}
}

// lengthScratch is lengths' working memory, kept between the tables of
// one New rather than cleared for each.
type lengthScratch struct {
	keys   [nsym]uint64
	syms   [nsym]int32
	w      [2 * nsym]uint64
	parent [2 * nsym]int32
	depth  [2 * nsym]int32
	count  [2*nsym + 1]int32
}

// lengths sets lens (len(freq) of them) to code lengths of at most
// MaxCodeLen for the symbols of nonzero frequency (at least two: the
// escape has one), 0 for the others.
func (sc *lengthScratch) lengths(lens []uint8, freq []uint64) {
	// The symbols by frequency, ties by symbol: keys frequency<<9 |
	// symbol are distinct, so an unstable sort of them is that order.
	keys := sc.keys[:0]
	for s, f := range freq {
		if f > 0 {
			if f >= 1<<(64-9) {
				panic("huff: frequency out of range")
			}
			keys = append(keys, f<<9|uint64(s))
		}
	}
	slices.Sort(keys)
	m := len(keys)
	syms := sc.syms[:m]
	w := sc.w[:2*m-1]
	for i, k := range keys {
		syms[i] = int32(k & (1<<9 - 1))
		w[i] = k >> 9
	}
	// Huffman's algorithm with two queues (leaves sorted by weight, then
	// inner nodes in the order made), then the depths limited as in JPEG
	// (ITU T.81, K.3), the longest codes going to the rarest symbols.
	parent, depth := sc.parent[:2*m-1], sc.depth[:2*m-1]
	count := sc.count[:max(2*m+1, MaxCodeLen+1)]
	clear(count)
	leaf, inner := 0, m
	for n := m; n < 2*m-1; n++ {
		var a, b int
		if leaf < m && (inner >= n || w[leaf] <= w[inner]) {
			a, leaf = leaf, leaf+1
		} else {
			a, inner = inner, inner+1
		}
		if leaf < m && (inner >= n || w[leaf] <= w[inner]) {
			b, leaf = leaf, leaf+1
		} else {
			b, inner = inner, inner+1
		}
		w[n] = w[a] + w[b]
		parent[a], parent[b] = int32(n), int32(n)
	}
	depth[2*m-2] = 0
	for i := 2*m - 3; i >= 0; i-- {
		depth[i] = depth[parent[i]] + 1
	}
	for i := 0; i < m; i++ {
		count[depth[i]]++
	}
	for i := len(count) - 1; i > MaxCodeLen; i-- {
		for count[i] > 0 {
			j := i - 2
			for count[j] == 0 {
				j--
			}
			count[i] -= 2
			count[i-1]++
			count[j+1] += 2
			count[j]--
		}
	}
	clear(lens)
	k := 0
	for n := MaxCodeLen; n >= 1; n-- {
		for c := int32(0); c < count[n]; c++ {
			lens[syms[k]] = uint8(n)
			k++
		}
	}
}

// canonical returns each symbol's canonical code, bit-reversed for
// least-significant-first writing.
func canonical(lens []uint8) []uint16 {
	codes := make([]uint16, len(lens))
	canonicalInto(codes, lens)
	return codes
}

// canonicalInto is canonical into codes (len(lens) of them).
func canonicalInto(codes []uint16, lens []uint8) {
	var count [MaxCodeLen + 1]int
	for _, n := range lens {
		count[n]++
	}
	count[0] = 0
	var next [MaxCodeLen + 1]int
	code := 0
	for n := 1; n <= MaxCodeLen; n++ {
		code = (code + count[n-1]) << 1
		next[n] = code
	}
	for s, n := range lens {
		if n == 0 {
			codes[s] = 0
			continue
		}
		codes[s] = uint16(bits.Reverse16(uint16(next[n])) >> (16 - n))
		next[n]++
	}
}

// validLengths reports whether lens (from a file) are a complete prefix
// code of at most MaxCodeLen bits with an escape.
func validLengths(lens []uint8) bool {
	kraft := 0
	for _, n := range lens {
		if n > MaxCodeLen {
			return false
		}
		if n > 0 {
			kraft += 1 << (MaxCodeLen - n)
		}
	}
	return kraft == 1<<MaxCodeLen && lens[esc] > 0
}

// AppendTables appends the tables' stored form.
func (c *Codes) AppendTables(dst []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(c.Group))
	for _, l := range c.lens {
		for i := 0; i < nsym; i += 2 {
			b := l[i]
			if i+1 < nsym {
				b |= l[i+1] << 4
			}
			dst = append(dst, b)
		}
	}
	return dst
}

// ReadTables parses the tables of nb planes at the start of data, with
// their decode tables, and returns the rest of data.
func ReadTables(data []byte, nb int) (*Codes, []byte, error) {
	if len(data) < 4 {
		return nil, nil, errors.New("no code tables")
	}
	g := int(binary.LittleEndian.Uint32(data))
	if g < 1 || g > nb {
		return nil, nil, fmt.Errorf("%d planes per code table, the block has %d", g, nb)
	}
	nt := (nb + g - 1) / g
	data = data[4:]
	if len(data) < nt*TableBytes {
		return nil, nil, errors.New("code tables truncated")
	}
	c := &Codes{Group: g}
	for t := 0; t < nt; t++ {
		l := make([]uint8, nsym)
		for s := range l {
			l[s] = data[t*TableBytes+s/2] >> (4 * (s % 2)) & 15
		}
		if !validLengths(l) {
			return nil, nil, fmt.Errorf("code table %d is not a complete prefix code", t)
		}
		c.lens = append(c.lens, l)
	}
	c.buildDec()
	return c, data[nt*TableBytes:], nil
}
