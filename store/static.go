package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
)

// The static codec (codec 2, level fastest): a block's byte planes (as in
// the planes codec) Huffman-coded with codes fixed for the whole layer, one
// code per group of planes, made from the layer's block 0. Nothing is
// counted or built per block, so it codes about twice as fast as the planes
// codec, which builds a code per plane of every block. A block whose
// distribution has drifted from block 0's is stored with the planes codec
// instead (the writer estimates what the block's own codes would give).
//
// Codes are canonical, at most maxCodeLen bits, written least significant
// bit first. A table has a code for each byte seen in its planes of block 0
// and for an escape, which is followed by the byte itself in 8 bits: any
// later block can be coded. A table is stored as 257 code lengths of 4
// bits (bytes 0..255, then the escape; symbol 2i in the low nibble of byte
// i; 0 = no code): 129 bytes.
//
// Encoded form, after the raw payload's 16-byte head:
//
//	block 0 only: u32 G (planes per table), ceil(nb/G) tables
//	u32 length of stream A, stream A, stream B
//
// Stream A holds planes 0 .. h-1 (h = ceil(nb/2)), stream B planes h ..
// nb-1, each plane's bytes in observation order coded with table p/G, a
// stream's bits padded with zeros to a whole byte. Two streams let the
// encoder and the decoder run two dependency chains at once.
const (
	maxCodeLen  = 11
	nsym        = 257 // the bytes and the escape
	esc         = 256
	tableBytes  = (nsym + 1) / 2
	escapedFlag = 1 << 31 // in an encode entry: escape code and literal
)

// staticCodes is a layer's code tables.
type staticCodes struct {
	group int                        // planes per table
	lens  [][]uint8                  // per table, nsym code lengths
	enc   []*[256]uint32             // per table: reversed code | length<<24 (| escapedFlag)
	dec   []*[1 << maxCodeLen]uint16 // per table: symbol | length<<9
	dec2  []*[1 << maxCodeLen]uint32 // per table: up to two symbols a lookup (makeDec2), where haveDec2
	// The two-symbol tables take 85 us each to make (2.8 ms for a 256-unit
	// layer's 32), a one-symbol one 2 us: they are made at the second
	// block decoded with these codes, so that a single query (a `patterns
	// show`) costs no more than its block's decoding with one symbol a
	// lookup.
	uses      atomic.Int32
	dec2Once  sync.Once
	dec2Ready atomic.Bool
}

// countUse counts a block decoded with these codes, making the
// two-symbol tables at the second.
func (c *staticCodes) countUse() {
	if haveDec2 && !c.dec2Ready.Load() && c.uses.Add(1) >= 2 {
		c.buildDec2()
	}
}

// buildDec2 makes the two-symbol tables (once; after buildDec).
func (c *staticCodes) buildDec2() {
	c.dec2Once.Do(func() {
		if haveDec2 {
			for _, d := range c.dec {
				c.dec2 = append(c.dec2, makeDec2(d))
			}
		}
		c.dec2Ready.Store(true)
	})
}

// makeDec2 makes a two-symbol decode table from a one-symbol one: for each
// 11 bits, the code they start with and, when the code after it ends within
// the same 11 bits, that one too. Bytes of an entry: symbol 1, symbol 2, the
// bits taken (128 where the first code is the escape: the assembly decoder
// leaves those to Go), the symbols (1 or 2; 0 for the escape).
func makeDec2(dec *[1 << maxCodeLen]uint16) *[1 << maxCodeLen]uint32 {
	t := new([1 << maxCodeLen]uint32)
	for x := range t {
		e1 := dec[x]
		s1, l1 := uint32(e1&0x1ff), uint(e1>>9)
		if s1 == esc {
			t[x] = 128 << 16
			continue
		}
		t[x] = s1 | uint32(l1)<<16 | 1<<24
		e2 := dec[x>>l1]
		if s2, l2 := uint32(e2&0x1ff), uint(e2>>9); s2 != esc && l1+l2 <= maxCodeLen {
			t[x] = s1 | s2<<8 | uint32(l1+l2)<<16 | 2<<24
		}
	}
	return t
}

