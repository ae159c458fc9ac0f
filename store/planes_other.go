//go:build !amd64 || purego

package store

// rowsToPlanesFast: no fast path here; rowsToPlanes does it all.
func rowsToPlanesFast(dst []byte, rows []uint64, w, nb, nobs int) int { return 0 }
