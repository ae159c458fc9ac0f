//go:build !amd64 || purego

package store

// encodePair codes two planes of equal length into two streams.
func encodePair(a, b *huffStream, pa, pb []byte, ta, tb *[256]uint32) {
	encodePairGeneric(a, b, pa, pb, ta, tb)
}

// haveDec2: no decoder here reads two-symbol tables.
const haveDec2 = false

// decodePair decodes two planes of equal length from two streams with
// tables ia and ib.
func (c *staticCodes) decodePair(a, b *huffReader, pa, pb []byte, ia, ib int) {
	decodePairGeneric(a, b, pa, pb, c.dec[ia], c.dec[ib])
}
