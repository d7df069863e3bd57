package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/canopyag/canopy/analysis-svc/internal/analyze"
	"github.com/canopyag/canopy/analysis-svc/internal/index"
	"github.com/canopyag/canopy/analysis-svc/internal/radiometry"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// errPanel: the calibration panel an image names cannot be used (gone,
// failed, not a panel). Retries cannot help.
var errPanel = errors.New("calibration panel unusable")

// usedPanel is the panel an analysis was calibrated with, for its report.
type usedPanel struct {
	imageID string
	bands   []analyze.PanelBand
}

// panelCache keeps measured panels by image id: a panel capture and its
// declaration never change once uploaded, and one panel calibrates every
// capture of its flight. Measuring costs a decode of every band, the
// cached result a few hundred bytes.
type panelCache struct {
	mu sync.Mutex
	m  map[string]analyze.Panel
}

// maxCachedPanels bounds the cache; beyond it an arbitrary entry goes.
const maxCachedPanels = 64

func (c *panelCache) get(id string) (analyze.Panel, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.m[id]
	return p, ok
}

func (c *panelCache) put(id string, p analyze.Panel) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]analyze.Panel{}
	}
	if len(c.m) >= maxCachedPanels {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	p.Files = nil // the work dir they were in is gone
	c.m[id] = p
}

// panelFor says which panel calibrates the item's image: its own
// declaration for a panel capture (whose files are files), the claim's
// calibration_panel for a capture that names one (its files are fetched
// into dir), none otherwise. A measured panel is cached.
func (p *Pool) panelFor(ctx context.Context, item *canopyv1.WorkItem, files []analyze.File, dir string) (*analyze.Panel, *usedPanel, error) {
	img := item.GetImage()
	o := img.GetAnalysisOptions()
	var (
		panelImg *canopyv1.Image
		id       string
	)
	switch {
	case o.GetPanel() != nil:
		panelImg, id = img, img.GetId()
	case o.GetCalibrateWith() != "":
		id = o.GetCalibrateWith()
		panelImg = item.GetCalibrationPanel()
		switch {
		case panelImg == nil || panelImg.GetId() != id:
			return nil, nil, fmt.Errorf("%w: the calibration panel image %s is no longer in this project", errPanel, id)
		case panelImg.GetStatus() == canopyv1.ImageStatus_IMAGE_STATUS_FAILED:
			return nil, nil, fmt.Errorf("%w: the calibration panel image %s failed (%s); retry it, then retry this image", errPanel, id, panelImg.GetLastError())
		case panelImg.GetAnalysisOptions().GetPanel() == nil:
			return nil, nil, fmt.Errorf("%w: image %s is not a calibration-panel capture (it was uploaded without analysis.panel)", errPanel, id)
		}
	default:
		return nil, nil, nil
	}
	if m, ok := p.panels.get(id); ok {
		return &m, &usedPanel{imageID: id, bands: m.Measured}, nil
	}
	decl, err := panelDeclaration(panelImg.GetAnalysisOptions().GetPanel())
	if err != nil {
		return nil, nil, fmt.Errorf("calibration panel image %s: %w", id, err)
	}
	if panelImg == img {
		decl.Files = files
	} else {
		pdir := filepath.Join(dir, "panel")
		if err := os.Mkdir(pdir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("make panel dir: %w", err)
		}
		if decl.Files, err = p.fetch(ctx, panelImg, pdir); err != nil {
			return nil, nil, fmt.Errorf("calibration panel image %s: %w", id, err)
		}
		defer func() {
			for _, f := range decl.Files {
				_ = os.Remove(f.Path)
			}
		}()
	}
	m, err := decl.Measure(ctx, p.cfg.Options.MaxPixels)
	if err != nil {
		return nil, nil, withFileNames(fmt.Errorf("calibration panel image %s: %w", id, err), dir, decl.Files)
	}
	p.panels.put(id, m)
	return &m, &usedPanel{imageID: id, bands: m.Measured}, nil
}

// panelDeclaration turns the upload's panel declaration (checked by
// ingest-svc) into the analysis library's.
func panelDeclaration(d *canopyv1.CalibrationPanel) (analyze.Panel, error) {
	p := analyze.Panel{Reflectance: map[index.Role]float64{}, Corners: map[index.Role]radiometry.Region{}}
	for _, b := range d.GetBands() {
		r, ok := index.ParseRole(b.GetBand())
		if !ok {
			return analyze.Panel{}, fmt.Errorf("%w: panel band %q is not a band role", analyze.ErrUnsupported, b.GetBand())
		}
		p.Reflectance[r] = b.GetReflectance()
		region := make(radiometry.Region, len(b.GetCorners()))
		for i, c := range b.GetCorners() {
			region[i] = radiometry.Point{X: c.GetX(), Y: c.GetY()}
		}
		p.Corners[r] = region
	}
	return p, nil
}

// withPanel adds the panel measurement to an analysis calibrated with it.
func withPanel(a *canopyv1.Analysis, u *usedPanel) {
	if u == nil || a.GetCalibrationMode() != analyze.CalibrationPanel {
		return
	}
	a.PanelImageId = u.imageID
	byRole := map[string]analyze.PanelBand{}
	for _, b := range u.bands {
		byRole[b.Role] = b
	}
	for _, bc := range a.GetBandCalibration() {
		if b, ok := byRole[bc.GetBand()]; ok {
			bc.Panel = &canopyv1.PanelMeasurement{
				Reflectance: b.Reflectance, Radiance: b.Radiance, RadianceStd: b.RadianceStd,
				Pixels: int64(b.Pixels), Irradiance: b.Irradiance,
			}
		}
	}
}
