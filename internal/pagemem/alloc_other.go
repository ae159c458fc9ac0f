//go:build !linux

package pagemem

// Alloc returns n zeroed bytes from the Go heap (mapping pages up front is
// done on Linux only), and false: Free need not be called.
func Alloc(n int) ([]byte, bool) { return make([]byte, n), false }

// Free does nothing: Alloc never maps memory here.
func Free(b []byte) error { return nil }
