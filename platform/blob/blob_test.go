package blob_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/canopyag/canopy/platform/blob"
	"github.com/canopyag/canopy/platform/blob/blobtest"
)

func TestValidateKey(t *testing.T) {
	valid := []string{
		"a", "fields/f-1/images/IMG_0001.TIF", "a.b", "..a", "a..", "a/.hidden", "A_Z-0.9",
	}
	for _, key := range valid {
		if err := blob.ValidateKey(key); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", key, err)
		}
	}
	invalid := []string{
		"", "../x", "/abs", "a//b", "a/", ".", "..", "a/./b", "a/../b", "x y", "a\\b", "a:b", "a~",
	}
	for _, key := range invalid {
		if err := blob.ValidateKey(key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
}

func TestLocal(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, err := blob.NewLocal(filepath.Join(t.TempDir(), "root", "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestLocalCreatesRoot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "a", "b")
	if _, err := blob.NewLocal(root); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(root)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm()&^0o750 != 0 {
		t.Errorf("root mode = %v, want a directory within 0o750", fi.Mode())
	}
}

// A crash between creating the temp file and renaming it leaves the temp
// file behind; it must never look like an object.
func TestLocalIgnoresTempFiles(t *testing.T) {
	root := t.TempDir()
	s, err := blob.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	blobtest.MustPut(t, s, "d/real", []byte("x"))
	for _, name := range []string{".~tmp-123", "d/.~tmp-456"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got := blobtest.Keys(t, s, ""); !slices.Equal(got, []string{"d/real"}) {
		t.Errorf("List = %q, want [d/real]", got)
	}
}

func TestS3(t *testing.T) {
	cfg := blobtest.StartVersity(t)
	blobtest.Run(t, func(t *testing.T) blob.Store {
		cfg := cfg
		cfg.Bucket = blobtest.NewBucketName()
		return newS3(t, cfg)
	})
}

// Two stores in one bucket with different prefixes must not see each
// other's keys, and keys must come back without the prefix.
func TestS3Prefix(t *testing.T) {
	cfg := blobtest.StartVersity(t)
	cfgA, cfgB := cfg, cfg
	cfgA.Prefix = "tenant-a"
	cfgB.Prefix = "tenant-b/"
	a, b := newS3(t, cfgA), newS3(t, cfgB)

	blobtest.MustPut(t, a, "x/1", []byte("a1"))
	blobtest.MustPut(t, b, "x/2", []byte("b2"))
	if got := blobtest.Keys(t, a, ""); !slices.Equal(got, []string{"x/1"}) {
		t.Errorf("List(a) = %q, want [x/1]", got)
	}
	if _, err := a.Size(t.Context(), "x/2"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("a.Size(b's key) err = %v, want ErrNotFound", err)
	}
	raw := rawClient(t, cfg)
	out, err := raw.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: &cfg.Bucket, Key: aws.String("tenant-b/x/2")})
	if err != nil || aws.ToInt64(out.ContentLength) != 2 {
		t.Errorf("raw HeadObject(tenant-b/x/2) = %v, %v; want 2 bytes", out, err)
	}
}

// Objects larger than one part go through CreateMultipartUpload/UploadPart;
// the conformance suite's objects all fit in one part.
func TestS3MultipartRoundTrip(t *testing.T) {
	cfg := blobtest.StartVersity(t)
	cfg.PartSize = blob.MinPartSize
	s := newS3(t, cfg)
	data := blobtest.RandomBytes(3*blob.MinPartSize+777, 10)
	blobtest.MustPut(t, s, "big", data)
	if got := blobtest.Read(t, s, "big"); !bytes.Equal(got, data) {
		t.Fatalf("Open returned %d bytes that differ from the %d put", len(got), len(data))
	}
	got := blobtest.ReadRange(t, s, "big", blob.MinPartSize-5, 10)
	if want := data[blob.MinPartSize-5 : blob.MinPartSize+5]; !bytes.Equal(got, want) {
		t.Errorf("OpenRange across a part boundary differs")
	}
	assertNoUploads(t, cfg)
}

// A multipart Put that fails after several parts were uploaded must abort
// the upload, or the parts stay stored (and billed) with no object to show.
func TestS3MultipartFailureAborts(t *testing.T) {
	data := blobtest.RandomBytes(4*blob.MinPartSize, 11)
	failAt := 2*blob.MinPartSize + blob.MinPartSize/2 // two parts uploaded, third half read

	// Guards the checks below against passing vacuously: the server must
	// list an upload that is in progress.
	t.Run("ServerListsUploads", func(t *testing.T) {
		cfg := blobtest.StartVersity(t)
		newS3(t, cfg)
		raw := rawClient(t, cfg)
		out, err := raw.CreateMultipartUpload(t.Context(), &s3.CreateMultipartUploadInput{Bucket: &cfg.Bucket, Key: aws.String("pending")})
		if err != nil {
			t.Fatal(err)
		}
		list, err := raw.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: &cfg.Bucket})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Uploads) != 1 || aws.ToString(list.Uploads[0].UploadId) != aws.ToString(out.UploadId) {
			t.Fatalf("ListMultipartUploads = %d uploads, want the one just created", len(list.Uploads))
		}
	})
	t.Run("ReaderError", func(t *testing.T) {
		cfg := blobtest.StartVersity(t)
		cfg.PartSize = blob.MinPartSize
		s := newS3(t, cfg)
		_, err := s.Put(t.Context(), "big", blobtest.FailingReader(data, failAt))
		if !errors.Is(err, blobtest.ErrReader) {
			t.Fatalf("Put err = %v, want it to wrap ErrReader", err)
		}
		blobtest.AssertAbsent(t, s, "big")
		assertNoUploads(t, cfg)
	})
	// The abort must not run on the cancelled context, or it fails too.
	t.Run("Cancelled", func(t *testing.T) {
		cfg := blobtest.StartVersity(t)
		cfg.PartSize = blob.MinPartSize
		s := newS3(t, cfg)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		_, err := s.Put(ctx, "big", blobtest.NewCancellingReader(data, failAt, cancel))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Put err = %v, want context.Canceled", err)
		}
		blobtest.AssertAbsent(t, s, "big")
		assertNoUploads(t, cfg)
	})
}

