package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"google.golang.org/protobuf/proto"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// UploadIDPrefix starts every id made by UploadID, so content-derived ids
// never collide with ids a caller makes up by other means.
const UploadIDPrefix = "sha256c1-"

// UploadID derives a client upload id from what makes an upload the same
// upload: its batch, its band layout and the SHA-256 of each of its files'
// contents, in upload order (see HashFile). File names are left out, so a
// renamed copy of the same bytes in the same batch is the same upload.
//
// ingest-svc keeps one image per client upload id and answers a repeated
// id at once with the image it already has (UploadImageResponse.Duplicate),
// before any file data is sent; so uploading a batch again with these ids
// sends only the files it does not have yet. The id is 73 bytes whatever
// the batch name's length.
func UploadID(batchID, bandLayout string, fileSHA256 []string) string {
	return UploadIDWithOptions(batchID, bandLayout, nil, fileSHA256)
}

// UploadIDWithOptions is UploadID for an upload that also sets analysis
// options: the same files asked for with other options (another SAVI L,
// other indices) are another upload. With no options set it equals UploadID.
func UploadIDWithOptions(batchID, bandLayout string, opts *canopyv1.AnalysisOptions, fileSHA256 []string) string {
	h := sha256.New()
	// Length-prefixed fields: no two different inputs encode the same.
	fmt.Fprintf(h, "canopy upload v1\n%d:%s\n%d:%s\n%d\n", len(batchID), batchID, len(bandLayout), strings.ToUpper(bandLayout), len(fileSHA256))
	if proto.Size(opts) > 0 { // any field set; an explicit 0 is set
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(opts)
		fmt.Fprintf(h, "analysis %d:%x\n", len(b), b)
	}
	for _, s := range fileSHA256 {
		fmt.Fprintf(h, "%s\n", strings.ToLower(s))
	}
	return UploadIDPrefix + hex.EncodeToString(h.Sum(nil))
}

// HashFile returns the hex SHA-256 of a file's contents, the value
// ingest-svc reports as ImageFile.sha256. progress, if set, is called with
// the bytes read so far. It reads the file once, in 1 MiB blocks, and stops
// when ctx ends.
func HashFile(ctx context.Context, path string, progress func(read int64)) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		m, rerr := f.Read(buf)
		h.Write(buf[:m])
		n += int64(m)
		if m > 0 && progress != nil {
			progress(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return "", fmt.Errorf("hash %s: %w", path, rerr)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
