package e2e

import (
	"context"
	"errors"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/canopyag/canopy/cli/client"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// Positions as exiftool reports them, independently of our EXIF reader:
//
//	exiftool -n -GPSLatitude -GPSLongitude -GPSAltitude FILE
var (
	dji0061GPS = [3]float64{41.5485962, -83.6986488, 119.7}    // odm-tests-dji/DJI_0061.JPG
	img0001GPS = [3]float64{36.5760815, -119.4352604, 174.527} // micasense-rededge/0000SET/000/IMG_0001_1.tif
)

type upload struct {
	name   string
	files  []string
	gps    [3]float64
	width  int
	height int
	// The index the colour map shows, and indices that must be available.
	mapIndex string
	want     []string
	// Indices that must be reported unavailable (never faked).
	unavailable []string
	// calibration is the expected calibration mode; aligned says the rig's
	// bands must come back co-registered, so the analysed area is the
	// bands' common area, a little inside width x height.
	calibration string
	aligned     bool
}

func TestPipelineRealImages(t *testing.T) {
	data := sharedData(t)
	mica := filepath.Join(data, "micasense-rededge", "0000SET", "000")
	uploads := []upload{
		{
			name: "RGB JPEG with GPS", files: []string{filepath.Join(data, "odm-tests-dji", "DJI_0061.JPG")},
			gps: dji0061GPS, width: 2400, height: 1800,
			mapIndex: "VARI", want: []string{"VARI"}, unavailable: []string{"NDVI", "SAVI"},
			calibration: "uncalibrated_dn",
		},
		{
			name: "MicaSense RedEdge 5-band capture",
			files: []string{
				filepath.Join(mica, "IMG_0001_1.tif"), filepath.Join(mica, "IMG_0001_2.tif"), filepath.Join(mica, "IMG_0001_3.tif"),
				filepath.Join(mica, "IMG_0001_4.tif"), filepath.Join(mica, "IMG_0001_5.tif"),
			},
			gps: img0001GPS, width: 1280, height: 960,
			mapIndex: "NDVI", want: []string{"NDVI", "SAVI"},
			// Every band file carries the downwelling light sensor's
			// irradiance, so without a panel the reflectance comes from it.
			calibration: "dls", aligned: true,
		},
	}
	for _, store := range []string{"local", "s3"} {
		t.Run(store, func(t *testing.T) {
			s := newStack(t, store)
			runPipeline(t, s, uploads)
		})
	}
}

func runPipeline(t *testing.T, s *stack, uploads []upload) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	type watched struct {
		up       upload
		id       string
		statuses chan []canopyv1.ImageStatus
	}
	var ws []watched
	for _, up := range uploads {
		var files []client.File
		for _, f := range up.files {
			files = append(files, client.File{Path: f})
		}
		resp, err := s.client.UploadFiles(ctx, files, client.UploadOptions{ChunkSize: 64 << 10})
		if err != nil {
			t.Fatalf("%s: upload: %v", up.name, err)
		}
		if resp.GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_UPLOADED {
			t.Errorf("%s: upload status %v, want UPLOADED", up.name, resp.GetStatus())
		}
		checkSize(t, up, resp)
		w := watched{up: up, id: resp.GetImageId(), statuses: make(chan []canopyv1.ImageStatus, 1)}
		// Watch before any worker runs, so the stream must show every step.
		first := make(chan struct{})
		go func() {
			var seen []canopyv1.ImageStatus
			err := s.client.Watch(ctx, w.id, func(m *canopyv1.WatchImageResponse) {
				if len(seen) == 0 {
					close(first)
				}
				seen = append(seen, m.GetImage().GetStatus())
			})
			if err != nil {
				t.Errorf("%s: watch: %v", up.name, err)
			}
			w.statuses <- seen
		}()
		<-first
		ws = append(ws, w)
	}

	s.startAnalysis()

	want := []canopyv1.ImageStatus{
		canopyv1.ImageStatus_IMAGE_STATUS_UPLOADED,
		canopyv1.ImageStatus_IMAGE_STATUS_PROCESSING,
		canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED,
	}
	for _, w := range ws {
		var got []canopyv1.ImageStatus
		select {
		case got = <-w.statuses:
		case <-ctx.Done():
			t.Fatalf("%s: watch did not end: %v", w.up.name, ctx.Err())
		}
		if !slices.Equal(got, want) {
			img, _ := s.client.Status.GetImage(ctx, &canopyv1.GetImageRequest{ImageId: w.id})
			t.Fatalf("%s: watched %v, want %v (last error %q)", w.up.name, got, want, img.GetLastError())
		}
		checkImage(ctx, t, s, w.up, w.id)
	}
}

