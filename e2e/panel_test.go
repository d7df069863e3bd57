package e2e

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/canopyag/canopy/cli/client"
	"github.com/canopyag/canopy/cli/sample"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// micaPanel is the declaration of the MicaSense RedEdge panel capture
// IMG_0000_* as PROVENANCE.md section 1 gives it: the panel's reflectance
// per band (test_capture.py) and the tutorials' manual corners per band,
// [column, row].
func micaPanel() *canopyv1.CalibrationPanel {
	pts := func(c [4][2]float64) []*canopyv1.PixelPoint {
		out := make([]*canopyv1.PixelPoint, 4)
		for i, p := range c {
			out[i] = &canopyv1.PixelPoint{X: p[0], Y: p[1]}
		}
		return out
	}
	return &canopyv1.CalibrationPanel{Bands: []*canopyv1.PanelBand{
		{Band: "Blue", Reflectance: 0.67, Corners: pts([4][2]float64{{809, 613}, {648, 615}, {646, 454}, {808, 452}})},
		{Band: "Green", Reflectance: 0.69, Corners: pts([4][2]float64{{772, 623}, {613, 625}, {610, 464}, {770, 462}})},
		{Band: "Red", Reflectance: 0.68, Corners: pts([4][2]float64{{771, 651}, {611, 653}, {610, 492}, {770, 490}})},
		// Any spelling of a role is accepted and stored canonically.
		{Band: "nir", Reflectance: 0.61, Corners: pts([4][2]float64{{829, 658}, {668, 659}, {668, 496}, {829, 496}})},
		{Band: "Red edge", Reflectance: 0.67, Corners: pts([4][2]float64{{807, 632}, {648, 634}, {645, 473}, {805, 471}})},
	}}
}

func micaCaptureN(t *testing.T, n int) []client.File {
	dir := filepath.Join(sharedData(t), "micasense-rededge", "0000SET", "000")
	var fs []client.File
	for b := 1; b <= 5; b++ {
		fs = append(fs, client.File{Path: filepath.Join(dir, fmt.Sprintf("IMG_%04d_%d.tif", n, b))})
	}
	return fs
}

