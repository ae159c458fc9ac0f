//go:build !amd64 || purego

package store

// encodePair codes two planes of equal length into two streams.
func encodePair(a, b *huffStream, pa, pb []byte, ta, tb *[256]uint32) {
	encodePairGeneric(a, b, pa, pb, ta, tb)
}

// decodePair decodes two planes of equal length from two streams.
func decodePair(a, b *huffReader, pa, pb []byte, ta, tb *[1 << maxCodeLen]uint16) {
	decodePairGeneric(a, b, pa, pb, ta, tb)
}
