//go:build amd64 && !purego

package store

// planes16 writes the byte planes of n16 groups of 16 rows (rows of w
// words; each plane nobs bytes apart in dst) for the nj first words of each
// row: planes 0..8*(nj-1)+last-1 (last, 1..8: the planes of the last
// word), observations 0..16*n16-1 (planes_amd64.s, SSE2: a 16x8 byte
// transpose per word in 32 unpacks).
//
//go:noescape
func planes16(dst *byte, rows *uint64, w, nobs, nj, n16, last int)

// rowsToPlanesFast does the part of rowsToPlanes that planes16 can: whole
// groups of 16 observations, every plane. It returns the observations done.
func rowsToPlanesFast(dst []byte, rows []uint64, w, nb, nobs int) int {
	n16, nj := nobs/16, (nb+7)/8
	if n16 == 0 || nj == 0 || nj > w || len(rows) < nobs*w || len(dst) < nb*nobs {
		return 0
	}
	planes16(&dst[0], &rows[0], w, nobs, nj, n16, nb-8*(nj-1))
	return 16 * n16
}
