// Package radiometry turns a multispectral rig's raw sensor numbers into
// radiance and reflectance with the sensor maker's published models. It is
// pure arithmetic on float32 rasters (row-major, width x height); reading the
// coefficients from a file's metadata is package raster's job.
//
// MicaSense RedEdge (micasense/imageprocessing, "MicaSense Image Processing
// Tutorial 1" and micasense/utils.py, MIT):
//
//	V(x, y) = 1 / (1 + k0 r + k1 r² + ... + k5 r⁶), r = distance to the vignetting centre
//	R(y)    = 1 / (1 + a2 y / t - a3 y)           row-gradient (readout) correction
//	L       = V R (DN - black) / (g t) * a1 / 2^bits
//
// with t the exposure in seconds, g = ISO/100, (a1, a2, a3) the
// RadiometricCalibration coefficients and black the EXIF black level;
// negative values are floored at 0. L is spectral radiance in W/m²/sr/nm.
//
// Reflectance is π L / E for a downwelling irradiance E (W/m²/nm): E comes
// from a calibration panel of known reflectance ρ (E = π L̄ / ρ, L̄ the mean
// radiance over the panel) or from the downwelling light sensor.
//
// Parrot Sequoia (sequoia.go): Parrot's sensor model gives radiance, and the
// sunshine sensor irradiance, both in arbitrary units, so L / E is only
// proportional to reflectance.
package radiometry

import (
	"errors"
	"fmt"
	"math"
)

// ErrMetadata is wrapped when a file lacks a coefficient the model needs.
var ErrMetadata = errors.New("radiometric metadata missing or invalid")

// Model is a band image's radiometric model: it converts that image's raw
// DN to radiance and knows the downwelling irradiance recorded with it (0
// when none).
type Model interface {
	Radiance(v []float32, width, height int) error
	SensorIrradiance() float64
}

// MicaSense is the radiometric model of one MicaSense band image, from that
// image's own metadata.
type MicaSense struct {
	// BlackLevel is the sensor's dark offset in DN (EXIF BlackLevel, mean
	// of its values). The published test values are reproduced with it,
	// not with the mean of the dark-pixel rows (DarkPixels), which is kept
	// for reference.
	BlackLevel, DarkPixels float64
	Exposure               float64 // seconds
	Gain                   float64 // ISO / 100
	// RadiometricCal is XMP MicaSense:RadiometricCalibration (a1, a2, a3).
	RadiometricCal [3]float64
	// VignetteCenter is XMP Camera:VignettingCenter in pixels (column,
	// row); VignettePoly is Camera:VignettingPolynomial, k0 first.
	VignetteCenter [2]float64
	VignettePoly   []float64
	BitsPerPixel   int
	// Saturation is the lowest DN that means clipped (0: none); such
	// pixels become NaN, since their radiance is unknown.
	Saturation float32
	// Irradiance is the downwelling light sensor's spectral irradiance for
	// this band (XMP Camera:Irradiance, W/m²/nm), 0 when absent.
	Irradiance float64
}

// Validate says which coefficient is missing or impossible.
func (m MicaSense) Validate() error {
	switch {
	case !(m.Exposure > 0):
		return fmt.Errorf("%w: exposure time %g s", ErrMetadata, m.Exposure)
	case !(m.Gain > 0):
		return fmt.Errorf("%w: gain %g", ErrMetadata, m.Gain)
	case !(m.RadiometricCal[0] > 0):
		return fmt.Errorf("%w: radiometric calibration %v", ErrMetadata, m.RadiometricCal)
	case len(m.VignettePoly) == 0:
		return fmt.Errorf("%w: no vignetting polynomial", ErrMetadata)
	case m.BitsPerPixel <= 0 || m.BitsPerPixel > 32:
		return fmt.Errorf("%w: %d bits per pixel", ErrMetadata, m.BitsPerPixel)
	}
	return nil
}

// checkInput is what every Radiance checks first: the model's metadata,
// and that v holds the width x height pixels it claims.
func checkInput(m interface{ Validate() error }, v []float32, width, height int) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if len(v) != width*height {
		return fmt.Errorf("radiance: %d values for %d x %d pixels", len(v), width, height)
	}
	return nil
}

// SensorIrradiance is the DLS reading recorded with the image (W/m²/nm).
func (m MicaSense) SensorIrradiance() float64 { return m.Irradiance }

// Radiance converts raw DN to radiance in place. NaN input stays NaN, and
// saturated pixels become NaN. Arithmetic is float64 per pixel.
func (m MicaSense) Radiance(v []float32, width, height int) error {
	if err := checkInput(m, v, width, height); err != nil {
		return err
	}
	a1, a2, a3 := m.RadiometricCal[0], m.RadiometricCal[1], m.RadiometricCal[2]
	scale := a1 / (m.Gain * m.Exposure * math.Exp2(float64(m.BitsPerPixel)))
	cx, cy := m.VignetteCenter[0], m.VignetteCenter[1]
	nan := float32(math.NaN())
	for y := range height {
		fy := float64(y)
		rowGain := 1 / (1 + a2*fy/m.Exposure - a3*fy)
		dy := fy - cy
		row := v[y*width : (y+1)*width]
		for x, dn := range row {
			if dn != dn {
				continue
			}
			if m.Saturation > 0 && dn >= m.Saturation {
				row[x] = nan
				continue
			}
			dx := float64(x) - cx
			r := math.Sqrt(dx*dx + dy*dy)
			// 1 + k0 r + k1 r² + ... by Horner's rule.
			p := 0.0
			for i := len(m.VignettePoly) - 1; i >= 0; i-- {
				p = (p + m.VignettePoly[i]) * r
			}
			l := (float64(dn) - m.BlackLevel) * rowGain / (1 + p)
			if l < 0 {
				l = 0
			}
			row[x] = float32(l * scale)
		}
	}
	return nil
}

// Scale multiplies every value in place (a radiance-to-reflectance factor).
func Scale(v []float32, k float64) {
	for i, x := range v {
		v[i] = float32(float64(x) * k)
	}
}

// DLSFactor is the radiance-to-reflectance factor π / E for a downwelling
// irradiance E in W/m²/nm.
func DLSFactor(irradiance float64) (float64, error) {
	if !(irradiance > 0) || math.IsInf(irradiance, 0) {
		return 0, fmt.Errorf("%w: downwelling irradiance %g", ErrMetadata, irradiance)
	}
	return math.Pi / irradiance, nil
}
