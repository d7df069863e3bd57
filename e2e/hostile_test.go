package e2e

// Hostile and broken input (issue 5): every bad file gets a clear error and
// fails only itself, and an upload that is refused, cut off or cancelled
// leaves nothing behind: no row, no blob, no temp file, no multipart upload.

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/canopyag/canopy/cli/client"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// hostileMaxPixels is the MAX_PIXELS the analysis runs with here: above
// every real image used (DJI_0061 is 2400 x 1800 x 3 = 12,960,000) and far
// below the 100000 x 100000 the crafted headers declare.
const hostileMaxPixels = 50_000_000

// Position of webodm-fixtures/tiny_drone_image.jpg as exiftool reports it
// (PROVENANCE.md), independently of our EXIF reader.
var tinyGPS = [2]float64{41.22636995, -81.70550109}

// TestHostileImagesFailAlone uploads, in one batch, a truncated real JPEG,
// a PNG and a TIFF whose headers declare 100000 x 100000 pixels, two copies
// of a real JPEG whose EXIF GPS is damaged (one rational instead of three;
// a 0/0 denominator) and the untouched real JPEG. The damaged rasters fail
// permanently with a clear reason and no analysis; the others complete.
func TestHostileImagesFailAlone(t *testing.T) {
	data := sharedData(t)
	for _, store := range []string{"local", "s3"} {
		t.Run(store, func(t *testing.T) {
			s := newStack(t, store, map[string]string{"MAX_PIXELS": fmt.Sprint(hostileMaxPixels)})
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			dir := t.TempDir()

			dji, err := os.ReadFile(filepath.Join(data, "odm-tests-dji", "DJI_0061.JPG"))
			if err != nil {
				t.Fatal(err)
			}
			tiny := filepath.Join(data, "webodm-fixtures", "tiny_drone_image.jpg")
			tinyJPEG, err := os.ReadFile(tiny)
			if err != nil {
				t.Fatal(err)
			}
			oneRational := gpsTIFF([][2]uint32{{39, 1}}, [][2]uint32{{122, 1}, {5, 1}, {2851, 100}})
			zeroDen := gpsTIFF([][2]uint32{{39, 1}, {54, 1}, {0, 0}}, [][2]uint32{{122, 1}, {5, 1}, {2851, 100}})

			type want struct {
				failed  bool
				reason  []string // substrings of last_error (lower case)
				gps     bool     // a position must be recorded (tinyGPS)
				gpsNote string   // for damaged GPS: the uploaded event must say why there is none
			}
			tooLarge := []string{"image too large", fmt.Sprint(hostileMaxPixels)}
			cases := []struct {
				name string
				data []byte
				want want
			}{
				{"truncated.jpg", dji[:len(dji)*6/10], want{failed: true, reason: []string{"corrupt"}}},
				{"huge.png", hugePNG(100000, 100000), want{failed: true, reason: tooLarge}},
				{"huge.tif", hugeTIFF(100000, 100000), want{failed: true, reason: tooLarge}},
				{"gps-one-rational.jpg", replaceExif(t, tinyJPEG, oneRational), want{gpsNote: "latitude has 1 rational"}},
				{"gps-zero-denominator.jpg", replaceExif(t, tinyJPEG, zeroDen), want{gpsNote: "zero denominator"}},
				{"tiny_drone_image.jpg", tinyJPEG, want{gps: true}},
			}
			ids := make([]string, len(cases))
			for i, tc := range cases {
				p := filepath.Join(dir, tc.name)
				if err := os.WriteFile(p, tc.data, 0o644); err != nil {
					t.Fatal(err)
				}
				resp, err := s.client.UploadFiles(ctx, []client.File{{Path: p}}, client.UploadOptions{})
				if err != nil {
					t.Fatalf("%s: upload refused (%v); it must be accepted and judged by the analysis", tc.name, err)
				}
				ids[i] = resp.GetImageId()
			}
			s.startAnalysis()

			for i, tc := range cases {
				last := watchToEnd(ctx, t, s, ids[i])
				if last == nil {
					continue
				}
				if tc.want.failed {
					if last.GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_FAILED {
						t.Errorf("%s: ended %v (%q), want FAILED", tc.name, last.GetStatus(), last.GetLastError())
						continue
					}
					msg := strings.ToLower(last.GetLastError())
					for _, r := range tc.want.reason {
						if !strings.Contains(msg, r) {
							t.Errorf("%s: reason %q does not mention %q", tc.name, last.GetLastError(), r)
						}
					}
					// A permanent failure: one attempt of the default three.
					if last.GetAttempts() != 1 {
						t.Errorf("%s: %d attempts, want 1 (a bad file is not retried)", tc.name, last.GetAttempts())
					}
					if _, err := s.client.Status.GetAnalysis(ctx, &canopyv1.GetAnalysisRequest{ImageId: ids[i]}); err == nil {
						t.Errorf("%s: GetAnalysis returned an analysis of a failed image", tc.name)
					}
					t.Logf("%s: failed after %d attempt(s): %s", tc.name, last.GetAttempts(), last.GetLastError())
					if n := queryInt(t, s, `SELECT count(*) FROM analyses WHERE image_id = $1`, ids[i]); n != 0 {
						t.Errorf("%s: %d analysis rows, want 0", tc.name, n)
					}
					continue
				}
				if last.GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED {
					t.Errorf("%s: ended %v (%q), want COMPLETED", tc.name, last.GetStatus(), last.GetLastError())
				}
				if n := queryInt(t, s, `SELECT count(*) FROM analyses WHERE image_id = $1`, ids[i]); n != 1 {
					t.Errorf("%s: %d analysis rows, want 1", tc.name, n)
				}
				g := last.GetGps()
				t.Logf("%s: completed, GPS %+v", tc.name, g)
				if tc.want.gps {
					if g == nil || math.Abs(g.GetLatitude()-tinyGPS[0]) > 1e-6 || math.Abs(g.GetLongitude()-tinyGPS[1]) > 1e-6 {
						t.Errorf("%s: GPS %+v, want %v (exiftool)", tc.name, g, tinyGPS)
					}
					continue
				}
				// Damaged GPS: no position at all (never 0,0), and the reason
				// recorded with the image.
				if g != nil {
					t.Errorf("%s: GPS %+v recorded; damaged GPS must be recorded as absent", tc.name, g)
				}
				if n := queryInt(t, s, `SELECT count(*) FROM image_gps WHERE image_id = $1`, ids[i]); n != 0 {
					t.Errorf("%s: %d image_gps rows, want 0", tc.name, n)
				}
				note := queryString(t, s, `SELECT message FROM image_events WHERE image_id = $1 AND status = 'uploaded' ORDER BY seq LIMIT 1`, ids[i])
				if !strings.Contains(note, "no GPS position") || !strings.Contains(note, tc.want.gpsNote) {
					t.Errorf("%s: uploaded event says %q; want a warning that no GPS position was recorded, naming %q", tc.name, note, tc.want.gpsNote)
				}
			}
		})
	}
}

