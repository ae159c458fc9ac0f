//go:build linux || darwin || freebsd

package store_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/store"
)

// openWithin runs store.Open(path), failing the test if it has not
// returned after a few seconds (unblock then lets it return).
func openWithin(t *testing.T, path string, unblock func()) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		r, err := store.Open(path)
		if err == nil {
			r.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		if unblock != nil {
			unblock()
		}
		t.Fatalf("store.Open(%s) still blocked after 5 s", path)
		return nil
	}
}

// TestOpenNotRegular: a FIFO, a folder, a socket or a device given as a
// store is refused at once, in one line naming what it is, rather than
// blocking the open of a FIFO until a writer comes.
func TestOpenNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "p.actbits")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	sock := filepath.Join(dir, "s.actbits")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cases := []struct{ path, what string }{
		{fifo, "a FIFO"}, {dir, "a folder"}, {sock, "a socket"},
	}
	if st, err := os.Stat("/dev/null"); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		cases = append(cases, struct{ path, what string }{"/dev/null", "a character device"})
	}
	for _, c := range cases {
		err := openWithin(t, c.path, func() {
			// a writer, so that the old blocking open returns
			if w, err := os.OpenFile(c.path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
		})
		want := c.path + ": not a regular file (" + c.what + ")"
		if err == nil || err.Error() != want || strings.Contains(err.Error(), "\n") {
			t.Errorf("Open(%s): %v, want %q", c.path, err, want)
		}
		var fe *profiler.FileError
		if !errors.As(err, &fe) || !errors.Is(err, profiler.ErrUnsupported) {
			t.Errorf("Open(%s): %v (%T) is not a *profiler.FileError wrapping ErrUnsupported", c.path, err, err)
		}
	}
	// A link to a FIFO is a FIFO too.
	link := filepath.Join(dir, "l.actbits")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	if err := openWithin(t, link, nil); err == nil || !strings.HasSuffix(err.Error(), "not a regular file (a FIFO)") {
		t.Errorf("Open(link to FIFO): %v", err)
	}
}

// TestSpecialFileOutput: a store written to a FIFO (a special file, which
// takes no positioned writes, so one goroutine writes it in order) has the
// same bytes as one written to a regular file (blocks written at their
// offsets by the goroutines that coded them).
func TestSpecialFileOutput(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	layers := []layerData{
		{"dense", []int{6000, 200}, sparse(rng, 6000*200, 200, 1)},
		{"conv", []int{300, 16, 5, 5}, sparse(rng, 300*16*25, 16, 25)},
	}
	dir := t.TempDir()
	regular := filepath.Join(dir, "regular.actbits")
	write(t, regular, layers, 64<<10, "fastest")
	want, err := os.ReadFile(regular)
	if err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	got := make(chan []byte)
	go func() {
		b, _ := os.ReadFile(fifo)
		got <- b
	}()
	write(t, fifo, layers, 64<<10, "fastest")
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("the FIFO got %d bytes, unlike the regular file's %d", len(b), len(want))
	}
}
