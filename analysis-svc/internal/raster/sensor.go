package raster

import (
	"fmt"
	"slices"
	"strings"

	"github.com/canopyag/canopy/analysis-svc/internal/index"
)

// rig describes a multispectral camera that writes one 16-bit file per band
// of raw sensor numbers.
type rig struct {
	name string
	// saturation is the lowest DN that means "clipped": the 12-bit
	// MicaSense RedEdge data is scaled by 16 (4095*16 = 65520), Sequoia's
	// 10-bit data by 64 (1023*64 = 65472); the 16-bit maximum 65535 is
	// never reached.
	saturation float32
	// bands are the bands every capture of the rig has (MicaSense's
	// larger models add more: thermal, panchromatic).
	bands []index.Role
}

// rigSensor recognises MicaSense and Parrot Sequoia band files, or returns
// nil. Only single-band integer files qualify: the normalisation below is
// meaningless for anything else.
func rigSensor(f *File) *rig {
	if len(f.Bands) != 1 || (f.Bands[0].DataType != "UInt16" && f.Bands[0].DataType != "Int16") {
		return nil
	}
	mk := strings.ToLower(f.tiff.Make + " " + f.EXIF["EXIF_Make"])
	switch {
	case strings.Contains(mk, "micasense") || f.xmp.first("MicaSense:CaptureId") != "":
		return &rig{name: "MicaSense", saturation: 65520, bands: []index.Role{index.Blue, index.Green, index.Red, index.NIR, index.RedEdge}}
	case strings.Contains(mk, "parrot") && strings.Contains(strings.ToLower(f.tiff.Model), "sequoia"),
		f.xmp.first("Camera:RigName") == "Sequoia":
		return &rig{name: "Parrot Sequoia", saturation: 65472, bands: []index.Role{index.Green, index.Red, index.RedEdge, index.NIR}}
	}
	return nil
}

// MissingRigBands lists the bands of its rig that a capture of rig band
// files lacks, and how many the rig has: an upload that left a file out.
// It is empty for anything but rig band files.
func (c *Capture) MissingRigBands() (missing []index.Role, of int) {
	if len(c.files) == 0 {
		return nil, 0
	}
	r := rigSensor(c.files[0])
	if r == nil {
		return nil, 0
	}
	for _, want := range r.bands {
		if !slices.ContainsFunc(c.Bands, func(b CaptureBand) bool { return b.Role == want }) {
			missing = append(missing, want)
		}
	}
	return missing, len(r.bands)
}

// exposureGain reads the exposure time in seconds and the gain as ISO/100
// from EXIF. MicaSense writes ISOSpeed, Sequoia ISOSpeedRatings.
func exposureGain(exif map[string]string) (exposure, gain float64, ok bool) {
	exposure, ok = exifNumber(exif["EXIF_ExposureTime"])
	if !ok || exposure <= 0 {
		return 0, 0, false
	}
	for _, k := range []string{"EXIF_ISOSpeed", "EXIF_ISOSpeedRatings", "EXIF_PhotographicSensitivity"} {
		if iso, ok := exifNumber(exif[k]); ok && iso > 0 {
			return exposure, iso / 100, true
		}
	}
	return 0, 0, false
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// prepare masks saturated pixels and normalises raw DN in place to
// (DN - black level) / (exposure x gain), where black level is the mean of
// the EXIF BlackLevel values and gain is ISO/100. Without this, two bands
// with equal DN but different exposure or gain would give NDVI 0 while the
// scene radiance differs (MicaSense flight capture IMG_0001: exposures
// 0.0010-0.0018 s, ISO 100 and 200). Values below the black level are
// clamped to 0 as MicaSense's own radiance code does. It reports whether
// the normalisation could be applied.
func (s *rig) prepare(f *File, dn []float32) (warnings []string, normalised bool) {
	nan := float32NaN()
	var sat int64
	for i, v := range dn {
		if v >= s.saturation {
			dn[i] = nan
			sat++
		}
	}
	if sat > 0 {
		warnings = append(warnings, fmt.Sprintf("%s: %d saturated pixels (DN >= %g) treated as no data", f.Name, sat, s.saturation))
	}
	exposure, gain, ok := exposureGain(f.EXIF)
	if !ok || len(f.tiff.BlackLevel) == 0 {
		return append(warnings, fmt.Sprintf("%s: %s file without black level, exposure time or ISO; raw DN used, so bands with different exposure are not comparable", f.Name, s.name)), false
	}
	black := float32(mean(f.tiff.BlackLevel))
	k := float32(1 / (exposure * gain))
	for i, v := range dn {
		d := v - black
		if d < 0 {
			d = 0
		}
		dn[i] = d * k
	}
	return warnings, true
}
