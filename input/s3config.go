package input

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"gopkg.in/ini.v1"

	"github.com/actprof/actprof/profiler"
)

// s3Env lists the environment variables that choose the S3 endpoint,
// region and credentials. A client is made for each set of their values.
var s3Env = []string{
	"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
	"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
	"AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN",
	"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	"AWS_CONTAINER_CREDENTIALS_FULL_URI", "HOME",
}

var s3Clients sync.Map // env values -> *s3Client or error

// s3Client is a connection to one S3 endpoint.
type s3Client struct {
	core *minio.Core
	// transport is the client's, for tests that close idle connections.
	transport http.RoundTripper
}

// s3ClientNow returns the client that the environment now describes.
func s3ClientNow() (*s3Client, error) {
	var key strings.Builder
	for _, v := range s3Env {
		key.WriteString(os.Getenv(v))
		key.WriteByte(0)
	}
	if c, ok := s3Clients.Load(key.String()); ok {
		return c.(*s3Client), nil
	}
	c, err := newS3Client()
	if err != nil {
		return nil, err
	}
	got, _ := s3Clients.LoadOrStore(key.String(), c)
	return got.(*s3Client), nil
}

// s3Config is the endpoint and region the AWS environment variables and
// files name.
type s3Config struct {
	endpoint string // host[:port]
	secure   bool
	custom   bool // an endpoint other than AWS's: buckets addressed by path
	region   string
}

// resolveS3Config reads, as the AWS CLI and SDKs do: the endpoint from
// AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or the profile's endpoint_url in the
// config file (none of them when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is
// true), AWS's own otherwise; the region from AWS_REGION,
// AWS_DEFAULT_REGION or the profile's region. The profile is AWS_PROFILE's,
// or "default"; the config file AWS_CONFIG_FILE, or ~/.aws/config.
func resolveS3Config() (s3Config, error) {
	prof := loadAWSProfile()
	cfg := s3Config{endpoint: "s3.amazonaws.com", secure: true}
	cfg.region = firstNonEmpty(os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"), prof["region"])
	raw := ""
	if !strings.EqualFold(os.Getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true") {
		raw = firstNonEmpty(os.Getenv("AWS_ENDPOINT_URL_S3"), os.Getenv("AWS_ENDPOINT_URL"), prof["endpoint_url"])
	}
	if raw == "" {
		return cfg, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return cfg, fmt.Errorf("%w: S3 endpoint %q: want http://host[:port] or https://host[:port]", profiler.ErrBadOption, raw)
	}
	cfg.endpoint, cfg.secure, cfg.custom = u.Host, u.Scheme == "https", true
	return cfg, nil
}

// loadAWSProfile returns the keys of the profile's section of the AWS
// config file, or nil where there is none.
func loadAWSProfile() map[string]string {
	file := os.Getenv("AWS_CONFIG_FILE")
	if file == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil
		}
		file = filepath.Join(home, ".aws", "config")
	}
	f, err := ini.Load(file)
	if err != nil {
		return nil
	}
	name := firstNonEmpty(os.Getenv("AWS_PROFILE"), "default")
	sec, err := f.GetSection("profile " + name)
	if err != nil {
		if sec, err = f.GetSection(name); err != nil {
			return nil
		}
	}
	return sec.KeysHash()
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// newS3Client makes a client for the endpoint resolveS3Config finds, with
// credentials from the environment (AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), else from the profile in the
// shared credentials and config files (static keys, SSO, credential_process),
// else from the instance's or container's role (EC2, ECS, EKS web
// identity); without any, requests go unsigned (public buckets).
func newS3Client() (*s3Client, error) {
	cfg, err := resolveS3Config()
	if err != nil {
		return nil, err
	}
	creds := credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.FileAWSCredentials{},
		&credentials.IAM{},
	})
	tr, err := minio.DefaultTransport(cfg.secure)
	if err != nil {
		return nil, err
	}
	tr.MaxIdleConnsPerHost = 64
	opts := &minio.Options{Creds: creds, Secure: cfg.secure, Region: cfg.region, Transport: tr, MaxRetries: s3ClientRetries}
	if cfg.custom {
		opts.BucketLookup = minio.BucketLookupPath
	}
	core, err := minio.NewCore(cfg.endpoint, opts)
	if err != nil {
		return nil, fmt.Errorf("%w: S3 endpoint %s: %v", profiler.ErrBadOption, cfg.endpoint, err)
	}
	return &s3Client{core: core, transport: tr}, nil
}

// s3ClientRetries is how often minio-go retries a request that failed
// before its response (a 5xx status, a reset connection), with its own
// backoff (200 ms doubling, at most 1 s, jittered).
const s3ClientRetries = 6
