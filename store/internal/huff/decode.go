package huff

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// reader reads one bit stream; past its end it reads zeros (callers check
// pos against the end).
type reader struct {
	data []byte
	pos  uint // bit position
}

// peek returns the bits from pos on (at least 57 of them valid).
func (r *reader) peek() uint64 {
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
func (r *reader) get(t *[1 << MaxCodeLen]uint16) byte {
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

// decodePair decodes two planes of equal length from two streams,
// interleaved, 5 bytes of each per load (at most 55 bits) unless one of
// them is escaped.
func decodePair(a, b *reader, pa, pb []byte, ta, tb *[1 << MaxCodeLen]uint16) {
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

// Decode decodes Encode's output (data) into the nb planes of nobs bytes,
// planes. The codes must come from ReadTables.
func (c *Codes) Decode(planes, data []byte, nb, nobs int) error {
	if len(data) < 4 {
		return errors.New("no stream length")
	}
	la := binary.LittleEndian.Uint32(data)
	if uint64(la) > uint64(len(data)-4) {
		return errors.New("first stream longer than the block")
	}
	a := reader{data: data[4 : 4+la]}
	b := reader{data: data[4+la:]}
	h := (nb + 1) / 2
	g := c.Group
	for p := 0; p < h; p++ {
		pa := planes[p*nobs : (p+1)*nobs]
		if q := p + h; q < nb {
			decodePair(&a, &b, pa, planes[q*nobs:(q+1)*nobs], c.dec[p/g], c.dec[q/g])
		} else {
			for i := range pa {
				pa[i] = a.get(c.dec[p/g])
			}
		}
		if a.pos > uint(len(a.data))*8 || b.pos > uint(len(b.data))*8 {
			return fmt.Errorf("bit stream truncated at plane %d", p)
		}
	}
	for _, r := range []*reader{&a, &b} {
		end := uint(len(r.data)) * 8
		if end-r.pos >= 8 {
			return fmt.Errorf("bit stream of %d bits, %d decoded", end, r.pos)
		}
		if r.pos&7 != 0 && r.data[len(r.data)-1]>>(r.pos&7) != 0 {
			return errors.New("nonzero padding")
		}
	}
	return nil
}
