package profiler

import (
	"fmt"
	"math"
)

// Threshold is the firing threshold T: a unit fires on an observation when its
// value x > T, strictly. NaN never fires. Every element type is compared
// exactly: a float16, bfloat16 or float32 value as its float32 value, a
// float64 value as itself, all against T as a float64.
//
// Comparing a narrow value x > T exactly only needs T rounded down to that
// type: for x of type F, x > T  <=>  x > down_F(T), where down_F(T) is the
// largest value of F not above T (or -Inf). Backends use the rounded forms.
type Threshold struct {
	T   float64 // as given; -0 is taken as +0
	F32 float32 // largest float32 <= T
	F16 uint16  // bits of the largest float16 <= T
	B16 uint16  // bits of the largest bfloat16 <= T
}

// NewThreshold checks t and precomputes its rounded forms. NaN is refused.
func NewThreshold(t float64) (Threshold, error) {
	if math.IsNaN(t) {
		return Threshold{}, fmt.Errorf("%w: threshold is NaN", ErrBadOption)
	}
	if t == 0 {
		t = 0 // -0 -> +0
	}
	th := Threshold{T: t}
	th.F32 = roundDown32(t)
	th.B16 = roundDownBF16(th.F32)
	th.F16 = roundDownF16(th.F32)
	return th, nil
}

// roundDown32 returns the largest float32 not above t.
func roundDown32(t float64) float32 {
	f := float32(t) // round to nearest
	if float64(f) > t {
		f = math.Nextafter32(f, float32(math.Inf(-1)))
	}
	if f == 0 {
		// t in [0, smallest subnormal) rounds to +0; -0 only if t < 0, where
		// Nextafter already gave the negative subnormal.
		f = 0
	}
	return f
}

// roundDownBF16 returns the bits of the largest bfloat16 not above f (f is
// itself the float32 rounding of T, so down_bf16(T) = down_bf16(f)).
func roundDownBF16(f float32) uint16 {
	if math.IsInf(float64(f), 0) {
		return uint16(math.Float32bits(f) >> 16)
	}
	b := math.Float32bits(f)
	h := uint16(b >> 16)
	if b&0xffff == 0 {
		return h
	}
	// truncation moves towards zero: right for f >= 0, wrong for f < 0.
	if f < 0 {
		h++ // one step more negative in sign-magnitude
	}
	return h
}

// roundDownF16 returns the bits of the largest float16 not above f.
func roundDownF16(f float32) uint16 {
	h := F32ToF16Nearest(f)
	if float64(F16ToF32(h)) > float64(f) {
		h = nextDownF16(h)
	}
	if h == 0x8000 { // -0: only when f is +-0 after rounding toward it
		if f >= 0 {
			h = 0
		}
	}
	return h
}

func nextDownF16(h uint16) uint16 {
	switch {
	case h == 0x0000 || h == 0x8000:
		return 0x8001 // smallest negative subnormal
	case h&0x8000 == 0:
		return h - 1
	case h == 0xfc00:
		return h // -Inf
	default:
		return h + 1
	}
}

// F16ToF32 converts IEEE 754 binary16 bits to float32, exactly.
func F16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf / NaN
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp == 0:
		if man == 0 {
			return math.Float32frombits(sign)
		}
		// subnormal: man * 2^-24
		v := float32(man) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
}

// F32ToF16Nearest converts a float32 to binary16 bits, rounding to nearest
// even; NaN stays NaN, overflow goes to Inf.
func F32ToF16Nearest(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	man := b & 0x7fffff
	if exp == 0xff {
		if man != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		man |= 0x800000
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		r := man >> shift
		rem := man & (1<<shift - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++ // may carry into the exponent, giving Inf correctly
	}
	return sign | uint16(r)
}

// BF16ToF32 converts bfloat16 bits to float32, exactly.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }
