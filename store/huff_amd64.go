//go:build amd64 && !purego

package store

import (
	"slices"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// haveBMI2: encodePairBMI2 shifts by a register other than CL (SHLX).
var haveBMI2 = cpu.X86.HasBMI2

// haveDec2: staticCodes build the two-symbol tables decodePair2BMI2 reads.
var haveDec2 = haveBMI2

// pairState is two huffStreams' bits in flight and output lengths, as
// encodePairBMI2 reads and leaves them.
type pairState struct {
	accA, accB uint64
	nA, nB     uint64
	la, lb     int
}

// encodePairBMI2 codes bytes [0, n) of pa and pb (n a multiple of 4) into
// the streams of st, whose outputs oa and ob have capacities ca and cb, 4
// of each at a time. It returns the bytes coded: n, or fewer where an
// output had less than 24 bytes of room left (huff_amd64.s).
//
//go:noescape
func encodePairBMI2(st *pairState, pa, pb *byte, n int, ta, tb *[256]uint32, oa, ob *byte, ca, cb int) int

// encodePair codes two planes of equal length into two streams: the bulk
// in assembly where the CPU has BMI2, the last n%4 bytes in Go; the same
// bits as encodePairGeneric.
func encodePair(a, b *huffStream, pa, pb []byte, ta, tb *[256]uint32) {
	if !haveBMI2 {
		encodePairGeneric(a, b, pa, pb, ta, tb)
		return
	}
	pb = pb[:len(pa)]
	n := len(pa) &^ 3
	for i := 0; i < n; {
		// room for a byte per byte (codes average less), and more if
		// the assembly comes back for it
		if cap(a.out)-len(a.out) < 64 {
			a.out = slices.Grow(a.out, n-i+64)
		}
		if cap(b.out)-len(b.out) < 64 {
			b.out = slices.Grow(b.out, n-i+64)
		}
		st := pairState{a.acc, b.acc, uint64(a.n), uint64(b.n), len(a.out), len(b.out)}
		i += encodePairBMI2(&st, &pa[i], &pb[i], n-i, ta, tb,
			unsafe.SliceData(a.out[:cap(a.out)]), unsafe.SliceData(b.out[:cap(b.out)]), cap(a.out), cap(b.out))
		a.out, a.acc, a.n = a.out[:st.la], st.accA, uint(st.nA)
		b.out, b.acc, b.n = b.out[:st.lb], st.accB, uint(st.nB)
	}
	for i := n; i < len(pa); i++ {
		a.put(ta[pa[i]])
		b.put(tb[pb[i]])
	}
}

// dec2State is decodePair2BMI2's: the two streams' bit positions, the last
// byte offsets at which 8 bytes of each can be loaded, and the two outputs'
// byte indices, a step starting only where both are at most last.
type dec2State struct {
	posA, posB uint64
	limA, limB int64
	iA, iB     int
	last       int
}

// decodePair2BMI2 decodes pa and pb from the streams at st with the
// two-symbol tables ta and tb, a step of 5 lookups in each at a time, while
// a step fits (dec2State); it stops before a step with an escaped code
// (huffdec2_amd64.s).
//
//go:noescape
func decodePair2BMI2(st *dec2State, pa, pb *byte, ta, tb *[1 << maxCodeLen]uint32, da, db *byte)

// decodePair decodes two planes of equal length from two streams with
// tables ia and ib: the bulk in assembly where the CPU has BMI2, the rest
// (the next codes after an escape, the planes' and streams' last bytes) in
// Go; the same bytes and bit positions as decodePairGeneric.
func (c *staticCodes) decodePair(a, b *huffReader, pa, pb []byte, ia, ib int) {
	ta, tb := c.dec[ia], c.dec[ib]
	n := len(pa)
	if !haveBMI2 || len(a.data) < 8 || len(b.data) < 8 || n < 10 || !c.dec2Ready.Load() {
		decodePairGeneric(a, b, pa, pb, ta, tb)
		return
	}
	pb = pb[:n]
	st := dec2State{limA: int64(len(a.data) - 8), limB: int64(len(b.data) - 8), last: n - 10}
	for {
		st.posA, st.posB = uint64(a.pos), uint64(b.pos)
		decodePair2BMI2(&st, &pa[0], &pb[0], c.dec2[ia], c.dec2[ib], &a.data[0], &b.data[0])
		a.pos, b.pos = uint(st.posA), uint(st.posB)
		if st.iA > st.last || st.iB > st.last || int64(a.pos>>3) > st.limA || int64(b.pos>>3) > st.limB {
			break
		}
		// an escaped code among the next 10 of either stream
		for k := 0; k < 10; k++ {
			pa[st.iA+k] = a.get(ta)
			pb[st.iB+k] = b.get(tb)
		}
		st.iA += 10
		st.iB += 10
	}
	for i := st.iA; i < n; i++ {
		pa[i] = a.get(ta)
	}
	for i := st.iB; i < n; i++ {
		pb[i] = b.get(tb)
	}
}
