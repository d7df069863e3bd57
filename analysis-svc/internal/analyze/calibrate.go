package analyze

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/canopyag/canopy/analysis-svc/internal/align"
	"github.com/canopyag/canopy/analysis-svc/internal/index"
	"github.com/canopyag/canopy/analysis-svc/internal/radiometry"
	"github.com/canopyag/canopy/analysis-svc/internal/raster"
)

// Calibration modes, as reported in Result.CalibrationMode and accepted by
// Options.Calibration ("" is automatic: panel when Options.Panel is set,
// else the downwelling light sensor (MicaSense, dls) or the sunshine sensor
// (Sequoia, sunshine) when every band file has a reading, else
// uncalibrated_dn).
const (
	CalibrationPanel          = raster.CalibrationPanel
	CalibrationDLS            = raster.CalibrationDLS
	CalibrationSunshine       = raster.CalibrationSunshine
	CalibrationUncalibratedDN = raster.CalibrationUncalibratedDN
	CalibrationReflectance    = raster.CalibrationReflectance
	CalibrationRadiance       = raster.CalibrationRadiance
)

// Panel is a capture of a calibration panel taken on the same flight (on
// the ground, before or after), with what the panel's calibration sheet
// says and where the panel is in each band's image.
type Panel struct {
	Files []File
	// Reflectance is the panel's reflectance per band role.
	Reflectance map[index.Role]float64
	// Corners is the panel's outline per band role, in that band's own
	// pixels (the bands of a panel capture are not aligned first, so each
	// band has its own corners).
	Corners map[index.Role]radiometry.Region
	// Measured, when set, is the panel already measured (see Measure):
	// Analyze then applies it without reading Files again, so a caller
	// calibrating many captures with one panel measures it once.
	Measured []PanelBand
	// FlightID is the panel capture's flight id, and Camera its make and
	// model, both set with Measured.
	FlightID, Camera string
}

// panelSource is where a panel measurement comes from.
type panelSource struct {
	Flight, Camera string
}

func cameraName(m raster.Metadata) string { return strings.TrimSpace(m.Make + " " + m.Model) }

// Measure measures the panel (as MeasurePanel does) and returns it with
// Measured and FlightID set.
func (p Panel) Measure(ctx context.Context, maxPixels int64) (Panel, error) {
	bands, src, err := measurePanel(ctx, p, maxPixels)
	if err != nil {
		return Panel{}, err
	}
	p.Measured, p.FlightID, p.Camera = bands, src.Flight, src.Camera
	return p, nil
}

// PanelBand is one band's measurement of a panel.
type PanelBand struct {
	Role string
	File string
	radiometry.PanelBand
}

// MeasurePanel converts the panel capture to radiance with the maker's
// model and measures the panel in every band: its mean radiance, the
// radiance-to-reflectance factor and the irradiance it implies.
func MeasurePanel(ctx context.Context, p Panel, maxPixels int64) ([]PanelBand, error) {
	bands, _, err := measurePanel(ctx, p, maxPixels)
	return bands, err
}

// measurePanel is MeasurePanel that also returns the panel capture's flight
// id.
func measurePanel(ctx context.Context, p Panel, maxPixels int64) ([]PanelBand, panelSource, error) {
	if maxPixels == 0 {
		maxPixels = DefaultMaxPixels
	}
	inputs := make([]raster.Input, len(p.Files))
	for i, f := range p.Files {
		inputs[i] = raster.Input{Path: f.Path, Name: f.Filename, Role: f.Role}
	}
	capt, err := raster.OpenCapture(inputs, raster.Options{MaxPixels: maxPixels, Calibration: raster.CalibrationRadiance})
	if err != nil {
		return nil, panelSource{}, fmt.Errorf("panel capture: %w", err)
	}
	defer capt.Close()
	if err := capt.Read(ctx); err != nil {
		return nil, panelSource{}, fmt.Errorf("panel capture: %w", err)
	}
	var out []PanelBand
	for _, b := range capt.Bands {
		if b.Data == nil {
			continue
		}
		refl, ok := p.Reflectance[b.Role]
		if !ok {
			return nil, panelSource{}, fmt.Errorf("panel capture: %w: no panel reflectance for the %s band (%s)", ErrUnsupported, b.Role, b.File)
		}
		corners, ok := p.Corners[b.Role]
		if !ok {
			return nil, panelSource{}, fmt.Errorf("panel capture: %w: no panel corners for the %s band (%s)", ErrUnsupported, b.Role, b.File)
		}
		pb, err := radiometry.Panel(b.Data, capt.Width, capt.Height, corners, refl)
		if err != nil {
			return nil, panelSource{}, fmt.Errorf("panel capture: %s band (%s): %w: %v", b.Role, b.File, ErrUnsupported, err)
		}
		out = append(out, PanelBand{Role: b.Role.String(), File: b.File, PanelBand: pb})
	}
	return out, panelSource{Flight: capt.Metadata.FlightID, Camera: cameraName(capt.Metadata)}, nil
}

