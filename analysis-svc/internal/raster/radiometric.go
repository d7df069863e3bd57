package raster

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/canopyag/canopy/analysis-svc/internal/radiometry"
)

// xmpFloats parses every value of a property: an rdf:Seq gives one number
// per item; a single comma-separated value ("2.43293,1.82685", as MicaSense
// writes PrincipalPoint and Sequoia SensorModel) gives one per field.
func xmpFloats(p xmpProps, key string) ([]float64, bool) {
	vals := p[key]
	if len(vals) == 1 {
		vals = strings.Split(vals[0], ",")
	}
	if len(vals) == 0 {
		return nil, false
	}
	out := make([]float64, len(vals))
	for i, s := range vals {
		v, err := strconv.ParseFloat(strings.TrimPrefix(strings.TrimSpace(s), "+"), 64)
		if err != nil {
			return nil, false
		}
		out[i] = v
	}
	return out, true
}

// micaSenseModel reads the radiometric model of a MicaSense band file from
// its EXIF (exposure, ISO), IFD0 (BlackLevel) and XMP (calibration,
// vignetting, dark rows, DLS irradiance). The error names what is missing.
func micaSenseModel(f *File, saturation float32) (radiometry.MicaSense, error) {
	m := radiometry.MicaSense{Saturation: saturation}
	var missing []string
	exposure, gain, ok := exposureGain(f.EXIF)
	if ok {
		m.Exposure, m.Gain = exposure, gain
	} else {
		missing = append(missing, "EXIF ExposureTime/ISOSpeed")
	}
	if dark, ok := xmpFloats(f.xmp, "MicaSense:DarkRowValue"); ok {
		m.DarkPixels = mean(dark)
	}
	switch {
	case len(f.tiff.BlackLevel) > 0:
		m.BlackLevel = mean(f.tiff.BlackLevel)
	case m.DarkPixels > 0:
		// Older firmware writes no BlackLevel; the masked dark rows
		// measure the same offset.
		m.BlackLevel = m.DarkPixels
	default:
		missing = append(missing, "BlackLevel or MicaSense:DarkRowValue")
	}
	if c, ok := xmpFloats(f.xmp, "MicaSense:RadiometricCalibration"); ok && len(c) == 3 {
		copy(m.RadiometricCal[:], c)
	} else {
		missing = append(missing, "MicaSense:RadiometricCalibration")
	}
	if c, ok := xmpFloats(f.xmp, "Camera:VignettingCenter"); ok && len(c) == 2 {
		m.VignetteCenter = [2]float64{c[0], c[1]}
	} else {
		missing = append(missing, "Camera:VignettingCenter")
	}
	if p, ok := xmpFloats(f.xmp, "Camera:VignettingPolynomial"); ok {
		m.VignettePoly = p
	} else {
		missing = append(missing, "Camera:VignettingPolynomial")
	}
	switch f.Bands[0].DataType {
	case "UInt16", "Int16":
		m.BitsPerPixel = 16
	}
	if irr, ok := xmpFloats(f.xmp, "Camera:Irradiance"); ok && len(irr) == 1 {
		m.Irradiance = irr[0]
	}
	if len(missing) > 0 {
		return m, fmt.Errorf("%s: %w: no %s", f.Name, radiometry.ErrMetadata, strings.Join(missing, ", "))
	}
	if err := m.Validate(); err != nil {
		return m, fmt.Errorf("%s: %w", f.Name, err)
	}
	return m, nil
}

// lensGeometry is a band camera's principal point (pixels, column and
// row) and focal length (pixels), zero where the metadata does not say.
// MicaSense and Sequoia write XMP Camera:PrincipalPoint in millimetres on
// the focal plane, converted with EXIF FocalPlaneXResolution; MicaSense's
// Camera:PerspectiveFocalLength is in pixels unless
// Camera:PerspectiveFocalLengthUnits says mm.
func lensGeometry(f *File) (pp [2]float64, focal float64) {
	pitch := pixelPitch(f.EXIF["EXIF_FocalPlaneXResolution"], f.EXIF["EXIF_FocalPlaneResolutionUnit"])
	if pitch == nil {
		return pp, 0
	}
	if p, ok := xmpFloats(f.xmp, "Camera:PrincipalPoint"); ok && len(p) == 2 {
		pp = [2]float64{p[0] / *pitch, p[1] / *pitch}
	}
	if v, ok := xmpFloats(f.xmp, "Camera:PerspectiveFocalLength"); ok && len(v) == 1 && v[0] > 0 {
		focal = v[0]
		if strings.EqualFold(f.xmp.first("Camera:PerspectiveFocalLengthUnits"), "mm") {
			focal /= *pitch
		}
	}
	return pp, focal
}

