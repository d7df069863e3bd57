package analyze

import (
	"errors"
	"fmt"
	"math"
)

// Where Result.GSD came from.
const (
	GSDFromRelativeAltitude = "relative_altitude"
	GSDFromGeoreferencing   = "georeferencing"
	// GSDFromTakeoffAltitude: the GPS altitude less the take-off altitude
	// the upload declared.
	GSDFromTakeoffAltitude = "declared_takeoff_altitude"
)

// fullFrameDiagonalMM is the diagonal of a 36 x 24 mm frame. The 35 mm
// equivalent focal length scales the focal length by the ratio of this
// diagonal to the sensor's (the crop factor), so it pins the sensor's
// diagonal angle of view whatever the aspect ratio; using 36 mm over the
// long side instead overstates the pixel size of a 4:3 sensor by 4 %.
var fullFrameDiagonalMM = math.Hypot(36, 24)

// maxOffNadir is how far from straight down (gimbal pitch -90°) a frame
// may look and still get one ground sample distance: at 10° the centre
// pixel is 1.5 % longer on the ground and the frame's edges differ by a few
// per cent, less than the flat-ground assumption already costs.
const maxOffNadir = 10.0

// sensorWidthMM bounds the sensor width implied by a focal-plane
// resolution. Outside it the tag describes other pixels (a resized copy
// whose EXIF still holds the original's resolution) or is wrong; drone and
// survey cameras range from about 5 mm (1/2.3") to 54 mm (medium format).
const sensorMinMM, sensorMaxMM = 1.0, 100.0

// groundSampling works out the ground sample distance in metres per pixel
// and the ground area of one pixel in m², from georeferencing (a projected
// CRS whose unit is a length) or from the altitude above the take-off point
// with the camera's geometry. When neither works it returns a reason for
// the "area unknown" warning.
func groundSampling(m Metadata, width, height int, takeoff *float64) (gsd, pixelArea float64, source string, err error) {
	if len(m.GeoTransform) == 6 {
		gt := m.GeoTransform
		if m.MetresPerUnit <= 0 {
			return 0, 0, "", errors.New("the raster is georeferenced, but not in a projected CRS measured in metres")
		}
		// |det| of the geotransform's linear part is a pixel's area in
		// CRS units², rotated or not; non-square pixels get the GSD of a
		// square pixel of the same area.
		a := math.Abs(gt[1]*gt[5]-gt[2]*gt[4]) * m.MetresPerUnit * m.MetresPerUnit
		if !(a > 0) || math.IsInf(a, 0) {
			return 0, 0, "", fmt.Errorf("the raster's geotransform %v has no pixel area", gt)
		}
		return math.Sqrt(a), a, GSDFromGeoreferencing, nil
	}
	source = GSDFromRelativeAltitude
	if m.RelativeAltitude == nil && takeoff != nil {
		// Most cameras record only the GPS altitude; with the take-off
		// point's altitude (same datum) the height above ground follows.
		if m.Altitude == nil {
			return 0, 0, "", fmt.Errorf("a take-off altitude of %g m was declared, but the image has no GPS altitude to subtract it from", *takeoff)
		}
		agl := *m.Altitude - *takeoff
		if !(agl > 0) {
			return 0, 0, "", fmt.Errorf("the GPS altitude %g m is not above the declared take-off altitude %g m", *m.Altitude, *takeoff)
		}
		m.RelativeAltitude, source = &agl, GSDFromTakeoffAltitude
	}
	if m.RelativeAltitude == nil {
		return 0, 0, "", errors.New("neither georeferencing nor altitude above ground (DJI RelativeAltitude, or a take-off altitude declared with the upload) in the metadata")
	}
	if p := m.GimbalPitch; p != nil && math.Abs(*p+90) > maxOffNadir {
		return 0, 0, "", fmt.Errorf("the camera looked %.1f° from straight down (gimbal pitch %g°); an oblique view has no single ground sample distance", math.Abs(*p+90), *p)
	}
	g, err := nadirGSD(m, width, height)
	if err != nil {
		return 0, 0, "", err
	}
	return g, g * g, source, nil
}

// nadirGSD is the ground sample distance of a camera looking straight down
// from RelativeAltitude metres over flat ground at take-off height:
//
//	GSD = altitude x pixel pitch / focal length
//
// with the pixel pitch from EXIF FocalPlaneXResolution when it fits the
// decoded image, otherwise from the 35 mm equivalent focal length f35,
// which stays true when the image was resized after capture:
//
//	GSD = altitude x 43.27 mm / (f35 x sqrt(width² + height²))
//
// (43.27 mm being the diagonal of a 36 x 24 mm frame).
func nadirGSD(m Metadata, width, height int) (float64, error) {
	if m.RelativeAltitude == nil || !(*m.RelativeAltitude > 0) {
		return 0, errors.New("no positive altitude above the take-off point")
	}
	alt := *m.RelativeAltitude
	if m.PixelPitch != nil && m.FocalLength != nil &&
		(m.PixelXDimension == 0 || m.PixelXDimension == width) {
		if w := float64(width) * *m.PixelPitch; w >= sensorMinMM && w <= sensorMaxMM {
			return alt * *m.PixelPitch / *m.FocalLength, nil
		}
	}
	if m.FocalLength35mm != nil {
		return alt * fullFrameDiagonalMM / (*m.FocalLength35mm * math.Hypot(float64(width), float64(height))), nil
	}
	return 0, errors.New("the camera's focal length and pixel pitch are not in its metadata (EXIF FocalLength with FocalPlaneXResolution, or FocalLengthIn35mmFilm)")
}
