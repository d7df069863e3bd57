package raster

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/canopyag/canopy/analysis-svc/internal/radiometry"
)

// TestSequoiaMetadata reads Parrot's sensor model and the sunshine sensor
// from the real Sequoia capture (PROVENANCE.md section 2).
//
// Expected values: the reference notebook (rasmusfenger/
// micasense_imageprocessing_sequoia, "Sequoia Image Processing Tutorial",
// NIR band) prints exposure 0.003000000027 s (the float32 0.003 ExifTool
// also shows), imager gain 6.21 (ISO 621 / 100) and "Sunshine sensor
// irradiance: 0.14". The SensorModel, f-number and other bands' ISO are
// as ExifTool 12.57 (-n) printed them; the other bands' CH0 counts are as an
// independent decoding (testdata/calibration/sequoia.py in package analyze,
// Python struct '<QHHHHfff') printed them.
//
// The 0.14 is the same quantity in the same units as the reference's: its
// sequoiautils.GetSunIrradiance divides the CH0 count of the reading nearest
// the capture by gain index x integration time (14 / (1 x 100 ms)); here the
// divisor is the gain relative to gain index 1 (from
// Camera:IrradianceCalibrationMeasurement) x integration time, which is the
// same for a reading at gain index 1, as all of these are. Both are counts
// per millisecond, an arbitrary unit (not W/m²/nm), and the reference prints
// it rounded to 2 decimals; the decoded value is exactly 14/100.
func TestSequoiaMetadata(t *testing.T) {
	dir := filepath.Join(sharedData(t), "parrot-sequoia/0077")
	cases := []struct {
		band           string
		a, b, c        float64
		iso            float64
		ch0            uint16
		irradiance     float64
		vignetteCentre float64 // V at column 640, row 480, from sequoia.py
	}{
		{"GRE", 310316.1, 3067.5, 4773.6, 206, 34, 0.34, 0.9762687025592364},
		{"RED", 280652.5, 4863.1, 2764.2, 325, 28, 0.28, 0.9781393803093557},
		{"REG", 78630.0, 5078.8, 623.5, 796, 6, 0.06, 0.9821738210910274},
		{"NIR", 271665.8, 5008.3, 2581.1, 621, 14, 0.14, 0.9808800071757385},
	}
	for _, tc := range cases {
		t.Run(tc.band, func(t *testing.T) {
			name := "IMG_180413_080658_0000_" + tc.band + ".TIF"
			f, err := Open(filepath.Join(dir, name), name, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			m, err := sequoiaModel(f, 65472)
			if err != nil {
				t.Fatal(err)
			}
			if m.A != tc.a || m.B != tc.b || m.C != tc.c {
				t.Errorf("sensor model = %v, %v, %v", m.A, m.B, m.C)
			}
			// GDAL reads the rational as 0.003; the reference's
			// 0.003000000027 is the same value as a float32.
			if float32(m.Exposure) != float32(0.003000000027) || m.ISO != tc.iso || math.Abs(m.FNumber-2.2) > 1e-6 {
				t.Errorf("exposure %v s, ISO %v, f/%v", m.Exposure, m.ISO, m.FNumber)
			}
			if tc.band == "NIR" {
				if _, gain, _ := exposureGain(f.EXIF); math.Abs(gain-6.21) > 1e-12 {
					t.Errorf("NIR gain = %v, want 6.21", gain)
				}
			}
			if len(m.Vignette) != 15 {
				t.Errorf("%d vignetting terms, want 15", len(m.Vignette))
			}
			if g := radiometry.Vignette(m.Vignette, 640.0/1280, 480.0/960); math.Abs(g-tc.vignetteCentre) > 1e-12 {
				t.Errorf("V(centre) = %.15f, sequoia.py %.15f", g, tc.vignetteCentre)
			}
			s, err := sunshineIrradiance(f)
			if err != nil {
				t.Fatal(err)
			}
			// Ten readings at about 5 Hz; the exposure (CreateDate
			// 00:02:30.128607 since start-up) is nearest the last, at
			// 149.990744 s.
			r := s.Record
			if s.Index != 9 || r.Timestamp != 149990744 || r.CH0 != tc.ch0 || r.GainIndex != 1 || r.IntegrationMS != 100 {
				t.Errorf("reading %d: %+v", s.Index, r)
			}
			if math.Abs(s.Irradiance-tc.irradiance) > 1e-15 {
				t.Errorf("irradiance = %v, want %v", s.Irradiance, tc.irradiance)
			}
			if tc.band == "NIR" && math.Round(s.Irradiance*100)/100 != 0.14 {
				t.Errorf("NIR irradiance %v does not print as the published 0.14", s.Irradiance)
			}
		})
	}
}

// TestSequoiaMissingTags: without the sunshine list, automatic calibration
// falls back to uncalibrated_dn and the warning names the tag; without the
// sensor model, likewise.
func TestSequoiaMissingTags(t *testing.T) {
	mk := func(xmp xmpProps) *File {
		return &File{Name: "IMG_0000_NIR.TIF", Bands: []Band{{DataType: "UInt16"}},
			EXIF: map[string]string{"EXIF_ExposureTime": "(0.003)", "EXIF_ISOSpeedRatings": "621", "EXIF_FNumber": "(2.2)"},
			tiff: tiffTags{Make: "Parrot", Model: "Sequoia", BlackLevel: []float64{5475}}, xmp: xmp}
	}
	full := xmpProps{
		"Camera:RigName": {"Sequoia"}, "Camera:SensorModel": {"271665.8,5008.3,2581.1"},
		"Camera:VignettingPolynomial2DName": {"0,0"}, "Camera:VignettingPolynomial2D": {"1"},
	}
	for _, tc := range []struct {
		drop, want string
	}{
		{"Camera:IrradianceList", "no XMP Camera:IrradianceList"},
		{"Camera:SensorModel", "no XMP Camera:SensorModel"},
	} {
		x := xmpProps{}
		for k, v := range full {
			if k != tc.drop {
				x[k] = v
			}
		}
		c := &Capture{files: []*File{mk(x)}}
		mode, models, err := c.chooseCalibration()
		if err != nil || mode != "" || models != nil {
			t.Errorf("without %s: mode %q, %d models, %v", tc.drop, mode, len(models), err)
		}
		if w := strings.Join(c.Warnings, "\n"); !strings.Contains(w, "no reflectance calibration: ") || !strings.Contains(w, tc.want) {
			t.Errorf("without %s: warnings %q", tc.drop, w)
		}
		c = &Capture{files: []*File{mk(x)}, opt: Options{Calibration: CalibrationSunshine}}
		if _, _, err := c.chooseCalibration(); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("sunshine asked for without %s: %v", tc.drop, err)
		}
	}
}
