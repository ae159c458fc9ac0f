package pagemem

import (
	"runtime"
	"testing"
)

func TestAlloc(t *testing.T) {
	for _, n := range []int{1, 8, 4095, 4096, 4097, 3 << 20} {
		b, mapped := Alloc(n)
		if len(b) != n {
			t.Fatalf("Alloc(%d): %d bytes", n, len(b))
		}
		if want := runtime.GOOS == "linux"; mapped != want {
			t.Errorf("Alloc(%d): mapped %v on %s", n, mapped, runtime.GOOS)
		}
		for i, x := range b {
			if x != 0 {
				t.Fatalf("Alloc(%d): byte %d is %d, not zero", n, i, x)
			}
		}
		for i := range b {
			b[i] = byte(i)
		}
		if b[n-1] != byte(n-1) {
			t.Fatalf("Alloc(%d): last byte not written", n)
		}
		if mapped {
			if err := Free(b); err != nil {
				t.Fatalf("Free(%d bytes): %v", n, err)
			}
		}
	}
}