// TestUploadLimits: a chunk over the gRPC message limit and an upload over
// MAX_UPLOAD_BYTES are refused with ResourceExhausted, and nothing of them
// stays: no row, no blob, no temp file, no multipart upload. The oversized
// upload never ends on its own, so only a mid-stream refusal can end it, and
// it is held until its partial object demonstrably exists in the store (a
// temp file, an S3 multipart upload), so the clean-up is really exercised.
func TestUploadLimits(t *testing.T) {
	const maxUpload = 12 << 20
	for _, store := range []string{"local", "s3"} {
		t.Run(store, func(t *testing.T) {
			s := newStack(t, store, map[string]string{"MAX_UPLOAD_BYTES": fmt.Sprint(maxUpload)})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()

			t.Run("chunk over the gRPC message limit", func(t *testing.T) {
				// GRPC_MAX_RECV_BYTES is 4 MiB by default; one 5 MiB chunk.
				body := fakeJPEG(5 << 20)
				md := &canopyv1.UploadMetadata{Files: []*canopyv1.FileSpec{{Filename: "big-chunk.jpg"}}}
				_, err := s.client.Upload(ctx, md, []io.Reader{bytes.NewReader(body)}, client.UploadOptions{ChunkSize: len(body)})
				if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "larger than max") {
					t.Errorf("got %v, want ResourceExhausted naming the message limit", err)
				}
				assertNothingStored(ctx, t, s)
			})

			t.Run("upload over MAX_UPLOAD_BYTES", func(t *testing.T) {
				r := &endlessJPEG{holdAt: 10 << 20, hold: func() error { return waitPartial(ctx, s) }}
				md := &canopyv1.UploadMetadata{Files: []*canopyv1.FileSpec{{Filename: "endless.jpg"}}}
				_, err := s.client.Upload(ctx, md, []io.Reader{r}, client.UploadOptions{ChunkSize: 1 << 20})
				if r.holdErr != nil {
					t.Fatalf("partial upload never showed up in the store: %v", r.holdErr)
				}
				if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), fmt.Sprint(maxUpload)) {
					t.Fatalf("got %v, want ResourceExhausted naming the %d-byte limit", err, maxUpload)
				}
				if r.n > maxUpload+32<<20 {
					t.Errorf("sent %d bytes before the refusal; the limit is %d", r.n, maxUpload)
				}
				assertNothingStored(ctx, t, s)
			})
		})
	}
}

