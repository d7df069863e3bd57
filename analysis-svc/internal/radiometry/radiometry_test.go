package radiometry

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

// TestRadianceByHand checks the model on pixels worked out by hand.
func TestRadianceByHand(t *testing.T) {
	m := MicaSense{
		BlackLevel: 4800, Exposure: 0.001, Gain: 2,
		// a2 / t = 0.001 and a3 = 0.0005 per row.
		RadiometricCal: [3]float64{0.0002, 1e-6, 0.0005},
		VignetteCenter: [2]float64{0, 0},
		VignettePoly:   []float64{0.001, 0.0001},
		BitsPerPixel:   16,
		Saturation:     65520,
	}
	// 3 x 2 pixels: row 0 then row 1.
	v := []float32{10000, 10000, 65520, 10000, 4000, float32(math.NaN())}
	if err := m.Radiance(v, 3, 2); err != nil {
		t.Fatal(err)
	}
	// (10000 - 4800) / (2 * 0.001) * 0.0002 / 65536 = 520 / 65536.
	base := 520.0 / 65536
	// Pixel (0, 0): r = 0, row 0: no vignetting, no row gradient.
	// Pixel (1, 0): r = 1: V = 1 / (1 + 0.001 + 0.0001).
	// Pixel (0, 1): r = 1, row 1: R = 1 / (1 + 0.001 - 0.0005).
	want := []float64{base, base / 1.0011, math.NaN(), base / 1.0011 / 1.0005, 0, math.NaN()}
	for i, w := range want {
		got := float64(v[i])
		if math.IsNaN(w) != math.IsNaN(got) || (!math.IsNaN(w) && !near(got, w, 1e-6)) {
			t.Errorf("pixel %d = %g, want %g", i, got, w)
		}
	}
}

func TestRadianceRefusesMissingMetadata(t *testing.T) {
	for name, m := range map[string]MicaSense{
		"no exposure":    {Gain: 1, RadiometricCal: [3]float64{1}, VignettePoly: []float64{0}, BitsPerPixel: 16},
		"no gain":        {Exposure: 1, RadiometricCal: [3]float64{1}, VignettePoly: []float64{0}, BitsPerPixel: 16},
		"no calibration": {Exposure: 1, Gain: 1, VignettePoly: []float64{0}, BitsPerPixel: 16},
		"no vignetting":  {Exposure: 1, Gain: 1, RadiometricCal: [3]float64{1}, BitsPerPixel: 16},
	} {
		if err := m.Radiance(make([]float32, 4), 2, 2); !errors.Is(err, ErrMetadata) {
			t.Errorf("%s: err = %v, want ErrMetadata", name, err)
		}
	}
}

