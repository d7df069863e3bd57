package blob

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

const (
	defaultRegion   = "us-east-1"
	defaultPartSize = 8 << 20
	// MinPartSize is the smallest part S3 accepts in a multipart upload
	// (except for the last part).
	MinPartSize = 5 << 20

	// abortTimeout bounds aborting a failed multipart upload. The abort runs
	// on a fresh context because the most common failure is the caller's
	// context being cancelled, and aborting on that context would fail too,
	// leaving the parts stored (and billed) until a lifecycle rule runs.
	abortTimeout = 30 * time.Second
)

// S3Config configures an S3 store.
type S3Config struct {
	Bucket       string
	Region       string // default "us-east-1"
	Endpoint     string // custom endpoint (versitygw, MinIO); empty = AWS
	UsePathStyle bool
	// Empty AccessKeyID and SecretAccessKey mean the SDK's default
	// credential chain (environment, shared files, instance role).
	AccessKeyID, SecretAccessKey, SessionToken string
	// PartSize is the multipart part size, default 8 MiB, at least
	// MinPartSize. Objects no larger than one part take a single PutObject.
	PartSize int64
	// Prefix is prepended to every key inside the bucket, joined with '/'
	// ("canopy" and "canopy/" both store key "a" as "canopy/a").
	Prefix string
}

// S3 is a Store in an S3-compatible bucket.
//
// Put buffers the reader in memory one part at a time, uploading up to five
// parts concurrently, so one Put in flight holds up to about six parts
// (48 MiB at the default part size).
//
// Readers from Open and OpenRange stream the response body, so they fail
// once the context given to Open is done; keep it alive while reading.
//
// One gap in "a failed Put leaves nothing": if the context ends while the
// final PutObject or CompleteMultipartUpload is in flight, the server may
// have committed the object even though Put reports the cancellation. Put
// does not delete it then, since that could remove an earlier good object
// under the same key.
type S3 struct {
	client   *s3.Client
	uploader *transfermanager.Client
	bucket   string
	region   string
	prefix   string
}

var _ Store = (*S3)(nil)

// NewS3 returns a store for cfg.Bucket. It does not contact the server; call
// EnsureBucket to create the bucket or check access.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("new s3 blob store: empty bucket")
	}
	region := cmp.Or(cfg.Region, defaultRegion)
	partSize := cfg.PartSize
	if partSize == 0 {
		partSize = defaultPartSize
	}
	if partSize < MinPartSize {
		return nil, fmt.Errorf("new s3 blob store: part size %d below the S3 minimum %d", partSize, MinPartSize)
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		if err := ValidateKey(prefix); err != nil {
			return nil, fmt.Errorf("new s3 blob store: prefix: %w", err)
		}
		prefix += "/"
	}
	if (cfg.AccessKeyID == "") != (cfg.SecretAccessKey == "") {
		return nil, errors.New("new s3 blob store: set both access key id and secret access key, or neither")
	}

	opts := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("new s3 blob store: load aws config: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		// The SDK's default retryer shares a retry budget (token bucket)
		// across all calls and refills it only with first-try successes:
		// after an outage of a few dozen failed calls it stops retrying
		// altogether, so every 503 afterwards fails an upload. Parts are
		// buffered (replayable), so retrying each call on its own merits
		// is safe.
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.RateLimiter = ratelimit.None
			so.MaxAttempts = 5
		})
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.UsePathStyle
	})
	// transfermanager rather than feature/s3/manager: the latter is
	// deprecated and aborts a failed multipart upload on the caller's
	// context, which fails when that context was cancelled.
	uploader := transfermanager.New(client, func(o *transfermanager.Options) {
		o.PartSizeBytes = partSize
		o.MultipartUploadThreshold = partSize
		o.FailTimeout = abortTimeout
	})
	return &S3{
		client:   client,
		uploader: uploader,
		bucket:   cfg.Bucket,
		region:   region,
		prefix:   prefix,
	}, nil
}

