package upload

import (
	"encoding/json"
	"math"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

func square(x, y, side float64) []*canopyv1.PixelPoint {
	return []*canopyv1.PixelPoint{{X: x, Y: y}, {X: x + side, Y: y}, {X: x + side, Y: y + side}, {X: x, Y: y + side}}
}

func TestCheckCalibration(t *testing.T) {
	panel := func(bands ...*canopyv1.PanelBand) *canopyv1.AnalysisOptions {
		return &canopyv1.AnalysisOptions{Panel: &canopyv1.CalibrationPanel{Bands: bands}}
	}
	nir := func(edit func(b *canopyv1.PanelBand)) *canopyv1.PanelBand {
		b := &canopyv1.PanelBand{Band: "NIR", Reflectance: 0.61, Corners: square(668, 496, 160)}
		edit(b)
		return b
	}
	ok := func(*canopyv1.PanelBand) {}
	const id = "01a23f46-f177-746e-a5fd-5049efabe7e9"
	for _, c := range []struct {
		name  string
		opts  *canopyv1.AnalysisOptions
		field string // "" means accepted
	}{
		{"no options", nil, ""},
		{"a panel", panel(nir(ok), &canopyv1.PanelBand{Band: "red edge", Reflectance: 1, Corners: square(0, 0, 10)}), ""},
		{"calibrate with", &canopyv1.AnalysisOptions{CalibrateWith: id}, ""},
		{"calibrate with, upper case", &canopyv1.AnalysisOptions{CalibrateWith: "01A23F46-F177-746E-A5FD-5049EFABE7E9"}, ""},
		{"calibrate with a name", &canopyv1.AnalysisOptions{CalibrateWith: "IMG_0000"}, "metadata.analysis.calibrate_with"},
		{"both", &canopyv1.AnalysisOptions{CalibrateWith: id, Panel: panel(nir(ok)).Panel}, "metadata.analysis.calibrate_with"},
		{"no bands", panel(), "metadata.analysis.panel.bands"},
		{"six bands", panel(nir(ok), nir(ok), nir(ok), nir(ok), nir(ok), nir(ok)), "metadata.analysis.panel.bands"},
		{"reflectance 0", panel(nir(func(b *canopyv1.PanelBand) { b.Reflectance = 0 })), "metadata.analysis.panel.bands[0].reflectance"},
		{"reflectance negative", panel(nir(func(b *canopyv1.PanelBand) { b.Reflectance = -0.5 })), "metadata.analysis.panel.bands[0].reflectance"},
		{"reflectance in percent", panel(nir(func(b *canopyv1.PanelBand) { b.Reflectance = 61 })), "metadata.analysis.panel.bands[0].reflectance"},
		{"reflectance NaN", panel(nir(func(b *canopyv1.PanelBand) { b.Reflectance = math.NaN() })), "metadata.analysis.panel.bands[0].reflectance"},
		{"3 corners", panel(nir(func(b *canopyv1.PanelBand) { b.Corners = b.Corners[:3] })), "metadata.analysis.panel.bands[0].corners"},
		{"5 corners", panel(nir(func(b *canopyv1.PanelBand) { b.Corners = append(b.Corners, b.Corners[0]) })), "metadata.analysis.panel.bands[0].corners"},
		{"no corners", panel(nir(func(b *canopyv1.PanelBand) { b.Corners = nil })), "metadata.analysis.panel.bands[0].corners"},
		{"infinite corner", panel(nir(func(b *canopyv1.PanelBand) { b.Corners[2].X = math.Inf(1) })), "metadata.analysis.panel.bands[0].corners[2]"},
		{"corners on one point", panel(nir(func(b *canopyv1.PanelBand) { b.Corners = square(5, 5, 0) })), "metadata.analysis.panel.bands[0].corners"},
		{"negative corner", panel(nir(func(b *canopyv1.PanelBand) { b.Corners[1].Y = -5 })), "metadata.analysis.panel.bands[0].corners[1]"},
		{"unknown band", panel(nir(ok), nir(func(b *canopyv1.PanelBand) { b.Band = "SWIR" })), "metadata.analysis.panel.bands[1].band"},
		{"empty band", panel(nir(func(b *canopyv1.PanelBand) { b.Band = "" })), "metadata.analysis.panel.bands[0].band"},
		{"alpha is no panel band", panel(nir(func(b *canopyv1.PanelBand) { b.Band = "alpha" })), "metadata.analysis.panel.bands[0].band"},
		{"band twice", panel(nir(ok), nir(func(b *canopyv1.PanelBand) { b.Band = "n_i_r" })), "metadata.analysis.panel.bands[1].band"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantField(t, checkAnalysisOptions(c.opts), c.field)
		})
	}
}

