package raster

import (
	"math"
	"strconv"
	"strings"

	"github.com/airbusgeo/godal"
)

// Metadata is what the capture says about itself, read cheaply from EXIF, XMP
// and the GeoTIFF header. Pointer fields are nil when the file does not say.
type Metadata struct {
	Make, Model, Serial, Software string
	// CaptureID and FlightID are the rig's ids (MicaSense CaptureId /
	// FlightId, Sequoia CaptureUUID / FlightUUID, DJI CaptureUUID).
	CaptureID, FlightID string
	// CaptureTime is EXIF DateTimeOriginal (with sub-seconds and offset
	// when present) as ISO 8601. Without OffsetTimeOriginal it carries no
	// zone: EXIF does not say one (MicaSense writes UTC, DJI local time).
	CaptureTime string

	// Latitude and Longitude are WGS 84 degrees, Altitude metres above sea
	// level, all from EXIF GPS (or DJI XMP when EXIF has none).
	Latitude, Longitude, Altitude *float64
	// GPSVoid is true when GPSStatus is "V" (measurement void) or DJI's
	// XMP GpsStatus is "Invalid": the coordinates, if any, are not to be
	// trusted.
	GPSVoid bool
	// RelativeAltitude is metres above the take-off point (DJI XMP).
	RelativeAltitude *float64
	// Gimbal angles in degrees (DJI XMP); pitch -90 is nadir.
	GimbalPitch, GimbalYaw, GimbalRoll *float64
	// Orientation is the EXIF/TIFF orientation (1 normal, 3 rotated 180°,
	// 6 and 8 rotated 90°); 0 if absent. Pixels are analysed as stored.
	Orientation int

	// Camera geometry from EXIF, for the ground sample distance.
	// FocalLength is in mm; FocalLength35mm is EXIF FocalLengthIn35mmFilm;
	// PixelPitch is the focal-plane pixel size in mm worked out from
	// FocalPlaneXResolution and FocalPlaneResolutionUnit. PixelXDimension is
	// the width EXIF recorded (0 if absent): when it differs from the
	// decoded width the file was resized after capture and PixelPitch
	// describes the original pixels, not these.
	FocalLength, FocalLength35mm, PixelPitch *float64
	PixelXDimension                          int

	// BandNames and CentralWavelengths (nm) are the XMP values of each file,
	// in capture order, where present.
	BandNames          []string
	CentralWavelengths []float64

	// GeoTransform (GDAL order) and Projection (WKT) for georeferenced
	// rasters such as orthophotos; EPSG is the CRS code if GDAL knows one.
	GeoTransform []float64
	Projection   string
	EPSG         int
	// MetresPerUnit is the length of the projected CRS's linear unit in
	// metres (1 for UTM); 0 when the CRS is not projected or unknown, so
	// the geotransform's pixel size is not a ground distance.
	MetresPerUnit float64
}

func ptr(v float64) *float64 { return &v }

