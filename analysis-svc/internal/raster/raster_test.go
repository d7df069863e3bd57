package raster

import (
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/canopyag/canopy/analysis-svc/internal/index"
	"github.com/canopyag/canopy/platform/shareddata"
)

func sharedData(t testing.TB) string { return shareddata.Dir(t) }

func TestParseLayout(t *testing.T) {
	R, G, B, N, E, A, O := index.Red, index.Green, index.Blue, index.NIR, index.RedEdge, index.Alpha, index.Other
	good := map[string][]index.Role{
		"RGB": {R, G, B}, "RGN": {R, G, N}, "NGB": {N, G, B}, "OCN": {O, O, N},
		"BGRNE": {B, G, R, N, E}, "r,g,b,a": {R, G, B, A},
	}
	for in, want := range good {
		got, err := ParseLayout(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ParseLayout(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "RGX", "RRG", "NN"} {
		if _, err := ParseLayout(in); !errors.Is(err, ErrUnsupported) {
			t.Errorf("ParseLayout(%q) error = %v, want ErrUnsupported", in, err)
		}
	}
}

func TestFilenameRole(t *testing.T) {
	cases := map[string]index.Role{
		"IMG_180413_080658_0000_GRE.TIF": index.Green, "IMG_180413_080658_0000_RED.TIF": index.Red,
		"IMG_180413_080658_0000_REG.TIF": index.RedEdge, "IMG_180413_080658_0000_NIR.TIF": index.NIR,
		"DJI_20230612_0001_MS_G.TIF": index.Green, "DJI_20230612_0001_MS_R.TIF": index.Red,
		"DJI_20230612_0001_MS_RE.TIF": index.RedEdge, "DJI_20230612_0001_MS_NIR.TIF": index.NIR,
	}
	for name, want := range cases {
		if got, ok := filenameRole(name); !ok || got != want {
			t.Errorf("filenameRole(%q) = %v, %v; want %v", name, got, ok, want)
		}
	}
	// MicaSense suffixes are not spectral: _4 is NIR, _5 red edge. They must
	// not be read as roles.
	for _, name := range []string{"IMG_0001_4.tif", "IMG_0001_5.tif", "IMG_180413_080658_0000_RGB.JPG", "photo.jpg"} {
		if r, ok := filenameRole(name); ok {
			t.Errorf("filenameRole(%q) = %v, want none", name, r)
		}
	}
}

func TestParseXMP(t *testing.T) {
	// Shapes seen in the shared files: MicaSense elements, Sequoia
	// attributes plus rdf:Seq, senseFly's BandName repeated as Seq then Bag.
	packet := `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:MicaSense="http://micasense.com/MicaSense/1.0/">
  <MicaSense:CaptureId>g2R43Qr5m7EeTFGbkh1W</MicaSense:CaptureId>
 </rdf:Description>
 <rdf:Description rdf:about="" xmlns:Camera="http://pix4d.com/camera/1.0/" Camera:RigName="Sequoia" Camera:CaptureUUID="BE5A">
  <Camera:BandName><rdf:Seq><rdf:li>Red</rdf:li><rdf:li>Green</rdf:li><rdf:li>Blue</rdf:li></rdf:Seq></Camera:BandName>
  <Camera:BandName><rdf:Bag><rdf:li>Red</rdf:li><rdf:li>Green</rdf:li><rdf:li>Blue</rdf:li></rdf:Bag></Camera:BandName>
 </rdf:Description>
 <rdf:Description xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" drone-dji:RelativeAltitude="+84.700"/>
</rdf:RDF></x:xmpmeta>`
	p := parseXMP(packet)
	checks := map[string]string{
		"MicaSense:CaptureId": "g2R43Qr5m7EeTFGbkh1W", "Camera:RigName": "Sequoia",
		"Camera:CaptureUUID": "BE5A", "drone-dji:RelativeAltitude": "+84.700",
	}
	for k, want := range checks {
		if got := p.first(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if got := p["Camera:BandName"]; !slices.Equal(got, []string{"Red", "Green", "Blue"}) {
		t.Errorf("BandName = %q, want the first list only", got)
	}
	if len(parseXMP("<broken")) != 0 {
		t.Error("broken packet gave properties")
	}
}

func TestEXIFParsing(t *testing.T) {
	// DJI_0061.JPG as GDAL prints it; exiftool: 41 deg 32' 54.95" N,
	// 83 deg 41' 55.14" W = 41.5485962 N, 83.6986488 W (PROVENANCE.md).
	lat, ok1 := exifDegrees("(41) (32) (54.9462)", "N")
	lon, ok2 := exifDegrees("(83) (41) (55.1356)", "W")
	if !ok1 || !ok2 || math.Abs(lat-41.5485962) > 1e-6 || math.Abs(lon+83.6986488) > 1e-6 {
		t.Errorf("got %v, %v", lat, lon)
	}
	if v, ok := exifNumber("(0.0011475)"); !ok || v != 0.0011475 {
		t.Errorf("exposure = %v", v)
	}
	if v := exifNumbers("0x02 0x02 0x00 0x00"); !slices.Equal(v, []float64{2, 2, 0, 0}) {
		t.Errorf("bytes = %v", v)
	}
	if got := exifTime("2017:10:19 20:42:10", "200159489", ""); got != "2017-10-19T20:42:10.200159489" {
		t.Errorf("time = %q", got)
	}
}

func TestCheckPixels(t *testing.T) {
	err := checkPixels(5472, 3648, 1, 1_000_000)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "image too large: 5472 x 3648 = 19961856 pixels exceeds limit 1000000") {
		t.Errorf("got %v", err)
	}
	err = checkPixels(100, 100, 3, 10_000)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "100 x 100 x 3 bands = 30000 pixels exceeds limit 10000") {
		t.Errorf("got %v", err)
	}
	if err := checkPixels(100, 100, 3, 30_000); err != nil {
		t.Errorf("at the limit: %v", err)
	}
}

func TestRigNormalisationUsesExposureAndGain(t *testing.T) {
	// Two band files with the same raw DN 20000 but different exposure and
	// gain. Raw: NDVI = (20000-20000)/(40000) = 0.
	// Normalised with black level 4800:
	//   NIR: (20000-4800)/(0.001*1) = 15.2e6, Red: (20000-4800)/(0.001*2) = 7.6e6
	//   NDVI = (15.2e6-7.6e6)/(22.8e6) = 1/3.
	// A pixel at 65520 is saturated and becomes NaN; one at 4000 (below the
	// black level) clamps to 0.
	mk := func(name, iso string) *File {
		return &File{Name: name, Bands: []Band{{DataType: "UInt16"}},
			EXIF: map[string]string{"EXIF_ExposureTime": "(0.001)", "EXIF_ISOSpeed": iso},
			tiff: tiffTags{Make: "MicaSense", BlackLevel: []float64{4800, 4800, 4800, 4800}}, xmp: xmpProps{}}
	}
	nirF, redF := mk("IMG_0001_4.tif", "100"), mk("IMG_0001_3.tif", "200")
	nir := []float32{20000, 65520, 4000}
	red := []float32{20000, 20000, 4800}
	s := rigSensor(nirF)
	if s == nil || s.saturation != 65520 {
		t.Fatalf("rigSensor = %+v", s)
	}
	w, ok := s.prepare(nirF, nir)
	if !ok || len(w) != 1 || !strings.Contains(w[0], "1 saturated pixels") {
		t.Errorf("NIR: ok=%v warnings=%q", ok, w)
	}
	if _, ok := rigSensor(redF).prepare(redF, red); !ok {
		t.Error("Red not normalised")
	}
	ndvi := float64(nir[0]-red[0]) / float64(nir[0]+red[0])
	if math.Abs(ndvi-1.0/3) > 1e-6 {
		t.Errorf("NDVI = %v, want 1/3", ndvi)
	}
	if !math.IsNaN(float64(nir[1])) {
		t.Errorf("saturated pixel = %v, want NaN", nir[1])
	}
	if nir[2] != 0 || red[2] != 0 {
		t.Errorf("below black level = %v, %v, want 0", nir[2], red[2])
	}
}

func TestMicaSenseHeader(t *testing.T) {
	d := sharedData(t)
	f, err := Open(filepath.Join(d, "micasense-rededge/0000SET/000/IMG_0000_1.tif"), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Published (micasense/imageprocessing tests/test_metadata.py at
	// 91766cb5, quoted in PROVENANCE.md): make MicaSense, model RedEdge,
	// black level 4800.0, exposure 0.0004725 s, gain 1, size 1280 x 960,
	// capture id 5v25BtsZg3BQBhVH7Iaz, flight id NtLNbVIdowuCaWYbg3ck.
	if f.tiff.Make != "MicaSense" || f.tiff.Model != "RedEdge" {
		t.Errorf("make/model = %q/%q", f.tiff.Make, f.tiff.Model)
	}
	if mean(f.tiff.BlackLevel) != 4800 {
		t.Errorf("black level = %v", f.tiff.BlackLevel)
	}
	exp, gain, ok := exposureGain(f.EXIF)
	if !ok || exp != 0.0004725 || gain != 1 {
		t.Errorf("exposure/gain = %v/%v", exp, gain)
	}
	if f.Width != 1280 || f.Height != 960 || len(f.Bands) != 1 || f.Bands[0].DataType != "UInt16" {
		t.Errorf("header = %dx%d %+v", f.Width, f.Height, f.Bands)
	}
	if captureID(f) != "5v25BtsZg3BQBhVH7Iaz" || f.xmp.first("MicaSense:FlightId") != "NtLNbVIdowuCaWYbg3ck" {
		t.Errorf("capture/flight id = %q/%q", captureID(f), f.xmp.first("MicaSense:FlightId"))
	}
	roles, srcs, err := fileRoles(f, index.Unknown, nil)
	if err != nil || roles[0] != index.Blue || srcs[0] != SourceXMP {
		t.Errorf("roles = %v %v %v", roles, srcs, err)
	}
}

func TestOpenRefusesBeforeDecoding(t *testing.T) {
	d := sharedData(t)
	// 2400 x 1800 x 3 = 12,960,000 samples.
	_, err := Open(filepath.Join(d, "odm-tests-dji/DJI_0061.JPG"), "", 1_000_000)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "2400 x 1800 x 3 bands = 12960000 pixels exceeds limit 1000000") {
		t.Fatalf("got %v", err)
	}
}
