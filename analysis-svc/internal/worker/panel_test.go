package worker

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/canopyag/canopy/analysis-svc/internal/analyze"
	"github.com/canopyag/canopy/analysis-svc/internal/index"
	"github.com/canopyag/canopy/analysis-svc/internal/radiometry"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/catalog"
)

// ingest-svc accepts the panel band names of catalog.PanelBandNames; each
// must be a role here, spelled as the Analysis spells it.
func TestPanelBandNamesAreRoles(t *testing.T) {
	for _, n := range catalog.PanelBandNames {
		r, ok := index.ParseRole(n)
		if !ok || r.String() != n {
			t.Errorf("panel band %q parses to %v (%v)", n, r, ok)
		}
	}
}

func TestPanelDeclaration(t *testing.T) {
	p, err := panelDeclaration(&canopyv1.CalibrationPanel{Bands: []*canopyv1.PanelBand{
		{Band: "RedEdge", Reflectance: 0.67, Corners: []*canopyv1.PixelPoint{{X: 1, Y: 2}, {X: 3, Y: 2}, {X: 3, Y: 4}, {X: 1, Y: 4}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := radiometry.Region{{X: 1, Y: 2}, {X: 3, Y: 2}, {X: 3, Y: 4}, {X: 1, Y: 4}}
	if p.Reflectance[index.RedEdge] != 0.67 || len(p.Corners[index.RedEdge]) != 4 || p.Corners[index.RedEdge][2] != want[2] {
		t.Errorf("declaration %+v", p)
	}
	if _, err := panelDeclaration(&canopyv1.CalibrationPanel{Bands: []*canopyv1.PanelBand{{Band: "SWIR"}}}); !errors.Is(err, analyze.ErrUnsupported) {
		t.Errorf("unknown band: %v", err)
	}
}

// A capture naming a panel that cannot be used fails permanently, saying
// why, before anything is measured.
func TestPanelForUnusable(t *testing.T) {
	const id = "01a23f46-f177-746e-a5fd-5049efabe7e9"
	flight := &canopyv1.Image{Id: "01a23f46-fa07-7d33-b5b9-835c231638fa", AnalysisOptions: &canopyv1.AnalysisOptions{CalibrateWith: id}}
	decl := &canopyv1.AnalysisOptions{Panel: &canopyv1.CalibrationPanel{Bands: []*canopyv1.PanelBand{{Band: "NIR", Reflectance: 0.61}}}}
	for _, c := range []struct {
		name  string
		panel *canopyv1.Image
		want  string
	}{
		{"gone", nil, "is no longer in this project"},
		{"failed", &canopyv1.Image{Id: id, Status: canopyv1.ImageStatus_IMAGE_STATUS_FAILED, LastError: "corrupt", AnalysisOptions: decl}, "failed (corrupt)"},
		{"not a panel", &canopyv1.Image{Id: id, Status: canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED}, "is not a calibration-panel capture"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := &Pool{}
			_, _, err := p.panelFor(context.Background(), &canopyv1.WorkItem{Image: flight, CalibrationPanel: c.panel}, nil, t.TempDir())
			if err == nil || !isInputError(err) || !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v (permanent %v); want a permanent one naming %s and saying %q", err, err != nil && isInputError(err), id, c.want)
			}
		})
	}
	// No panel asked for: none, no error.
	if m, u, err := (&Pool{}).panelFor(context.Background(), &canopyv1.WorkItem{Image: &canopyv1.Image{Id: "x"}}, nil, t.TempDir()); m != nil || u != nil || err != nil {
		t.Errorf("no panel: %v %v %v", m, u, err)
	}
}

func TestWithPanel(t *testing.T) {
	a := &canopyv1.Analysis{CalibrationMode: "panel", BandCalibration: []*canopyv1.BandCalibration{{Band: "NIR", ReflectanceFactor: 5.73}, {Band: "Red"}}}
	withPanel(a, &usedPanel{imageID: "P", bands: []analyze.PanelBand{
		{Role: "NIR", PanelBand: radiometry.PanelBand{Reflectance: 0.61, Radiance: 0.10644, Pixels: 26407, Irradiance: 0.548}},
	}})
	if a.GetPanelImageId() != "P" || a.GetBandCalibration()[0].GetPanel().GetRadiance() != 0.10644 || a.GetBandCalibration()[0].GetPanel().GetPixels() != 26407 || a.GetBandCalibration()[1].GetPanel() != nil {
		t.Errorf("analysis %v", a)
	}
	// Another mode (the panel did not apply): nothing added.
	b := &canopyv1.Analysis{CalibrationMode: "dls"}
	withPanel(b, &usedPanel{imageID: "P"})
	if b.GetPanelImageId() != "" {
		t.Errorf("dls analysis names panel %q", b.GetPanelImageId())
	}
}
