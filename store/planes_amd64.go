//go:build amd64 && !purego

package store

// planes16 writes the byte planes of n16 groups of 16 rows (rows of w
// words; each plane nobs bytes apart in dst) for the nj first words of each
// row: planes 0..8*nj-1, observations 0..16*n16-1 (planes_amd64.s, SSE2:
// a 16x8 byte transpose per word in 32 unpacks).
//
//go:noescape
func planes16(dst *byte, rows *uint64, w, nobs, nj, n16 int)

// rowsToPlanesFast does the part of rowsToPlanes that planes16 can: whole
// groups of 16 observations and whole 8-byte columns. It returns the
// observations done (those of the columns below nb&^7).
func rowsToPlanesFast(dst []byte, rows []uint64, w, nb, nobs int) int {
	n16, nj := nobs/16, nb/8
	if n16 == 0 || nj == 0 || nj > w || len(rows) < nobs*w || len(dst) < nb*nobs {
		return 0
	}
	planes16(&dst[0], &rows[0], w, nobs, nj, n16)
	return 16 * n16
}
