package analyze

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airbusgeo/godal"
)

// TestOrthophotoClassesHistogramGeoTIFF checks health classes, histogram,
// zones, area and the GeoTIFF output on the real ODM orthophoto against
// numpy. Reference, computed once with Debian's numpy 1.24 and GDAL 3.6:
//
//	GDAL_PAM_ENABLED=NO /usr/bin/python3 ortho_ref.py "$CANOPY_SHARED_DATA"
//
//	import sys, numpy as np
//	from osgeo import gdal
//	ds = gdal.Open(sys.argv[1] + "/webodm-fixtures/orthophoto.tif")
//	r, g, b, a = ds.ReadAsArray().astype(np.float64)
//	# 8-bit counts become float32 fractions of full scale, as raster.Read
//	# documents; VARI in float64, stored as float32.
//	R, G, B = ((x / 255).astype(np.float32).astype(np.float64) for x in (r, g, b))
//	with np.errstate(all="ignore"):
//	    d = G + R - B
//	    v = np.where(d != 0, (G - R) / d, np.nan)
//	v[np.abs(v) > 1] = np.nan; v[a == 0] = np.nan
//	v = v.astype(np.float32).astype(np.float64)
//	x = v[np.isfinite(v)]; t = [0, 0.05, 0.15]
//	classes = [(x < t[0]).sum(), ((x >= t[0]) & (x < t[1])).sum(), ((x >= t[1]) & (x < t[2])).sum(), (x >= t[2]).sum()]
//	hist = np.histogram(x, bins=40, range=(-1, 1))[0]
//	H, W = v.shape   # zone (r, c): rows [r*H//8, (r+1)*H//8), same for columns
//	zone = lambda r, c: v[r*H//8:(r+1)*H//8, c*W//8:(c+1)*W//8]
//	gt = ds.GetGeoTransform(); area = abs(gt[1]*gt[5] - gt[2]*gt[4])
//
// Computed on the exact integer ratios instead (no 1/255 scaling), the
// counts differ by up to 20 pixels: 8-bit VARI often lands exactly on a
// multiple of 0.05, and float rounding then decides the side. The scaled
// computation follows the pipeline's documented arithmetic, so counts must
// match exactly.
func TestOrthophotoClassesHistogramGeoTIFF(t *testing.T) {
	d := sharedData(t)
	in := filepath.Join(d, "webodm-fixtures/orthophoto.tif")
	outDir := t.TempDir()
	res, err := Analyze(context.Background(), files(d, "webodm-fixtures/orthophoto.tif"), Options{Indices: []string{"VARI"}},
		Outputs{GeoTIFFDir: outDir})
	if err != nil {
		t.Fatal(err)
	}
	const pixelArea = 0.25023249282319837 // numpy: abs(gt[1]*gt[5] - gt[2]*gt[4])
	if res.GSDSource != GSDFromGeoreferencing || math.Abs(res.PixelAreaM2-pixelArea) > 1e-12 || math.Abs(res.GSD-math.Sqrt(pixelArea)) > 1e-12 {
		t.Errorf("GSD %v (%s), pixel area %v; want area %v", res.GSD, res.GSDSource, res.PixelAreaM2, pixelArea)
	}
	vari := indexResult(t, res, "VARI")
	wantClasses := []int64{9068, 11245, 8617, 14224} // numpy classes, n = 43154
	for i, c := range vari.Health {
		if c.Pixels != wantClasses[i] {
			t.Errorf("%s = %d pixels, numpy %d", c.Name, c.Pixels, wantClasses[i])
		}
		if want := float64(wantClasses[i]) * pixelArea; c.AreaM2 == nil || math.Abs(*c.AreaM2-want) > 1e-9 {
			t.Errorf("%s area = %v, want %v m²", c.Name, c.AreaM2, want)
		}
	}
	wantHist := []int64{26, 6, 9, 10, 7, 5, 6, 8, 7, 4, 5, 5, 11, 34, 53, 110, 358, 1298, 4576, 2530, 11245, 4059, 4558, 3564,
		2437, 1823, 1574, 1446, 1158, 798, 619, 332, 174, 91, 50, 41, 27, 25, 26, 39}
	if h := vari.Stats.Histogram; !slices.Equal(h.Counts, wantHist) || h.Below != 0 || h.Above != 0 || h.Min != -1 || h.Max != 1 {
		t.Errorf("histogram = %v below %d above %d, numpy %v", h.Counts, h.Below, h.Above, wantHist)
	}
	// numpy zone(r, c): count of finite values and their mean.
	for _, want := range []struct {
		row, col int
		n        int64
		mean     float64
	}{{0, 0, 624, 0.02128302510260628}, {3, 5, 729, 0.05115269652768377}, {7, 7, 673, 0.0}} {
		z := vari.Zones[want.row*8+want.col]
		if z.Row != want.row || z.Col != want.col || z.Valid != want.n || math.Abs(z.Mean-want.mean) > 1e-9 {
			t.Errorf("zone (%d,%d) = %+v, numpy n %d mean %v", want.row, want.col, z, want.n, want.mean)
		}
	}

	// The VARI GeoTIFF keeps the orthophoto's georeferencing; numpy over
	// the same values: 1790 NaN, finite sum 4621.831383924233.
	vals, w, h, gt, wkt, nd, hasND := readBand(t, filepath.Join(outDir, "vari.tif"))
	src, err := godal.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	srcGT, err := src.GeoTransform()
	if err != nil {
		t.Fatal(err)
	}
	if w != 212 || h != 212 || gt != srcGT || !hasND || !math.IsNaN(nd) {
		t.Errorf("GeoTIFF %d x %d, geotransform %v (input %v), nodata %v %v", w, h, gt, srcGT, nd, hasND)
	}
	sr1, err := godal.NewSpatialRefFromWKT(wkt)
	if err != nil {
		t.Fatal(err)
	}
	defer sr1.Close()
	sr2, err := godal.NewSpatialRefFromWKT(src.Projection())
	if err != nil {
		t.Fatal(err)
	}
	defer sr2.Close()
	if !sr1.IsSame(sr2) {
		t.Errorf("projection changed:\n%s\nvs\n%s", wkt, src.Projection())
	}
	var nan int
	var sum float64
	for _, v := range vals {
		if math.IsNaN(float64(v)) {
			nan++
			continue
		}
		sum += float64(v)
	}
	if nan != 1790 || math.Abs(sum-4621.831383924233) > 1e-9*4621.8 {
		t.Errorf("GeoTIFF: %d NaN, sum %v; numpy 1790, 4621.831383924233", nan, sum)
	}
}

