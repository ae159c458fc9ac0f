// Package npyfmt writes .npy headers.
package npyfmt

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Header returns a .npy header (version 1.0, or 2.0 when it is long) for a
// C-order array of descr (e.g. "<f4", "|u1") and shape, padded so the data
// starts at a multiple of 64 bytes.
func Header(descr string, shape []int) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.Itoa(d)
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, tuple)
	for _, v := range []struct {
		major  byte
		prefix int
	}{{1, 10}, {2, 12}} {
		total := (v.prefix + len(dict) + 1 + 63) / 64 * 64
		hl := total - v.prefix
		if v.major == 1 && hl > math.MaxUint16 {
			continue
		}
		h := make([]byte, 0, total)
		h = append(h, "\x93NUMPY"...)
		h = append(h, v.major, 0)
		if v.major == 1 {
			h = binary.LittleEndian.AppendUint16(h, uint16(hl))
		} else {
			h = binary.LittleEndian.AppendUint32(h, uint32(hl))
		}
		h = append(h, dict...)
		for len(h) < total-1 {
			h = append(h, ' ')
		}
		return append(h, '\n')
	}
	return nil
}
