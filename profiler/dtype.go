package profiler

import "fmt"

// DType is the element type of a layer's activations as stored on disk or in
// memory. All are little-endian IEEE 754 (bfloat16 is the upper half of a
// float32).
type DType uint8

// The element types actprof reads.
const (
	Float32 DType = iota + 1
	Float16
	BFloat16
	Float64
)

// Size is the width of one element in bytes.
func (d DType) Size() int {
	switch d {
	case Float32:
		return 4
	case Float16, BFloat16:
		return 2
	case Float64:
		return 8
	}
	return 0
}

// String is the name used in profiles and messages: float32, float16,
// bfloat16, float64.
func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Float16:
		return "float16"
	case BFloat16:
		return "bfloat16"
	case Float64:
		return "float64"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Valid reports whether d is one of the known element types.
func (d DType) Valid() bool { return d.Size() != 0 }

// ParseDType is the dtype of name (String's), or 0 (not Valid).
func ParseDType(name string) DType {
	for d := Float32; d.Valid(); d++ {
		if d.String() == name {
			return d
		}
	}
	return 0
}
