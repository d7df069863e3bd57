package exif

import (
	"fmt"
	"math"
	"strings"
)

// decodeGPS turns a GPS IFD into a GPS value, or nil (with a warning in md)
// when it has no usable latitude and longitude. It never returns (0, 0) for
// damaged input.
func decodeGPS(t *tiffFile, d *ifd, md *Metadata) *GPS {
	str := func(tag uint16, name string) (string, bool) {
		e, ok := d.find(tag)
		if !ok {
			return "", false
		}
		s, _, err := t.str(e)
		if err != nil {
			md.warnf("%s: %v", name, err)
			return "", false
		}
		return s, true
	}

	status, hasStatus := str(tagGPSStatus, "gps status")
	void := false
	switch {
	case !hasStatus, status == "A":
	case status == "V":
		void = true
	default:
		md.warnf("gps status %q is not A or V; treated as valid", status)
	}

	latE, hasLat := d.find(tagGPSLatitude)
	lonE, hasLon := d.find(tagGPSLongitude)
	switch {
	case !hasLat && !hasLon && void:
		md.warnf("gps is void (status V) and has no latitude or longitude; no position")
		return nil
	case !hasLat && !hasLon:
		md.warnf("gps ifd has no latitude or longitude; no position")
		return nil
	case !hasLat:
		md.warnf("gps has a longitude but no latitude; no position")
		return nil
	case !hasLon:
		md.warnf("gps has a latitude but no longitude; no position")
		return nil
	}

	lat, err := degrees(t, latE)
	if err != nil {
		md.warnf("gps latitude %v; no position", err)
		return nil
	}
	lon, err := degrees(t, lonE)
	if err != nil {
		md.warnf("gps longitude %v; no position", err)
		return nil
	}

	g := &GPS{Valid: !void, HasRef: true}
	latRef, hasLatRef := str(tagGPSLatitudeRef, "gps latitude reference")
	lonRef, hasLonRef := str(tagGPSLongitudeRef, "gps longitude reference")
	lat, ok := applyRef(md, "latitude", lat, latRef, hasLatRef, "N", "S")
	g.HasRef = g.HasRef && ok
	lon, ok = applyRef(md, "longitude", lon, lonRef, hasLonRef, "E", "W")
	g.HasRef = g.HasRef && ok

	switch {
	case math.IsNaN(lat) || math.Abs(lat) > 90:
		md.warnf("gps latitude %g is out of range; no position", lat)
		return nil
	case math.IsNaN(lon) || math.Abs(lon) > 180:
		md.warnf("gps longitude %g is out of range; no position", lon)
		return nil
	case lat == 0 && lon == 0:
		// What receivers without a fix write; never a real drone position.
		md.warnf("gps position is exactly 0,0 (no fix); no position")
		return nil
	}
	g.Latitude, g.Longitude = lat, lon
	if void {
		md.warnf("gps status is V (measurement void); position kept but marked invalid")
	}

	if e, ok := d.find(tagGPSAltitude); ok {
		g.Altitude = altitude(t, d, e, md)
	}
	return g
}

// dmsDivisor converts degrees, minutes and seconds to degrees.
var dmsDivisor = [3]float64{1, 60, 3600}

// degrees decodes a degrees/minutes/seconds triple of rationals. The error
// text completes "gps latitude ...".
func degrees(t *tiffFile, e entry) (float64, error) {
	rs, err := t.rationals(e, 3)
	if err != nil {
		return 0, err
	}
	if len(rs) < 3 {
		plural := "s"
		if len(rs) == 1 {
			plural = ""
		}
		return 0, fmt.Errorf("has %d rational%s, want 3", len(rs), plural)
	}
	v := 0.0
	for i, r := range rs {
		if r.den == 0 {
			return 0, fmt.Errorf("has a zero denominator (%d/%d)", r.num, r.den)
		}
		v += float64(r.num) / float64(r.den) / dmsDivisor[i]
	}
	return v, nil
}

// applyRef signs v by its hemisphere reference. ok is false when the
// reference is missing or unrecognised; v is then returned unsigned.
func applyRef(md *Metadata, name string, v float64, ref string, present bool, pos, neg string) (float64, bool) {
	switch r := strings.ToUpper(ref); {
	case !present:
		md.warnf("gps has no %s reference (%s/%s); kept unsigned", name, pos, neg)
		return v, false
	case r == pos:
		return v, true
	case r == neg:
		return -v, true
	default:
		md.warnf("gps %s reference %q is not %s or %s; kept unsigned", name, ref, pos, neg)
		return v, false
	}
}

// altitude decodes GPSAltitude/GPSAltitudeRef, or nil with a warning.
func altitude(t *tiffFile, d *ifd, e entry, md *Metadata) *float64 {
	rs, err := t.rationals(e, 1)
	if err != nil {
		md.warnf("gps altitude: %v; dropped", err)
		return nil
	}
	if len(rs) == 0 {
		md.warnf("gps altitude has no value; dropped")
		return nil
	}
	if rs[0].den == 0 {
		md.warnf("gps altitude has a zero denominator (%d/%d); dropped", rs[0].num, rs[0].den)
		return nil
	}
	alt := float64(rs[0].num) / float64(rs[0].den)
	if re, ok := d.find(tagGPSAltitudeRef); ok {
		ref, err := t.uint(re)
		switch {
		case err != nil:
			md.warnf("gps altitude reference: %v; taken as above sea level", err)
		case ref == 1:
			alt = -alt
		case ref != 0:
			md.warnf("gps altitude reference %d is not 0 or 1; taken as above sea level", ref)
		}
	}
	return &alt
}