// codeGroup is the number of planes sharing a table: enough that each
// table is made from at least 4096 bytes of block 0.
func codeGroup(nb, nobs int) int {
	g := (4096 + nobs - 1) / max(nobs, 1)
	return min(max(g, 1), nb)
}

// newStaticCodes makes the tables from block 0's nb planes of nobs bytes:
// the code lengths and encode tables only (the writer's; buildDec adds the
// decode tables).
func newStaticCodes(planes []byte, nb, nobs int) *staticCodes {
	g := codeGroup(nb, nobs)
	c := &staticCodes{group: g}
	for p0 := 0; p0 < nb; p0 += g {
		var hist [256]uint64
		for _, x := range planes[p0*nobs : min(p0+g, nb)*nobs] {
			hist[x]++
		}
		freq := make([]uint64, nsym)
		ones := uint64(0)
		for s, n := range hist {
			freq[s] = n
			if n == 1 {
				ones++
			}
		}
		// Good-Turing: bytes seen once say how often unseen ones come.
		freq[esc] = max(ones, 1)
		c.lens = append(c.lens, huffmanLengths(freq))
	}
	c.buildEnc()
	return c
}

// buildEnc makes the encode tables from lens.
func (c *staticCodes) buildEnc() {
	c.enc = c.enc[:0]
	for _, l := range c.lens {
		codes := canonical(l)
		enc := new([256]uint32)
		for s := 0; s < 256; s++ {
			if n := l[s]; n > 0 {
				enc[s] = uint32(codes[s]) | uint32(n)<<24
			} else {
				n := l[esc]
				enc[s] = (uint32(codes[esc]) | uint32(s)<<n) | uint32(n+8)<<24 | escapedFlag
			}
		}
		c.enc = append(c.enc, enc)
	}
}

// buildDec makes the decode tables from lens. (The writer never decodes:
// a layer's decode tables, up to 12 KiB each, were 10% of the page faults
// of a fastest run.)
func (c *staticCodes) buildDec() {
	c.dec = c.dec[:0]
	for _, l := range c.lens {
		codes := canonical(l)
		dec := new([1 << maxCodeLen]uint16)
		for s := 0; s < nsym; s++ {
			if n := l[s]; n > 0 {
				for f := 0; f < 1<<(maxCodeLen-n); f++ {
					dec[int(codes[s])|f<<n] = uint16(s) | uint16(n)<<9
				}
			}
		}
		c.dec = append(c.dec, dec)
	}
}

