//go:build amd64 && !purego

package cpu

// tileBits transposes a whole tile of packBits (64 positions): for each
// position p, bits 16g..16g+15 (g < groups) of the word at out + p*stride
// bytes get tile rows 16g..16g+15's bits at p; group 0 writes the whole
// word (tile_amd64.s, SSE2).
//
//go:noescape
func tileBits(tile *[64]uint64, groups int, out *uint64, stride int)

const haveTileBits = true