// TestGSDFromDJIMini3ProEXIF computes the nadir GSD for the real DJI Mini 3
// Pro file by the 35 mm-equivalent route and checks that the analysis
// refuses to quote it, the view being oblique. By hand from
// `exiftool -n -RelativeAltitude -FocalLengthIn35mmFormat -GimbalPitchDegree
// -ImageWidth -ImageHeight testimage.jpg`: 84.7 m, 24 mm, -11.5°, 512 x 384
// (it has no FocalPlaneXResolution):
//
//	84.7 * sqrt(36² + 24²) / (24 * sqrt(512² + 384²))
//	= 84.7 * 43.26662 / (24 * 640) = 0.2385861 m per pixel
//
// (python3 -c 'import math; print(84.7*math.hypot(36,24)/(24*math.hypot(512,384)))'
// prints 0.2385860883060937.)
func TestGSDFromDJIMini3ProEXIF(t *testing.T) {
	d := sharedData(t)
	res, err := Analyze(context.Background(), files(d, "dji-mini3pro-plaso/testimage.jpg"), Options{}, Outputs{})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Capture
	if c.FocalLength == nil || *c.FocalLength != 6.72 || c.FocalLength35mm == nil || *c.FocalLength35mm != 24 || c.PixelPitch != nil {
		t.Errorf("focal %v, 35 mm %v, pitch %v", c.FocalLength, c.FocalLength35mm, c.PixelPitch)
	}
	got, err := nadirGSD(c, res.Width, res.Height)
	if err != nil || math.Abs(got-0.2385860883060937) > 1e-12 {
		t.Errorf("nadir GSD = %v, %v; want 0.2385860883060937", got, err)
	}
	// Gimbal pitch -11.5°: 78.5° off nadir, so no GSD and no areas.
	if res.GSD != 0 || res.GSDSource != "" {
		t.Errorf("oblique view got GSD %v (%s)", res.GSD, res.GSDSource)
	}
	if !slices.ContainsFunc(res.Warnings, func(w string) bool {
		return strings.HasPrefix(w, "area unknown: the camera looked 78.5° from straight down")
	}) {
		t.Errorf("warnings = %q", res.Warnings)
	}
	for _, ir := range res.Indices {
		for _, hc := range ir.Health {
			if hc.AreaM2 != nil {
				t.Errorf("%s %s has an area", ir.Name, hc.Name)
			}
		}
	}
	// Pointing it straight down gives the GSD and areas.
	pitch := -90.0
	c.GimbalPitch = &pitch
	if g, a, src, err := groundSampling(c, res.Width, res.Height, nil); err != nil || g != got || a != got*got || src != GSDFromRelativeAltitude {
		t.Errorf("nadir: %v %v %s %v", g, a, src, err)
	}
}

