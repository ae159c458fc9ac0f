package input

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/actprof/actprof/profiler"
)

// Objects in S3-compatible storage, named s3://bucket/key. An object is
// read with ranged GETs, each ReadAt its own request, so that the
// profiler's workers read in parallel and memory stays at their buffers.
// Small reads (headers, zip directories) go through a few cached 64 KiB
// blocks of the object. A read that fails, before its response or in the
// middle of its body, is retried from the byte it reached, with backoff; a
// 403 or 404 is reported at once.

// s3Prefix starts the name of an object in S3.
const s3Prefix = "s3://"

// isS3 reports whether name is an s3:// URL.
func isS3(name string) bool { return strings.HasPrefix(name, s3Prefix) }

// splitS3 splits s3://bucket/key.
func splitS3(name string) (bucket, key string, err error) {
	rest := strings.TrimPrefix(name, s3Prefix)
	bucket, key, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", profiler.FileErrorf(name, profiler.ErrBadOption, "no bucket: want s3://bucket/key")
	}
	return bucket, key, nil
}

// s3Store reads objects through the client the environment describes.
type s3Store struct{ c *s3Client }

func newS3Store() (store, error) {
	c, err := s3ClientNow()
	if err != nil {
		return nil, err
	}
	return s3Store{c}, nil
}

// s3Error attributes an error of a request about name to it: one line, a
// 404 wrapping fs.ErrNotExist and a 403 fs.ErrPermission.
func s3Error(name string, err error) error {
	var fe *profiler.FileError
	if errors.As(err, &fe) {
		return err
	}
	tries := ""
	if g, ok := err.(*gaveUp); ok {
		tries, err = fmt.Sprintf(" (%d attempts)", g.tries), g.err
	}
	r := minio.ToErrorResponse(err)
	switch {
	case r.StatusCode == http.StatusNotFound || r.Code == "NoSuchKey" || r.Code == "NoSuchBucket":
		what := "no such object"
		if r.Code == "NoSuchBucket" {
			what = "no such bucket"
		}
		return &profiler.FileError{Path: name, Err: &kindError{fmt.Sprintf("%s (%d %s)", what, http.StatusNotFound, cmpOr(r.Code, "NotFound")), fs.ErrNotExist}}
	case r.StatusCode == http.StatusForbidden || r.Code == "AccessDenied":
		return &profiler.FileError{Path: name, Err: &kindError{fmt.Sprintf("access denied (%d %s): check the credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE) and the object's permissions", http.StatusForbidden, cmpOr(r.Code, "Forbidden")), fs.ErrPermission}}
	case r.StatusCode == http.StatusPreconditionFailed:
		return profiler.FileErrorf(name, profiler.ErrFormat, "the object changed while it was read (its ETag is no longer the one it had when opened)")
	case r.StatusCode != 0:
		return &profiler.FileError{Path: name, Err: fmt.Errorf("S3 error %d %s%s: %s", r.StatusCode, r.Code, tries, oneLineText(r.Message))}
	}
	return &profiler.FileError{Path: name, Err: fmt.Errorf("S3 request failed%s: %s", tries, oneLineText(err.Error()))}
}

// kindError is a message that errors.Is takes for kind.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

