//go:build !unix

package store

// openFlags: openRegular's stat alone keeps FIFOs out.
const openFlags = 0