// TestUploadCancelledHalfWay: the client cancels its context once the upload
// is half-way into the store; afterwards (services drained) nothing of it
// remains.
func TestUploadCancelledHalfWay(t *testing.T) {
	for _, store := range []string{"local", "s3"} {
		t.Run(store, func(t *testing.T) {
			s := newStack(t, store)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()

			upCtx, upCancel := context.WithCancel(ctx)
			defer upCancel()
			var partialSeen bool
			r := &endlessJPEG{limit: 20 << 20, holdAt: 10 << 20, hold: func() error {
				if err := waitPartial(ctx, s); err != nil {
					return err
				}
				partialSeen = true
				upCancel()
				return context.Canceled
			}}
			md := &canopyv1.UploadMetadata{Files: []*canopyv1.FileSpec{{Filename: "cancelled.jpg"}}}
			_, err := s.client.Upload(upCtx, md, []io.Reader{r}, client.UploadOptions{ChunkSize: 1 << 20})
			if !partialSeen {
				t.Fatalf("partial upload never showed up in the store: %v", r.holdErr)
			}
			if err == nil {
				t.Fatal("cancelled upload succeeded")
			}
			// Drain the services: graceful shutdown waits for the upload's
			// handler, so its clean-up is over when stop returns.
			s.stop()
			assertNothingStored(ctx, t, s)
		})
	}
}

