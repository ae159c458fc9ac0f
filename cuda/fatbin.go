package cuda

import _ "embed"

// Fatbin is the compiled image of kernels/count.cu (make kernels), for
// code that loads it with a driver of its own (the Python package's
// library, which cannot link gorgonia.org/cu): the only part of this
// package built without the cuda tag.
//
//go:embed kernels.fatbin
var Fatbin []byte