// sequoiaModel reads Parrot's radiometric model of a Sequoia band file
// (see package radiometry): XMP Camera:SensorModel, the EXIF f-number,
// exposure and ISO, and the 2-D vignetting polynomial. The error names the
// missing tags. The sunshine sensor's irradiance is read separately
// (sunshineIrradiance), since panel calibration does without it.
func sequoiaModel(f *File, saturation float32) (radiometry.Sequoia, error) {
	m := radiometry.Sequoia{Saturation: saturation}
	var missing []string
	if sm, ok := xmpFloats(f.xmp, "Camera:SensorModel"); ok && len(sm) == 3 {
		m.A, m.B, m.C = sm[0], sm[1], sm[2]
	} else {
		missing = append(missing, "XMP Camera:SensorModel (A,B,C; firmware 1.2.1 or later writes it)")
	}
	if v, ok := exifNumber(f.EXIF["EXIF_FNumber"]); ok {
		m.FNumber = v
	} else {
		missing = append(missing, "EXIF FNumber")
	}
	if exposure, gain, ok := exposureGain(f.EXIF); ok {
		m.Exposure, m.ISO = exposure, gain*100
	} else {
		missing = append(missing, "EXIF ExposureTime/ISO")
	}
	powers, okP := xmpFloats(f.xmp, "Camera:VignettingPolynomial2DName")
	coefs, okC := xmpFloats(f.xmp, "Camera:VignettingPolynomial2D")
	if okP && okC {
		terms, err := radiometry.VignetteTerms(powers, coefs)
		if err != nil {
			return m, fmt.Errorf("%s: %w", f.Name, err)
		}
		m.Vignette = terms
	} else {
		missing = append(missing, "XMP Camera:VignettingPolynomial2D/Camera:VignettingPolynomial2DName")
	}
	if len(missing) > 0 {
		return m, fmt.Errorf("%s: Parrot Sequoia: %w: no %s", f.Name, radiometry.ErrMetadata, strings.Join(missing, ", "))
	}
	if err := m.Validate(); err != nil {
		return m, fmt.Errorf("%s: %w", f.Name, err)
	}
	return m, nil
}

// sunshineIrradiance decodes the sunshine sensor's reading for a Sequoia
// band file from XMP Camera:IrradianceList and
// Camera:IrradianceCalibrationMeasurement, taking the reading nearest the
// exposure: EXIF DateTimeDigitized (CreateDate) counts time since the camera
// started, as the list's timestamps do (IMG_180413_080658_0000: created at
// 00:02:30.128607, last reading at 149.990744 s).
func sunshineIrradiance(f *File) (radiometry.Sunshine, error) {
	list := f.xmp.first("Camera:IrradianceList")
	if list == "" {
		return radiometry.Sunshine{}, fmt.Errorf("%s: %w: no XMP Camera:IrradianceList (sunshine sensor)", f.Name, radiometry.ErrMetadata)
	}
	recs, err := radiometry.DecodeIrradianceList(list)
	if err != nil {
		return radiometry.Sunshine{}, fmt.Errorf("%s: %w", f.Name, err)
	}
	var gains map[uint16]float64
	if cal, ok := xmpFloats(f.xmp, "Camera:IrradianceCalibrationMeasurement"); ok {
		if gains, err = radiometry.SunshineGains(cal); err != nil {
			return radiometry.Sunshine{}, fmt.Errorf("%s: %w", f.Name, err)
		}
	}
	s, err := radiometry.SunshineIrradiance(recs, gains, sinceStart(f.EXIF))
	if err != nil {
		return s, fmt.Errorf("%s: %w", f.Name, err)
	}
	return s, nil
}

// sinceStart reads EXIF DateTimeDigitized plus SubSecTimeDigitized as
// microseconds since 1970-01-01 00:00:00, which on a Sequoia is the time
// since the camera started; 0 when absent or not within the first day.
func sinceStart(exif map[string]string) uint64 {
	t, err := time.Parse("2006:01:02 15:04:05", strings.TrimSpace(exif["EXIF_DateTimeDigitized"]))
	if err != nil || t.Year() != 1970 || t.YearDay() != 1 {
		return 0
	}
	us := uint64(t.Unix()) * 1_000_000
	// GDAL 3.6 names the tag EXIF_SubSecTime_Digitized.
	if sub := strings.TrimSpace(exif["EXIF_SubSecTime_Digitized"] + exif["EXIF_SubSecTimeDigitized"]); sub != "" {
		if v, err := strconv.ParseFloat("0."+sub, 64); err == nil {
			us += uint64(math.Round(v * 1e6))
		}
	}
	return us
}

// dlsPose reads the downwelling light sensor's attitude (XMP DLS:Yaw,
// DLS:Pitch, DLS:Roll, radians) from a MicaSense band file.
func dlsPose(f *File) (radiometry.Pose, bool) {
	var v [3]float64
	for i, k := range []string{"DLS:Yaw", "DLS:Pitch", "DLS:Roll"} {
		x, ok := xmpFloats(f.xmp, k)
		if !ok || len(x) != 1 {
			return radiometry.Pose{}, false
		}
		v[i] = x[0]
	}
	return radiometry.Pose{Yaw: v[0], Pitch: v[1], Roll: v[2]}, true
}

// captureUTC parses Metadata.CaptureTime for a MicaSense file, whose EXIF
// time is UTC although EXIF carries no zone.
func captureUTC(m Metadata) (time.Time, bool) {
	t, err := time.Parse("2006-01-02T15:04:05.999999999", m.CaptureTime)
	return t, err == nil
}

// sunCorrection is the factor turning the DLS reading of file f into
// level-ground irradiance, or why it cannot be had.
func sunCorrection(f *File, m Metadata) (factor float64, why string) {
	pose, ok := dlsPose(f)
	if !ok {
		return 0, "no DLS orientation (XMP DLS:Yaw/Pitch/Roll)"
	}
	t, ok := captureUTC(m)
	if !ok {
		return 0, "no capture time"
	}
	if m.Latitude == nil || m.Longitude == nil || m.GPSVoid {
		return 0, "no valid GPS position"
	}
	el, az := radiometry.SunPosition(t, *m.Latitude, *m.Longitude)
	k, _, err := radiometry.SunAngleCorrection(el, az, pose)
	if err != nil {
		return 0, err.Error()
	}
	return k, ""
}