// notFound tells a missing bucket from a missing object: a HEAD's 404 has
// no body to say which.
func (s s3Store) notFound(bucket string, err error) error {
	r := minio.ToErrorResponse(err)
	if r.StatusCode == http.StatusNotFound && r.Code != "NoSuchBucket" {
		if ok, berr := s.c.core.BucketExists(context.Background(), bucket); berr == nil && !ok {
			r.Code = "NoSuchBucket"
			return r
		}
	}
	return err
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// oneLineText joins the lines of s.
func oneLineText(s string) string { return strings.Join(strings.Fields(s), " ") }

func (s s3Store) Join(dir, elem string) string { return strings.TrimSuffix(dir, "/") + "/" + elem }

func (s s3Store) Open(name string) (Object, error) {
	bucket, key, err := splitS3(name)
	if err != nil {
		return nil, err
	}
	if key == "" || strings.HasSuffix(key, "/") {
		return nil, profiler.FileErrorf(name, profiler.ErrUnsupported, "a prefix, not an object")
	}
	info, err := s.stat(bucket, key)
	if err != nil {
		return nil, s3Error(name, s.notFound(bucket, err))
	}
	return &s3Object{c: s.c, name: name, bucket: bucket, key: key, size: info.Size, etag: info.ETag}, nil
}

// stat asks for an object's size and ETag, retrying as reads do.
func (s s3Store) stat(bucket, key string) (info minio.ObjectInfo, err error) {
	err = retry(func() (bool, error) {
		info, err = s.c.core.StatObject(context.Background(), bucket, key, minio.StatObjectOptions{})
		return false, err
	})
	return info, err
}

// Stat: a key ending in '/' (or none) is a folder; another key is an
// object if there is one, else a folder if objects lie under key + "/".
func (s s3Store) Stat(name string) (entryKind, error) {
	bucket, key, err := splitS3(name)
	if err != nil {
		return kindOther, err
	}
	if key != "" && !strings.HasSuffix(key, "/") {
		_, err := s.stat(bucket, key)
		if err == nil {
			return kindFile, nil
		}
		if minio.ToErrorResponse(err).StatusCode != http.StatusNotFound {
			return kindOther, s3Error(name, err)
		}
		key += "/"
		if some, lerr := s.any(bucket, key); lerr != nil || !some {
			return kindOther, s3Error(name, s.notFound(bucket, err))
		}
		return kindDir, nil
	}
	some, err := s.any(bucket, key)
	if err != nil {
		return kindOther, s3Error(name, err)
	}
	if !some {
		return kindOther, &profiler.FileError{Path: name, Err: &kindError{"no objects under this prefix", fs.ErrNotExist}}
	}
	return kindDir, nil
}

// any reports whether some object's key starts with prefix.
func (s s3Store) any(bucket, prefix string) (bool, error) {
	var res minio.ListBucketV2Result
	err := retry(func() (bool, error) {
		var err error
		res, err = s.c.core.ListObjectsV2(bucket, prefix, "", "", "", 1)
		return false, err
	})
	return len(res.Contents)+len(res.CommonPrefixes) > 0, err
}

// list returns the keys and, with delimiter "/", the common prefixes under
// prefix, each in lexical order.
func (s s3Store) list(bucket, prefix, delimiter string) (keys, prefixes []string, err error) {
	token := ""
	for {
		var res minio.ListBucketV2Result
		err = retry(func() (bool, error) {
			var err error
			res, err = s.c.core.ListObjectsV2(bucket, prefix, "", token, delimiter, 1000)
			return false, err
		})
		if err != nil {
			return nil, nil, err
		}
		for _, o := range res.Contents {
			keys = append(keys, o.Key)
		}
		for _, p := range res.CommonPrefixes {
			prefixes = append(prefixes, p.Prefix)
		}
		if !res.IsTruncated || res.NextContinuationToken == "" {
			break
		}
		token = res.NextContinuationToken
	}
	slices.Sort(keys)
	slices.Sort(prefixes)
	return keys, prefixes, nil
}

// ReadDir lists the objects and the prefixes one level under dir, as a
// folder's files and subfolders.
func (s s3Store) ReadDir(dir string) ([]entry, error) {
	bucket, key, err := splitS3(dir)
	if err != nil {
		return nil, err
	}
	if key != "" && !strings.HasSuffix(key, "/") {
		key += "/"
	}
	keys, prefixes, err := s.list(bucket, key, "/")
	if err != nil {
		return nil, s3Error(dir, err)
	}
	var out []entry
	for _, k := range keys {
		if name := k[len(key):]; name != "" && !strings.HasPrefix(name, ".") {
			out = append(out, entry{name: name, path: s3Prefix + bucket + "/" + k})
		}
	}
	for _, p := range prefixes {
		name := strings.TrimSuffix(p[len(key):], "/")
		if name != "" && !strings.HasPrefix(name, ".") {
			out = append(out, entry{name: name, path: s3Prefix + bucket + "/" + strings.TrimSuffix(p, "/"), dir: true})
		}
	}
	slices.SortFunc(out, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// IsPattern reports whether name's key holds glob characters.
func (s s3Store) IsPattern(name string) bool {
	_, key, _ := strings.Cut(strings.TrimPrefix(name, s3Prefix), "/")
	return strings.ContainsAny(key, "*?[\\")
}

// Glob lists the objects whose keys match the key pattern of name
// (path.Match: '*' does not match '/'), in lexical order; no match is an
// error.
func (s s3Store) Glob(name string) ([]string, error) {
	bucket, pattern, err := splitS3(name)
	if err != nil {
		return nil, err
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, profiler.FileErrorf(name, profiler.ErrBadOption, "bad pattern: %v", err)
	}
	lit := pattern[:strings.IndexAny(pattern, "*?[\\")]
	keys, _, err := s.list(bucket, lit, "")
	if err != nil {
		return nil, s3Error(name, err)
	}
	var out []string
	for _, k := range keys {
		if ok, _ := path.Match(pattern, k); ok && !strings.HasSuffix(k, "/") {
			out = append(out, s3Prefix+bucket+"/"+k)
		}
	}
	if len(out) == 0 {
		return nil, &profiler.FileError{Path: name, Err: &kindError{"no object matches", fs.ErrNotExist}}
	}
	return out, nil
}

// s3Object is an object of known size and ETag. Every GET asks for that
// ETag, so an object replaced while it is read is an error, not a mix of
// two objects' bytes.
type s3Object struct {
	c                 *s3Client
	name, bucket, key string
	size              int64
	etag              string

	mu     sync.Mutex
	blocks map[int64][]byte // cached blocks by index
	order  []int64          // blocks in the order cached, oldest first
}

// s3StreamBuffer is the read-ahead of a sequential reader of an object (a
// deflated .npz member).
const s3StreamBuffer = 4 << 20

// s3Block is the size of a cached block; s3Blocks how many an object keeps.
const (
	s3Block  = 64 << 10
	s3Blocks = 16
)

func (o *s3Object) Name() string         { return o.name }
func (o *s3Object) Size() (int64, error) { return o.size, nil }

func (o *s3Object) Close() error {
	o.mu.Lock()
	o.blocks, o.order = nil, nil
	o.mu.Unlock()
	return nil
}

// ReadAt reads len(p) bytes at off. Like os.File's, a read that reaches
// the end of the object returns the bytes there are and io.EOF.
func (o *s3Object) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, profiler.FileErrorf(o.name, profiler.ErrFormat, "read at negative offset %d", off)
	}
	if off >= o.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	want := p
	if rest := o.size - off; int64(len(p)) > rest {
		want = p[:rest]
	}
	var err error
	if b := off / s3Block; len(want) <= s3Block && (off+int64(len(want))-1)/s3Block == b {
		var blk []byte
		if blk, err = o.block(b); err == nil {
			copy(want, blk[off-b*s3Block:])
		}
	} else {
		err = o.get(want, off)
	}
	if err != nil {
		return 0, err
	}
	if len(want) < len(p) {
		return len(want), io.EOF
	}
	return len(p), nil
}

// block returns block i, from the cache or read now.
func (o *s3Object) block(i int64) ([]byte, error) {
	o.mu.Lock()
	blk, ok := o.blocks[i]
	o.mu.Unlock()
	if ok {
		return blk, nil
	}
	blk = make([]byte, min(s3Block, o.size-i*s3Block))
	if err := o.get(blk, i*s3Block); err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.blocks == nil {
		o.blocks = map[int64][]byte{}
	}
	if _, ok := o.blocks[i]; !ok {
		if len(o.order) == s3Blocks {
			delete(o.blocks, o.order[0])
			o.order = o.order[1:]
		}
		o.blocks[i] = blk
		o.order = append(o.order, i)
	}
	return blk, nil
}

// get fills p with the bytes at off (all inside the object) by ranged
// GETs: a body cut short is resumed from the byte it reached.
func (o *s3Object) get(p []byte, off int64) error {
	done := 0
	err := retry(func() (bool, error) {
		var opts minio.GetObjectOptions
		if err := opts.SetRange(off+int64(done), off+int64(len(p))-1); err != nil {
			return false, err
		}
		if o.etag != "" {
			opts.SetMatchETag(o.etag)
		}
		body, _, _, err := o.c.core.GetObject(context.Background(), o.bucket, o.key, opts)
		if err != nil {
			return false, err
		}
		defer body.Close()
		n, err := io.ReadFull(body, p[done:])
		done += n
		if err != nil {
			// the connection broke in the body: a transport error
			return n > 0, &bodyError{err}
		}
		return false, nil
	})
	if err != nil {
		return s3Error(o.name, err)
	}
	return nil
}

// bodyError is a failure while reading a response's body.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return "reading the response: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

// transient reports whether err may go away when the request is made
// again: a 5xx, 429 or 408 response, a broken connection, a body cut short.
func transient(err error) bool {
	if code := minio.ToErrorResponse(err).StatusCode; code != 0 {
		return code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout
	}
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return false // a misspelt endpoint or bucket
	}
	var be *bodyError
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &be) || errors.As(err, &ne) || errors.As(err, &ue) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED)
}