// TestUploadRefusedContent: content ingest can judge from the first bytes,
// or from there being none, is refused with InvalidArgument and leaves
// nothing stored. (TestPipelineBadInput checks the messages of the text file
// and metadata-only cases; here it is what they leave behind, on both
// stores, and a stream of zero-byte chunks.)
func TestUploadRefusedContent(t *testing.T) {
	for _, store := range []string{"local", "s3"} {
		t.Run(store, func(t *testing.T) {
			s := newStack(t, store)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			spec := func(name string) *canopyv1.UploadMetadata {
				return &canopyv1.UploadMetadata{Files: []*canopyv1.FileSpec{{Filename: name}}}
			}
			chunk := func(data []byte) *canopyv1.UploadImageRequest {
				return &canopyv1.UploadImageRequest{Payload: &canopyv1.UploadImageRequest_Chunk{Chunk: &canopyv1.Chunk{Data: data}}}
			}
			raw := func(msgs ...*canopyv1.UploadImageRequest) error {
				stream, err := s.client.Ingest.UploadImage(ctx)
				if err != nil {
					return err
				}
				for _, m := range msgs {
					if err := stream.Send(m); err != nil {
						break // the server ended the call; CloseAndRecv says why
					}
				}
				_, err = stream.CloseAndRecv()
				return err
			}
			metadata := func(name string) *canopyv1.UploadImageRequest {
				return &canopyv1.UploadImageRequest{Payload: &canopyv1.UploadImageRequest_Metadata{Metadata: spec(name)}}
			}
			text := []byte(strings.Repeat("field notes, not a photo\n", 20_000)) // 500 kB, several chunks

			for _, tc := range []struct {
				name string
				run  func() error
				msg  string
			}{
				{"text file named .jpg", func() error {
					_, err := s.client.Upload(ctx, spec("notes.jpg"), []io.Reader{bytes.NewReader(text)}, client.UploadOptions{ChunkSize: 64 << 10})
					return err
				}, "not a JPEG, TIFF or PNG"},
				{"metadata only", func() error { return raw(metadata("empty.jpg")) }, "no data"},
				{"zero-byte chunks", func() error { return raw(metadata("zero.jpg"), chunk(nil), chunk([]byte{}), chunk(nil)) }, "empty"},
				{"no metadata", func() error { return raw() }, "metadata"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					err := tc.run()
					if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.msg) {
						t.Errorf("got %v, want InvalidArgument mentioning %q", err, tc.msg)
					}
					assertNothingStored(ctx, t, s)
				})
			}
		})
	}
}

// TestUploadIdempotent: the same client_upload_id returns the same image,
// whether the second upload comes after the first (the server answers before
// reading the file, while the client is still sending) or races it; either
// way one row and one set of blobs.
func TestUploadIdempotent(t *testing.T) {
	data := sharedData(t)
	// 2.4 MB: far more than a stream's flow-control window at 64 KiB chunks,
	// so a second upload is answered while its client is still sending.
	file := []client.File{{Path: filepath.Join(data, "odm-tests-dji", "DJI_0061.JPG")}}
	for _, store := range []string{"local", "s3"} {
		t.Run(store, func(t *testing.T) {
			s := newStack(t, store)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			opt := client.UploadOptions{ClientUploadID: "flight-7/DJI_0061", ChunkSize: 64 << 10}

			first, err := s.client.UploadFiles(ctx, file, opt)
			if err != nil {
				t.Fatal(err)
			}
			second, err := s.client.UploadFiles(ctx, file, opt)
			if err != nil {
				t.Fatalf("repeat upload: %v", err)
			}
			if second.GetImageId() != first.GetImageId() || !second.GetDuplicate() || first.GetDuplicate() {
				t.Errorf("repeat upload: id %s duplicate %v; first id %s duplicate %v",
					second.GetImageId(), second.GetDuplicate(), first.GetImageId(), first.GetDuplicate())
			}

			// Racing uploads with a fresh id: both stream the whole file.
			race := opt
			race.ClientUploadID = "flight-7/DJI_0061-race"
			var wg sync.WaitGroup
			resps := make([]*canopyv1.UploadImageResponse, 2)
			errs := make([]error, 2)
			for i := range resps {
				wg.Go(func() { resps[i], errs[i] = s.client.UploadFiles(ctx, file, race) })
			}
			wg.Wait()
			if errs[0] != nil || errs[1] != nil {
				t.Fatalf("racing uploads: %v, %v", errs[0], errs[1])
			}
			if resps[0].GetImageId() != resps[1].GetImageId() {
				t.Errorf("racing uploads got ids %s and %s", resps[0].GetImageId(), resps[1].GetImageId())
			}

			for cid, id := range map[string]string{opt.ClientUploadID: first.GetImageId(), race.ClientUploadID: resps[0].GetImageId()} {
				if n := queryInt(t, s, `SELECT count(*) FROM images WHERE client_upload_id = $1`, cid); n != 1 {
					t.Errorf("%s: %d rows, want 1", cid, n)
				}
				if got := queryString(t, s, `SELECT id::text FROM images WHERE client_upload_id = $1`, cid); got != id {
					t.Errorf("%s: row %s, want %s", cid, got, id)
				}
			}
			if n := queryInt(t, s, `SELECT count(*) FROM images`); n != 2 {
				t.Errorf("%d image rows, want 2", n)
			}
			want := []string{"images/" + first.GetImageId() + "/0", "images/" + resps[0].GetImageId() + "/0"}
			slices.Sort(want)
			if got := blobKeys(ctx, t, s); !slices.Equal(got, want) {
				t.Errorf("blobs %v, want %v (the losers' blobs removed)", got, want)
			}
			assertNoPartials(ctx, t, s)
		})
	}
}

