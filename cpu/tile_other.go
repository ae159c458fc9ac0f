//go:build !amd64 || purego

package cpu

func tileBits(tile *[64]uint64, groups int, out *uint64, stride int) {}

const haveTileBits = false
