package bufpool

import "testing"

// A buffer given back serves a later Get of at most its size, with what it
// held; larger requests get fresh buffers; Release forgets them all.
func TestReuse(t *testing.T) {
	for _, populate := range []bool{false, true} {
		p := &Pool[uint64]{Populate: populate}
		a := p.Get(1000)
		if len(a) != 1000 {
			t.Fatalf("len %d", len(a))
		}
		a[999] = 42
		p.Put(a)
		b := p.Get(1000)
		if populate && (&b[0] != &a[0] || b[999] != 42) {
			t.Fatal("populated pool: the kept buffer was not reused")
		}
		c := p.Get(5000)
		if len(c) != 5000 || &c[0] == &b[0] {
			t.Fatal("a larger request shared a smaller buffer")
		}
		c[4999] = 1 // writable through its whole length
		p.Put(b)
		p.Put(c)
		if p.Get(0) != nil {
			t.Fatal("Get(0) returned a buffer")
		}
		p.Release()
		if populate && (len(p.kept) != 0 || len(p.mapped) != 0) {
			t.Fatal("Release kept buffers")
		}
	}
}
