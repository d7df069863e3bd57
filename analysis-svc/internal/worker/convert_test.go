package worker

import (
	"errors"
	"fmt"
	"image"
	"math"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/canopyag/canopy/analysis-svc/internal/analyze"
	"github.com/canopyag/canopy/analysis-svc/internal/index"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

func TestToProtoNewFields(t *testing.T) {
	area := func(v float64) *float64 { return &v }
	alt, pitch, focal := 84.7, -90.0, 6.72
	r := &analyze.Result{
		Width: 16, Height: 8, MapIndex: "NDVI", SAVIL: 0.3,
		GSD: 0.5, PixelAreaM2: 0.25, GSDSource: analyze.GSDFromRelativeAltitude,
		Capture: analyze.Metadata{Make: "DJI", Model: "FC3582", CaptureID: "abc", RelativeAltitude: &alt, GimbalPitch: &pitch, Orientation: 6, FocalLength: &focal},
		Indices: []analyze.IndexResult{{
			Name: "NDVI", Available: true, Min: -1, Max: 1,
			Stats: index.Stats{Valid: 4, Histogram: index.Histogram{Min: -1, Max: 1, Counts: []int64{1, 3}, Below: 0, Above: 0}},
			Health: []analyze.HealthClass{
				{Name: "bare_or_water", Min: math.Inf(-1), Max: 0.2, Pixels: 1, Fraction: 0.25, AreaM2: area(0.25)},
				{Name: "stressed", Min: 0.2, Max: 0.4},
				{Name: "moderate", Min: 0.4, Max: 0.6},
				{Name: "healthy", Min: 0.6, Max: math.Inf(1), Pixels: 3, Fraction: 0.75, AreaM2: area(0.75)},
			},
			GridRows: 1, GridCols: 2,
			Zones: []index.Zone{{Row: 0, Col: 0, Valid: 4, Mean: 0.7, Class: 3}, {Row: 0, Col: 1, Class: -1}},
		}},
		Outputs: []analyze.Output{
			{Kind: analyze.KindGeoTIFF, Index: "NDVI", Path: "/tmp/x/ndvi.tif", ContentType: "image/tiff", Width: 16, Height: 8, Min: -1, Max: 1},
			{Kind: analyze.KindColormap, Index: "NDVI", ContentType: "image/png", Width: 16, Height: 8, Min: -1, Max: 1},
			{Kind: analyze.KindThumbnail, ContentType: "image/png", Width: 16, Height: 8, Max: 0.9},
		},
	}
	var keys []string
	for _, o := range r.Outputs {
		keys = append(keys, outputKey("img1", o))
	}
	a := toProto("img1", r, keys)
	if a.GetAlgorithmVersion() != "canopy-analysis/3" || a.GetSaviL() != 0.3 {
		t.Errorf("version %s, savi_l %v (want the L the result was computed with, 0.3)", a.GetAlgorithmVersion(), a.GetSaviL())
	}
	if a.GetMapBlobKey() != "images/img1/map-ndvi.png" || a.GetOutputs()[0].GetBlobKey() != "images/img1/index-ndvi.tif" ||
		a.GetOutputs()[2].GetBlobKey() != "images/img1/thumbnail.png" || a.GetOutputs()[2].GetIndex() != "" {
		t.Errorf("keys: map %s, outputs %v", a.GetMapBlobKey(), a.GetOutputs())
	}
	if a.GsdM == nil || a.GetGsdM() != 0.5 || a.GetGsdSource() != "relative_altitude" {
		t.Errorf("gsd %v %s", a.GsdM, a.GetGsdSource())
	}
	c := a.GetCapture()
	if c.GetModel() != "FC3582" || c.GetCaptureId() != "abc" || c.GetRelativeAltitude() != 84.7 || c.GetGimbalPitch() != -90 || c.GetOrientation() != 6 || c.GetFocalLengthMm() != 6.72 {
		t.Errorf("capture %v", c)
	}
	ix := a.GetIndices()[0]
	hc := ix.GetHealthClasses()
	// JSON has no infinity: the open ends become the display range.
	if len(hc) != 4 || hc[0].GetMin() != -1 || hc[0].GetMax() != 0.2 || hc[3].GetMin() != 0.6 || hc[3].GetMax() != 1 ||
		hc[3].GetPixels() != 3 || hc[3].GetAreaM2() != 0.75 || hc[1].AreaM2 != nil {
		t.Errorf("health classes %v", hc)
	}
	if h := ix.GetHistogram(); len(h.GetCounts()) != 2 || h.GetCounts()[1] != 3 || h.GetMin() != -1 {
		t.Errorf("histogram %v", h)
	}
	z := ix.GetZones()
	if z.GetRows() != 1 || z.GetCols() != 2 || z.GetCells()[0].GetClass() != "healthy" || z.GetCells()[1].GetClass() != "" || z.GetCells()[0].GetMean() != 0.7 {
		t.Errorf("zones %v", z)
	}
}

func TestWithImageOptions(t *testing.T) {
	half := 0.5
	pool := analyze.Options{SAVIL: &half, MaxPixels: 1000}

	got := withImageOptions(pool, &canopyv1.Image{BandLayout: "RGN"})
	if got.BandLayout != "RGN" || *got.SAVIL != 0.5 || got.Indices != nil || got.ReflectanceScale != 0 || got.MaxPixels != 1000 {
		t.Errorf("no image options: %+v, want the pool's defaults and the layout", got)
	}

	zero := 0.0
	got = withImageOptions(pool, &canopyv1.Image{AnalysisOptions: &canopyv1.AnalysisOptions{
		SaviL: &zero, Indices: []string{"NDVI", "SAVI"}, ReflectanceScale: proto.Float64(0.0001), TakeoffAltitudeM: proto.Float64(101.861),
	}})
	if got.TakeoffAltitude == nil || *got.TakeoffAltitude != 101.861 {
		t.Errorf("take-off altitude %v, want 101.861", got.TakeoffAltitude)
	}
	// An explicit L = 0 is a choice (SAVI then equals NDVI), not "unset".
	if got.SAVIL == nil || *got.SAVIL != 0 || !slices.Equal(got.Indices, []string{"NDVI", "SAVI"}) || got.ReflectanceScale != 0.0001 {
		t.Errorf("image options: SAVIL %v, indices %v, scale %v", got.SAVIL, got.Indices, got.ReflectanceScale)
	}
	if *pool.SAVIL != 0.5 {
		t.Errorf("the pool's default L changed to %v", *pool.SAVIL)
	}
}

func TestWithFileNames(t *testing.T) {
	dir := "/tmp/canopy-abc-123"
	files := []analyze.File{{Path: dir + "/file0.jpg", Filename: "DJI_0061.JPG"}, {Path: dir + "/file1.tif", Filename: "IMG_0001_4.tif"}}
	cause := fmt.Errorf("analyze: %w: read %s, band 1: IReadBlock failed; and %s; writing %s", analyze.ErrCorrupt, dir+"/file0.jpg", dir+"/file1.tif", dir+"/out/ndvi.tif")
	err := withFileNames(cause, dir, files)
	want := "analyze: " + analyze.ErrCorrupt.Error() + ": read DJI_0061.JPG, band 1: IReadBlock failed; and IMG_0001_4.tif; writing out/ndvi.tif"
	if err.Error() != want {
		t.Errorf("message %q\nwant    %q", err.Error(), want)
	}
	if !errors.Is(err, analyze.ErrCorrupt) {
		t.Error("the cause is lost: errors.Is(err, ErrCorrupt) is false")
	}
}

func TestToProtoAlignmentAndCalibration(t *testing.T) {
	r := &analyze.Result{
		Width: 1247, Height: 936, CalibrationMode: analyze.CalibrationPanel,
		Alignment: []analyze.BandAlignment{
			{Role: "Red", File: "IMG_3.tif", Reference: true, Scale: 1},
			{Role: "NIR", File: "IMG_4.tif", DX: 14.4, DY: 5.3, InitialDX: 11.5, InitialDY: 0.9, Scale: 1.0056, RotationDeg: 0.37, Residual: 0.23, ResidualMax: 0.76, PeakConfidence: 0.27},
		},
		AlignedArea: image.Rect(11, 12, 1258, 948),
		Calibration: []analyze.BandCalibration{{Role: "NIR", File: "IMG_4.tif", Factor: 5.73, Irradiance: 0.41}},
	}
	a := toProto("img1", r, nil)
	if a.GetCalibrationMode() != "panel" {
		t.Errorf("calibration %s", a.GetCalibrationMode())
	}
	al := a.GetBandAlignment()
	if len(al) != 2 || !al[0].GetReference() || al[1].GetBand() != "NIR" || al[1].GetOffsetX() != 14.4 || al[1].GetInitialOffsetY() != 0.9 ||
		al[1].GetScale() != 1.0056 || al[1].GetRotationDeg() != 0.37 || al[1].GetResidualPx() != 0.23 || al[1].GetResidualMaxPx() != 0.76 || al[1].GetPeak() != 0.27 {
		t.Errorf("alignment %v", al)
	}
	if ar := a.GetAlignedArea(); ar.GetX() != 11 || ar.GetY() != 12 || ar.GetWidth() != 1247 || ar.GetHeight() != 936 {
		t.Errorf("aligned area %v", ar)
	}
	if c := a.GetBandCalibration(); len(c) != 1 || c[0].GetReflectanceFactor() != 5.73 || c[0].GetDlsIrradiance() != 0.41 || c[0].GetFilename() != "IMG_4.tif" {
		t.Errorf("calibration %v", c)
	}
	// Not aligned: no area at all rather than an empty one.
	if a := toProto("img2", &analyze.Result{}, nil); a.AlignedArea != nil || len(a.GetBandAlignment()) != 0 {
		t.Errorf("unaligned result has alignment %v %v", a.AlignedArea, a.GetBandAlignment())
	}
}