func xmpFloat(p xmpProps, key string) *float64 {
	s := strings.TrimPrefix(p.first(key), "+")
	if s == "" {
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil
	}
	return &v
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// metadataOf reads the capture metadata from the first file, which for a rig
// is as good as any: the files of one capture share time and position. Band
// names are gathered from every file.
func metadataOf(files []*File) Metadata {
	f := files[0]
	e, x := f.EXIF, f.xmp
	m := Metadata{
		Make:      firstNonEmpty(e["EXIF_Make"], f.tiff.Make, x.first("tiff:Make")),
		Model:     firstNonEmpty(e["EXIF_Model"], f.tiff.Model, x.first("tiff:Model")),
		Serial:    firstNonEmpty(e["EXIF_BodySerialNumber"], x.first("drone-dji:CameraSerialNumber")),
		Software:  firstNonEmpty(e["EXIF_Software"], f.Metadata["TIFFTAG_SOFTWARE"]),
		CaptureID: captureID(f),
		FlightID:  firstNonEmpty(x.first("MicaSense:FlightId"), x.first("Camera:FlightUUID")),
	}
	m.CaptureTime = exifTime(e["EXIF_DateTimeOriginal"], firstNonEmpty(e["EXIF_SubSecTime_Original"], e["EXIF_SubSecTime"]), e["EXIF_OffsetTimeOriginal"])

	if lat, ok := exifDegrees(e["EXIF_GPSLatitude"], e["EXIF_GPSLatitudeRef"]); ok {
		if lon, ok := exifDegrees(e["EXIF_GPSLongitude"], e["EXIF_GPSLongitudeRef"]); ok {
			m.Latitude, m.Longitude = ptr(lat), ptr(lon)
		}
	}
	if m.Latitude == nil {
		m.Latitude, m.Longitude = xmpFloat(x, "drone-dji:GpsLatitude"), xmpFloat(x, "drone-dji:GpsLongitude")
		if m.Latitude == nil || m.Longitude == nil {
			m.Latitude, m.Longitude = nil, nil
		}
	}
	if alt, ok := exifNumber(e["EXIF_GPSAltitude"]); ok {
		// GPSAltitudeRef 1 means below sea level.
		if ref, ok := exifNumber(e["EXIF_GPSAltitudeRef"]); ok && ref == 1 {
			alt = -alt
		}
		m.Altitude = ptr(alt)
	} else {
		m.Altitude = xmpFloat(x, "drone-dji:AbsoluteAltitude")
	}
	m.GPSVoid = strings.EqualFold(strings.TrimSpace(e["EXIF_GPSStatus"]), "V") || strings.EqualFold(x.first("drone-dji:GpsStatus"), "Invalid")
	m.RelativeAltitude = xmpFloat(x, "drone-dji:RelativeAltitude")
	m.GimbalPitch = xmpFloat(x, "drone-dji:GimbalPitchDegree")
	m.GimbalYaw = xmpFloat(x, "drone-dji:GimbalYawDegree")
	m.GimbalRoll = xmpFloat(x, "drone-dji:GimbalRollDegree")
	if o, ok := exifNumber(e["EXIF_Orientation"]); ok {
		m.Orientation = int(o)
	} else {
		m.Orientation = f.tiff.Orientation
	}
	m.FocalLength = exifPositive(e["EXIF_FocalLength"])
	m.FocalLength35mm = exifPositive(e["EXIF_FocalLengthIn35mmFilm"])
	m.PixelPitch = pixelPitch(e["EXIF_FocalPlaneXResolution"], e["EXIF_FocalPlaneResolutionUnit"])
	// A rig's calibrated focal length (the one alignment uses) beats EXIF's
	// rounded one (MicaSense RedEdge: 5.435 against 5.5 mm), so the ground
	// sample distance and areas follow it.
	if _, focalPx := lensGeometry(f); focalPx > 0 && m.PixelPitch != nil {
		mm := focalPx * *m.PixelPitch
		m.FocalLength = &mm
	}
	if v, ok := exifNumber(e["EXIF_PixelXDimension"]); ok && v > 0 {
		m.PixelXDimension = int(v)
	}
	for _, g := range files {
		m.BandNames = append(m.BandNames, g.xmp["Camera:BandName"]...)
		for _, s := range g.xmp["Camera:CentralWavelength"] {
			if v, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
				m.CentralWavelengths = append(m.CentralWavelengths, v)
			}
		}
	}
	if f.HasGeoTransform {
		m.GeoTransform = f.GeoTransform[:]
	}
	if f.Projection != "" {
		m.Projection = f.Projection
		if sr, err := godal.NewSpatialRefFromWKT(f.Projection); err == nil {
			if sr.AuthorityName("") == "EPSG" {
				m.EPSG, _ = strconv.Atoi(sr.AuthorityCode(""))
			}
			if sr.Projected() {
				// WKT1's PROJCS UNIT node carries the unit's length in
				// metres as its second value ("metre", 1).
				if u, ok := sr.AttrValue("PROJCS|UNIT", 1); ok {
					if v, err := strconv.ParseFloat(u, 64); err == nil && v > 0 {
						m.MetresPerUnit = v
					}
				}
			}
			sr.Close()
		}
	}
	return m
}

// exifPositive parses a positive EXIF number, nil otherwise (absent, 0 for
// "unknown", unparsable).
func exifPositive(s string) *float64 {
	if v, ok := exifNumber(s); ok && v > 0 && !math.IsInf(v, 0) {
		return &v
	}
	return nil
}

// pixelPitch turns FocalPlaneXResolution (pixels per unit) and its unit into
// millimetres per pixel. EXIF defines units 2 (inch) and 3 (cm); MicaSense
// and Parrot write 4, which exiftool and the TIFF/EP convention read as mm,
// and 5 is micrometres in the same convention.
func pixelPitch(res, unit string) *float64 {
	r, ok := exifNumber(res)
	if !ok || !(r > 0) {
		return nil
	}
	u, ok := exifNumber(unit)
	if !ok {
		u = 2 // EXIF's default unit
	}
	var mm float64
	switch u {
	case 2:
		mm = 25.4
	case 3:
		mm = 10
	case 4:
		mm = 1
	case 5:
		mm = 0.001
	default:
		return nil
	}
	return ptr(mm / r)
}

// exifTime turns "2017:10:19 20:42:10", sub-seconds "200159489" and an
// optional offset "+02:00" into "2017-10-19T20:42:10.200159489+02:00".
func exifTime(dt, subsec, offset string) string {
	dt = strings.TrimSpace(dt)
	if len(dt) != 19 || dt[4] != ':' || dt[7] != ':' || dt[10] != ' ' {
		return ""
	}
	out := dt[:4] + "-" + dt[5:7] + "-" + dt[8:10] + "T" + dt[11:]
	if s := strings.TrimSpace(subsec); s != "" && strings.Trim(s, "0123456789") == "" {
		out += "." + s
	}
	if o := strings.TrimSpace(offset); len(o) == 6 && (o[0] == '+' || o[0] == '-') {
		out += o
	}
	return out
}
