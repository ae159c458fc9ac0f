package cpu

import (
	"fmt"

	"github.com/actprof/actprof/profiler"
)

// packBits writes each observation's fired bits. The block must hold whole
// [Units, Inner] groups.
func packBits(blk *profiler.Block, out []uint64) error {
	g := blk.Geom
	group := g.Units * g.Inner
	n := int64(blk.Len())
	if blk.Start%group != 0 || n%group != 0 {
		return fmt.Errorf("%w: cpu: patterns need blocks of whole observation groups", profiler.ErrBackend)
	}
	w := int64(profiler.Words(int(g.Units)))
	obs := n / group * g.Inner
	if int64(len(out)) < obs*w {
		return fmt.Errorf("%w: cpu: pattern buffer holds %d words, need %d", profiler.ErrBackend, len(out), obs*w)
	}
	clear(out[:obs*w])
	fired := firedFunc(blk.DType, &blk.Thr)
	for e := int64(0); e < n; e++ {
		if !fired(blk.Data, int(e)) {
			continue
		}
		a, rem := e/group, e%group
		u, i := rem/g.Inner, rem%g.Inner
		o := a*g.Inner + i
		out[o*w+u/64] |= 1 << (u % 64)
	}
	return nil
}
