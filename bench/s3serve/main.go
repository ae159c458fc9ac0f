// s3serve serves local files as S3 objects on loopback, for make bench: an
// in-memory gofakes3 server (the one the tests use) holding each FILE
// under KEY in bucket -bucket. It prints its URL on stdout and serves until
// its standard input closes.
//
//	s3serve -bucket bench acts.npy=acts/acts.npy
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func main() {
	bucket := flag.String("bucket", "bench", "bucket name")
	flag.Parse()
	backend := s3mem.New()
	if err := backend.CreateBucket(*bucket); err != nil {
		log.Fatal(err)
	}
	for _, arg := range flag.Args() {
		file, key, ok := strings.Cut(arg, "=")
		if !ok {
			log.Fatalf("%s: want FILE=KEY", arg)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			log.Fatal(err)
		}
		meta := map[string]string{"Last-Modified": time.Now().UTC().Format(http.TimeFormat)}
		if _, err := backend.PutObject(*bucket, key, meta, bytes.NewReader(b), int64(len(b)), nil); err != nil {
			log.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	faker := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog()))
	go http.Serve(ln, faker.Server())
	fmt.Printf("http://%s\n", ln.Addr())
	io.Copy(io.Discard, os.Stdin)
}