// EnsureBucket creates the bucket if it is missing. A bucket that exists and
// is owned by these credentials is fine; one owned by someone else is an
// error.
func (s *S3) EnsureBucket(ctx context.Context) error {
	// HeadBucket first: credentials limited to one bucket may read it but
	// not be allowed to call CreateBucket.
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket})
	if err == nil {
		return nil
	}
	if httpStatus(err) != http.StatusNotFound {
		return fmt.Errorf("ensure bucket %s: %w", s.bucket, err)
	}
	in := &s3.CreateBucketInput{Bucket: &s.bucket}
	// us-east-1 is the one region that rejects an explicit constraint.
	if s.region != defaultRegion {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(s.region),
		}
	}
	_, err = s.client.CreateBucket(ctx, in)
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("ensure bucket %s: %w", s.bucket, err)
	}
	return nil
}

func (s *S3) objectKey(key string) *string {
	return aws.String(s.prefix + key)
}

// Put implements Store.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := ValidateKey(key); err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	// The uploader reads the first part before its first request; don't
	// drain the reader for a call that is already cancelled.
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	body := &ctxReader{ctx: ctx, r: r}
	_, err := s.uploader.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket: &s.bucket,
		Key:    s.objectKey(key),
		Body:   body,
	})
	if err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	return body.n, nil
}

// Open implements Store.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: s.objectKey(key)})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", key, notFoundS3(err))
	}
	return out.Body, nil
}

// OpenRange implements Store.
func (s *S3) OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, fmt.Errorf("open %s at %d: %w", key, offset, err)
	}
	if offset < 0 {
		return nil, fmt.Errorf("open %s at %d: negative offset", key, offset)
	}
	if offset == 0 && length < 0 {
		return s.Open(ctx, key)
	}
	empty := io.NopCloser(strings.NewReader(""))
	if length == 0 {
		// An HTTP range cannot ask for zero bytes, but a missing key must
		// still be reported.
		if _, err := s.Size(ctx, key); err != nil {
			return nil, err
		}
		return empty, nil
	}
	rng := fmt.Sprintf("bytes=%d-", offset)
	if length > 0 && length <= math.MaxInt64-offset {
		rng = fmt.Sprintf("bytes=%d-%d", offset, offset+length-1)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: &s.bucket,
		Key:    s.objectKey(key),
		Range:  &rng,
	})
	if err != nil {
		// 416 comes after the key check, so the object exists and offset
		// is at or past its end: io.SectionReader would read nothing.
		if httpStatus(err) == http.StatusRequestedRangeNotSatisfiable {
			return empty, nil
		}
		return nil, fmt.Errorf("open %s at %d: %w", key, offset, notFoundS3(err))
	}
	// HTTP lets a server ignore Range and send the whole object with 200;
	// passing that on would hand the caller the wrong bytes.
	if out.ContentRange == nil {
		_ = out.Body.Close()
		return nil, fmt.Errorf("open %s at %d: server ignored the range request", key, offset)
	}
	return out.Body, nil
}

// Size implements Store.
func (s *S3) Size(ctx context.Context, key string) (int64, error) {
	if err := ValidateKey(key); err != nil {
		return 0, fmt.Errorf("size %s: %w", key, err)
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: s.objectKey(key)})
	if err != nil {
		return 0, fmt.Errorf("size %s: %w", key, notFoundS3(err))
	}
	return aws.ToInt64(out.ContentLength), nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: s.objectKey(key)})
	// S3 itself answers 204 for a missing key; some compatible servers
	// answer NoSuchKey.
	if err != nil && !errors.Is(notFoundS3(err), ErrNotFound) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// List implements Store. S3 lists keys in UTF-8 byte order, which for the
// key alphabet is plain lexical order.
func (s *S3) List(ctx context.Context, prefix string, fn func(key string) error) error {
	if err := validatePrefix(prefix); err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: &s.bucket,
		Prefix: aws.String(s.prefix + prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, obj := range page.Contents {
			if err := fn(strings.TrimPrefix(aws.ToString(obj.Key), s.prefix)); err != nil {
				return fmt.Errorf("list %s: %w", prefix, err)
			}
		}
	}
	return nil
}

// notFoundS3 wraps ErrNotFound around the SDK's missing-key errors: GET
// answers NoSuchKey, HEAD (which has no body to carry a code) NotFound.
// NoSuchBucket is deliberately left alone: it is a configuration error, not
// a missing object.
func notFoundS3(err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		}
	}
	return err
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
