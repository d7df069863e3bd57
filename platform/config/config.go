// Package config reads service settings from the environment. Every service
// builds one typed config struct with these helpers, validates it before
// opening anything, and fails with a message naming the variable at fault.
package config

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/canopyag/canopy/platform/auth"
	"github.com/canopyag/canopy/platform/blob"
	"github.com/canopyag/canopy/platform/database"
)

// Getenv is os.Getenv's shape; tests pass a map lookup instead.
type Getenv func(string) string

// Reader collects values and the first problems found, so a bad config is
// reported all at once rather than one variable per restart.
type Reader struct {
	getenv Getenv
	errs   []error
}

// NewReader reads from getenv.
func NewReader(getenv Getenv) *Reader { return &Reader{getenv: getenv} }

// Err reports every invalid value read so far.
func (r *Reader) Err() error { return errors.Join(r.errs...) }

// lookup returns the first non-empty value among names (a name and its legacy aliases).
func (r *Reader) lookup(names ...string) (string, string) {
	for _, n := range names {
		if v := strings.TrimSpace(r.getenv(n)); v != "" {
			return n, v
		}
	}
	return names[0], ""
}

// String returns the value of the first set name, else def.
func (r *Reader) String(def string, names ...string) string {
	if _, v := r.lookup(names...); v != "" {
		return v
	}
	return def
}

// Int returns an integer setting within [lo, hi].
func (r *Reader) Int(def, lo, hi int, names ...string) int {
	name, v := r.lookup(names...)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.errs = append(r.errs, fmt.Errorf("%s=%q: want an integer from %d to %d", name, v, lo, hi))
		return def
	}
	return n
}

// Int64 returns a 64-bit integer setting within [lo, hi].
func (r *Reader) Int64(def, lo, hi int64, names ...string) int64 {
	name, v := r.lookup(names...)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		r.errs = append(r.errs, fmt.Errorf("%s=%q: want an integer from %d to %d", name, v, lo, hi))
		return def
	}
	return n
}

// Float returns a float setting within [lo, hi].
func (r *Reader) Float(def, lo, hi float64, names ...string) float64 {
	name, v := r.lookup(names...)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < lo || f > hi {
		r.errs = append(r.errs, fmt.Errorf("%s=%q: want a number from %g to %g", name, v, lo, hi))
		return def
	}
	return f
}

// Duration returns a duration setting ("250ms", "30s") of at least lo.
func (r *Reader) Duration(def, lo time.Duration, names ...string) time.Duration {
	name, v := r.lookup(names...)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo {
		r.errs = append(r.errs, fmt.Errorf("%s=%q: want a duration of at least %s, like 30s", name, v, lo))
		return def
	}
	return d
}

// Bool returns a boolean setting (1/0, true/false).
func (r *Reader) Bool(def bool, names ...string) bool {
	name, v := r.lookup(names...)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s=%q: want true or false", name, v))
		return def
	}
	return b
}

// Database reads DATABASE_URL, or the older design's DB_* variables.
func (r *Reader) Database() database.Config {
	return database.Config{
		URL:      r.String("", "DATABASE_URL"),
		Host:     r.String("127.0.0.1", "DB_HOST"),
		Port:     r.String("5432", "DB_PORT"),
		Name:     r.String("canopy", "DB_NAME"),
		User:     r.String("postgres", "DB_USER"),
		Password: r.String("", "DB_PASSWORD"),
		MaxConns: int32(r.Int(10, 1, 1000, "DB_MAX_CONNS")),
		Listen:   r.Bool(true, "DATABASE_LISTEN"),
	}
}

// Blob is the blob store choice: BLOB_STORE=local (default, under
// BLOB_DIR) or s3 (S3_BUCKET_NAME and friends).
type Blob struct {
	Kind     string
	LocalDir string
	S3       blob.S3Config
}

