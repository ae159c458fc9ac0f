// Package bitmat holds bit-matrix helpers shared by the CPU backend (packing
// conv layers' patterns) and the pattern store (rows to columns).
package bitmat

// Transpose64 transposes a 64x64 bit matrix in place: bit j of word i
// becomes bit i of word j (Hacker's Delight, 7-3, on 64-bit words).
func Transpose64(a *[64]uint64) {
	j := 32
	m := uint64(0x00000000FFFFFFFF)
	for j != 0 {
		for k := 0; k < 64; k = (k + j + 1) &^ j {
			t := (a[k]>>j ^ a[k+j]) & m
			a[k] ^= t << j
			a[k+j] ^= t
		}
		j >>= 1
		m ^= m << j
	}
}