// gaveUp is the last error of a request tried too often.
type gaveUp struct {
	err   error
	tries int
}

func (g *gaveUp) Error() string { return fmt.Sprintf("%v (%d attempts)", g.err, g.tries) }
func (g *gaveUp) Unwrap() error { return g.err }

// s3Retries bounds the attempts of one request that make no progress;
// s3Backoff is the first wait between them, doubled each time up to
// s3BackoffCap. Tests shorten them.
var (
	s3Retries    = 8
	s3Backoff    = 100 * time.Millisecond
	s3BackoffCap = 5 * time.Second
)

// retry runs attempt until it succeeds, fails for good, or has failed
// s3Retries times in a row without progress. attempt reports whether it
// made progress (read some bytes) before failing; progress or not, it is
// tried at most 20*s3Retries times. Responses with a status
// (403, 404, 412, other 4xx) fail for good: minio-go has already retried
// 5xx ones, and retry tries those again too.
func retry(attempt func() (progress bool, err error)) error {
	wait := s3Backoff
	for fails, tries := 0, 0; ; tries++ {
		progress, err := attempt()
		if err == nil {
			return nil
		}
		if !transient(err) {
			return err
		}
		if progress {
			fails, wait = 0, s3Backoff
		}
		if fails++; fails >= s3Retries || tries >= 20*s3Retries {
			return &gaveUp{err, tries + 1}
		}
		time.Sleep(wait)
		wait = min(2*wait, s3BackoffCap)
	}
}