// Blob reads the blob store settings.
func (r *Reader) Blob() Blob {
	b := Blob{
		Kind:     strings.ToLower(r.String("local", "BLOB_STORE")),
		LocalDir: r.String("./data/blobs", "BLOB_DIR"),
		S3: blob.S3Config{
			Bucket:          r.String("", "S3_BUCKET", "S3_BUCKET_NAME"),
			Region:          r.String("us-east-1", "S3_REGION", "AWS_REGION"),
			Endpoint:        r.String("", "S3_ENDPOINT"),
			UsePathStyle:    r.Bool(true, "S3_PATH_STYLE"),
			AccessKeyID:     r.String("", "S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
			SecretAccessKey: r.String("", "S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
			SessionToken:    r.String("", "AWS_SESSION_TOKEN"),
			Prefix:          r.String("", "S3_PREFIX"),
		},
	}
	switch b.Kind {
	case "local":
	case "s3":
		if b.S3.Bucket == "" {
			r.errs = append(r.errs, errors.New("BLOB_STORE=s3 needs S3_BUCKET (or S3_BUCKET_NAME)"))
		}
	default:
		r.errs = append(r.errs, fmt.Errorf("BLOB_STORE=%q: want local or s3", b.Kind))
	}
	return b
}

// Open connects the configured blob store; an S3 bucket is created if missing.
func (b Blob) Open(ctx context.Context) (blob.Store, error) {
	switch b.Kind {
	case "s3":
		s, err := blob.NewS3(ctx, b.S3)
		if err != nil {
			return nil, fmt.Errorf("open s3 blob store: %w", err)
		}
		if err := s.EnsureBucket(ctx); err != nil {
			return nil, fmt.Errorf("open s3 blob store: %w", err)
		}
		return s, nil
	default:
		s, err := blob.NewLocal(b.LocalDir)
		if err != nil {
			return nil, fmt.Errorf("open local blob store: %w", err)
		}
		return s, nil
	}
}

// Describe names the store for start-up logs, without credentials.
func (b Blob) Describe() string {
	if b.Kind == "s3" {
		return fmt.Sprintf("s3://%s (endpoint %q)", b.S3.Bucket, b.S3.Endpoint)
	}
	return "local:" + b.LocalDir
}

// Auth reads AUTH_MODE (keys, the default: secure unless told otherwise,
// or insecure-dev) and the per-key stream caps.
func (r *Reader) Auth() auth.Config {
	c := auth.Config{
		Mode:             strings.ToLower(r.String(auth.ModeKeys, "AUTH_MODE")),
		MaxUploadsPerKey: r.Int(16, 0, 100000, "MAX_UPLOADS_PER_KEY"),
		// canopy watch opens one stream per image it follows.
		MaxWatchersPerKey: r.Int(256, 0, 100000, "MAX_WATCHERS_PER_KEY"),
	}
	if c.Mode != auth.ModeKeys && c.Mode != auth.ModeInsecureDev {
		r.errs = append(r.errs, fmt.Errorf("AUTH_MODE=%q: want %s or %s", c.Mode, auth.ModeKeys, auth.ModeInsecureDev))
	}
	return c
}

// TLS reads TLS_CERT_FILE and TLS_KEY_FILE (PEM): both or neither.
func (r *Reader) TLS() (certFile, keyFile string) {
	certFile, keyFile = r.String("", "TLS_CERT_FILE"), r.String("", "TLS_KEY_FILE")
	if (certFile == "") != (keyFile == "") {
		r.errs = append(r.errs, errors.New("TLS_CERT_FILE and TLS_KEY_FILE: set both or neither"))
	}
	return certFile, keyFile
}

// Logging reads LOG_FORMAT (text, the default, or json) and LOG_LEVEL
// (debug, info, the default, warn or error). A misspelt level fails the
// start instead of quietly logging at info: someone who asked for debug
// to chase a problem should not be left wondering where the lines went.
func (r *Reader) Logging() (format, level string) {
	format = strings.ToLower(r.String("text", "LOG_FORMAT"))
	if format != "text" && format != "json" {
		r.errs = append(r.errs, fmt.Errorf("LOG_FORMAT=%q: want text or json", format))
	}
	level = strings.ToLower(r.String("info", "LOG_LEVEL"))
	switch level {
	case "debug", "info", "warn", "error":
	default:
		r.errs = append(r.errs, fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", level))
	}
	return format, level
}
