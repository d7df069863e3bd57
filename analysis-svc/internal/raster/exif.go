package raster

import (
	"strconv"
	"strings"
)

// exifNumbers parses a value as GDAL prints EXIF tags: rationals in
// parentheses ("(0.0011475)", "(36) (34) (33.8934)"), integers ("200"),
// bytes in hex ("0x00 0x02"). GDAL prints rationals with %g, so they carry
// about 6 significant digits: plenty for exposure times and GPS seconds
// (1e-4 arc-second is 3 mm).
func exifNumbers(s string) []float64 {
	var out []float64
	for _, f := range strings.Fields(strings.NewReplacer("(", " ", ")", " ").Replace(s)) {
		if v, err := strconv.ParseFloat(f, 64); err == nil {
			out = append(out, v)
			continue
		}
		if v, err := strconv.ParseInt(f, 0, 64); err == nil {
			out = append(out, float64(v))
			continue
		}
		return nil
	}
	return out
}

func exifNumber(s string) (float64, bool) {
	v := exifNumbers(s)
	if len(v) == 0 {
		return 0, false
	}
	return v[0], true
}

// exifDegrees turns "(41) (32) (54.9462)" and a reference "N"/"S"/"E"/"W"
// into signed decimal degrees.
func exifDegrees(dms, ref string) (float64, bool) {
	v := exifNumbers(dms)
	if len(v) == 0 || len(v) > 3 {
		return 0, false
	}
	deg := v[0]
	if len(v) > 1 {
		deg += v[1] / 60
	}
	if len(v) > 2 {
		deg += v[2] / 3600
	}
	switch strings.ToUpper(strings.TrimSpace(ref)) {
	case "S", "W":
		deg = -deg
	}
	return deg, true
}
