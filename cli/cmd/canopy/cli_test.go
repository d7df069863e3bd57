package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/canopyag/canopy/cli/client"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// fakeStatus answers GetImage, GetAnalysis and ListImages from maps.
type fakeStatus struct {
	canopyv1.UnimplementedStatusServiceServer
	images   []*canopyv1.Image
	analyses map[string]*canopyv1.Analysis
}

func (f *fakeStatus) GetImage(_ context.Context, req *canopyv1.GetImageRequest) (*canopyv1.Image, error) {
	for _, img := range f.images {
		if img.GetId() == req.GetImageId() {
			return img, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "image %s not found", req.GetImageId())
}

func (f *fakeStatus) GetAnalysis(_ context.Context, req *canopyv1.GetAnalysisRequest) (*canopyv1.Analysis, error) {
	if an, ok := f.analyses[req.GetImageId()]; ok {
		return an, nil
	}
	return nil, status.Errorf(codes.NotFound, "no analysis for %s", req.GetImageId())
}

func (f *fakeStatus) ListImages(_ context.Context, req *canopyv1.ListImagesRequest) (*canopyv1.ListImagesResponse, error) {
	var out []*canopyv1.Image
	for _, img := range f.images {
		if req.GetBatchId() == "" || img.GetBatchId() == req.GetBatchId() {
			out = append(out, img)
		}
	}
	return &canopyv1.ListImagesResponse{Images: out}, nil
}

// storingIngest keeps one image per client upload id, answering a known id
// at the metadata like ingest-svc, and counts the chunk bytes it received.
type storingIngest struct {
	canopyv1.UnimplementedIngestServiceServer
	mu     sync.Mutex
	byID   map[string]*canopyv1.UploadImageResponse
	ids    []string // client upload ids, per upload call
	opts   []*canopyv1.AnalysisOptions
	files  []int // files declared, per upload call
	chunks int64
	n      int
}

func (f *storingIngest) UploadImage(stream grpc.ClientStreamingServer[canopyv1.UploadImageRequest, canopyv1.UploadImageResponse]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	md := first.GetMetadata()
	f.mu.Lock()
	f.ids = append(f.ids, md.GetClientUploadId())
	f.opts = append(f.opts, md.GetAnalysis())
	f.files = append(f.files, len(md.GetFiles()))
	if r, ok := f.byID[md.GetClientUploadId()]; ok && md.GetClientUploadId() != "" {
		f.mu.Unlock()
		dup := proto.Clone(r).(*canopyv1.UploadImageResponse)
		dup.Duplicate = true
		return stream.SendAndClose(dup)
	}
	f.mu.Unlock()
	hashes := make([]hash.Hash, len(md.GetFiles()))
	for i := range hashes {
		hashes[i] = sha256.New()
	}
	var size int64
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		c := msg.GetChunk()
		hashes[c.GetFileIndex()].Write(c.GetData())
		size += int64(len(c.GetData()))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	f.chunks += size
	resp := &canopyv1.UploadImageResponse{ImageId: "img-" + string(rune('0'+f.n)), SizeBytes: size, Status: canopyv1.ImageStatus_IMAGE_STATUS_UPLOADED}
	for i, spec := range md.GetFiles() {
		resp.Files = append(resp.Files, &canopyv1.ImageFile{Filename: spec.GetFilename(), Sha256: hex.EncodeToString(hashes[i].Sum(nil))})
	}
	if md.GetClientUploadId() != "" {
		f.byID[md.GetClientUploadId()] = resp
	}
	return stream.SendAndClose(resp)
}

// serveFakes serves the fakes on one port and returns its address.
func serveFakes(t *testing.T, ingest canopyv1.IngestServiceServer, st canopyv1.StatusServiceServer) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	if ingest != nil {
		canopyv1.RegisterIngestServiceServer(srv, ingest)
	}
	if st != nil {
		canopyv1.RegisterStatusServiceServer(srv, st)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// runCLI runs the command against addr with env as the environment.
func runCLI(t *testing.T, addr string, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code = run(ctx, append([]string{"--ingest", addr, "--status", addr}, args...), func(k string) string { return env[k] }, &out, &errOut)
	return code, out.String(), errOut.String()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// A re-run of the same upload sends no file data: every image comes back
// as "already uploaded", under the id made of the batch and the contents.
// Changed contents are a new upload.
func TestCLIUploadResumes(t *testing.T) {
	dir := t.TempDir()
	contents := map[string][]byte{
		"DJI_0001.JPG":   bytes.Repeat([]byte{0xFF, 0xD8, 1}, 100000),
		"IMG_0001_1.tif": bytes.Repeat([]byte{'I', 'I', 1}, 70000),
		"IMG_0001_2.tif": bytes.Repeat([]byte{'I', 'I', 2}, 70000),
	}
	var total int64
	for name, b := range contents {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		total += int64(len(b))
	}
	ingest := &storingIngest{byID: map[string]*canopyv1.UploadImageResponse{}}
	addr := serveFakes(t, ingest, nil)

	code, out, errOut := runCLI(t, addr, nil, "upload", "--batch", "f1", dir)
	if code != 0 {
		t.Fatalf("first upload: exit %d, stderr %q", code, errOut)
	}
	if ingest.n != 2 || ingest.chunks != total || strings.Count(out, "uploaded ") != 2 || strings.Contains(out, "already") {
		t.Fatalf("first upload: %d images, %d bytes (want 2, %d); stdout %q", ingest.n, ingest.chunks, total, out)
	}
	// The ids are the documented derivation of batch and contents.
	want := map[string]bool{
		client.UploadID("f1", "", []string{sha(contents["DJI_0001.JPG"])}):                                    true,
		client.UploadID("f1", "", []string{sha(contents["IMG_0001_1.tif"]), sha(contents["IMG_0001_2.tif"])}): true,
	}
	for _, id := range ingest.ids {
		if !want[id] {
			t.Errorf("client upload id %q is not one of %v", id, want)
		}
	}

	code, out, errOut = runCLI(t, addr, nil, "upload", "--batch", "f1", dir)
	if code != 0 {
		t.Fatalf("re-run: exit %d, stderr %q", code, errOut)
	}
	if ingest.n != 2 || ingest.chunks != total {
		t.Errorf("re-run stored or sent more: %d images, %d bytes", ingest.n, ingest.chunks)
	}
	if strings.Count(out, "already uploaded ") != 2 || strings.Contains(strings.ReplaceAll(out, "already uploaded", ""), "uploaded ") {
		t.Errorf("re-run stdout %q; want two 'already uploaded' lines and nothing else uploaded", out)
	}

	// A changed file is a new image; the capture next to it is not.
	if err := os.WriteFile(filepath.Join(dir, "DJI_0001.JPG"), []byte{0xFF, 0xD8, 2, 3}, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, _ = runCLI(t, addr, nil, "upload", "--batch", "f1", dir); code != 0 || ingest.n != 3 ||
		strings.Count(out, "already uploaded ") != 1 {
		t.Errorf("after a change: exit %d, %d images (want 3), stdout %q", code, ingest.n, out)
	}
	// Another batch is another upload; --resume=false sends no id.
	if code, _, _ = runCLI(t, addr, nil, "upload", "--batch", "f2", filepath.Join(dir, "IMG_0001_*.tif")); code != 0 || ingest.n != 4 {
		t.Errorf("other batch: exit %d, %d images (want 4)", code, ingest.n)
	}
	if code, _, _ = runCLI(t, addr, nil, "upload", "--resume=false", "--batch", "f2", filepath.Join(dir, "IMG_0001_*.tif")); code != 0 ||
		ingest.n != 5 || ingest.ids[len(ingest.ids)-1] != "" {
		t.Errorf("--resume=false: exit %d, %d images (want 5), last id %q", code, ingest.n, ingest.ids[len(ingest.ids)-1])
	}
}

// A server that answers an id with an image of other files (an id someone
// else made up) is not taken as ours.
func TestCLIUploadRefusesForeignDuplicate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.jpg")
	if err := os.WriteFile(path, []byte{0xFF, 0xD8, 0xFF}, 0o644); err != nil {
		t.Fatal(err)
	}
	id := client.UploadID("", "", []string{sha([]byte{0xFF, 0xD8, 0xFF})})
	ingest := &storingIngest{byID: map[string]*canopyv1.UploadImageResponse{
		id: {ImageId: "other", Files: []*canopyv1.ImageFile{{Filename: "b.jpg", Sha256: sha([]byte("other"))}}},
	}}
	addr := serveFakes(t, ingest, nil)
	code, out, errOut := runCLI(t, addr, nil, "upload", path)
	if code != 1 || out != "" || !strings.Contains(errOut, "belongs to image other") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1 and the clash explained", code, out, errOut)
	}
}

func completedFixture() *fakeStatus {
	classes := func(px ...int64) []*canopyv1.HealthClass {
		names := []string{"bare_or_water", "stressed", "moderate", "healthy"}
		var sum int64
		for _, p := range px {
			sum += p
		}
		out := make([]*canopyv1.HealthClass, len(px))
		for i, p := range px {
			out[i] = &canopyv1.HealthClass{Name: names[i], Pixels: p, Fraction: float64(p) / float64(sum)}
		}
		return out
	}
	alt := 101.5
	return &fakeStatus{
		images: []*canopyv1.Image{
			{Id: "capture-1", BatchId: "b", Filename: "IMG_0001_1.tif", Status: canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED,
				Gps: &canopyv1.GPS{Latitude: 36.5760815, Longitude: -119.4352604, Altitude: &alt, Source: "exif", Valid: true}},
			{Id: "photo-2", BatchId: "b", Filename: "DJI_0061.JPG", Status: canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED,
				Gps: &canopyv1.GPS{Latitude: 41.5485962, Longitude: -83.6986488, Source: "exif", Valid: true}},
			{Id: "bad-3", BatchId: "b", Filename: "lone.tif", Status: canopyv1.ImageStatus_IMAGE_STATUS_FAILED,
				LastError: "missing bands: NDVI needs NIR and Red", Gps: &canopyv1.GPS{Latitude: 1, Longitude: 2, Valid: false}},
		},
		analyses: map[string]*canopyv1.Analysis{
			"capture-1": {ImageId: "capture-1", MapIndex: "NDVI", Warnings: []string{"w"}, Indices: []*canopyv1.IndexResult{
				{Name: "NDVI", Available: true, Mean: 0.41234567890123456, VegetationFraction: 0.625, HealthClasses: classes(10, 20, 30, 40),
					Percentiles: &canopyv1.Percentiles{P50: 0.5}},
				{Name: "SAVI", Available: true, Mean: 0.2, HealthClasses: classes(50, 20, 20, 10)},
				{Name: "VARI", Available: true, Mean: -0.03125, VegetationFraction: 0.1, HealthClasses: classes(90, 5, 5, 0)},
			}},
			"photo-2": {ImageId: "photo-2", MapIndex: "VARI", Indices: []*canopyv1.IndexResult{
				{Name: "NDVI", Available: false, Reason: "needs NIR"},
				{Name: "VARI", Available: true, Mean: 0.0625, VegetationFraction: 0.25, HealthClasses: classes(5, 60, 35, 0)},
			}},
		},
	}
}

// result ID prints the index table, then how each band of a rig capture
// was aligned (the reference band named as such), then the warnings.
func TestCLIResultShowsBandAlignment(t *testing.T) {
	st := completedFixture()
	st.analyses["capture-1"].BandAlignment = []*canopyv1.BandAlignment{
		{Band: "Red", Filename: "IMG_0001_3.tif", Reference: true, Scale: 1, Peak: 1},
		{Band: "NIR", Filename: "IMG_0001_4.tif", OffsetX: 56.4321, OffsetY: -5.5, Scale: 0.99871, RotationDeg: -0.1234, ResidualPx: 0.2, ResidualMaxPx: 0.875, Peak: 0.3141},
	}
	code, out, errOut := runCLI(t, serveFakes(t, nil, st), nil, "result", "capture-1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && (f[0] == "band" || f[0] == "Red" || f[0] == "NIR" || f[0] == "warning") {
			got = append(got, strings.Join(f, " "))
		}
	}
	want := []string{
		"band file offset x,y px scale rotation deg residual px max px peak",
		"Red IMG_0001_3.tif reference",
		"NIR IMG_0001_4.tif 56.43,-5.50 0.9987 -0.123 0.20 0.88 0.314",
		"warning w",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lines\n%q\nwant\n%q\nin:\n%s", got, want, out)
	}
	// An analysis without alignment (one file) prints no such table.
	if _, out, _ = runCLI(t, serveFakes(t, nil, completedFixture()), nil, "result", "photo-2"); strings.Contains(out, "offset x,y") {
		t.Errorf("alignment table for a one-file capture:\n%s", out)
	}
}

// results --format csv|json: one row per image, full-precision numbers,
// the vegetation fraction and dominant health class of NDVI or, without
// NDVI, of the mapped index; empty cells for what an image lacks.
func TestCLIResultsFormats(t *testing.T) {
	addr := serveFakes(t, nil, completedFixture())
	code, out, errOut := runCLI(t, addr, nil, "results", "--batch", "b", "--format", "csv")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		csvHeader,
		{"capture-1", "IMG_0001_1.tif", "b", "completed", "36.5760815", "-119.4352604", "0.4123456789012346", "0.2", "-0.03125", "NDVI", "0.625", "healthy", "0.4", "1", ""},
		{"photo-2", "DJI_0061.JPG", "b", "completed", "41.5485962", "-83.6986488", "", "", "0.0625", "VARI", "0.25", "stressed", "0.6", "0", ""},
		{"bad-3", "lone.tif", "b", "failed", "", "", "", "", "", "", "", "", "", "0", "missing bands: NDVI needs NIR and Red"},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d CSV records, want %d:\n%s", len(recs), len(want), out)
	}
	for i := range want {
		if strings.Join(recs[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("row %d:\n got %q\nwant %q", i, recs[i], want[i])
		}
	}

	// JSON: the same rows; ids select images.
	code, out, errOut = runCLI(t, addr, nil, "results", "--json", "photo-2", "bad-3")
	if code != 0 {
		t.Fatalf("json: exit %d: %s", code, errOut)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if len(rows) != 2 || rows[0]["id"] != "photo-2" || rows[0]["ndvi_mean"] != nil || rows[0]["vari_mean"] != 0.0625 ||
		rows[0]["health"] != "stressed" || rows[1]["lat"] != nil || rows[1]["status"] != "failed" {
		t.Errorf("json rows %v", rows)
	}

	// The table names the same things, rounded.
	code, out, _ = runCLI(t, addr, nil, "results", "capture-1")
	if code != 0 || !strings.Contains(out, "0.412") || !strings.Contains(out, "0.62 (NDVI)") || !strings.Contains(out, "healthy 40%") {
		t.Errorf("table: exit %d\n%s", code, out)
	}
	if code, _, _ = runCLI(t, addr, nil, "results", "--format", "xml"); code != 2 {
		t.Errorf("unknown format: exit %d, want 2", code)
	}
}

// show: status, GPS, a metrics row per index with health shares,
// warnings; --json carries the image and its analysis.
func TestCLIShow(t *testing.T) {
	addr := serveFakes(t, nil, completedFixture())
	code, out, errOut := runCLI(t, addr, nil, "show", "capture-1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"completed", "36.5760815, -119.4352604", "warning: w"} {
		if !strings.Contains(out, want) {
			t.Errorf("show output lacks %q:\n%s", want, out)
		}
	}
	ndvi := ""
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, "NDVI ") {
			ndvi = strings.Join(strings.Fields(line), " ")
		}
	}
	if want := "NDVI 0.4123 0.5000 0.625 10.0% 20.0% 30.0% 40.0% colour map"; ndvi != want {
		t.Errorf("NDVI row %q, want %q", ndvi, want)
	}
	code, out, _ = runCLI(t, addr, nil, "show", "--json", "bad-3")
	var v struct {
		Image    map[string]any `json:"image"`
		Analysis map[string]any `json:"analysis"`
	}
	if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil || v.Image["id"] != "bad-3" || v.Analysis != nil {
		t.Errorf("show --json of a failed image: exit %d, %v, %s", code, err, out)
	}
}