func checkSize(t *testing.T, up upload, resp *canopyv1.UploadImageResponse) {
	var total int64
	for _, f := range up.files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		total += st.Size()
	}
	if resp.GetSizeBytes() != total {
		t.Errorf("%s: size %d, want %d", up.name, resp.GetSizeBytes(), total)
	}
	if len(resp.GetSha256()) != 64 {
		t.Errorf("%s: sha256 %q", up.name, resp.GetSha256())
	}
}

func checkImage(ctx context.Context, t *testing.T, s *stack, up upload, id string) {
	img, err := s.client.Status.GetImage(ctx, &canopyv1.GetImageRequest{ImageId: id})
	if err != nil {
		t.Fatal(err)
	}
	g := img.GetGps()
	if g == nil {
		t.Fatalf("%s: no GPS recorded", up.name)
	}
	if math.Abs(g.GetLatitude()-up.gps[0]) > 1e-6 || math.Abs(g.GetLongitude()-up.gps[1]) > 1e-6 ||
		g.Altitude == nil || math.Abs(g.GetAltitude()-up.gps[2]) > 1e-3 || !g.GetValid() {
		t.Errorf("%s: GPS %+v, want %v (exiftool)", up.name, g, up.gps)
	}

	a, err := s.client.Status.GetAnalysis(ctx, &canopyv1.GetAnalysisRequest{ImageId: id})
	if err != nil {
		t.Fatalf("%s: analysis: %v", up.name, err)
	}
	if a.GetCalibrationMode() != up.calibration {
		t.Errorf("%s: calibration %q, want %q", up.name, a.GetCalibrationMode(), up.calibration)
	}
	wantW, wantH := up.width, up.height
	if up.aligned {
		checkAlignment(t, up, a)
		wantW, wantH = int(a.GetAlignedArea().GetWidth()), int(a.GetAlignedArea().GetHeight())
	} else if len(a.GetBandAlignment()) != 0 {
		t.Errorf("%s: band alignment reported for a single file: %v", up.name, a.GetBandAlignment())
	}
	if int(a.GetWidth()) != wantW || int(a.GetHeight()) != wantH {
		t.Errorf("%s: analysed %dx%d, want %dx%d", up.name, a.GetWidth(), a.GetHeight(), wantW, wantH)
	}
	byName := map[string]*canopyv1.IndexResult{}
	for _, ix := range a.GetIndices() {
		byName[ix.GetName()] = ix
	}
	for _, name := range up.want {
		ix := byName[name]
		if ix == nil || !ix.GetAvailable() {
			t.Errorf("%s: %s not available: %+v", up.name, name, ix)
			continue
		}
		if ix.GetValidPixels() == 0 {
			t.Errorf("%s: %s has no valid pixels", up.name, name)
		}
		for _, v := range []float64{ix.GetMin(), ix.GetMax(), ix.GetMean()} {
			if v < -1 || v > 1 || math.IsNaN(v) {
				t.Errorf("%s: %s min/mean/max %g/%g/%g outside [-1, 1]", up.name, name, ix.GetMin(), ix.GetMean(), ix.GetMax())
				break
			}
		}
	}
	for _, name := range up.unavailable {
		if ix := byName[name]; ix == nil || ix.GetAvailable() || ix.GetReason() == "" {
			t.Errorf("%s: %s must be reported unavailable with a reason, got %+v", up.name, name, ix)
		}
	}
	if a.GetMapIndex() != up.mapIndex {
		t.Errorf("%s: map shows %s, want %s", up.name, a.GetMapIndex(), up.mapIndex)
	}
	rc, err := s.blobs.Open(ctx, a.GetMapBlobKey())
	if err != nil {
		t.Fatalf("%s: map %q: %v", up.name, a.GetMapBlobKey(), err)
	}
	defer rc.Close()
	cfg, err := png.DecodeConfig(rc)
	if err != nil {
		t.Fatalf("%s: map is not a PNG: %v", up.name, err)
	}
	if cfg.Width != wantW || cfg.Height != wantH {
		t.Errorf("%s: map %dx%d, want %dx%d", up.name, cfg.Width, cfg.Height, wantW, wantH)
	}
}