// panelFactors measures the panel (unless it was measured already) and
// returns the factor per role and the panel capture's flight id.
func panelFactors(ctx context.Context, p *Panel, maxPixels int64) (map[index.Role]float64, panelSource, error) {
	bands, src := p.Measured, panelSource{Flight: p.FlightID, Camera: p.Camera}
	if bands == nil {
		var err error
		if bands, src, err = measurePanel(ctx, *p, maxPixels); err != nil {
			return nil, panelSource{}, err
		}
	}
	out := map[index.Role]float64{}
	for _, b := range bands {
		r, _ := index.ParseRole(b.Role)
		out[r] = b.Factor
	}
	return out, src, nil
}

// BandCalibration is the reflectance factor applied to one band.
type BandCalibration struct {
	Role, File string
	// Factor turns radiance into reflectance (0: not applied; in sunshine
	// mode into a value proportional to it); Irradiance is the downwelling
	// light sensor's reading in the file (W/m²/nm), or a Sequoia sunshine
	// sensor's (counts per ms at gain index 1, arbitrary units), 0 if
	// absent.
	Factor, Irradiance float64
}

// BandAlignment is how one band was registered to the reference band.
type BandAlignment struct {
	Role, File string
	Reference  bool
	// DX and DY are the offset in pixels from a reference pixel to the
	// same ground point in this band, at the image centre (metadata
	// geometry plus refinement); InitialDX, InitialDY what the lens
	// metadata alone predicted; Scale and RotationDeg the rest of the
	// fitted affine mapping.
	DX, DY, InitialDX, InitialDY, Scale, RotationDeg float64
	// Residual is the misalignment phase correlation still measures over
	// the central window after alignment, in pixels (ResidualDX,
	// ResidualDY its components); ResidualMax and ResidualRMS are over the
	// Windows local windows that had structure, where a rotation or scale
	// error would show.
	Residual, ResidualDX, ResidualDY float64
	ResidualMax, ResidualRMS         float64
	Windows                          int
	// PeakConfidence is the phase-correlation peak (near 0: no common
	// structure was found, and the residual means little).
	PeakConfidence float64
}

// minPeak is the phase-correlation peak below which a registration is
// reported as doubtful: a random texture gives peaks near 1/sqrt(pixels).
const minPeak = 0.02

// minWindows and maxResidual bound a trustworthy registration: enough
// local windows to fit an affine mapping, and no window left more than
// maxResidual pixels off (MicaSense's flight capture leaves under 1).
const (
	minWindows  = 4
	maxResidual = 2.0
)

// alignBands registers the data bands of a rig capture to the Red band (or
// the first band without Red), crops them to their common area and returns
// the per-band report and the crop's origin.
func alignBands(bands []raster.CaptureBand, width, height int) ([]BandAlignment, *align.Result, error) {
	var in []align.Band
	var idx []int
	ref := 0
	for i, b := range bands {
		if b.Data == nil {
			continue
		}
		if b.Role == index.Red {
			ref = len(in)
		}
		in = append(in, align.Band{Data: b.Data, PrincipalPoint: b.PrincipalPoint, Focal: b.Focal})
		idx = append(idx, i)
	}
	r, err := align.Align(in, width, height, ref)
	if err != nil {
		return nil, nil, fmt.Errorf("align bands: %w", err)
	}
	out := make([]BandAlignment, len(in))
	for j, t := range r.Transforms {
		b := bands[idx[j]]
		out[j] = BandAlignment{
			Role: b.Role.String(), File: b.File, Reference: j == ref,
			DX: t.DX, DY: t.DY, RotationDeg: t.RotationDeg, ResidualMax: t.ResidualMax, ResidualRMS: t.ResidualRMS, Windows: t.Windows,
			InitialDX: t.InitialDX, InitialDY: t.InitialDY, Scale: t.Scale,
			Residual: t.Residual, ResidualDX: t.ResidualDX, ResidualDY: t.ResidualDY,
			PeakConfidence: t.PeakConfidence,
		}
	}
	return out, r, nil
}

// doubtful says why a registration is not to be trusted, "" if it is: too
// little common structure (a featureless scene, or one close enough for
// parallax to differ across the image), or local shifts left over that an
// affine mapping could not remove.
func (a BandAlignment) doubtful() string {
	switch {
	case a.Reference:
		return ""
	case a.PeakConfidence < minPeak:
		return fmt.Sprintf("%s band (%s): little common structure with the reference band (phase-correlation peak %.3f)", a.Role, a.File, a.PeakConfidence)
	case a.Windows < minWindows:
		return fmt.Sprintf("%s band (%s): only %d local windows with common structure", a.Role, a.File, a.Windows)
	case a.ResidualMax > maxResidual || math.IsNaN(a.Residual):
		return fmt.Sprintf("%s band (%s): still up to %.1f pixels off after alignment", a.Role, a.File, a.ResidualMax)
	}
	return ""
}