// The stored options spell band names and the panel's id canonically.
func TestAnalysisOptionsJSONCanonicalPanel(t *testing.T) {
	b := analysisOptionsJSON(&canopyv1.AnalysisOptions{Panel: &canopyv1.CalibrationPanel{Bands: []*canopyv1.PanelBand{
		{Band: "red edge", Reflectance: 0.67, Corners: square(1, 2, 3)}, {Band: "nir", Reflectance: 0.61, Corners: square(1, 2, 3)},
	}}})
	var got struct {
		Panel struct {
			Bands []struct{ Band string }
		}
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Panel.Bands) != 2 || got.Panel.Bands[0].Band != "RedEdge" || got.Panel.Bands[1].Band != "NIR" {
		t.Errorf("stored %s, want bands RedEdge and NIR", b)
	}
	b = analysisOptionsJSON(&canopyv1.AnalysisOptions{CalibrateWith: " 01A23F46-F177-746E-A5FD-5049EFABE7E9"})
	var ref map[string]string
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	if want := "01a23f46-f177-746e-a5fd-5049efabe7e9"; len(ref) != 1 || ref["calibrateWith"] != want {
		t.Errorf("stored %s, want calibrateWith %s", b, want)
	}
}

// A band role must be one the API defines: an undefined number would be
// stored and analysed as if no role were given.
func TestValidateBandRole(t *testing.T) {
	s := &Service{limits: Limits{MaxFiles: 16}}
	for _, c := range []struct {
		role  canopyv1.BandRole
		field string
	}{
		{canopyv1.BandRole_BAND_ROLE_NIR, ""},
		{canopyv1.BandRole_BAND_ROLE_UNSPECIFIED, ""},
		{canopyv1.BandRole(42), "metadata.files[1].band_role"},
	} {
		md := &canopyv1.UploadMetadata{Files: []*canopyv1.FileSpec{{Filename: "a_1.tif", BandRole: canopyv1.BandRole_BAND_ROLE_RED}, {Filename: "a_4.tif", BandRole: c.role}}}
		err := s.validate(md)
		st, field := violation(err)
		if c.field == "" && err != nil {
			t.Errorf("role %v refused: %v", c.role, err)
		}
		if c.field != "" && (st.Code() != codes.InvalidArgument || field != c.field) {
			t.Errorf("role %d: %v %q naming %q; want InvalidArgument naming %s", c.role, st.Code(), st.Message(), field, c.field)
		}
	}
}

// violation is err's status and the one field its BadRequest detail names.
// wantField fails t unless err is nil (field "") or InvalidArgument naming
// field.
func wantField(t *testing.T, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	st, got := violation(err)
	if st.Code() != codes.InvalidArgument || got != field {
		t.Errorf("%v %q naming %q; want InvalidArgument naming %s", st.Code(), st.Message(), got, field)
	}
}

func violation(err error) (*status.Status, string) {
	st := status.Convert(err)
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) == 1 {
			return st, br.GetFieldViolations()[0].GetField()
		}
	}
	return st, ""
}