// checkAlignment: one entry per band, the reference band among them, every
// band's residual under a pixel overall (and under 2 in any local window,
// the limit beyond which the analysis refuses the registration), and a
// common area inside the files that loses no more than 5% of either side
// (the MicaSense bands are about 15 pixels apart).
func checkAlignment(t *testing.T, up upload, a *canopyv1.Analysis) {
	t.Helper()
	al := a.GetBandAlignment()
	if len(al) != len(up.files) {
		t.Fatalf("%s: %d band alignments, want %d", up.name, len(al), len(up.files))
	}
	refs := 0
	for _, b := range al {
		if b.GetReference() {
			refs++
		}
		if b.GetResidualPx() >= 1 || b.GetResidualMaxPx() >= 2 {
			t.Errorf("%s: %s band residual %.3f px (max %.3f)", up.name, b.GetBand(), b.GetResidualPx(), b.GetResidualMaxPx())
		}
	}
	if refs != 1 {
		t.Errorf("%s: %d reference bands", up.name, refs)
	}
	r := a.GetAlignedArea()
	if r.GetX() < 0 || r.GetY() < 0 || int(r.GetX()+r.GetWidth()) > up.width || int(r.GetY()+r.GetHeight()) > up.height ||
		float64(r.GetWidth()) < 0.95*float64(up.width) || float64(r.GetHeight()) < 0.95*float64(up.height) {
		t.Errorf("%s: aligned area %+v inside %dx%d", up.name, r, up.width, up.height)
	}
	if len(a.GetBandCalibration()) != len(up.files) {
		t.Errorf("%s: %d band calibrations, want %d", up.name, len(a.GetBandCalibration()), len(up.files))
	}
	for _, w := range a.GetWarnings() {
		if strings.Contains(w, "not co-registered") {
			t.Errorf("%s: warning %q on an aligned capture", up.name, w)
		}
	}
}

// Bad input fails only itself, with a clear reason: a text file is refused
// at ingest, and a lone band of a rig (no NIR, no red) fails at analysis.
func TestPipelineBadInput(t *testing.T) {
	data := sharedData(t)
	s := newStack(t, "local")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	txt := filepath.Join(t.TempDir(), "notes.jpg")
	if err := os.WriteFile(txt, []byte("these are my field notes, not a photo"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := s.client.UploadFiles(ctx, []client.File{{Path: txt}}, client.UploadOptions{})
	if status.Code(errors.Unwrap(err)) != codes.InvalidArgument || !strings.Contains(err.Error(), "not a JPEG, TIFF or PNG") {
		t.Errorf("text file: got %v, want InvalidArgument naming the accepted types", err)
	}
	_, err = s.client.Upload(ctx, &canopyv1.UploadMetadata{Files: []*canopyv1.FileSpec{{Filename: "empty.jpg"}}},
		[]io.Reader{strings.NewReader("")}, client.UploadOptions{})
	if status.Code(errors.Unwrap(err)) != codes.InvalidArgument {
		t.Errorf("empty upload: got %v, want InvalidArgument", err)
	}

	lone := filepath.Join(data, "webodm-fixtures", "tiny_drone_image_multispec.tif")
	bad, err := s.client.UploadFiles(ctx, []client.File{{Path: lone}}, client.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	good, err := s.client.UploadFiles(ctx, []client.File{{Path: filepath.Join(data, "webodm-fixtures", "tiny_drone_image.jpg")}}, client.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.startAnalysis()
	for id, want := range map[string]canopyv1.ImageStatus{
		bad.GetImageId():  canopyv1.ImageStatus_IMAGE_STATUS_FAILED,
		good.GetImageId(): canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED,
	} {
		var last *canopyv1.Image
		if err := s.client.Watch(ctx, id, func(m *canopyv1.WatchImageResponse) { last = m.GetImage() }); err != nil {
			t.Fatal(err)
		}
		if last.GetStatus() != want {
			t.Errorf("image %s ended %v (%q), want %v", id, last.GetStatus(), last.GetLastError(), want)
		}
		if want == canopyv1.ImageStatus_IMAGE_STATUS_FAILED {
			if last.GetAttempts() != 1 || !strings.Contains(strings.ToLower(last.GetLastError()), "band") {
				t.Errorf("lone band: attempts %d, error %q; want one attempt (permanent) and a reason naming the missing bands",
					last.GetAttempts(), last.GetLastError())
			}
		}
	}
}