// huffmanLengths returns code lengths of at most maxCodeLen for the
// symbols of nonzero frequency (at least two, at most 2^maxCodeLen), 0 for
// the others.
func huffmanLengths(freq []uint64) []uint8 {
	// Scratch on the stack for tables of up to nsym symbols (all of them):
	// the allocations were 7% of a fastest run's page faults.
	var symsA [nsym]int
	var wA [2 * nsym]uint64
	var parentA, depthA [2 * nsym]int
	var countA [2*nsym + 1]int
	syms := symsA[:0]
	if len(freq) > nsym {
		syms = make([]int, 0, len(freq))
	}
	for s, f := range freq {
		if f > 0 {
			syms = append(syms, s)
		}
	}
	slices.SortStableFunc(syms, func(a, b int) int {
		switch {
		case freq[a] < freq[b]:
			return -1
		case freq[a] > freq[b]:
			return 1
		}
		return 0
	})
	// Huffman's algorithm with two queues (leaves sorted by weight, then
	// inner nodes in the order made), then the depths limited as in JPEG
	// (ITU T.81, K.3), the longest codes going to the rarest symbols.
	m := len(syms)
	var w []uint64
	var parent, depth, count []int
	if m <= nsym {
		w, parent, depth, count = wA[:0], parentA[:2*m-1], depthA[:2*m-1], countA[:max(2*m+1, maxCodeLen+1)]
	} else {
		w, parent, depth, count = make([]uint64, 0, 2*m-1), make([]int, 2*m-1), make([]int, 2*m-1), make([]int, 2*m+1)
	}
	for _, s := range syms {
		w = append(w, freq[s])
	}
	leaf, inner := 0, m
	pick := func() int {
		if leaf < m && (inner >= len(w) || w[leaf] <= w[inner]) {
			leaf++
			return leaf - 1
		}
		inner++
		return inner - 1
	}
	for len(w) < 2*m-1 {
		a, b := pick(), pick()
		w = append(w, w[a]+w[b])
		parent[a], parent[b] = len(w)-1, len(w)-1
	}
	for i := 2*m - 3; i >= 0; i-- {
		depth[i] = depth[parent[i]] + 1
	}
	for i := 0; i < m; i++ {
		count[depth[i]]++
	}
	for i := len(count) - 1; i > maxCodeLen; i-- {
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
	lens := make([]uint8, len(freq))
	k := 0
	for n := maxCodeLen; n >= 1; n-- {
		for c := 0; c < count[n]; c++ {
			lens[syms[k]] = uint8(n)
			k++
		}
	}
	return lens
}

// canonical returns each symbol's canonical code, bit-reversed for
// least-significant-first writing.
func canonical(lens []uint8) []uint16 {
	var count [maxCodeLen + 1]int
	for _, n := range lens {
		count[n]++
	}
	count[0] = 0
	var next [maxCodeLen + 1]int
	code := 0
	for n := 1; n <= maxCodeLen; n++ {
		code = (code + count[n-1]) << 1
		next[n] = code
	}
	codes := make([]uint16, len(lens))
	for s, n := range lens {
		if n == 0 {
			continue
		}
		c := next[n]
		next[n]++
		var r uint16
		for i := 0; i < int(n); i++ {
			r = r<<1 | uint16(c>>i&1)
		}
		codes[s] = r
	}
	return codes
}

// validLengths reports whether lens (from a file) are a complete prefix
// code of at most maxCodeLen bits with an escape.
func validLengths(lens []uint8) bool {
	kraft := 0
	for _, n := range lens {
		if n > maxCodeLen {
			return false
		}
		if n > 0 {
			kraft += 1 << (maxCodeLen - n)
		}
	}
	return kraft == 1<<maxCodeLen && lens[esc] > 0
}

// appendTables appends block 0's table section.
func (c *staticCodes) appendTables(dst []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(c.group))
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

// readStaticCodes parses block 0's table section for nb planes and
// returns the rest of the data.
func readStaticCodes(data []byte, nb int) (*staticCodes, []byte, error) {
	if len(data) < 4 {
		return nil, nil, errors.New("static block 0: no code tables")
	}
	g := int(binary.LittleEndian.Uint32(data))
	if g < 1 || g > nb {
		return nil, nil, fmt.Errorf("static block 0: %d planes per code, the block has %d", g, nb)
	}
	nt := (nb + g - 1) / g
	data = data[4:]
	if len(data) < nt*tableBytes {
		return nil, nil, errors.New("static block 0: code tables truncated")
	}
	c := &staticCodes{group: g}
	for t := 0; t < nt; t++ {
		l := make([]uint8, nsym)
		for s := range l {
			l[s] = data[t*tableBytes+s/2] >> (4 * (s % 2)) & 15
		}
		if !validLengths(l) {
			return nil, nil, fmt.Errorf("static block 0: code table %d is not a complete prefix code", t)
		}
		c.lens = append(c.lens, l)
	}
	c.buildDec()
	return c, data[nt*tableBytes:], nil
}

// huffStream is one bit stream being written.
type huffStream struct {
	out []byte
	acc uint64
	n   uint
}

// put adds one code (at most 19 bits) and flushes whole bytes.
func (s *huffStream) put(e uint32) {
	if len(s.out)+8 > cap(s.out) {
		s.out = slices.Grow(s.out, 8)
	}
	s.acc |= uint64(e&0xffffff) << s.n
	s.n += uint(e >> 24 & 31)
	binary.LittleEndian.PutUint64(s.out[len(s.out):len(s.out)+8], s.acc)
	s.out = s.out[:len(s.out)+int(s.n>>3)]
	s.acc >>= s.n &^ 7
	s.n &= 7
}

// encode appends the static coding of the nb planes of nobs bytes
// (planes) to dst; bs is scratch for stream B.
func (c *staticCodes) encode(dst, planes []byte, nb, nobs int, bs *[]byte) []byte {
	return c.encodeAt(dst, planes, nobs, 0, nb, nobs, bs)
}

// encodeAt is encode of observations [off, off+nobs) of planes that are
// stride bytes apart in planes: part of a larger block's planes, coded with
// no copy.
func (c *staticCodes) encodeAt(dst, planes []byte, stride, off, nb, nobs int, bs *[]byte) []byte {
	h := (nb + 1) / 2
	lenAt := len(dst)
	// Room for the raw bytes: the block's coding is almost always
	// smaller, and stream B then joins stream A without a reallocation.
	dst = slices.Grow(append(dst, 0, 0, 0, 0), nb*nobs+64)
	a := huffStream{out: dst}
	b := huffStream{out: slices.Grow((*bs)[:0], (nb-h)*nobs+64)}
	g := c.group
	for p := 0; p < h; p++ {
		ta := c.enc[p/g]
		pa := planes[p*stride+off : p*stride+off+nobs]
		if q := p + h; q < nb {
			encodePair(&a, &b, pa, planes[q*stride+off:q*stride+off+nobs], ta, c.enc[q/g])
		} else {
			for _, x := range pa {
				a.put(ta[x])
			}
		}
	}
	for _, s := range []*huffStream{&a, &b} {
		if s.n > 0 {
			s.out = append(s.out, byte(s.acc))
			s.acc, s.n = 0, 0
		}
	}
	binary.LittleEndian.PutUint32(a.out[lenAt:], uint32(len(a.out)-lenAt-4))
	*bs = b.out
	return append(a.out, b.out...)
}

// encodePairGeneric codes two planes of equal length into two streams, 16
// bytes of each at a time (then 4, then 1). The streams' dependency chains
// are independent, so the CPU overlaps them. It is the reference for
// encodePair's assembly (huff_amd64.s).
func encodePairGeneric(a, b *huffStream, pa, pb []byte, ta, tb *[256]uint32) {
	pb = pb[:len(pa)]
	i := 0
	for ; i+16 <= len(pa); i += 16 {
		a.put16(pa[i:i+16:i+16], ta)
		b.put16(pb[i:i+16:i+16], tb)
	}
	for ; i+4 <= len(pa); i += 4 {
		a.put4(pa[i:i+4:i+4], ta)
		b.put4(pb[i:i+4:i+4], tb)
	}
	for ; i < len(pa); i++ {
		a.put(ta[pa[i]])
		b.put(tb[pb[i]])
	}
}

// put16 codes 16 bytes (x has length 16) with table t, 4 at a time. An
// escaped byte among them (rare: one block 0 never had) sends the 16
// through put4 from the state before.
func (s *huffStream) put16(x []byte, t *[256]uint32) {
	x = x[:16:16]
	out, acc, n := s.out, s.acc, s.n
	// 4 flushes of at most 10 bytes each (escaped codes are up to 19
	// bits; the result is then discarded), the last writing 8
	if len(out)+48 > cap(out) {
		out = slices.Grow(out, 48)
	}
	var or uint32
	for k := 0; k < 16; k += 4 {
		e := t[x[k]]
		or |= e
		acc |= uint64(e&0xffffff) << (n & 63)
		n += uint(e >> 24 & 31)
		e = t[x[k+1]]
		or |= e
		acc |= uint64(e&0xffffff) << (n & 63)
		n += uint(e >> 24 & 31)
		e = t[x[k+2]]
		or |= e
		acc |= uint64(e&0xffffff) << (n & 63)
		n += uint(e >> 24 & 31)
		e = t[x[k+3]]
		or |= e
		acc |= uint64(e&0xffffff) << (n & 63)
		n += uint(e >> 24 & 31)
		binary.LittleEndian.PutUint64(out[len(out):len(out)+8], acc)
		out = out[:len(out)+int(n>>3)]
		acc >>= (n &^ 7) & 63
		n &= 7
	}
	if or&escapedFlag != 0 {
		// the state before stands (bytes written past it are rewritten)
		for k := 0; k < 16; k += 4 {
			s.put4(x[k:k+4:k+4], t)
		}
		return
	}
	s.out, s.acc, s.n = out, acc, n
}

// put4 codes 4 bytes (x has length 4) with table t.
func (s *huffStream) put4(x []byte, t *[256]uint32) {
	e0, e1, e2, e3 := t[x[0]], t[x[1]], t[x[2]], t[x[3]]
	if (e0|e1|e2|e3)&escapedFlag != 0 {
		s.put(e0)
		s.put(e1)
		s.put(e2)
		s.put(e3)
		return
	}
	out, acc, n := s.out, s.acc, s.n
	if len(out)+8 > cap(out) {
		out = slices.Grow(out, 8)
	}
	acc |= uint64(e0&0xffffff) << (n & 63)
	n += uint(e0 >> 24)
	acc |= uint64(e1&0xffffff) << (n & 63)
	n += uint(e1 >> 24)
	acc |= uint64(e2&0xffffff) << (n & 63)
	n += uint(e2 >> 24)
	acc |= uint64(e3&0xffffff) << (n & 63)
	n += uint(e3 >> 24)
	binary.LittleEndian.PutUint64(out[len(out):len(out)+8], acc)
	s.out = out[:len(out)+int(n>>3)]
	s.acc = acc >> ((n &^ 7) & 63)
	s.n = n & 7
}

// huffReader reads one bit stream; past its end it reads zeros (callers
// check pos against the end).
type huffReader struct {
	data []byte
	pos  uint // bit position
}

// peek returns the bits from pos on (at least 57 of them valid).
func (r *huffReader) peek() uint64 {
	i := int(r.pos >> 3)
	if i+8 <= len(r.data) {
		return binary.LittleEndian.Uint64(r.data[i:]) >> (r.pos & 7)
	}
	var x uint64
	for k := i; k < len(r.data); k++ {
		x |= uint64(r.data[k]) << (8 * (k - i))
	}
	return x >> (r.pos & 7)
}

// get decodes one byte.
func (r *huffReader) get(t *[1 << maxCodeLen]uint16) byte {
	x := r.peek()
	e := t[x&0x7ff]
	n := uint(e >> 9)
	if e&0x1ff == esc {
		r.pos += n + 8
		return byte(x >> n)
	}
	r.pos += n
	return byte(e)
}

// decodePairGeneric decodes two planes of equal length from two streams,
// interleaved, 5 bytes of each per load (at most 55 bits) unless one of
// them is escaped. It is the reference for decodePair's assembly
// (huffdec_amd64.s).
func decodePairGeneric(a, b *huffReader, pa, pb []byte, ta, tb *[1 << maxCodeLen]uint16) {
	pb = pb[:len(pa)]
	da, db := a.data, b.data
	i := 0
	for ; i+5 <= len(pa); i += 5 {
		posA, posB := a.pos, b.pos
		ka, kb := int(posA>>3), int(posB>>3)
		if ka+8 > len(da) || kb+8 > len(db) {
			break
		}
		x := binary.LittleEndian.Uint64(da[ka:]) >> (posA & 7)
		y := binary.LittleEndian.Uint64(db[kb:]) >> (posB & 7)
		e0, f0 := ta[x&0x7ff], tb[y&0x7ff]
		x >>= e0 >> 9
		y >>= f0 >> 9
		e1, f1 := ta[x&0x7ff], tb[y&0x7ff]
		x >>= e1 >> 9
		y >>= f1 >> 9
		e2, f2 := ta[x&0x7ff], tb[y&0x7ff]
		x >>= e2 >> 9
		y >>= f2 >> 9
		e3, f3 := ta[x&0x7ff], tb[y&0x7ff]
		x >>= e3 >> 9
		y >>= f3 >> 9
		e4, f4 := ta[x&0x7ff], tb[y&0x7ff]
		qa, qb := pa[i:i+5:i+5], pb[i:i+5:i+5]
		if (e0|e1|e2|e3|e4|f0|f1|f2|f3|f4)&esc != 0 {
			for k := 0; k < 5; k++ {
				qa[k] = a.get(ta)
				qb[k] = b.get(tb)
			}
			continue
		}
		qa[0], qa[1], qa[2], qa[3], qa[4] = byte(e0), byte(e1), byte(e2), byte(e3), byte(e4)
		qb[0], qb[1], qb[2], qb[3], qb[4] = byte(f0), byte(f1), byte(f2), byte(f3), byte(f4)
		a.pos = posA + uint(e0>>9+e1>>9+e2>>9+e3>>9+e4>>9)
		b.pos = posB + uint(f0>>9+f1>>9+f2>>9+f3>>9+f4>>9)
	}
	for ; i < len(pa); i++ {
		pa[i] = a.get(ta)
		pb[i] = b.get(tb)
	}
}

// decode decodes encode's output (data, after any table section) into the
// nb planes of nobs bytes, planes.
func (c *staticCodes) decode(planes, data []byte, nb, nobs int) error {
	if len(data) < 4 {
		return errors.New("static block: no stream length")
	}
	la := binary.LittleEndian.Uint32(data)
	if uint64(la) > uint64(len(data)-4) {
		return errors.New("static block: first stream longer than the block")
	}
	c.countUse()
	a := huffReader{data: data[4 : 4+la]}
	b := huffReader{data: data[4+la:]}
	h := (nb + 1) / 2
	g := c.group
	for p := 0; p < h; p++ {
		pa := planes[p*nobs : (p+1)*nobs]
		if q := p + h; q < nb {
			c.decodePair(&a, &b, pa, planes[q*nobs:(q+1)*nobs], p/g, q/g)
		} else {
			for i := range pa {
				pa[i] = a.get(c.dec[p/g])
			}
		}
		if a.pos > uint(len(a.data))*8 || b.pos > uint(len(b.data))*8 {
			return fmt.Errorf("static block: bit stream truncated at plane %d", p)
		}
	}
	for _, r := range []*huffReader{&a, &b} {
		end := uint(len(r.data)) * 8
		if end-r.pos >= 8 {
			return fmt.Errorf("static block: bit stream of %d bits, %d decoded", end, r.pos)
		}
		if r.pos&7 != 0 && r.data[len(r.data)-1]>>(r.pos&7) != 0 {
			return errors.New("static block: nonzero padding")
		}
	}
	return nil
}

// The drift estimates look at a sample of about one byte in 16 of each
// plane: bytes floor(k*sampleStep) for k = 0, 1, ..., with sampleStep the
// golden ratio times 10 (16.18...) in 16.16 fixed point. The gaps are 16 and
// 17 in a sequence that never repeats, so the sample sees every position of
// a periodic layout alike. (Every 16th byte saw one position in 4 of a conv
// layer's 8x8 grid, or one token in 8: blocks of cnn_conv1 whose static
// codes cost 2% more than their own were estimated at 30-90% more, and all
// went to the planes codec.)
const sampleStep = 1060394 // 16.18034 * 65536

// sampleCount is the number of bytes sampled from a plane of n bytes.
func sampleCount(n int) int {
	if n <= 0 {
		return 0
	}
	return int((int64(n-1)<<16)/sampleStep) + 1
}

// estimate estimates, from the sample of each plane (nb planes of nobs
// bytes), the bytes of the planes' static coding.
func (c *staticCodes) estimate(planes []byte, nb, nobs int) float64 {
	bits, n := 0, 0
	for p := 0; p < nb; p++ {
		l := c.lens[p/c.group]
		plane := planes[p*nobs : (p+1)*nobs]
		for acc := 0; acc>>16 < nobs; acc += sampleStep {
			if m := l[plane[acc>>16]]; m > 0 {
				bits += int(m)
			} else {
				bits += int(l[esc]) + 8
			}
			n++
		}
	}
	return float64(bits) * float64(nb*nobs) / float64(max(n, 1)) / 8
}

// ownCodesEstimate estimates, from the sample of each of the nb planes of
// nobs bytes, the bytes the planes codec would take for them: per group of
// planes that it codes with one table (planeSpan), the group's entropy
// (Miller-Madow corrected for the sample; for a group with a byte of
// probability q >= 1/2, which Huffman codes in 1 bit, 1 + H - h(q)) plus 40
// bytes of table. The writer uses the static codes for a block only if
// their estimate is within 10% of this.
func ownCodesEstimate(planes []byte, nb, nobs int) float64 {
	span := planeSpan(nobs)
	var bits float64
	var hist [256]uint32
	for p0 := 0; p0 < nb; p0 += span {
		clear(hist[:])
		n := 0
		p1 := min(p0+span, nb)
		for p := p0; p < p1; p++ {
			plane := planes[p*nobs : (p+1)*nobs]
			for acc := 0; acc>>16 < nobs; acc += sampleStep {
				hist[plane[acc>>16]]++
				n++
			}
		}
		bits += groupBits(&hist, n, (p1-p0)*nobs)
	}
	return bits / 8
}

// groupBits is ownCodesEstimate's estimate, in bits, for one group of
// planes of size bytes whose sample of n bytes has histogram hist.
func groupBits(hist *[256]uint32, n, size int) float64 {
	// H = log2(n) - sum(c log2 c) / n
	var sum float64
	k, top := 0, uint32(0)
	for _, c := range hist {
		if c > 0 {
			k++
			top = max(top, c)
			sum += clog2c(c)
		}
	}
	h := math.Log2(float64(n)) - sum/float64(n)
	h += float64(k-1) / (2 * float64(n) * math.Ln2)
	if q := float64(top) / float64(n); q >= 0.5 && q < 1 {
		// A byte of probability q >= 1/2 gets a 1-bit code, not
		// -log2(q) bits: the others cost their entropy after a bit.
		hb := -q*math.Log2(q) - (1-q)*math.Log2(1-q)
		h = 1 + h - hb
	}
	return min(max(h, 0), 8)*float64(size) + 40*8
}

// estimates returns c.estimate and ownCodesEstimate of the planes, from
// one pass over their sample, with the same results as the two functions.
func (c *staticCodes) estimates(planes []byte, nb, nobs int) (static, own float64) {
	span := planeSpan(nobs)
	sbits, n := 0, 0
	var hist [256]uint32
	for p0 := 0; p0 < nb; p0 += span {
		clear(hist[:])
		m := 0
		p1 := min(p0+span, nb)
		for p := p0; p < p1; p++ {
			l := c.lens[p/c.group]
			escBits := int(l[esc]) + 8
			plane := planes[p*nobs : (p+1)*nobs]
			for acc := 0; acc>>16 < nobs; acc += sampleStep {
				b := plane[acc>>16]
				hist[b]++
				if k := l[b]; k > 0 {
					sbits += int(k)
				} else {
					sbits += escBits
				}
			}
			m += sampleCount(nobs)
		}
		n += m
		own += groupBits(&hist, m, (p1-p0)*nobs)
	}
	return float64(sbits) * float64(nb*nobs) / float64(max(n, 1)) / 8, own / 8
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