func TestS3EnsureBucketTwice(t *testing.T) {
	cfg := blobtest.StartVersity(t)
	s := newS3(t, cfg)
	if err := s.EnsureBucket(t.Context()); err != nil {
		t.Fatalf("second EnsureBucket: %v", err)
	}
}

func TestNewS3Config(t *testing.T) {
	ctx := t.Context()
	bad := map[string]blob.S3Config{
		"no bucket":      {},
		"small parts":    {Bucket: "b", PartSize: blob.MinPartSize - 1},
		"half creds":     {Bucket: "b", AccessKeyID: "id"},
		"invalid prefix": {Bucket: "b", Prefix: "a b"},
	}
	for name, cfg := range bad {
		if _, err := blob.NewS3(ctx, cfg); err == nil {
			t.Errorf("%s: NewS3 succeeded, want an error", name)
		}
	}
}

func newS3(t *testing.T, cfg blob.S3Config) *blob.S3 {
	t.Helper()
	s, err := blob.NewS3(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBucket(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

// rawClient talks to the server directly, to see what blob.S3 hides.
func rawClient(t *testing.T, cfg blob.S3Config) *s3.Client {
	t.Helper()
	return s3.New(s3.Options{
		Region:       cfg.Region,
		BaseEndpoint: aws.String(cfg.Endpoint),
		UsePathStyle: cfg.UsePathStyle,
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
	})
}

func assertNoUploads(t *testing.T, cfg blob.S3Config) {
	t.Helper()
	out, err := rawClient(t, cfg).ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: &cfg.Bucket})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	for _, u := range out.Uploads {
		t.Errorf("multipart upload left in progress: key %s, id %s", aws.ToString(u.Key), aws.ToString(u.UploadId))
	}
}

// Deleting an image's last blob, or a Put that fails, leaves no empty
// folders; folders still holding something, and the root, stay.
func TestLocalPrunesEmptyFolders(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "blobs")
	store, err := blob.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"images/a/0", "images/a/1", "images/b/0"} {
		if _, err := store.Put(ctx, k, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	exists := func(rel string) bool {
		_, err := os.Stat(filepath.Join(root, rel))
		return err == nil
	}
	_ = store.Delete(ctx, "images/a/0")
	if !exists("images/a") {
		t.Error("images/a removed while it still holds images/a/1")
	}
	_ = store.Delete(ctx, "images/a/1")
	if exists("images/a") || !exists("images/b") {
		t.Errorf("after deleting a's last blob: images/a exists %v (want false), images/b exists %v (want true)", exists("images/a"), exists("images/b"))
	}
	_ = store.Delete(ctx, "images/b/0")
	if exists("images") || !exists("") {
		t.Errorf("after deleting every blob: images exists %v (want false), root exists %v (want true)", exists("images"), exists(""))
	}
	// A failed Put (its reader errs) leaves no folder either.
	if _, err := store.Put(ctx, "images/c/0", iotest.ErrReader(errors.New("client went away"))); err == nil {
		t.Fatal("Put of a failing reader succeeded")
	}
	if exists("images/c") || exists("images") {
		t.Error("a failed Put left its folder behind")
	}
	// And a Put into a pruned folder works.
	if _, err := store.Put(ctx, "images/a/0", strings.NewReader("again")); err != nil {
		t.Errorf("Put after pruning: %v", err)
	}
}