// watchToEnd follows an image to its terminal state and returns it.
func watchToEnd(ctx context.Context, t *testing.T, s *stack, id string) *canopyv1.Image {
	t.Helper()
	var last *canopyv1.Image
	if err := s.client.Watch(ctx, id, func(m *canopyv1.WatchImageResponse) { last = m.GetImage() }); err != nil {
		t.Errorf("watch %s: %v", id, err)
		return nil
	}
	return last
}

func withDB[T any](t *testing.T, s *stack, query string, args ...any) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v T
	if err := conn.QueryRow(ctx, query, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return v
}

func queryInt(t *testing.T, s *stack, query string, args ...any) int64 {
	t.Helper()
	return withDB[int64](t, s, query, args...)
}

func queryString(t *testing.T, s *stack, query string, args ...any) string {
	t.Helper()
	return withDB[string](t, s, query, args...)
}

func blobKeys(ctx context.Context, t *testing.T, s *stack) []string {
	t.Helper()
	var keys []string
	if err := s.blobs.List(ctx, "", func(k string) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

// assertNothingStored checks that no upload left a trace: no image row, no
// event, no blob, no partial object.
func assertNothingStored(ctx context.Context, t *testing.T, s *stack) {
	t.Helper()
	if n := queryInt(t, s, `SELECT count(*) FROM images`); n != 0 {
		t.Errorf("%d image rows, want 0", n)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM image_events`); n != 0 {
		t.Errorf("%d events, want 0", n)
	}
	if keys := blobKeys(ctx, t, s); len(keys) != 0 {
		t.Errorf("blobs left: %v", keys)
	}
	assertNoPartials(ctx, t, s)
}

// assertNoPartials checks the store below its API: no file at all under a
// local store's root (temp files are invisible to List), no object and no
// multipart upload in an S3 bucket.
func assertNoPartials(ctx context.Context, t *testing.T, s *stack) {
	t.Helper()
	switch s.env["BLOB_STORE"] {
	case "local":
		if tmp := localTemps(t, s); len(tmp) != 0 {
			t.Errorf("temp files left in the blob store: %v", tmp)
		}
	case "s3":
		c, bucket := s3Client(s)
		out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket})
		if err != nil {
			t.Fatalf("list multipart uploads: %v", err)
		}
		for _, u := range out.Uploads {
			t.Errorf("multipart upload left: key %s, id %s", aws.ToString(u.Key), aws.ToString(u.UploadId))
			if parts, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: &bucket, Key: u.Key, UploadId: u.UploadId}); err == nil {
				t.Logf("it holds %d part(s)", len(parts.Parts))
			}
		}
	}
}

// localTemps lists the files under the local store's root that are not
// objects (blob.Local names them ".~tmp-*").
func localTemps(t *testing.T, s *stack) []string {
	t.Helper()
	tmp, err := tempFiles(s.env["BLOB_DIR"])
	if err != nil {
		t.Fatal(err)
	}
	return tmp
}

func tempFiles(root string) ([]string, error) {
	var tmp []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), ".~tmp-") {
			tmp = append(tmp, p)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	return tmp, err
}

// waitPartial waits until an upload is part-way into the store: a temp file
// in a local store, a multipart upload in S3.
func waitPartial(ctx context.Context, s *stack) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		switch s.env["BLOB_STORE"] {
		case "local":
			if tmp, _ := tempFiles(s.env["BLOB_DIR"]); len(tmp) > 0 {
				return nil
			}
		case "s3":
			c, bucket := s3Client(s)
			out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket})
			if err == nil && len(out.Uploads) > 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no partial object in the %s store: %w", s.env["BLOB_STORE"], ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func s3Client(s *stack) (*s3.Client, string) {
	c := s3.New(s3.Options{
		Region:       s.env["S3_REGION"],
		BaseEndpoint: aws.String(s.env["S3_ENDPOINT"]),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.env["S3_ACCESS_KEY_ID"], s.env["S3_SECRET_ACCESS_KEY"], ""),
	})
	return c, s.env["S3_BUCKET"]
}

// endlessJPEG yields a JPEG signature and then pseudo-random bytes, forever
// (or up to limit when > 0). Once holdAt bytes are out it calls hold, and
// fails the read if hold does.
type endlessJPEG struct {
	limit, holdAt int64
	hold          func() error
	holdErr       error
	n             int64
	held          bool
	rng           *rand.ChaCha8
}

func (r *endlessJPEG) Read(p []byte) (int, error) {
	if r.rng == nil {
		r.rng = rand.NewChaCha8([32]byte{1})
	}
	if !r.held && r.hold != nil && r.n >= r.holdAt {
		r.held = true
		if r.holdErr = r.hold(); r.holdErr != nil {
			return 0, r.holdErr
		}
	}
	if r.limit > 0 && r.n >= r.limit {
		return 0, io.EOF
	}
	if r.limit > 0 {
		p = p[:min(int64(len(p)), r.limit-r.n)]
	}
	if r.hold != nil && !r.held {
		p = p[:min(int64(len(p)), max(r.holdAt-r.n, 1))]
	}
	_, _ = r.rng.Read(p)
	for i := range p {
		if off := r.n + int64(i); off < 3 {
			p[i] = []byte{0xFF, 0xD8, 0xFF}[off]
		}
	}
	r.n += int64(len(p))
	return len(p), nil
}

func fakeJPEG(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(&endlessJPEG{}, b); err != nil {
		panic(err)
	}
	return b
}

// hugePNG is a valid PNG header declaring w x h 8-bit RGB pixels, followed
// by a tiny compressed row and IEND: a decompression bomb's header.
func hugePNG(w, h uint32) []byte {
	chunk := func(typ string, data []byte) []byte {
		out := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
		out = append(out, typ...)
		out = append(out, data...)
		return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0) // depth 8, colour type 2 (RGB), deflate, filter 0, no interlace
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, chunk("IHDR", ihdr)...)
	out = append(out, chunk("IDAT", deflate(make([]byte, 64)))...)
	return append(out, chunk("IEND", nil)...)
}

// hugeTIFF is a little-endian TIFF declaring w x h 8-bit grey pixels in one
// Deflate strip of a few bytes.
func hugeTIFF(w, h uint32) []byte {
	strip := deflate(make([]byte, 64))
	type ent struct {
		tag, typ uint16
		val      uint32
	}
	const nEntries = 9
	dataOff := uint32(8 + 2 + nEntries*12 + 4)
	entries := []ent{
		{256, 4, w},                  // ImageWidth
		{257, 4, h},                  // ImageLength
		{258, 3, 8},                  // BitsPerSample
		{259, 3, 8},                  // Compression: Deflate
		{262, 3, 1},                  // Photometric: BlackIsZero
		{273, 4, dataOff},            // StripOffsets
		{277, 3, 1},                  // SamplesPerPixel
		{278, 4, h},                  // RowsPerStrip: one strip
		{279, 4, uint32(len(strip))}, // StripByteCounts
	}
	bo := binary.LittleEndian
	out := []byte("II*\x00")
	out = bo.AppendUint32(out, 8)
	out = bo.AppendUint16(out, nEntries)
	for _, e := range entries {
		out = bo.AppendUint16(out, e.tag)
		out = bo.AppendUint16(out, e.typ)
		out = bo.AppendUint32(out, 1)
		if e.typ == 3 {
			out = bo.AppendUint16(out, uint16(e.val))
			out = bo.AppendUint16(out, 0)
		} else {
			out = bo.AppendUint32(out, e.val)
		}
	}
	out = bo.AppendUint32(out, 0) // no next IFD
	return append(out, strip...)
}

func deflate(b []byte) []byte {
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// gpsTIFF is a big-endian Exif TIFF block: IFD0 with Make and a GPS IFD
// pointer; the GPS IFD holds N latitude lat and W longitude lon (rationals
// written as given, however many).
func gpsTIFF(lat, lon [][2]uint32) []byte {
	bo := binary.BigEndian
	type ent struct {
		tag, typ uint16
		count    uint32
		data     []byte // out of line when longer than 4 bytes
	}
	rationals := func(rs [][2]uint32) []byte {
		var b []byte
		for _, r := range rs {
			b = bo.AppendUint32(bo.AppendUint32(b, r[0]), r[1])
		}
		return b
	}
	// Layout: header (8), IFD0 (2 entries), GPS IFD (4 entries), values.
	ifd0Len := 2 + 2*12 + 4
	gpsOff := 8 + ifd0Len
	gpsLen := 2 + 4*12 + 4
	valOff := gpsOff + gpsLen
	var values []byte
	encode := func(out []byte, e ent) []byte {
		out = bo.AppendUint16(out, e.tag)
		out = bo.AppendUint16(out, e.typ)
		out = bo.AppendUint32(out, e.count)
		if len(e.data) <= 4 {
			return append(out, append(e.data, make([]byte, 4-len(e.data))...)...)
		}
		out = bo.AppendUint32(out, uint32(valOff+len(values)))
		values = append(values, e.data...)
		return out
	}
	out := []byte("MM\x00*")
	out = bo.AppendUint32(out, 8)
	out = bo.AppendUint16(out, 2)
	out = encode(out, ent{0x010F, 2, 7, []byte("Canopy\x00")}) // Make
	out = encode(out, ent{0x8825, 4, 1, bo.AppendUint32(nil, uint32(gpsOff))})
	out = bo.AppendUint32(out, 0)
	out = bo.AppendUint16(out, 4)
	out = encode(out, ent{1, 2, 2, []byte("N\x00")})
	out = encode(out, ent{2, 5, uint32(len(lat)), rationals(lat)})
	out = encode(out, ent{3, 2, 2, []byte("W\x00")})
	out = encode(out, ent{4, 5, uint32(len(lon)), rationals(lon)})
	out = bo.AppendUint32(out, 0)
	return append(out, values...)
}

// replaceExif returns jpeg with its Exif APP1 segment replaced by one
// holding tiff (placed right after SOI); every other segment and the image
// data are kept as they are.
func replaceExif(t *testing.T, jpeg, tiff []byte) []byte {
	t.Helper()
	if !bytes.HasPrefix(jpeg, []byte{0xFF, 0xD8}) {
		t.Fatal("not a JPEG")
	}
	payload := append([]byte("Exif\x00\x00"), tiff...)
	n := len(payload) + 2
	out := append([]byte{0xFF, 0xD8, 0xFF, 0xE1, byte(n >> 8), byte(n)}, payload...)
	pos, removed := 2, false
	for pos+4 <= len(jpeg) && jpeg[pos] == 0xFF && jpeg[pos+1] != 0xDA {
		l := int(jpeg[pos+2])<<8 | int(jpeg[pos+3])
		seg := jpeg[pos : pos+2+l]
		if jpeg[pos+1] == 0xE1 && bytes.HasPrefix(seg[4:], []byte("Exif\x00")) {
			removed = true
		} else {
			out = append(out, seg...)
		}
		pos += 2 + l
	}
	if !removed {
		t.Fatal("the JPEG had no Exif segment to replace")
	}
	return append(out, jpeg[pos:]...)
}