// TestPanelCalibration runs panel calibration through the API: the panel
// capture is uploaded with its declaration and reports the panel as
// measured; the flight capture names it and is analysed in reflectance
// from it. Then the refusals at upload, and a flight whose panel's files
// are gone.
func TestPanelCalibration(t *testing.T) {
	s, k, _ := newAuthStack(t, "local")
	stopAnalysis := s.runAnalysis()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	in, _, st := rawClients(t, s)
	c := &client.Client{Ingest: in, Status: st}
	ctxA, ctxB := withKey(ctx, k.adminA), withKey(ctx, k.adminB)

	upload := func(ctx context.Context, files []client.File, o *canopyv1.AnalysisOptions) (string, error) {
		t.Helper()
		resp, err := c.UploadFiles(ctx, files, client.UploadOptions{Analysis: o})
		return resp.GetImageId(), err
	}
	finished := func(ctx context.Context, id string) *canopyv1.Image {
		t.Helper()
		w, err := st.WatchImage(ctx, &canopyv1.WatchImageRequest{ImageId: id})
		if err != nil {
			t.Fatal(err)
		}
		for {
			m, err := w.Recv()
			if err != nil {
				t.Fatalf("watch %s: %v", id, err)
			}
			if img := m.GetImage(); img.GetStatus() == canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED || img.GetStatus() == canopyv1.ImageStatus_IMAGE_STATUS_FAILED {
				img, err := st.GetImage(ctx, &canopyv1.GetImageRequest{ImageId: id})
				if err != nil {
					t.Fatal(err)
				}
				return img
			}
		}
	}
	analysis := func(id string) *canopyv1.Analysis {
		t.Helper()
		if img := finished(ctxA, id); img.GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED {
			t.Fatalf("image %s ended %v: %s", id, img.GetStatus(), img.GetLastError())
		}
		a, err := st.GetAnalysis(ctxA, &canopyv1.GetAnalysisRequest{ImageId: id})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	// The panel capture.
	panelID, err := upload(ctxA, micaCaptureN(t, 0), &canopyv1.AnalysisOptions{Panel: micaPanel()})
	if err != nil {
		t.Fatal(err)
	}
	pa := analysis(panelID)
	if pa.GetCalibrationMode() != "panel" || pa.GetPanelImageId() != panelID {
		t.Errorf("panel capture: calibration %q with panel %q, want panel with its own id %s", pa.GetCalibrationMode(), pa.GetPanelImageId(), panelID)
	}
	img, err := st.GetImage(ctxA, &canopyv1.GetImageRequest{ImageId: panelID})
	if err != nil {
		t.Fatal(err)
	}
	if got := img.GetAnalysisOptions().GetPanel().GetBands(); len(got) != 5 || got[3].GetBand() != "NIR" || got[4].GetBand() != "RedEdge" {
		t.Errorf("stored panel declaration %v, want 5 bands with canonical names (NIR, RedEdge)", got)
	}
	// Published (micasense/imageprocessing tests/test_capture.py, quoted in
	// PROVENANCE.md section 1): mean panel radiance and the irradiance it
	// implies at the declared reflectances, within 1%.
	published := map[string][2]float64{
		"Blue": {0.170284, 0.798451}, "Green": {0.179400, 0.816815}, "Red": {0.162217, 0.749442},
		"NIR": {0.106470, 0.548338}, "RedEdge": {0.130811, 0.613364},
	}
	factors := map[string]float64{}
	for _, b := range pa.GetBandCalibration() {
		p, w := b.GetPanel(), published[b.GetBand()]
		factors[b.GetBand()] = b.GetReflectanceFactor()
		t.Logf("panel %-7s radiance %.6f (published %.6f, %+.3f%%), irradiance %.6f (published %.6f, %+.3f%%), factor %.4f, %d pixels, std %.6f",
			b.GetBand(), p.GetRadiance(), w[0], 100*(p.GetRadiance()/w[0]-1), p.GetIrradiance(), w[1], 100*(p.GetIrradiance()/w[1]-1),
			b.GetReflectanceFactor(), p.GetPixels(), p.GetRadianceStd())
		if p == nil || math.Abs(p.GetRadiance()/w[0]-1) > 0.01 || math.Abs(p.GetIrradiance()/w[1]-1) > 0.01 {
			t.Errorf("%s: panel %v, published radiance %g and irradiance %g (within 1%%)", b.GetBand(), p, w[0], w[1])
		}
		if f := p.GetReflectance() / p.GetRadiance(); math.Abs(b.GetReflectanceFactor()/f-1) > 1e-9 {
			t.Errorf("%s: factor %g, want reflectance / radiance = %g", b.GetBand(), b.GetReflectanceFactor(), f)
		}
	}
	if len(factors) != 5 {
		t.Errorf("panel capture has %d band calibrations, want 5", len(factors))
	}
	// Tutorial 1 prints the NIR factor 5.727 for the rectangle [490:670,
	// 660:840]; the declared corners are the tutorials' polygon, which
	// ref.py (calibration_test.go) measures as 0.61 / 0.106440 = 5.7309:
	// 0.07% apart, so compared within 0.1%.
	if f := factors["NIR"]; math.Abs(f/5.727-1) > 0.001 {
		t.Errorf("NIR factor %.4f, published 5.727 (within 0.1%%)", f)
	}

	// The flight capture, calibrated with the panel.
	flightID, err := upload(ctxA, micaCaptureN(t, 1), &canopyv1.AnalysisOptions{CalibrateWith: panelID})
	if err != nil {
		t.Fatal(err)
	}
	fa := analysis(flightID)
	if fa.GetCalibrationMode() != "panel" || fa.GetPanelImageId() != panelID || len(fa.GetBandAlignment()) != 5 {
		t.Errorf("flight capture: calibration %q with panel %q, %d aligned bands; want panel, %s, 5", fa.GetCalibrationMode(), fa.GetPanelImageId(), len(fa.GetBandAlignment()), panelID)
	}
	for _, b := range fa.GetBandCalibration() {
		if b.GetReflectanceFactor() != factors[b.GetBand()] || b.GetPanel() == nil {
			t.Errorf("flight %s: factor %g, panel capture's %g; panel measurement %v", b.GetBand(), b.GetReflectanceFactor(), factors[b.GetBand()], b.GetPanel())
		}
	}
	var ndvi *canopyv1.IndexResult
	for _, ix := range fa.GetIndices() {
		if ix.GetName() == "NDVI" {
			ndvi = ix
		}
	}
	// The library's aligned, panel-calibrated NDVI of this capture is
	// checked in analysis-svc/internal/analyze/calibration_test.go
	// (TestMicaSenseFlightCalibrated) against numpy: testdata/calibration/
	// flight.py converts IMG_0001_* to radiance with the published MicaSense
	// model, applies reflectance / mean panel radiance per band (the same
	// corners and reflectances), registers NIR to Red with its own affine
	// fit and crops a 16-pixel margin: mean 0.5196199714174075. The areas
	// differ by a few rows and columns, so within 0.003 as there.
	if ndvi == nil || math.Abs(ndvi.GetMean()-0.5196199714174075) > 0.003 || ndvi.GetUnreliable() {
		t.Errorf("flight NDVI %v, want mean 0.5196 (numpy, flight.py) within 0.003", ndvi)
	}
	// And the service gives exactly what the library gives for the same
	// files and panel: analyze.Analyze(IMG_0001_*, Options{Panel: the
	// same declaration}) in analysis-svc/internal/analyze printed mean
	// 0.520583687294 over 1165374 pixels (a value of this code, recorded
	// here to catch the API path calibrating differently; not independent).
	if ndvi.GetValidPixels() != 1165374 || math.Abs(ndvi.GetMean()-0.520583687294) > 1e-6 {
		t.Errorf("flight NDVI mean %.9f over %d pixels; the library gives 0.520583687 over 1165374", ndvi.GetMean(), ndvi.GetValidPixels())
	}
	t.Logf("flight NDVI (panel, aligned %d x %d): mean %.6f std %.6f p2 %.4f p50 %.4f p98 %.4f over %d pixels",
		fa.GetWidth(), fa.GetHeight(), ndvi.GetMean(), ndvi.GetStd(), ndvi.GetPercentiles().GetP2(), ndvi.GetPercentiles().GetP50(),
		ndvi.GetPercentiles().GetP98(), ndvi.GetValidPixels())

	// Refusals, before any file is stored.
	decl := func(edit func(*canopyv1.CalibrationPanel)) *canopyv1.AnalysisOptions {
		p := micaPanel()
		edit(p)
		return &canopyv1.AnalysisOptions{Panel: p}
	}
	otherPanel, err := upload(ctxB, micaCaptureN(t, 0), &canopyv1.AnalysisOptions{Panel: micaPanel()})
	if err != nil {
		t.Fatal(err)
	}
	missing := uuid.Must(uuid.NewV7()).String()
	before := countBlobs(ctx, t, s)
	messages := map[string]string{}
	for _, tc := range []struct {
		name  string
		opts  *canopyv1.AnalysisOptions
		code  codes.Code
		field string
	}{
		{"reflectance 0", decl(func(p *canopyv1.CalibrationPanel) { p.Bands[1].Reflectance = 0 }), codes.InvalidArgument, "metadata.analysis.panel.bands[1].reflectance"},
		{"reflectance 61 (percent)", decl(func(p *canopyv1.CalibrationPanel) { p.Bands[3].Reflectance = 61 }), codes.InvalidArgument, "metadata.analysis.panel.bands[3].reflectance"},
		{"reflectance NaN", decl(func(p *canopyv1.CalibrationPanel) { p.Bands[0].Reflectance = math.NaN() }), codes.InvalidArgument, "metadata.analysis.panel.bands[0].reflectance"},
		{"3 corners", decl(func(p *canopyv1.CalibrationPanel) { p.Bands[2].Corners = p.Bands[2].Corners[:3] }), codes.InvalidArgument, "metadata.analysis.panel.bands[2].corners"},
		{"unknown band", decl(func(p *canopyv1.CalibrationPanel) { p.Bands[4].Band = "SWIR" }), codes.InvalidArgument, "metadata.analysis.panel.bands[4].band"},
		{"band twice", decl(func(p *canopyv1.CalibrationPanel) { p.Bands[4].Band = "blue" }), codes.InvalidArgument, "metadata.analysis.panel.bands[4].band"},
		{"panel and calibrate_with", &canopyv1.AnalysisOptions{Panel: micaPanel(), CalibrateWith: panelID}, codes.InvalidArgument, "metadata.analysis.calibrate_with"},
		{"calibrate_with not an id", &canopyv1.AnalysisOptions{CalibrateWith: "IMG_0000"}, codes.InvalidArgument, "metadata.analysis.calibrate_with"},
		{"missing panel", &canopyv1.AnalysisOptions{CalibrateWith: missing}, codes.NotFound, ""},
		{"another project's panel", &canopyv1.AnalysisOptions{CalibrateWith: otherPanel}, codes.NotFound, ""},
		{"not a panel capture", &canopyv1.AnalysisOptions{CalibrateWith: flightID}, codes.FailedPrecondition, ""},
	} {
		_, err := upload(ctxA, micaCaptureN(t, 1), tc.opts)
		s := status.Convert(err)
		var field string
		for _, d := range s.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) == 1 {
				field = br.GetFieldViolations()[0].GetField()
			}
		}
		t.Logf("%s: %v %s", tc.name, s.Code(), s.Message())
		if s.Code() != tc.code || field != tc.field || !strings.Contains(s.Message(), "metadata.analysis.") {
			t.Errorf("%s: %v %q, field %q; want %v naming %q", tc.name, s.Code(), s.Message(), field, tc.code, tc.field)
		}
		messages[tc.name] = strings.ReplaceAll(strings.ReplaceAll(s.Message(), missing, "ID"), otherPanel, "ID")
		if tc.code == codes.NotFound && len(s.Details()) != 0 {
			t.Errorf("%s: details %v", tc.name, s.Details())
		}
	}
	// The same fields over REST: a single band file with the panel as JSON
	// in the query, or the panel's id; the file is never read.
	nirFile := micaCaptureN(t, 0)[3].Path
	nirJSON := `{"bands":[{"band":"NIR","reflectance":%g,"corners":[{"x":829,"y":658},{"x":668,"y":659},{"x":668,"y":496},{"x":829,"y":496}]}]}`
	body := string(must(os.ReadFile(nirFile)))
	base := "http://" + s.ingestHTTP + "/v1/images:upload?filename=IMG_0000_4.tif&"
	for _, tc := range []struct {
		query string
		code  int
	}{
		{"panel=" + url.QueryEscape(fmt.Sprintf(nirJSON, 1.5)), http.StatusBadRequest},
		{"panel=" + url.QueryEscape(`{"bands": "NIR"}`), http.StatusBadRequest},
		{"calibrate_with=" + missing, http.StatusNotFound},
		{"calibrate_with=" + otherPanel, http.StatusNotFound},
		// FailedPrecondition is 400 over HTTP (the gateway's mapping), with code 9 in the body.
		{"calibrate_with=" + flightID, http.StatusBadRequest},
	} {
		if code := restCode(ctx, t, "POST", base+tc.query, body, "image/tiff", "", "Bearer "+k.adminA); code != tc.code {
			t.Errorf("REST upload ?%s: %d, want %d", tc.query, code, tc.code)
		}
	}
	// Another project's image must be indistinguishable from none.
	if a, b := messages["missing panel"], messages["another project's panel"]; a != b {
		t.Errorf("another project's panel answers %q, a missing one %q", b, a)
	}
	if after := countBlobs(ctx, t, s); after != before {
		t.Errorf("refused uploads left blobs: %d before, %d after", before, after)
	}

	// A capture the panel cannot calibrate (an RGN photo, no MicaSense
	// band file) fails at once saying so, not in another mode.
	paths, err := sample.Write(t.TempDir(), 64, 48)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.UploadFiles(ctxA, []client.File{{Path: paths[0]}}, client.UploadOptions{BandLayout: "RGN", Analysis: &canopyv1.AnalysisOptions{CalibrateWith: panelID}})
	if err != nil {
		t.Fatal(err)
	}
	photo := finished(ctxA, resp.GetImageId())
	t.Logf("RGN photo calibrated with the panel: %v after %d attempt(s): %s", photo.GetStatus(), photo.GetAttempts(), photo.GetLastError())
	if photo.GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_FAILED || photo.GetAttempts() != 1 || !strings.Contains(photo.GetLastError(), "calibration panel") {
		t.Errorf("RGN photo with calibrate_with: %v after %d attempts: %q; want failed at once", photo.GetStatus(), photo.GetAttempts(), photo.GetLastError())
	}

	// A flight whose panel's files are gone fails at once, naming the
	// panel, instead of being retried. A fresh analysis-svc, so the
	// measured panel is not in its cache.
	stopAnalysis()
	gone := img.GetFiles()[0].GetBlobKey()
	if err := s.blobs.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	orphanID, err := upload(ctxA, micaCaptureN(t, 1), &canopyv1.AnalysisOptions{CalibrateWith: panelID, Indices: []string{"NDVI"}})
	if err != nil {
		t.Fatal(err)
	}
	s.runAnalysis()
	orphan := finished(ctxA, orphanID)
	t.Logf("flight with the panel's files gone: %v after %d attempt(s): %s", orphan.GetStatus(), orphan.GetAttempts(), orphan.GetLastError())
	if orphan.GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_FAILED || orphan.GetAttempts() != 1 ||
		!strings.Contains(orphan.GetLastError(), "calibration panel image "+panelID) || !strings.Contains(orphan.GetLastError(), gone) {
		t.Errorf("flight with the panel's files gone: %v after %d attempts: %q; want failed at once, naming the panel and its missing file",
			orphan.GetStatus(), orphan.GetAttempts(), orphan.GetLastError())
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
