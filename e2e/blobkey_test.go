package e2e

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/canopyag/canopy/cli/client"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// A client's filename is metadata only: blob keys are made by the server
// from the image id and the file's index, so "../../etc/passwd" (or a name
// no file system would take) writes nothing outside the store, and the
// content type is sniffed from the bytes whatever the client claims.
func TestClientFilenameIsOnlyMetadata(t *testing.T) {
	s := newStack(t, "local")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tif, err := os.ReadFile(mustSample(t))
	if err != nil {
		t.Fatal(err)
	}
	blobDir := s.env["BLOB_DIR"]
	absurd := strings.Repeat("é/", 300) + "name" // 904 bytes, under the 1024 limit
	for _, name := range []string{"../../etc/passwd", "/etc/passwd", "..\\..\\boot.ini", absurd} {
		md := &canopyv1.UploadMetadata{Files: []*canopyv1.FileSpec{{Filename: name, ContentType: "text/html"}}, BandLayout: "RGN"}
		resp, err := s.client.Upload(ctx, md, []io.Reader{bytes.NewReader(tif)}, client.UploadOptions{})
		if err != nil {
			t.Fatalf("upload as %q: %v", name, err)
		}
		f := resp.GetFiles()[0]
		if want := "images/" + resp.GetImageId() + "/0"; f.GetBlobKey() != want {
			t.Errorf("%q: blob key %q, want %q", name, f.GetBlobKey(), want)
		}
		if f.GetFilename() != name {
			t.Errorf("filename stored as %q, want %q as sent", f.GetFilename(), name)
		}
		if f.GetContentType() != "image/tiff" {
			t.Errorf("%q: content type %q, want image/tiff sniffed from the bytes (the client said text/html)", name, f.GetContentType())
		}
	}
	// PostgreSQL text cannot hold NUL: such a name is refused as invalid,
	// not answered with a database error.
	md := &canopyv1.UploadMetadata{Files: []*canopyv1.FileSpec{{Filename: "a\x00b.tif"}}}
	if _, err := s.client.Upload(ctx, md, []io.Reader{bytes.NewReader(tif)}, client.UploadOptions{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("filename with NUL: %v, want InvalidArgument", err)
	}
	// Everything the store wrote is under its directory, one file per upload.
	var files []string
	if err := filepath.Walk(filepath.Dir(blobDir), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			files = append(files, p)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !strings.HasPrefix(f, blobDir+string(filepath.Separator)+"images"+string(filepath.Separator)) {
			t.Errorf("a file outside the store's images: %s", f)
		}
	}
	if len(files) != 4 {
		t.Errorf("%d files stored, want 4: %v", len(files), files)
	}
}
