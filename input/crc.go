package input

import (
	"hash/crc32"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// crcPoly is the reversed IEEE polynomial of zip's CRC-32.
const crcPoly = 0xedb88320

// crcMulModP returns a*b modulo the CRC polynomial, both being polynomials
// in the reflected bit order of CRC-32 (bit 31 is x^0).
func crcMulModP(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0 && a != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
			a ^= m
		}
		if b&1 != 0 {
			b = b>>1 ^ crcPoly
		} else {
			b >>= 1
		}
	}
	return p
}

// crcX2n[k] is x^(2^k) modulo the CRC polynomial, for k up to 3 + 63 (a
// length of up to 2^63 bytes is up to 2^66 bits).
var crcX2n = func() (t [67]uint32) {
	p := uint32(1) << 30 // x^1
	for k := range t {
		t[k] = p
		p = crcMulModP(p, p)
	}
	return t
}()

// crcCombine returns the CRC-32 (IEEE) of the concatenation A B given
// crcA = CRC(A), crcB = CRC(B) and the length of B (the method of zlib's
// crc32_combine: CRC(A B) = CRC(A) x^(8 len(B)) + CRC(B) mod P).
func crcCombine(crcA, crcB uint32, lenB int64) uint32 {
	if lenB <= 0 {
		return crcA ^ crcB // lenB == 0: crcB is 0
	}
	p := uint32(1) << 31 // x^0
	for k := 3; lenB != 0; k, lenB = k+1, lenB>>1 {
		if lenB&1 != 0 {
			p = crcMulModP(crcX2n[k], p)
		}
	}
	return crcMulModP(p, crcA) ^ crcB
}

// maxCRCSpans bounds the runs of read bytes a crcCheck keeps apart: a
// reader that leaves more gaps (reading small parts in random order) is not
// checked.
const maxCRCSpans = 1 << 16

// crcSpan is a run of read bytes [start, end) and its CRC-32.
type crcSpan struct {
	start, end int64
	crc        uint32
}

// crcCheck checks the CRC-32 of a stored .npz member as its data are read,
// in any order, overlapping or not, and from several goroutines: each
// read's CRC is computed while its bytes are in cache, runs of adjacent
// reads are joined with crcCombine, and once one run covers all the data
// the member's CRC (its .npy header's, combined with the data's) is
// compared with the archive's.
type crcCheck struct {
	m    *npzMember
	size int64 // data bytes
	done atomic.Bool

	mu    sync.Mutex
	spans []crcSpan // the runs read, disjoint, not adjacent, in order
}

// newCRCCheck returns the check of member m's data, or nil if it is not
// needed (m was checked already).
func newCRCCheck(m *npzMember) *crcCheck {
	if m.crcChecked.Load() {
		return nil
	}
	return &crcCheck{m: m, size: m.hdr.DataBytes}
}

// add records that the data bytes at off (from the data's first byte) were
// read as p, and returns the member's CRC error if they complete the data
// and do not match. Bytes read before are not counted twice.
func (c *crcCheck) add(off int64, p []byte) error {
	if c == nil || len(p) == 0 || c.done.Load() {
		return nil
	}
	crc := crc32.ChecksumIEEE(p) // outside the lock: reads rarely overlap
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done.Load() {
		return nil
	}
	end := off + int64(len(p))
	// spans[i:j] overlap or touch [off, end): they and p become one run.
	i := sort.Search(len(c.spans), func(i int) bool { return c.spans[i].end >= off })
	j := sort.Search(len(c.spans), func(j int) bool { return c.spans[j].start > end })
	run := crcSpan{start: off, end: off}
	if i < j {
		run.start = min(off, c.spans[i].start)
		run.end = run.start
	}
	fill := func(stop int64) { // p's bytes [run.end, stop)
		piece := p[run.end-off : stop-off]
		pc := crc
		if len(piece) != len(p) {
			pc = crc32.ChecksumIEEE(piece)
		}
		run.crc = crcCombine(run.crc, pc, stop-run.end)
		run.end = stop
	}
	for _, sp := range c.spans[i:j] {
		if sp.start > run.end {
			fill(sp.start)
		}
		run.crc = crcCombine(run.crc, sp.crc, sp.end-sp.start)
		run.end = sp.end
	}
	if run.end < end {
		fill(end)
	}
	c.spans = slices.Replace(c.spans, i, j, run)
	switch {
	case run.start == 0 && run.end == c.size:
		c.done.Store(true)
		c.spans = nil
		return c.m.checkCRC(crcCombine(c.m.headCRC, run.crc, c.size))
	case len(c.spans) > maxCRCSpans:
		c.done.Store(true) // too scattered to follow
		c.spans = nil
	}
	return nil
}
