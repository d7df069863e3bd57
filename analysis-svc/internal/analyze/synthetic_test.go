package analyze

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airbusgeo/godal"

	"github.com/canopyag/canopy/analysis-svc/internal/index"
)

// fiveBand writes a 2 x 1 uint16 GeoTIFF in MicaSense order Blue, Green,
// Red, NIR, Red edge with no metadata that names the bands.
func fiveBand(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "stack.tif")
	// Pixel 0: Blue 500, Green 2000, Red 3000, NIR 9000, Red edge 6000.
	// Pixel 1: all 0 -> every index is 0/0 there.
	writeTIFF(t, p, godal.UInt16, 2, 1, [][]float32{{500, 0}, {2000, 0}, {3000, 0}, {9000, 0}, {6000, 0}}, nil)
	return p
}

func TestFiveBandLayoutMapsRoles(t *testing.T) {
	p := fiveBand(t)
	res := run(t, []File{{Path: p, Filename: "stack.tif"}}, Options{BandLayout: "BGRNE"})
	// (9000-3000)/(9000+3000) = 0.5; by spectral position (band 4 = NIR
	// would be wrong) it would be (6000-3000)/9000 = 1/3.
	ndvi := indexResult(t, res, "NDVI").Stats
	if ndvi.Valid != 1 || ndvi.NoData != 1 || math.Abs(ndvi.Mean-0.5) > 1e-7 {
		t.Errorf("NDVI = %+v, want one valid pixel of 0.5", ndvi)
	}
	// (9000-6000)/(9000+6000) = 0.2
	if ndre := indexResult(t, res, "NDRE").Stats; math.Abs(ndre.Mean-0.2) > 1e-7 {
		t.Errorf("NDRE = %v, want 0.2", ndre.Mean)
	}
	if res.BandRolesSource != "layout" {
		t.Errorf("source = %s", res.BandRolesSource)
	}
}

func TestMultiBandWithoutRolesAsksForLayout(t *testing.T) {
	p := fiveBand(t)
	_, err := Analyze(context.Background(), []File{{Path: p, Filename: "stack.tif"}}, Options{}, Outputs{})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "band layout") {
		t.Fatalf("got %v, want a request for a band layout", err)
	}
	_, err = Analyze(context.Background(), []File{{Path: p, Filename: "stack.tif"}}, Options{BandLayout: "RGB"}, Outputs{})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "names 3 bands, the image has 5") {
		t.Fatalf("short layout: got %v", err)
	}
}

func TestDeclaredRoleNeedsSingleBandFile(t *testing.T) {
	p := fiveBand(t)
	_, err := Analyze(context.Background(), []File{{Path: p, Role: index.NIR}}, Options{}, Outputs{})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "single-band") {
		t.Fatalf("got %v", err)
	}
}

func TestFloatReflectanceWithDescriptions(t *testing.T) {
	p := filepath.Join(t.TempDir(), "refl.tif")
	// NIR 0.8 / Red 0.2: NDVI 0.6, SAVI(L=0.5) = 1.5*0.6/1.5 = 0.6,
	// SAVI(L=0.25) = 1.25*0.6/1.25 = 0.6 as well; second pixel NIR 0.5,
	// Red 0.1: SAVI(0.25) = 1.25*0.4/0.85 = 0.588235...
	writeTIFF(t, p, godal.Float32, 2, 1, [][]float32{{0.8, 0.5}, {0.2, 0.1}}, []string{"nir", "red"})
	res := run(t, []File{{Path: p}}, Options{SAVIL: ptr(0.25)})
	if res.CalibrationMode != "reflectance" || res.BandRolesSource != "description" {
		t.Errorf("calibration %s, source %s", res.CalibrationMode, res.BandRolesSource)
	}
	savi := indexResult(t, res, "SAVI")
	if savi.Caveat != "" {
		t.Errorf("caveat on reflectance: %q", savi.Caveat)
	}
	if want := (0.6 + 1.25*0.4/0.85) / 2; math.Abs(savi.Stats.Mean-want) > 1e-6 {
		t.Errorf("SAVI mean = %v, want %v", savi.Stats.Mean, want)
	}
}

func TestFilenameSuffixRoles(t *testing.T) {
	dir := t.TempDir()
	// Sequoia-style names, no XMP: NIR 3000, Red 1000 -> NDVI 0.5.
	nir, red := filepath.Join(dir, "IMG_0001_NIR.TIF"), filepath.Join(dir, "IMG_0001_RED.TIF")
	writeTIFF(t, nir, godal.UInt16, 1, 1, [][]float32{{3000}}, nil)
	writeTIFF(t, red, godal.UInt16, 1, 1, [][]float32{{1000}}, nil)
	res := run(t, []File{{Path: nir, Filename: "IMG_0001_NIR.TIF"}, {Path: red, Filename: "IMG_0001_RED.TIF"}}, Options{})
	if res.BandRolesSource != "filename" || math.Abs(indexResult(t, res, "NDVI").Stats.Mean-0.5) > 1e-7 {
		t.Errorf("source %s, NDVI %v", res.BandRolesSource, indexResult(t, res, "NDVI").Stats.Mean)
	}
}

