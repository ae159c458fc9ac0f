package store

import "encoding/binary"

// Byte planes: plane j of a block holds byte j of every row (units
// 8j..8j+7 of the storage order) over the block's observations, so that
// the Huffman coder (package huff) gives each group of 8 units the code of
// its own joint distribution.

// toPlanes writes the byte planes of nobs rows of nb bytes (body) to dst:
// the transpose, nb rows of nobs bytes.
func toPlanes(dst, body []byte, nb, nobs int) {
	o8, j8 := nobs&^7, nb&^7
	var a [8]uint64
	for o := 0; o < o8; o += 8 {
		for j := 0; j < j8; j += 8 {
			for r := range a {
				a[r] = binary.LittleEndian.Uint64(body[(o+r)*nb+j:])
			}
			transpose8(&a)
			for r := range a {
				binary.LittleEndian.PutUint64(dst[(j+r)*nobs+o:], a[r])
			}
		}
	}
	for o := 0; o < nobs; o++ {
		j0 := j8
		if o >= o8 {
			j0 = 0
		}
		for j := j0; j < nb; j++ {
			dst[j*nobs+o] = body[o*nb+j]
		}
	}
}

// rowsToPlanes writes to dst the byte planes of nobs rows of nb bytes held
// as w little-endian words each (a writer's natural-order bits): the same
// bytes as toPlanes of those rows truncated to nb bytes, without laying the
// rows out as bytes first.
func rowsToPlanes(dst []byte, rows []uint64, w, nb, nobs int) {
	o0 := rowsToPlanesFast(dst, rows, w, nb, nobs) // observations [0, o0), every plane
	if w == 1 && nb < 8 {
		// One word a row, a few bytes of it (conv layers of a few dozen
		// channels): a plane at a time.
		rows = rows[:nobs]
		for j := 0; j < nb; j++ {
			p, s := dst[j*nobs:(j+1)*nobs], uint(8*j)
			for o := o0; o < nobs; o++ {
				p[o] = byte(rows[o] >> s)
			}
		}
		return
	}
	o8 := nobs &^ 7
	var a [8]uint64
	for o := o0; o < o8; o += 8 {
		for j := 0; j < nb; j += 8 {
			k := j / 8
			for r := range a {
				a[r] = rows[(o+r)*w+k]
			}
			transpose8(&a)
			for r := range min(8, nb-j) { // a partial last word: its bytes below nb
				binary.LittleEndian.PutUint64(dst[(j+r)*nobs+o:], a[r])
			}
		}
	}
	for o := max(o0, o8); o < nobs; o++ {
		for j := 0; j < nb; j++ {
			dst[j*nobs+o] = byte(rows[o*w+j/8] >> (8 * (j % 8)))
		}
	}
}

// fromPlanes is the inverse of toPlanes: the planes are nb rows of nobs
// bytes, transposed back to nobs rows of nb bytes.
func fromPlanes(body, src []byte, nb, nobs int) { toPlanes(body, src, nobs, nb) }

// transpose8 transposes an 8x8 byte matrix held as 8 little-endian words:
// byte c of word r becomes byte r of word c.
func transpose8(a *[8]uint64) {
	const m4, m2, m1 = 0x00000000FFFFFFFF, 0x0000FFFF0000FFFF, 0x00FF00FF00FF00FF
	for k := 0; k < 4; k++ {
		t := (a[k]>>32 ^ a[k+4]) & m4
		a[k] ^= t << 32
		a[k+4] ^= t
	}
	for _, k := range [4]int{0, 1, 4, 5} {
		t := (a[k]>>16 ^ a[k+2]) & m2
		a[k] ^= t << 16
		a[k+2] ^= t
	}
	for _, k := range [4]int{0, 2, 4, 6} {
		t := (a[k]>>8 ^ a[k+1]) & m1
		a[k] ^= t << 8
		a[k+1] ^= t
	}
}