// TestGSDFromFocalPlaneResolution uses the real MicaSense RedEdge metadata
// (FocalPlaneXResolution 266.666667 px/mm, the calibrated focal length
// 5.43509341 mm of PROVENANCE.md section 1, rather than EXIF's rounded
// FocalLength 5.5; no altitude above ground) with an assumed 100 m:
// 100 * (1/266.666667) / 5.43509341 = 0.068996 m. The WebODM Canon fixture, resized to
// 48 px wide with its 4000 px camera's FocalPlaneXResolution (13651.9 per
// inch) left in EXIF, would imply a 0.09 mm sensor: refused.
func TestGSDFromFocalPlaneResolution(t *testing.T) {
	d := sharedData(t)
	res, err := Analyze(context.Background(), micaSenseFlight(d), Options{Indices: []string{"NDVI"}}, Outputs{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.HasPrefix(w, "area unknown: neither georeferencing nor altitude") }) {
		t.Errorf("warnings = %q", res.Warnings)
	}
	m := res.Capture
	alt := 100.0
	m.RelativeAltitude = &alt
	got, err := nadirGSD(m, res.Width, res.Height)
	if want := 100 * (1 / 266.666667) / 5.43509341; err != nil || math.Abs(got-want) > 1e-4*want {
		t.Errorf("GSD = %v, %v; want %v", got, err, want)
	}

	canon, err := Analyze(context.Background(), files(d, "webodm-fixtures/tiny_drone_image.jpg"), Options{}, Outputs{})
	if err != nil {
		t.Fatal(err)
	}
	m = canon.Capture
	if m.PixelPitch == nil || math.Abs(*m.PixelPitch-25.4/13651.9) > 1e-9 {
		t.Fatalf("pixel pitch = %v", m.PixelPitch)
	}
	m.RelativeAltitude = &alt
	if g, err := nadirGSD(m, canon.Width, canon.Height); err == nil {
		t.Errorf("resized copy got GSD %v", g)
	}
}

// MicaSense records only its GPS altitude. With the take-off altitude
// declared, the height above ground follows: the flight capture IMG_0001
// was shot at 174.527 m and the panel capture IMG_0000, on the ground
// before take-off, at 101.861 m (PROVENANCE.md section 1), so 72.666 m
// above ground; with the calibrated focal length 5.43509341 mm and 266.666667
// px/mm (PROVENANCE.md section 1; EXIF rounds the focal length to 5.5 mm),
// GSD = 72.666 * 0.00375 / 5.43509341 = 0.050137 m.
func TestGSDFromDeclaredTakeoffAltitude(t *testing.T) {
	d := sharedData(t)
	takeoff := 101.861
	res := run(t, micaSenseFlight(d), Options{TakeoffAltitude: &takeoff})
	if res.GSDSource != GSDFromTakeoffAltitude || math.Abs(res.GSD-0.050137) > 5e-6 {
		t.Errorf("GSD %v from %q, want 0.050137 from %q", res.GSD, res.GSDSource, GSDFromTakeoffAltitude)
	}
	ndvi := indexResult(t, res, "NDVI")
	var area float64
	for _, c := range ndvi.Health {
		if c.AreaM2 == nil {
			t.Fatalf("class %s has no area", c.Name)
		}
		area += *c.AreaM2
	}
	// The classes cover every valid pixel, each 0.050137² m².
	if want := float64(ndvi.Stats.Valid) * res.GSD * res.GSD; math.Abs(area-want) > 1e-6*want {
		t.Errorf("class areas sum to %v m², want %v", area, want)
	}

	// Without it there is no area, and the warning says what would give one.
	res = run(t, micaSenseFlight(d), Options{})
	if res.GSD != 0 || !slices.ContainsFunc(res.Warnings, func(w string) bool {
		return strings.Contains(w, "area unknown") && strings.Contains(w, "take-off altitude")
	}) {
		t.Errorf("no take-off altitude: GSD %v, warnings %q", res.GSD, res.Warnings)
	}
	// A take-off point above the camera is refused as a source, not used.
	high := 200.0
	res = run(t, micaSenseFlight(d), Options{TakeoffAltitude: &high})
	if res.GSD != 0 || !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "not above the declared take-off altitude 200 m") }) {
		t.Errorf("take-off above the camera: GSD %v, warnings %q", res.GSD, res.Warnings)
	}
}