func TestInvalidOptions(t *testing.T) {
	for name, opt := range map[string]Options{
		"L above 1":     {SAVIL: ptr(1.5)},
		"unknown index": {Indices: []string{"NDXI"}},
	} {
		_, err := Analyze(context.Background(), []File{{Path: "/nonexistent"}}, opt, Outputs{})
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

func TestNotAnImage(t *testing.T) {
	p := filepath.Join(t.TempDir(), "notes.jpg")
	writeFile(t, p, "this is not a picture")
	_, err := Analyze(context.Background(), []File{{Path: p}}, Options{}, Outputs{})
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("got %v", err)
	}
}

func TestMissingFileIsNotTheInputsFault(t *testing.T) {
	_, err := Analyze(context.Background(), []File{{Path: filepath.Join(t.TempDir(), "gone.tif")}}, Options{}, Outputs{})
	if err == nil || errors.Is(err, ErrUnsupported) || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrMissingBands) {
		t.Fatalf("got %v, want a retryable error", err)
	}
}

// A 16-bit reflectance product stored as 0..10000 with no scale in the
// file: declared scale 0.0001 makes NIR 5000 / Red 1000 reflectance 0.5 /
// 0.1, so SAVI(L=0.5) = 1.5 * 0.4 / 1.1 = 0.5455 (issue 3's figure) and
// NDVI = 0.4 / 0.6 = 0.6667. Without the declaration the same file is read
// as a fraction of 16-bit full scale (0.0763 / 0.0153): NDVI is unchanged
// but SAVI becomes 1.5 * 0.0610 / 0.5916 = 0.1547, and it is flagged.
func TestDeclaredReflectanceScale(t *testing.T) {
	p := filepath.Join(t.TempDir(), "scaled.tif")
	writeTIFF(t, p, godal.UInt16, 1, 1, [][]float32{{5000}, {1000}}, []string{"nir", "red"})

	res := run(t, []File{{Path: p}}, Options{ReflectanceScale: 0.0001, SAVIL: ptr(0.5)})
	savi, ndvi := indexResult(t, res, "SAVI"), indexResult(t, res, "NDVI")
	if math.Round(savi.Stats.Mean*1e4)/1e4 != 0.5455 || math.Abs(ndvi.Stats.Mean-2.0/3) > 1e-6 {
		t.Errorf("declared 0.0001: SAVI %v (want 0.5455), NDVI %v (want 0.6667)", savi.Stats.Mean, ndvi.Stats.Mean)
	}
	if res.CalibrationMode != "reflectance" || savi.Caveat != "" || res.SAVIL != 0.5 {
		t.Errorf("declared 0.0001: calibration %s, SAVI caveat %q, L %v", res.CalibrationMode, savi.Caveat, res.SAVIL)
	}

	res = run(t, []File{{Path: p}}, Options{})
	savi, ndvi = indexResult(t, res, "SAVI"), indexResult(t, res, "NDVI")
	nir, red := 5000.0/65535, 1000.0/65535
	if want := 1.5 * (nir - red) / (nir + red + 0.5); math.Abs(savi.Stats.Mean-want) > 1e-6 || math.Abs(ndvi.Stats.Mean-2.0/3) > 1e-6 {
		t.Errorf("undeclared: SAVI %v (want %v), NDVI %v", savi.Stats.Mean, want, ndvi.Stats.Mean)
	}
	if res.CalibrationMode != "uncalibrated_dn" || savi.Caveat == "" {
		t.Errorf("undeclared: calibration %s, SAVI caveat %q", res.CalibrationMode, savi.Caveat)
	}
}

// An explicit L = 0 is honoured, not taken for "unset": SAVI equals NDVI.
func TestSAVIExplicitZero(t *testing.T) {
	p := filepath.Join(t.TempDir(), "refl.tif")
	writeTIFF(t, p, godal.Float32, 2, 1, [][]float32{{0.8, 0.5}, {0.2, 0.1}}, []string{"nir", "red"})
	res := run(t, []File{{Path: p}}, Options{SAVIL: ptr(0)})
	// NDVI: (0.6/1.0 + 0.4/0.6) / 2 = 0.63333...
	want := (0.6 + 0.4/0.6) / 2
	if s, n := indexResult(t, res, "SAVI").Stats.Mean, indexResult(t, res, "NDVI").Stats.Mean; math.Abs(s-want) > 1e-6 || math.Abs(n-want) > 1e-6 || res.SAVIL != 0 {
		t.Errorf("L=0: SAVI %v, NDVI %v, want both %v; L %v", s, n, want, res.SAVIL)
	}
}

