//go:build amd64 && !purego

package huff

import (
	"slices"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// haveBMI2: encodePairBMI2 shifts by a register other than CL (SHLX).
var haveBMI2 = cpu.X86.HasBMI2

// pairState is two streams' bits in flight and output lengths, as
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
func encodePair(a, b *stream, pa, pb []byte, ta, tb *[256]uint32) {
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
