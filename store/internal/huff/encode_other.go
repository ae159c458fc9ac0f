//go:build !amd64 || purego

package huff

// encodePair codes two planes of equal length into two streams.
func encodePair(a, b *stream, pa, pb []byte, ta, tb *[256]uint32) {
	encodePairGeneric(a, b, pa, pb, ta, tb)
}
