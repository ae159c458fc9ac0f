// Package s3test runs an S3 server on loopback for tests: gofakes3's
// in-memory backend behind an httptest server, with faults injected by a
// wrapping handler (connections reset in the middle of a body, 5xx
// responses, slowness, requests signed with another access key refused).
package s3test

import (
	"bytes"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Test credentials the server accepts by default.
const (
	AccessKey = "AKIDACTPROFTEST"
	SecretKey = "actprof-test-secret"
)

// Server is a fake S3 endpoint.
type Server struct {
	URL     string
	Bucket  string
	backend *s3mem.Backend

	// AccessKey, when set, is the only access key accepted: a request
	// signed with another, or unsigned, gets 403 AccessDenied.
	accessKey atomic.Value // string

	fail   atomic.Int64 // object GETs still to answer 503
	resets atomic.Int64 // object GETs still to cut short
	cutAt  atomic.Int64 // bytes of body sent before a cut
	delay  atomic.Int64 // time.Duration before each response and between its writes

	Gets        atomic.Int64 // object GETs served (faults included)
	inflight    atomic.Int64
	MaxInflight atomic.Int64 // most object GETs in flight at once
}

// Start starts a server with one bucket and points the AWS environment
// variables of the test at it (endpoint, region, the test's credentials;
// HOME and the AWS files moved to an empty folder, so that the user's do
// not count).
func Start(t testing.TB, bucket string) *Server {
	t.Helper()
	s := &Server{Bucket: bucket, backend: s3mem.New()}
	s.accessKey.Store(AccessKey)
	faker := gofakes3.New(s.backend, gofakes3.WithLogger(gofakes3.DiscardLog()))
	if err := s.backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(s.wrap(faker.Server()))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // cut connections are meant
	ts.Start()
	t.Cleanup(ts.Close)
	s.URL = ts.URL
	home := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": s.URL, "AWS_ENDPOINT_URL_S3": "", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "",
		"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "", "AWS_PROFILE": "",
		"AWS_ACCESS_KEY_ID": AccessKey, "AWS_SECRET_ACCESS_KEY": SecretKey, "AWS_SESSION_TOKEN": "",
		"AWS_ACCESS_KEY": "", "AWS_SECRET_KEY": "",
		"HOME":            home,
		"AWS_CONFIG_FILE": filepath.Join(home, ".aws", "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, ".aws", "credentials"),
		"AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_ROLE_ARN": "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "",
	} {
		t.Setenv(k, v)
	}
	return s
}

// Home is the HOME the server's environment set.
func Home() string { return os.Getenv("HOME") }

// Put stores data under key.
func (s *Server) Put(t testing.TB, key string, data []byte) {
	t.Helper()
	// the metadata gofakes3 records for an object uploaded through HTTP
	meta := map[string]string{"Last-Modified": time.Now().UTC().Format(http.TimeFormat), "Content-Type": "application/octet-stream"}
	if _, err := s.backend.PutObject(s.Bucket, key, meta, bytes.NewReader(data), int64(len(data)), nil); err != nil {
		t.Fatal(err)
	}
}

// PutDir stores the files under dir (recursively) under prefix + their
// path relative to dir, with '/' separators.
func (s *Server) PutDir(t testing.TB, prefix, dir string) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || !info.Mode().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s.Put(t, prefix+filepath.ToSlash(rel), b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// RequireKey makes key the only access key accepted ("" accepts any).
func (s *Server) RequireKey(key string) { s.accessKey.Store(key) }

// FailNext answers the next n object GETs with 503 SlowDown.
func (s *Server) FailNext(n int) { s.fail.Store(int64(n)) }

// ResetNext cuts the next n object GETs after `after` bytes of their body:
// the connection is closed without a word.
func (s *Server) ResetNext(n, after int) {
	s.cutAt.Store(int64(after))
	s.resets.Store(int64(n))
}

// SetDelay makes every response wait d before it starts and between its
// writes.
func (s *Server) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// Pending is the faults not yet served (failures and cuts).
func (s *Server) Pending() int64 { return max(s.fail.Load(), 0) + max(s.resets.Load(), 0) }

// take consumes one fault from c, if any is left.
func take(c *atomic.Int64) bool {
	for {
		n := c.Load()
		if n <= 0 {
			return false
		}
		if c.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

func (s *Server) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if key := s.accessKey.Load().(string); key != "" && !strings.Contains(r.Header.Get("Authorization"), "Credential="+key+"/") {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			if r.Method != http.MethodHead {
				w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`))
			}
			return
		}
		d := time.Duration(s.delay.Load())
		if d > 0 {
			time.Sleep(d)
		}
		_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if r.Method != http.MethodGet || key == "" {
			h.ServeHTTP(w, r)
			return
		}
		s.Gets.Add(1)
		n := s.inflight.Add(1)
		defer s.inflight.Add(-1)
		for m := s.MaxInflight.Load(); n > m && !s.MaxInflight.CompareAndSwap(m, n); m = s.MaxInflight.Load() {
		}
		if take(&s.fail) {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`))
			return
		}
		cw := &cutWriter{ResponseWriter: w, delay: d, left: -1}
		if take(&s.resets) {
			cw.left = s.cutAt.Load()
		}
		h.ServeHTTP(cw, r)
	})
}

// cutWriter passes a body through, pausing between writes, and after left
// bytes (when left >= 0) hijacks the connection and closes it.
type cutWriter struct {
	http.ResponseWriter
	delay time.Duration
	left  int64
	dead  bool
}

func (c *cutWriter) WriteHeader(code int) {
	if !c.dead {
		c.ResponseWriter.WriteHeader(code)
	}
}

func (c *cutWriter) Write(p []byte) (int, error) {
	done := 0
	for len(p) > 0 {
		k := len(p)
		if c.delay > 0 {
			k = min(k, 32<<10)
			time.Sleep(c.delay / 8)
		}
		n, err := c.write(p[:k])
		done += n
		if err != nil {
			return done, err
		}
		p = p[k:]
	}
	return done, nil
}

func (c *cutWriter) write(p []byte) (int, error) {
	if c.dead {
		return 0, net.ErrClosed
	}
	if c.left < 0 || int64(len(p)) <= c.left {
		if c.left >= 0 {
			c.left -= int64(len(p))
		}
		return c.ResponseWriter.Write(p)
	}
	n, _ := c.ResponseWriter.Write(p[:c.left])
	c.ResponseWriter.(http.Flusher).Flush()
	c.dead = true
	if conn, _, err := c.ResponseWriter.(http.Hijacker).Hijack(); err == nil {
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetLinger(0) // a reset, not an orderly close
		}
		conn.Close()
	}
	return n, net.ErrClosed
}
