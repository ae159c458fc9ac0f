package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/actprof/actprof/input"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/store"
)

// maxCheckElems bounds the elements verify reads back from the data per
// layer (16 bytes of memory each while streamed).
const maxCheckElems = 4 << 20

// verifyData compares the fired units the store holds for a spread of
// observations of each layer (check of them; all when check is 0 or the
// layer has fewer) with the data itself, read at the observations'
// positions in the logical array (C order over the axes other than the
// unit axis, whatever the file's order): a store that holds the right
// counts but observations in the wrong places fails here. It returns the
// observations compared.
func verifyData(ctx context.Context, r *store.Reader, storePath string, paths []string, check int) (int64, error) {
	ls, err := input.Open(paths, input.Options{})
	if err != nil {
		return 0, err
	}
	byName := map[string]profiler.Layer{}
	for _, l := range ls {
		byName[l.Name] = l
	}
	var total int64
	for _, sl := range r.Layers() {
		info := sl.Info
		dl, ok := byName[info.Name]
		if !ok {
			return total, &profiler.FileError{Path: storePath, Err: fmt.Errorf("verify: layer %s is not in the data given", info.Name)}
		}
		if dl.DType.String() != info.DType || !slices.Equal(dl.Shape, info.Shape) {
			return total, &profiler.FileError{Path: storePath, Err: fmt.Errorf("verify: layer %s: %s %v in the store, %s %v in %s", info.Name, info.DType, info.Shape, dl.DType, dl.Shape, dl.Path)}
		}
		n, err := verifyLayer(ctx, sl, dl, r.Header.Threshold, storePath, check)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// element is one value to read back: its byte offset in the layer and its
// place among the observations checked.
type element struct {
	off    int64
	obs, u int32
}

func verifyLayer(ctx context.Context, sl *store.Layer, dl profiler.Layer, thr float64, storePath string, check int) (int64, error) {
	info := sl.Info
	units, nobs := int64(info.Units), info.Observations
	n := nobs
	if check > 0 {
		n = min(n, int64(check))
	}
	n = max(1, min(n, maxCheckElems/units))
	obs := make([]int64, n) // spread over the layer, first and last included
	for k := range obs {
		if n > 1 {
			obs[k] = int64(k) * (nobs - 1) / (n - 1)
		}
	}
	// strides of the file's order over the logical axes
	shape, ax := info.Shape, info.UnitAxis
	stride := make([]int64, len(shape))
	acc := int64(1)
	for i := range shape {
		k := len(shape) - 1 - i // C order: last axis fastest
		if dl.FortranOrder {
			k = i
		}
		stride[k] = acc
		acc *= int64(shape[k])
	}
	size := int64(dl.DType.Size())
	els := make([]element, 0, n*units)
	for k, o := range obs {
		// o's index over the axes other than ax, in C order
		base, rest := int64(0), o
		for i := len(shape) - 1; i >= 0; i-- {
			if i == ax {
				continue
			}
			base += rest % int64(shape[i]) * stride[i]
			rest /= int64(shape[i])
		}
		for u := int64(0); u < units; u++ {
			els = append(els, element{off: (base + u*stride[ax]) * size, obs: int32(k), u: int32(u)})
		}
	}
	fired := make([][]int, n)
	byOff := slices.Clone(els)
	slices.SortFunc(byOff, func(a, b element) int { return int(a.off - b.off) })
	val := make([]byte, size)
	src, err := dl.Open()
	if err != nil {
		return 0, err
	}
	defer src.Close()
	fire := func(e element, b []byte) {
		if fires(dl.DType, b, thr) {
			fired[e.obs] = append(fired[e.obs], int(e.u))
		}
	}
	if ra, ok := src.(profiler.ReaderAtSource); ok {
		for _, e := range byOff {
			if _, err := ra.ReadAt(val, e.off); err != nil {
				return 0, err
			}
			fire(e, val)
		}
	} else {
		// streamed (a deflated .npz member): one pass, picking the
		// elements in order
		var pos int64
		i := 0
		for i < len(byOff) {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			c, err := src.Next(1 << 20)
			if errors.Is(err, io.EOF) {
				return 0, &profiler.FileError{Path: dl.Path, Err: fmt.Errorf("layer %s: %w: data ends at byte %d", dl.Name, profiler.ErrTruncated, pos)}
			}
			if err != nil {
				return 0, err
			}
			for ; i < len(byOff) && byOff[i].off+size <= pos+int64(len(c.Data)); i++ {
				fire(byOff[i], c.Data[byOff[i].off-pos:byOff[i].off-pos+size])
			}
			pos += int64(len(c.Data))
			c.Release()
		}
	}
	for k, o := range obs {
		if err := ctx.Err(); err != nil {
			return int64(k), err
		}
		got, err := sl.Fired(o)
		if err != nil {
			return int64(k), err
		}
		slices.Sort(fired[k])
		if !slices.Equal(got, fired[k]) && !(len(got) == 0 && len(fired[k]) == 0) {
			return int64(k), &profiler.FileError{Path: storePath, Err: fmt.Errorf("verify: layer %s observation %d: the store has units %s fired, the data %s", info.Name, o, unitList(got, 8), unitList(fired[k], 8))}
		}
	}
	return n, nil
}

// fires is the plain reference of the count: x > T, NaN never (every
// dtype's values are exact in float64).
func fires(dt profiler.DType, b []byte, thr float64) bool {
	var x float64
	switch dt {
	case profiler.Float32:
		x = float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
	case profiler.Float64:
		x = math.Float64frombits(binary.LittleEndian.Uint64(b))
	case profiler.Float16:
		x = float64(profiler.F16ToF32(binary.LittleEndian.Uint16(b)))
	case profiler.BFloat16:
		x = float64(profiler.BF16ToF32(binary.LittleEndian.Uint16(b)))
	}
	return x > thr
}
