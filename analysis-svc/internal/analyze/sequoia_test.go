package analyze

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// TestSequoiaSunshine analyses the Parrot Sequoia capture (PROVENANCE.md
// section 2) in automatic mode, which is now sunshine: Parrot's sensor
// model and the sunshine sensor's irradiance per band.
//
// The NDVI statistics were computed once, outside this code, by
// testdata/calibration/sequoia.py (numpy 1.24.2, Debian's GDAL 3.6.2
// Python bindings), which implements the same formulas independently (see
// its header):
//
//	cd testdata/calibration
//	CANOPY_SHARED_DATA=../../../../../../shared/data /usr/bin/python3 sequoia.py
//
// It printed irradiance 0.34, 0.28, 0.06, 0.14 (Green, Red, Red edge, NIR;
// CH0 34, 28, 6, 14 in 100 ms at gain index 1) and, for NDVI from the NIR
// and Red values L / E, the statistics below. The same capture in
// uncalibrated_dn (TestSequoiaNDVI, DN normalised only for black level,
// exposure and ISO) has NDVI mean -0.2217, median -0.3909: the sensor
// model's offset and the sunshine sensor's Red/NIR irradiance ratio (2:1)
// move it by about +0.3.
func TestSequoiaSunshine(t *testing.T) {
	d := sharedData(t)
	dir := filepath.Join(d, "parrot-sequoia/0077")
	res := run(t, files(dir, "IMG_180413_080658_0000_GRE.TIF", "IMG_180413_080658_0000_RED.TIF",
		"IMG_180413_080658_0000_REG.TIF", "IMG_180413_080658_0000_NIR.TIF"), Options{NoAlign: true})
	if res.CalibrationMode != CalibrationSunshine {
		t.Fatalf("mode = %s, warnings %q", res.CalibrationMode, res.Warnings)
	}
	checkStats(t, indexResult(t, res, "NDVI"), reference{
		n: 1212299, mean: 0.07832917404714203, std: 0.43641921290302815, min: -1.0, max: 0.9991525978768716,
		p2: -0.7367161933650797, p5: -0.5848399477920115, p25: -0.24003841240352192, p50: -0.020709367027828485,
		p75: 0.466577036721778, p95: 0.8031319843225952, p98: 0.8581802944397003,
	}, 1e-5)
	want := map[string]float64{"Green": 0.34, "Red": 0.28, "RedEdge": 0.06, "NIR": 0.14}
	if len(res.Calibration) != 4 {
		t.Fatalf("calibration = %+v", res.Calibration)
	}
	for _, c := range res.Calibration {
		if e := want[c.Role]; math.Abs(c.Irradiance-e) > 1e-12 || math.Abs(c.Factor-1/e) > 1e-9 {
			t.Errorf("%s: irradiance %v factor %v, want %v and %v", c.Role, c.Irradiance, c.Factor, e, 1/e)
		}
	}
	w := strings.Join(res.Warnings, "\n")
	for _, s := range []string{
		"values are proportional to reflectance, not reflectance",
		"sunshine sensor counts are low (CH0 IMG_180413_080658_0000_GRE.TIF 34, IMG_180413_080658_0000_RED.TIF 28, IMG_180413_080658_0000_REG.TIF 6, IMG_180413_080658_0000_NIR.TIF 14",
	} {
		if !strings.Contains(w, s) {
			t.Errorf("no warning %q in %q", s, w)
		}
	}
	// Not reflectance: indices with additive constants keep their caveat.
	if indexResult(t, res, "SAVI").Caveat == "" {
		t.Error("SAVI has no caveat in sunshine mode")
	}
	if indexResult(t, res, "NDVI").Caveat != "" {
		t.Errorf("NDVI caveat %q", indexResult(t, res, "NDVI").Caveat)
	}
}