// download reads the configured blob store; without one it refuses and
// says which variables to set.
func TestCLIDownload(t *testing.T) {
	blobs := t.TempDir()
	key := "images/capture-1/index-ndvi.tif"
	body := []byte("II*\x00 pretend GeoTIFF")
	if err := os.MkdirAll(filepath.Join(blobs, "images", "capture-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(blobs, filepath.FromSlash(key)), body, 0o644); err != nil {
		t.Fatal(err)
	}
	fake := completedFixture()
	fake.analyses["capture-1"].Outputs = []*canopyv1.Output{
		{Kind: "colormap", Index: "NDVI", BlobKey: "images/capture-1/map-ndvi.png", ContentType: "image/png"},
		{Kind: "geotiff", Index: "SAVI", BlobKey: "images/capture-1/index-savi.tif", ContentType: "image/tiff"},
		{Kind: "geotiff", Index: "NDVI", BlobKey: key, ContentType: "image/tiff"},
	}
	addr := serveFakes(t, nil, fake)

	code, _, errOut := runCLI(t, addr, nil, "download", "--kind", "geotiff", "capture-1")
	if code != 1 || !strings.Contains(errOut, "BLOB_STORE") {
		t.Errorf("without blob settings: exit %d, stderr %q", code, errOut)
	}
	env := map[string]string{"BLOB_STORE": "local", "BLOB_DIR": blobs}
	outDir := t.TempDir()
	code, out, errOut := runCLI(t, addr, env, "download", "--kind", "geotiff", "-o", outDir, "capture-1")
	if code != 0 {
		t.Fatalf("download: exit %d: %s", code, errOut)
	}
	got, err := os.ReadFile(filepath.Join(outDir, "capture-1-geotiff-ndvi.tif"))
	if err != nil || !bytes.Equal(got, body) || !strings.Contains(out, "wrote ") {
		t.Errorf("downloaded %q, %v (stdout %q); want the blob's bytes", got, err, out)
	}
	// A missing blob and a missing kind are explained.
	if code, _, errOut = runCLI(t, addr, env, "download", "capture-1"); code != 1 || !strings.Contains(errOut, "not in the configured blob store") {
		t.Errorf("missing blob: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut = runCLI(t, addr, env, "download", "--kind", "thumbnail", "capture-1"); code != 1 || !strings.Contains(errOut, "has no thumbnail") {
		t.Errorf("no thumbnail: exit %d, stderr %q", code, errOut)
	}
}

// The progress line shows the current file's rate and the batch's.
func TestCLIProgressLine(t *testing.T) {
	clock := time.Unix(1000, 0)
	p := &progress{w: io.Discard, now: func() time.Time { return clock }, images: 2, total: 6 << 20}
	p.start = clock
	p.begin("IMG_0001", "send", []string{"IMG_0001_1.tif", "IMG_0001_2.tif"}, []int64{2 << 20, 2 << 20})
	clock = clock.Add(time.Second)
	p.update(1 << 20) // half of file 1 after 1 s
	want := pad("IMG_0001_1.tif 1/2") + " send [==========          ]  50.0% 1.0 MiB/s | image 1/2, 1.0 MiB of 6.0 MiB, 1.0 MiB/s"
	if got := p.line(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	clock = clock.Add(time.Second)
	p.update(2<<20 + 1) // file 2 starts now
	clock = clock.Add(time.Second)
	p.update(3 << 20) // 1 MiB of file 2 in 1 s; 3 MiB in 3 s overall
	want = pad("IMG_0001_2.tif 2/2") + " send [==========          ]  50.0% 1.0 MiB/s | image 1/2, 3.0 MiB of 6.0 MiB, 1.0 MiB/s"
	if got := p.line(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	p.finish(true)
	p.begin("DJI_0001.JPG", "send", []string{"DJI_0001.JPG"}, []int64{2 << 20})
	clock = clock.Add(time.Second)
	p.update(2 << 20) // 2 MiB in 1 s; 6 MiB in 4 s overall
	want = pad("DJI_0001.JPG") + " send [====================] 100.0% 2.0 MiB/s | image 2/2, 6.0 MiB of 6.0 MiB, 1.5 MiB/s"
	if got := p.line(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func pad(name string) string { return name + strings.Repeat(" ", 28-len(name)) }

// The analysis flags reach the upload's metadata only when given, and are
// part of the resume id: the same file asked for with another L is another
// upload, the same command again is not.
func TestCLIUploadAnalysisFlags(t *testing.T) {
	dir := t.TempDir()
	photo := filepath.Join(dir, "DJI_0002.JPG")
	if err := os.WriteFile(photo, []byte{0xFF, 0xD8, 0xFF, 9}, 0o644); err != nil {
		t.Fatal(err)
	}
	ingest := &storingIngest{byID: map[string]*canopyv1.UploadImageResponse{}}
	addr := serveFakes(t, ingest, nil)

	if code, _, errOut := runCLI(t, addr, nil, "upload", photo); code != 0 || ingest.opts[0] != nil {
		t.Fatalf("no flags: exit %d (%s), options %v; want none sent", code, errOut, ingest.opts[0])
	}
	if code, _, errOut := runCLI(t, addr, nil, "upload", "--savi-l", "0", "--indices", "NDVI, savi", "--reflectance-scale", "0.0001", photo); code != 0 {
		t.Fatalf("with flags: exit %d: %s", code, errOut)
	}
	want := &canopyv1.AnalysisOptions{SaviL: proto.Float64(0), Indices: []string{"NDVI", "savi"}, ReflectanceScale: proto.Float64(0.0001)}
	if got := ingest.opts[1]; !proto.Equal(got, want) {
		t.Errorf("sent options %v, want %v", got, want)
	}
	if ingest.n != 2 || ingest.ids[0] == ingest.ids[1] {
		t.Errorf("other options, same file: %d images, ids %q; want a second image under another id", ingest.n, ingest.ids)
	}
	if code, out, _ := runCLI(t, addr, nil, "upload", "--savi-l", "0", "--indices", "NDVI, savi", "--reflectance-scale", "0.0001", photo); code != 0 ||
		ingest.n != 2 || !strings.Contains(out, "already uploaded") {
		t.Errorf("same flags again: exit %d, %d images, stdout %q; want already uploaded", code, ingest.n, out)
	}
	if code, _, errOut := runCLI(t, addr, nil, "upload", "--savi-l", "half", photo); code == 0 || !strings.Contains(errOut, "not a number") {
		t.Errorf("--savi-l half: exit %d, stderr %q; want a usage error", code, errOut)
	}
	// Flags may follow the files (they were taken for file names: "stat
	// --json: no such file", found by a fresh-user test), and after "--"
	// everything is a file.
	code, out, errOut := runCLI(t, addr, nil, "upload", photo, "--indices", "VARI", "--json")
	var resp map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &resp) != nil || ingest.n != 3 || !proto.Equal(ingest.opts[len(ingest.opts)-1], &canopyv1.AnalysisOptions{Indices: []string{"VARI"}}) {
		t.Errorf("flags after the file: exit %d, stdout %q, stderr %q, %d images, options %v; want a third image, asked for VARI, printed as JSON", code, out, errOut, ingest.n, ingest.opts[len(ingest.opts)-1])
	}
	if code, _, errOut := runCLI(t, addr, nil, "upload", "--", photo, "--json"); code == 0 || !strings.Contains(errOut, "--json") {
		t.Errorf("a file named --json after --: exit %d, stderr %q; want it looked for as a file", code, errOut)
	}
}

// A file named twice (here once by name, once through a glob) is uploaded
// once, not as a two-band capture; a folder without images says so.
func TestCLIUploadPathsOnceAndEmptyFolder(t *testing.T) {
	dir := t.TempDir()
	band := filepath.Join(dir, "IMG_0007_1.tif")
	if err := os.WriteFile(band, []byte{'I', 'I', 42, 0, 1, 2, 3}, 0o644); err != nil {
		t.Fatal(err)
	}
	ingest := &storingIngest{byID: map[string]*canopyv1.UploadImageResponse{}}
	addr := serveFakes(t, ingest, nil)
	if code, _, errOut := runCLI(t, addr, nil, "upload", band, filepath.Join(dir, "IMG_0007_*.tif")); code != 0 || ingest.n != 1 {
		t.Fatalf("exit %d (%s), %d uploads; want 1", code, errOut, ingest.n)
	}
	if got := ingest.files[0]; got != 1 {
		t.Errorf("the upload declared %d files, want 1", got)
	}

	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, addr, nil, "upload", empty); code == 0 || !strings.Contains(errOut, "no images (.jpg .jpeg .tif .tiff .png) in "+empty) {
		t.Errorf("empty folder: exit %d, stderr %q", code, errOut)
	}
}

// Ids made in the same millisecond share their first 13 characters (the
// UUIDv7 timestamp): the table shows them whole, so they can be told apart
// and pasted into other commands.
func TestCLIResultsTableShowsWholeIDs(t *testing.T) {
	a, b := "01a23f15-8d06-7743-966a-d782b2dbed47", "01a23f15-8d06-7c11-8a2b-0000000000b1"
	st := &fakeStatus{images: []*canopyv1.Image{
		{Id: a, Filename: "a.jpg", BatchId: "same-ms", Status: canopyv1.ImageStatus_IMAGE_STATUS_FAILED, LastError: "x"},
		{Id: b, Filename: "b.jpg", BatchId: "same-ms", Status: canopyv1.ImageStatus_IMAGE_STATUS_FAILED, LastError: "y"},
	}}
	addr := serveFakes(t, nil, st)
	code, out, errOut := runCLI(t, addr, nil, "results", "--batch", "same-ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var firsts []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		firsts = append(firsts, strings.Fields(line)[0])
	}
	if strings.Join(firsts, " ") != a+" "+b {
		t.Errorf("id column %q, want %s and %s:\n%s", firsts, a, b, out)
	}
}

// A watch line shows when the change happened, not when it arrived.
func TestHappenedAt(t *testing.T) {
	at := func(s string) *timestamppb.Timestamp {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return timestamppb.New(v)
	}
	done := canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED
	img := &canopyv1.Image{Status: done, UploadedAt: at("2026-12-04T03:38:40Z"), ProcessingStartedAt: at("2026-12-04T03:38:44Z"), ProcessedAt: at("2026-12-04T03:38:46.5Z")}
	for _, c := range []struct {
		name string
		m    *canopyv1.WatchImageResponse
		want string
	}{
		{"event", &canopyv1.WatchImageResponse{Image: img, Event: &canopyv1.ImageEvent{Status: done, Time: at("2026-12-04T03:38:46.25Z")}}, "03:38:46.25"},
		{"state of a completed image", &canopyv1.WatchImageResponse{Image: img}, "03:38:46.5"},
		{"state of an uploaded image", &canopyv1.WatchImageResponse{Image: &canopyv1.Image{UploadedAt: at("2026-12-04T03:38:40Z")}}, "03:38:40"},
	} {
		if got := happenedAt(c.m).UTC().Format("15:04:05.999"); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

// hostileName holds every kind of character a file name can bring that a
// terminal acts on or that breaks a table: ESC, CR, a line break, a tab,
// DEL and a C1 control (CSI).
const hostileName = "IMG_0001_4\x1b[2J\r\nfake line\t\x7f\u009b31m.tif"

// --json output is JSON whatever the names in it: DEL and the C1 controls
// (which encoding/json leaves raw) become \u escapes instead of being
// spelled out as \x7f, which made the document invalid (found by a
// fresh-user test); the name decodes back to itself, and no byte a
// terminal acts on is printed raw.
func TestCLIJSONWithControlCharacters(t *testing.T) {
	st := completedFixture()
	st.images[0].Filename = hostileName
	st.analyses["capture-1"].BandAlignment = []*canopyv1.BandAlignment{{Band: "NIR", Filename: hostileName}}
	addr := serveFakes(t, nil, st)
	for _, args := range [][]string{
		{"status", "--json", "capture-1"},
		{"result", "--json", "capture-1"},
		{"show", "--json", "capture-1"},
		{"results", "--format", "json", "capture-1"},
	} {
		code, out, errOut := runCLI(t, addr, nil, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Errorf("%v: not JSON (%v): %q", args, err, out)
			continue
		}
		if !strings.Contains(fmt.Sprint(v), hostileName) {
			t.Errorf("%v: the file name does not decode back to itself: %v", args, v)
		}
		if i := strings.IndexFunc(strings.TrimSuffix(out, "\n"), func(r rune) bool { return r < 0x20 || (r >= 0x7f && r <= 0x9f) }); i >= 0 {
			t.Errorf("%v: control character %q printed raw at %d: %q", args, out[i], i, out)
		}
	}
}

// In the text forms a file name stays in its cell: one line per band in
// the alignment table, and one status line, however many line breaks and
// tabs the name holds.
func TestCLITextKeepsHostileNamesInTheirCells(t *testing.T) {
	st := completedFixture()
	st.images[0].Filename = hostileName
	st.analyses["capture-1"].BandAlignment = []*canopyv1.BandAlignment{
		{Band: "Red", Filename: "IMG_0001_3.tif", Reference: true},
		{Band: "NIR", Filename: hostileName, OffsetX: 1.5, OffsetY: -2, Scale: 1, ResidualPx: 0.25, ResidualMaxPx: 0.5, Peak: 0.4},
	}
	addr := serveFakes(t, nil, st)
	_, out, _ := runCLI(t, addr, nil, "result", "capture-1")
	var nir []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "NIR ") {
			nir = append(nir, line)
		}
		if strings.HasPrefix(line, "fake line") {
			t.Errorf("a file name started a line of its own: %q", line)
		}
	}
	if len(nir) != 1 || !strings.Contains(nir[0], `IMG_0001_4\x1b[2J / fake line \x7f\u009b31m.tif`) || !strings.HasSuffix(strings.Fields(nir[0])[len(strings.Fields(nir[0]))-1], "0.400") {
		t.Errorf("NIR rows %q; want one, the name in one cell and the peak last, in:\n%s", nir, out)
	}
	_, out, _ = runCLI(t, addr, nil, "status", "capture-1")
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "fake line") {
			t.Errorf("status: a file name started a line of its own:\n%s", out)
		}
	}
}

// Arguments a command cannot use are refused, not ignored or taken for
// something else (found by a fresh-user test of the flags-anywhere parsing).
func TestCLIArgumentErrors(t *testing.T) {
	t.Chdir(t.TempDir()) // sample writes where it is told; nothing may land here
	photo := filepath.Join(t.TempDir(), "a.jpg")
	if err := os.WriteFile(photo, []byte{0xFF, 0xD8, 0xFF, 9}, 0o644); err != nil {
		t.Fatal(err)
	}
	ingest := &storingIngest{byID: map[string]*canopyv1.UploadImageResponse{}}
	addr := serveFakes(t, ingest, completedFixture())
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"upload", photo, "--batch"}, "flag needs an argument: -batch"}, // it took "--" for the batch
		{[]string{"cancel", "capture-1", "--reason"}, "flag needs an argument: -reason"},
		{[]string{"list", "extra"}, `unexpected argument "extra"`},
		{[]string{"stats", "--", "--json"}, `unexpected argument "--json"`},
		{[]string{"sample", "-h"}, "usage: canopy sample DIR"}, // it wrote the samples into a folder named -h
	} {
		code, _, errOut := runCLI(t, addr, nil, c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
	if ingest.n != 0 {
		t.Errorf("%d uploads; want none", ingest.n)
	}
	if entries, _ := os.ReadDir("."); len(entries) != 0 {
		t.Errorf("files written: %v", entries)
	}
}

// A line break in an error or warning stays in its row: the status block
// shows one status line however the error reads.
func TestCLIStatusBlockKeepsErrorsOnTheirRow(t *testing.T) {
	st := completedFixture()
	st.images[2].LastError = "cancelled: operator\nstatus\tcompleted"
	addr := serveFakes(t, nil, st)
	for _, cmd := range []string{"status", "show"} {
		_, out, _ := runCLI(t, addr, nil, cmd, "bad-3")
		n := 0
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == "status" {
				n++
			}
		}
		if n != 1 || !strings.Contains(out, "cancelled: operator / status completed") {
			t.Errorf("%s: %d status lines; want 1 and the error on one row:\n%s", cmd, n, out)
		}
	}
}

