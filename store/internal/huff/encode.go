package huff

import (
	"encoding/binary"
	"slices"
)

// stream is one bit stream being written.
type stream struct {
	out []byte
	acc uint64
	n   uint
}

// put adds one code (at most 19 bits) and flushes whole bytes.
func (s *stream) put(e uint32) {
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

// Encode appends the coding of observations [off, off+nobs) of the nb
// planes in planes, which are stride bytes apart (part of a larger set of
// planes, coded with no copy); bs is scratch for stream B.
func (c *Codes) Encode(dst, planes []byte, stride, off, nb, nobs int, bs *[]byte) []byte {
	h := (nb + 1) / 2
	lenAt := len(dst)
	// Room for the raw bytes: the coding is almost always smaller, and
	// stream B then joins stream A without a reallocation.
	dst = slices.Grow(append(dst, 0, 0, 0, 0), nb*nobs+64)
	a := stream{out: dst}
	b := stream{out: slices.Grow((*bs)[:0], (nb-h)*nobs+64)}
	g, enc := c.Group, c.encoders()
	for p := 0; p < h; p++ {
		ta := enc[p/g]
		pa := planes[p*stride+off : p*stride+off+nobs]
		if q := p + h; q < nb {
			encodePair(&a, &b, pa, planes[q*stride+off:q*stride+off+nobs], ta, enc[q/g])
		} else {
			for _, x := range pa {
				a.put(ta[x])
			}
		}
	}
	for _, s := range []*stream{&a, &b} {
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
// encodePair's assembly (encode_amd64.s).
func encodePairGeneric(a, b *stream, pa, pb []byte, ta, tb *[256]uint32) {
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
func (s *stream) put16(x []byte, t *[256]uint32) {
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
func (s *stream) put4(x []byte, t *[256]uint32) {
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