func TestRegionStats(t *testing.T) {
	// 4 x 3 image, value = 10*row + column.
	v := make([]float32, 12)
	for i := range v {
		v[i] = float32(10*(i/4) + i%4)
	}
	// numpy v[1:3, 1:3] = [[11, 12], [21, 22]]: mean 16.5, std 5.024938.
	st, err := Rect(1, 3, 1, 3).Stats(v, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pixels != 4 || st.Mean != 16.5 || st.Min != 11 || st.Max != 22 || !near(st.Std, math.Sqrt((5.5*5.5*2+4.5*4.5*2)/4), 1e-12) {
		t.Errorf("rect stats = %+v", st)
	}
	// A triangle with corners on pixel centres (0,0), (2,0), (0,2)
	// includes its edges: (0,0) (1,0) (2,0) (0,1) (1,1) (0,2).
	st, err = Region{{0, 0}, {2, 0}, {0, 2}}.Stats(v, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pixels != 6 || !near(st.Mean, (0+1+2+10+11+20)/6.0, 1e-12) {
		t.Errorf("triangle stats = %+v", st)
	}
}

func TestPanelFactorAndIrradiance(t *testing.T) {
	// 6 x 6 pixels of 0.1: more than MinPanelPixels.
	v := make([]float32, 36)
	for i := range v {
		v[i] = 0.1
	}
	p, err := Panel(v, 6, 6, Rect(0, 6, 0, 6), 0.5)
	if err != nil {
		t.Fatal(err)
	}
	// Factor 0.5 / 0.1 = 5; irradiance π 0.1 / 0.5.
	if !near(p.Factor, 5, 1e-6) || !near(p.Irradiance, math.Pi*0.2, 1e-6) || p.Pixels != 36 {
		t.Errorf("panel = %+v", p)
	}
	if _, err := Panel(v, 6, 6, Rect(0, 6, 0, 6), 1.5); err == nil {
		t.Error("panel reflectance 1.5 was accepted")
	}
	// A region cut off by the image's edge would average in what lies
	// around the panel; four corners at one point enclose one pixel.
	if _, err := Panel(v, 6, 6, Region{{0, 0}, {5000, 0}, {5000, 5}, {0, 5}}, 0.5); err == nil || !strings.Contains(err.Error(), "outside the 6 x 6 image") {
		t.Errorf("a corner outside the image: %v", err)
	}
	if _, err := Panel(v, 6, 6, Region{{1, 1}, {1, 1}, {1, 1}, {1, 1}}, 0.5); err == nil || !strings.Contains(err.Error(), "enclose 1 pixels") {
		t.Errorf("four corners at one point: %v", err)
	}
	if _, err := Panel(v, 6, 6, Rect(0, 4, 0, 4), 0.5); err == nil {
		t.Error("a 4 x 4 region (16 pixels, under MinPanelPixels) was accepted")
	}
	v[0] = float32(math.NaN())
	if _, err := Panel(v, 6, 6, Rect(0, 6, 0, 6), 0.5); err == nil {
		t.Error("a saturated pixel inside the panel was accepted")
	}
	if k, err := DLSFactor(2); err != nil || !near(k, math.Pi/2, 1e-15) {
		t.Errorf("DLSFactor(2) = %g, %v", k, err)
	}
	if _, err := DLSFactor(0); !errors.Is(err, ErrMetadata) {
		t.Errorf("DLSFactor(0) err = %v", err)
	}
}

// TestSunAngleCorrection compares with a numpy script run once
// (analyze/testdata/calibration/sun.py: the Astronomical Almanac's low-precision solar
// formulas, not the Meeus coordinates used here, and the pose as numpy
// rotation matrices
// Rz(yaw) Ry(pitch) Rx(roll) applied to (0, 0, -1)), for the DLS poses and
// times of the MicaSense captures (XMP DLS:Yaw/Pitch/Roll, EXIF time and
// GPS):
//
//	IMG_0000 elevation 41.197 azimuth 199.129 angle 38.716 factor 0.87159
//	IMG_0001 elevation 41.096 azimuth 199.605 angle 48.339 factor 0.99110
//
// The two solar algorithms agree to about 0.01° over this century, hence
// 0.05° and a factor within 0.1%. (Spencer's Fourier series for the
// declination, tried first, was 0.45° off on this date.)
func TestSunAngleCorrection(t *testing.T) {
	for _, c := range []struct {
		name                  string
		t                     time.Time
		lat, lon              float64
		pose                  Pose
		el, az, angle, factor float64
	}{
		{"IMG_0000", time.Date(2017, 10, 19, 20, 40, 39, 200174000, time.UTC), 36.576096, -119.4352689,
			Pose{-3.0702229923362689, -0.18812839845718335, -0.013387829297356699}, 41.197, 199.129, 38.716, 0.87159},
		{"IMG_0001", time.Date(2017, 10, 19, 20, 42, 10, 200159000, time.UTC), 36.5760815, -119.4352604,
			Pose{-0.36845451174720734, -0.0096490459051939252, -0.026797847159366964}, 41.096, 199.605, 48.339, 0.99110},
	} {
		el, az := SunPosition(c.t, c.lat, c.lon)
		f, angle, err := SunAngleCorrection(el, az, c.pose)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if math.Abs(el-c.el) > 0.05 || math.Abs(az-c.az) > 0.05 || math.Abs(angle-c.angle) > 0.05 || math.Abs(f/c.factor-1) > 0.001 {
			t.Errorf("%s: elevation %.3f azimuth %.3f angle %.3f factor %.5f; numpy %.3f %.3f %.3f %.5f", c.name, el, az, angle, f, c.el, c.az, c.angle, c.factor)
		}
	}
	// Level sensor, sun overhead: nothing to correct.
	if f, angle, err := SunAngleCorrection(90, 0, Pose{}); err != nil || math.Abs(f-1) > 1e-12 || angle > 1e-6 {
		t.Errorf("level, sun overhead: %g %g %v", f, angle, err)
	}
	if _, _, err := SunAngleCorrection(-5, 0, Pose{}); err == nil {
		t.Error("sun below the horizon accepted")
	}
}
