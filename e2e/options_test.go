package e2e

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/canopyag/canopy/cli/client"
	"github.com/canopyag/canopy/cli/sample"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// Analysis options travel with the upload to the worker: SAVI's L (an
// explicit 0 included) and the set of indices; bad values are refused at
// ingest with the field named, and nothing is stored.
func TestAnalysisOptions(t *testing.T) {
	s := newStack(t, "local")
	s.startAnalysis()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	paths, err := sample.Write(t.TempDir(), 64, 48)
	if err != nil {
		t.Fatal(err)
	}
	rgn := []client.File{{Path: paths[0]}}

	analyse := func(opts *canopyv1.AnalysisOptions) (*canopyv1.Image, *canopyv1.Analysis) {
		t.Helper()
		resp, err := s.client.UploadFiles(ctx, rgn, client.UploadOptions{BandLayout: "RGN", Analysis: opts})
		if err != nil {
			t.Fatal(err)
		}
		var last canopyv1.ImageStatus
		if err := s.client.Watch(ctx, resp.GetImageId(), func(r *canopyv1.WatchImageResponse) { last = r.GetImage().GetStatus() }); err != nil {
			t.Fatal(err)
		}
		if last != canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED {
			t.Fatalf("image ended %v", last)
		}
		img, err := s.client.Status.GetImage(ctx, &canopyv1.GetImageRequest{ImageId: resp.GetImageId()})
		if err != nil {
			t.Fatal(err)
		}
		a, err := s.client.Status.GetAnalysis(ctx, &canopyv1.GetAnalysisRequest{ImageId: resp.GetImageId()})
		if err != nil {
			t.Fatal(err)
		}
		return img, a
	}
	mean := func(a *canopyv1.Analysis, name string) (float64, bool) {
		for _, ix := range a.GetIndices() {
			if ix.GetName() == name {
				return ix.GetMean(), ix.GetAvailable()
			}
		}
		return 0, false
	}

	// L = 0 makes SAVI = (1+0)(N-R)/(N+R+0) = NDVI, pixel by pixel, so their
	// means agree whatever the image; lower-case names come back canonical.
	img, a := analyse(&canopyv1.AnalysisOptions{SaviL: proto.Float64(0), Indices: []string{"ndvi", "Savi"}})
	if o := img.GetAnalysisOptions(); o == nil || o.SaviL == nil || o.GetSaviL() != 0 || !slices.Equal(o.GetIndices(), []string{"NDVI", "SAVI"}) {
		t.Errorf("GetImage analysis_options = %v, want savi_l 0 and [NDVI SAVI]", o)
	}
	ndvi, okN := mean(a, "NDVI")
	savi, okS := mean(a, "SAVI")
	if !okN || !okS || math.Abs(ndvi-savi) > 1e-6 || a.GetSaviL() != 0 {
		t.Errorf("L=0: NDVI %v (%v), SAVI %v (%v), recorded L %v; want SAVI = NDVI and L 0", ndvi, okN, savi, okS, a.GetSaviL())
	}
	for _, ix := range a.GetIndices() {
		if ix.GetName() != "NDVI" && ix.GetName() != "SAVI" && (ix.GetAvailable() || ix.GetReason() != "not requested") {
			t.Errorf("%s: available %v, reason %q; want not requested", ix.GetName(), ix.GetAvailable(), ix.GetReason())
		}
	}

	// No options: the server's default L (0.5) and every index the bands allow.
	img, a = analyse(nil)
	if img.GetAnalysisOptions() != nil || a.GetSaviL() != 0.5 {
		t.Errorf("defaults: options %v, L %v; want none and 0.5", img.GetAnalysisOptions(), a.GetSaviL())
	}
	if _, ok := mean(a, "GNDVI"); !ok {
		t.Error("defaults: GNDVI not computed on an RGN image")
	}

	before := countBlobs(ctx, t, s)
	for _, c := range []struct {
		name  string
		opts  *canopyv1.AnalysisOptions
		field string
	}{
		{"L above 1", &canopyv1.AnalysisOptions{SaviL: proto.Float64(1.5)}, "metadata.analysis.savi_l"},
		{"L not a number", &canopyv1.AnalysisOptions{SaviL: proto.Float64(math.NaN())}, "metadata.analysis.savi_l"},
		{"unknown index", &canopyv1.AnalysisOptions{Indices: []string{"NDVI", "NDWI"}}, "metadata.analysis.indices[1]"},
		{"an index twice, in another case", &canopyv1.AnalysisOptions{Indices: []string{"NDVI", "SAVI", "ndvi"}}, "metadata.analysis.indices[2]"},
		{"scale above 1", &canopyv1.AnalysisOptions{ReflectanceScale: proto.Float64(10)}, "metadata.analysis.reflectance_scale"},
		{"scale zero", &canopyv1.AnalysisOptions{ReflectanceScale: proto.Float64(0)}, "metadata.analysis.reflectance_scale"},
		{"take-off in orbit", &canopyv1.AnalysisOptions{TakeoffAltitudeM: proto.Float64(400000)}, "metadata.analysis.takeoff_altitude_m"},
	} {
		_, err := s.client.UploadFiles(ctx, rgn, client.UploadOptions{BandLayout: "RGN", Analysis: c.opts})
		st := status.Convert(err)
		var field string
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) == 1 {
				field = br.GetFieldViolations()[0].GetField()
			}
		}
		if st.Code() != codes.InvalidArgument || field != c.field {
			t.Errorf("%s: %v %q, field %q; want InvalidArgument naming %s", c.name, st.Code(), st.Message(), field, c.field)
		}
	}
	if after := countBlobs(ctx, t, s); after != before {
		t.Errorf("refused uploads left blobs: %d before, %d after", before, after)
	}
	resp, err := s.client.Status.ListImages(ctx, &canopyv1.ListImagesRequest{PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.GetImages()); n != 2 {
		t.Errorf("%d images recorded, want the 2 accepted ones", n)
	}
}