// TestAPanicFailsTheAnalysisOnly: a panic on one of the goroutines that
// compute the indices (here the Written callback, which runs on them)
// comes back as the analysis's *PanicError, with the panic's value and a
// stack, instead of ending the process.
func TestAPanicFailsTheAnalysisOnly(t *testing.T) {
	p := fiveBand(t)
	dir := t.TempDir()
	_, err := Analyze(context.Background(), []File{{Path: p, Filename: "stack.tif"}}, Options{BandLayout: "BGRNE"},
		Outputs{GeoTIFFDir: dir, Written: func(Output) { panic("boom") }})
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "boom" || !strings.Contains(string(pe.Stack), "runIndices") {
		t.Fatalf("error %v; want a *PanicError of \"boom\" with runIndices in its stack", err)
	}
	if !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), "bug") {
		t.Errorf("message %q: want the panic's value, called a bug", err.Error())
	}
}

// An index no pixel of which has a value is reported as not computed,
// saying why, rather than with figures of zero that read as bare ground:
// here Blue equals Green plus Red, VARI's 0/0, while NDVI is defined.
// A capture with no value for any index fails, as the input's fault.
func TestIndexWithoutValidPixels(t *testing.T) {
	p := filepath.Join(t.TempDir(), "stack.tif")
	// B 5000 = G 2000 + R 3000; NIR 9000, red edge 6000.
	writeTIFF(t, p, godal.UInt16, 2, 1, [][]float32{{5000, 5000}, {2000, 2000}, {3000, 3000}, {9000, 9000}, {6000, 6000}}, nil)
	res := run(t, []File{{Path: p, Filename: "stack.tif"}}, Options{BandLayout: "BGRNE"})
	vari := indexResult(t, res, "VARI")
	if vari.Available || !strings.Contains(vari.Reason, "no valid pixel: all 2 are nodata") || vari.Stats.Valid != 0 || vari.Stats.Mean != 0 {
		t.Errorf("VARI = %+v; want not available, saying no pixel is valid", vari)
	}
	// (9000-3000)/(9000+3000) = 0.5 on both pixels.
	if ndvi := indexResult(t, res, "NDVI"); !ndvi.Available || ndvi.Stats.Valid != 2 || math.Abs(ndvi.Stats.Mean-0.5) > 1e-7 {
		t.Errorf("NDVI = %+v; want two valid pixels of 0.5", ndvi.Stats)
	}

	nan := float32(math.NaN())
	empty := filepath.Join(t.TempDir(), "empty.tif")
	writeTIFF(t, empty, godal.Float32, 2, 1, [][]float32{{nan, nan}, {nan, nan}, {nan, nan}, {nan, nan}, {nan, nan}}, nil)
	_, err := Analyze(context.Background(), []File{{Path: empty, Filename: "empty.tif"}}, Options{BandLayout: "BGRNE"}, Outputs{})
	if !errors.Is(err, ErrMissingBands) || !strings.Contains(err.Error(), "no pixel has data for any index") {
		t.Errorf("a capture of no data: %v; want ErrMissingBands saying no pixel has data", err)
	}
}

// TestConstantBandIsWarnedOf: a NIR band of zeros gives NDVI -1 everywhere
// ((0 - r) / (0 + r)), a figure that reads as bare ground; the analysis
// says the band looks empty. Bands that vary get no such warning.
func TestConstantBandIsWarnedOf(t *testing.T) {
	p := filepath.Join(t.TempDir(), "dead.tif")
	writeTIFF(t, p, godal.Float32, 3, 1, [][]float32{{0, 0, 0}, {0.2, 0.1, 0.3}}, []string{"nir", "red"})
	res := run(t, []File{{Path: p, Filename: "dead.tif"}}, Options{})
	if ndvi := indexResult(t, res, "NDVI").Stats; ndvi.Valid != 3 || ndvi.Mean != -1 {
		t.Errorf("NDVI = %+v, want -1 at 3 pixels", ndvi)
	}
	var found []string
	for _, w := range res.Warnings {
		if strings.Contains(w, "same value") {
			found = append(found, w)
		}
	}
	if len(found) != 1 || !strings.Contains(found[0], "NIR band (dead.tif) has the same value (0 as stored) in all of its 3 pixels") {
		t.Errorf("warnings %q; want one about the NIR band", res.Warnings)
	}

	// Counts are named as the file stores them, not as the 0..1 fraction
	// of full scale the analysis works in; nodata pixels do not count.
	p = filepath.Join(t.TempDir(), "stuck.tif")
	writeTIFF(t, p, godal.UInt16, 3, 1, [][]float32{{500, 500, 500}, {2000, 1000, 3000}}, []string{"nir", "red"})
	res = run(t, []File{{Path: p, Filename: "stuck.tif"}}, Options{})
	if !strings.Contains(strings.Join(res.Warnings, "|"), "NIR band (stuck.tif) has the same value (500 as stored) in all of its 3 pixels") {
		t.Errorf("warnings %q; want one about the NIR band's 500", res.Warnings)
	}

	p = filepath.Join(t.TempDir(), "alive.tif")
	writeTIFF(t, p, godal.Float32, 3, 1, [][]float32{{0.5, 0.6, 0.5}, {0.2, 0.1, 0.3}}, []string{"nir", "red"})
	for _, w := range run(t, []File{{Path: p, Filename: "alive.tif"}}, Options{}).Warnings {
		if strings.Contains(w, "same value") {
			t.Errorf("warning %q on bands that vary", w)
		}
	}
}