// A pipe or standard input is refused before anything is read, saying
// what to do: the upload reads each file twice (its checksum, then its
// bytes), so a FIFO hung the CLI beyond Ctrl-C and a spent pipe sent
// nothing (found by a fresh-user test).
func TestCLIUploadRefusesPipesAndStdin(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "field.jpg")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	ingest := &storingIngest{byID: map[string]*canopyv1.UploadImageResponse{}}
	addr := serveFakes(t, ingest, nil)
	// Found in a folder too, itself or through a symbolic link, beside a
	// good image (a second fresh-user test: the folder search missed it).
	folder := filepath.Join(dir, "flight")
	if err := os.Mkdir(folder, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(folder, "DJI_0001.JPG"), []byte{0xFF, 0xD8, 0xFF, 9}, 0o600); err != nil {
		t.Fatal(err)
	}
	linked := filepath.Join(dir, "linked")
	if err := os.Mkdir(linked, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(fifo, filepath.Join(linked, "DJI_0002.JPG")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(folder, "DJI_0002.JPG"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ arg, want string }{
		{fifo, fifo + " is not a regular file"},
		{"-", "not read from standard input"},
		{folder, filepath.Join(folder, "DJI_0002.JPG") + " is not a regular file"},
		{linked, filepath.Join(linked, "DJI_0002.JPG") + " is not a regular file"},
	} {
		if code, _, errOut := runCLI(t, addr, nil, "upload", c.arg); code == 0 || !strings.Contains(errOut, c.want) || ingest.n != 0 {
			t.Errorf("upload %s: exit %d, stderr %q, %d uploads; want an error with %q and none sent", c.arg, code, errOut, ingest.n, c.want)
		}
	}
}
