package analyze

import (
	"context"
	"errors"
	"math"
	"math/cmplx"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/dsp/fourier"

	"github.com/canopyag/canopy/analysis-svc/internal/index"
	"github.com/canopyag/canopy/analysis-svc/internal/radiometry"
	"github.com/canopyag/canopy/analysis-svc/internal/raster"
)

// Published numbers for the MicaSense RedEdge panel capture IMG_0000_*
// (micasense/imageprocessing at 91766cb5, quoted in shared/data/PROVENANCE.md
// section 1): tests/test_capture.py for the panel radiance and irradiance,
// the tutorials' manual panel corners, and Tutorial 1's printed output for
// the NIR band's rectangle [490:670, 660:840].
//
// The flight-capture references further down were computed once, outside
// this code, with numpy 1.24.2 and Debian's GDAL 3.6.2 Python bindings, by
// the scripts in testdata/calibration (kept so they can be rerun; no test
// runs them):
//
//	cd testdata/calibration
//	CANOPY_SHARED_DATA=../../../../../../shared/data /usr/bin/python3 ref.py
//	CANOPY_SHARED_DATA=../../../../../../shared/data /usr/bin/python3 flight.py
//	/usr/bin/python3 sun.py
//
// ref.py implements the same published MicaSense model as package
// radiometry, independently: V = 1/polyval([k5..k0, 1], r), R = 1/(1 +
// a2 y/t - a3 y), L = V R (DN - 4800) / (g t) a1 / 65536, floored at 0;
// the panel mean is over the pixels whose centres lie inside or on the
// corner polygon (a cross-product test). It printed, for EXIF black level
// 4800 (with the dark-row mean instead, every radiance is 0.4-0.7% lower,
// so the published numbers were made with BlackLevel):
//
//	band  pixels  radiance  irradiance
//	1     26008   0.170286  0.798460
//	2     25688   0.179431  0.816954
//	3     25766   0.162222  0.749462
//	4     26407   0.106440  0.548184
//	5     25688   0.130808  0.613350
//	NIR rect mean radiance 0.106511, factor 5.7271, reflectance min 0.5556
//	max 0.6755 mean 0.6100 std 0.01353
//
// flight.py takes the panel factors reflectance / mean panel radiance
// (3.934566, 3.845493, 4.191796, 5.730912, 5.122026 for bands 1..5),
// converts IMG_0001_* to radiance the same way, masks DN >= 65520, and
// gives NDVI (NIR = band 4, Red = band 3) statistics with np.percentile:
// per pixel as the lenses saw it, and after its own alignment (translation
// only, phase correlation of np.gradient magnitudes over the whole image
// with a Hann taper, bilinear resampling, a 16-pixel margin cropped). Its
// NIR-to-Red shift is (13.464, 4.248) pixels.

var micaPanelReflectance = map[index.Role]float64{index.Blue: 0.67, index.Green: 0.69, index.Red: 0.68, index.NIR: 0.61, index.RedEdge: 0.67}

func corners(c [4][2]float64) radiometry.Region {
	r := make(radiometry.Region, 4)
	for i, p := range c {
		r[i] = radiometry.Point{X: p[0], Y: p[1]}
	}
	return r
}

func micaSensePanel(d string) *Panel {
	return &Panel{
		Files: files(filepath.Join(d, "micasense-rededge/0000SET/000"),
			"IMG_0000_1.tif", "IMG_0000_2.tif", "IMG_0000_3.tif", "IMG_0000_4.tif", "IMG_0000_5.tif"),
		Reflectance: micaPanelReflectance,
		// The tutorials' manual corners, [column, row] per band.
		Corners: map[index.Role]radiometry.Region{
			index.Blue:    corners([4][2]float64{{809, 613}, {648, 615}, {646, 454}, {808, 452}}),
			index.Green:   corners([4][2]float64{{772, 623}, {613, 625}, {610, 464}, {770, 462}}),
			index.Red:     corners([4][2]float64{{771, 651}, {611, 653}, {610, 492}, {770, 490}}),
			index.NIR:     corners([4][2]float64{{829, 658}, {668, 659}, {668, 496}, {829, 496}}),
			index.RedEdge: corners([4][2]float64{{807, 632}, {648, 634}, {645, 473}, {805, 471}}),
		},
	}
}

func TestMicaSensePanelMatchesPublished(t *testing.T) {
	d := sharedData(t)
	bands, err := MeasurePanel(context.Background(), *micaSensePanel(d), 0)
	if err != nil {
		t.Fatal(err)
	}
	// test_capture.py: radiance and irradiance (reflectances 0.67, 0.69,
	// 0.68, 0.61, 0.67), Blue, Green, Red, NIR, Red edge; within 1%.
	want := map[string][2]float64{
		"Blue": {0.170284, 0.798451}, "Green": {0.179400, 0.816815}, "Red": {0.162217, 0.749442},
		"NIR": {0.106470, 0.548338}, "RedEdge": {0.130811, 0.613364},
	}
	if len(bands) != 5 {
		t.Fatalf("%d panel bands, want 5", len(bands))
	}
	for _, b := range bands {
		w := want[b.Role]
		t.Logf("%-7s %s: radiance %.6f (published %.6f, %+.3f%%), irradiance %.6f (published %.6f, %+.3f%%), factor %.4f, %d pixels",
			b.Role, b.File, b.Radiance, w[0], 100*(b.Radiance/w[0]-1), b.Irradiance, w[1], 100*(b.Irradiance/w[1]-1), b.Factor, b.Pixels)
		if math.Abs(b.Radiance/w[0]-1) > 0.01 {
			t.Errorf("%s panel radiance %.6f, published %.6f", b.Role, b.Radiance, w[0])
		}
		if math.Abs(b.Irradiance/w[1]-1) > 0.01 {
			t.Errorf("%s panel irradiance %.6f, published %.6f", b.Role, b.Irradiance, w[1])
		}
	}
	// test_panel.py, Blue band with these corners: pixel count 26005
	// (OpenCV's polygon fill; this code counts pixel centres, as ref.py
	// does: 26008). Its std (raw 738, radiance 0.0033873) is not
	// reproduced: numpy gives raw std 1014.6 and radiance std 0.0044639
	// over the same polygon with the same mean, so the published std came
	// from some other pixel selection; it is not checked.
	blue := bands[0]
	if blue.Role != "Blue" || blue.Pixels != 26008 {
		t.Errorf("blue panel: %s, %d pixels, want 26008 (ref.py)", blue.Role, blue.Pixels)
	}
}

// TestMicaSenseDLSOnPanelCapture compares the downwelling light sensor's
// irradiance, corrected for the sensor's tilt, with what the panel says.
// Expected: the raw XMP Camera:Irradiance of each band (PROVENANCE.md:
// 1.0848248, 0.9839948, 0.9214036, 0.4869322, 0.7713303) times the tilt
// factor 0.87159 that testdata/calibration/sun.py computed for this capture's DLS
// pose, time and position (see package radiometry's TestSunAngleCorrection).
func TestMicaSenseDLSOnPanelCapture(t *testing.T) {
	d := sharedData(t)
	res, err := Analyze(context.Background(), micaSensePanel(d).Files, Options{Calibration: "dls", NoAlign: true, Indices: []string{"NDVI"}}, Outputs{})
	if err != nil {
		t.Fatal(err)
	}
	raw := map[string]float64{"Blue": 1.0848248, "Green": 0.9839948, "Red": 0.9214036, "NIR": 0.4869322, "RedEdge": 0.7713303}
	panel := map[string]float64{"Blue": 0.798451, "Green": 0.816815, "Red": 0.749442, "NIR": 0.548338, "RedEdge": 0.613364}
	if len(res.Calibration) != 5 {
		t.Fatalf("%d band calibrations", len(res.Calibration))
	}
	for _, b := range res.Calibration {
		e := math.Pi / b.Factor
		want := raw[b.Role] * 0.87159
		t.Logf("%-7s DLS %.6f, tilt-corrected %.6f, panel (published) %.6f: %+.1f%%", b.Role, b.Irradiance, e, panel[b.Role], 100*(e/panel[b.Role]-1))
		if math.Abs(e/want-1) > 0.001 || math.Abs(b.Irradiance/raw[b.Role]-1) > 1e-6 {
			t.Errorf("%s: irradiance %.6f (raw %.7f), want %.6f", b.Role, e, b.Irradiance, want)
		}
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "corrected for the sensor's tilt to the sun (factor 0.872..0.872") {
		t.Errorf("warnings %q", res.Warnings)
	}
}

func TestMicaSenseNIRTutorialRegion(t *testing.T) {
	d := sharedData(t)
	p := Panel{
		Files:       files(filepath.Join(d, "micasense-rededge/0000SET/000"), "IMG_0000_4.tif"),
		Reflectance: map[index.Role]float64{index.NIR: 0.61},
		Corners:     map[index.Role]radiometry.Region{index.NIR: radiometry.Rect(490, 670, 660, 840)},
	}
	bands, err := MeasurePanel(context.Background(), p, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := bands[0]
	// Reflectance is radiance times the factor, so its statistics over
	// the rectangle are the radiance statistics times the factor.
	mean, minR, maxR, std := b.Radiance*b.Factor, b.RadianceMin*b.Factor, b.RadianceMax*b.Factor, b.RadianceStd*b.Factor
	t.Logf("NIR [490:670, 660:840]: mean radiance %.6f, factor %.4f, reflectance mean %.4f min %.4f max %.4f std %.5f", b.Radiance, b.Factor, mean, minR, maxR, std)
	// Tutorial 1 prints: mean radiance 0.107, factor 5.727, reflectance
	// min 0.56, max 0.68, mean 0.61, std 0.0135: compared at the printed
	// precision.
	round := func(v float64, digits int) float64 { p := math.Pow(10, float64(digits)); return math.Round(v*p) / p }
	checks := []struct {
		name      string
		got, want float64
	}{
		{"mean radiance", round(b.Radiance, 3), 0.107},
		{"factor", round(b.Factor, 3), 5.727},
		{"min", round(minR, 2), 0.56},
		{"max", round(maxR, 2), 0.68},
		{"mean", round(mean, 2), 0.61},
		{"std", round(std, 4), 0.0135},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %g, published %g", c.name, c.got, c.want)
		}
	}
	if b.Pixels != 180*180 {
		t.Errorf("%d pixels in the rectangle, want 180 x 180", b.Pixels)
	}
}

func TestMicaSenseFlightCalibrated(t *testing.T) {
	d := sharedData(t)
	ctx := context.Background()
	panel := micaSensePanel(d)

	// Per pixel, as the lenses saw it: reflectance from the panel.
	res, err := Analyze(ctx, micaSenseFlight(d), Options{Panel: panel, NoAlign: true}, Outputs{})
	if err != nil {
		t.Fatal(err)
	}
	if res.CalibrationMode != "panel" || len(res.Alignment) != 0 || res.Width != 1280 {
		t.Errorf("calibration %s, %d alignments, width %d", res.CalibrationMode, len(res.Alignment), res.Width)
	}
	// flight.py "panel NDVI unaligned". Radiance is float32 here: 1e-5.
	checkStats(t, indexResult(t, res, "NDVI"), reference{
		n: 1226829, mean: 0.5084153812914076, std: 0.3032099049908654, min: -0.6511752208587861, max: 0.9736758340585383,
		p2: -0.25788446147235977, p5: -0.04892776662149048, p25: 0.2557664027715631, p50: 0.6216797878851195,
		p75: 0.7510387915446589, p95: 0.8575627439639969, p98: 0.8890044925222544,
	}, 1e-5)
	if savi := indexResult(t, res, "SAVI"); savi.Caveat != "" {
		t.Errorf("SAVI on panel reflectance has a caveat: %s", savi.Caveat)
	}

	// The downwelling light sensor instead: flight.py "dls NDVI
	// unaligned", reflectance π L / E with E the raw XMP Camera:Irradiance.
	// The tilt correction multiplies every band's E by the same factor
	// (one DLS pose per capture), which NDVI does not see.
	res, err = Analyze(ctx, micaSenseFlight(d), Options{Calibration: "dls", NoAlign: true}, Outputs{})
	if err != nil {
		t.Fatal(err)
	}
	if res.CalibrationMode != "dls" {
		t.Errorf("calibration %s, want dls", res.CalibrationMode)
	}
	checkStats(t, indexResult(t, res, "NDVI"), reference{
		n: 1226829, mean: 0.5706366559849821, std: 0.27924296041483004, min: -0.5898867339699677, max: 0.9783893861653437,
		p2: -0.162542161735179, p5: 0.050833361932943466, p25: 0.3464617955824124, p50: 0.6791757872471915,
		p75: 0.7914039945367611, p95: 0.8818223724232384, p98: 0.908173747623038,
	}, 1e-5)

	// Aligned and panel-calibrated, the default for a rig with a panel.
	// flight.py "panel NDVI affine-aligned": numpy registered NIR to Red
	// with its own affine fit (its NIR mapping: x' = 13.968 + 1.005714 x -
	// 0.006756 y, y' = -1.522 + 0.006578 x + 1.005368 y, i.e. scale 1.0055,
	// rotation 0.375 deg) and cropped a 16-pixel margin, so the areas
	// differ by a few rows and columns: within 0.003.
	res, err = Analyze(ctx, micaSenseFlight(d), Options{Panel: panel}, Outputs{})
	if err != nil {
		t.Fatal(err)
	}
	al := indexResult(t, res, "NDVI").Stats
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"mean", al.Mean, 0.5196199714174075}, {"std", al.Std, 0.24914677809046543},
		{"p2", al.P2, 0.12442937474913611}, {"p5", al.P5, 0.14135886819809423}, {"p25", al.P25, 0.26001252828031685},
		{"p50", al.P50, 0.5949090238815278}, {"p75", al.P75, 0.7473935022243507}, {"p95", al.P95, 0.834501723754399},
		{"p98", al.P98, 0.8573321577310792},
	} {
		if math.Abs(c.got-c.want) > 0.003 {
			t.Errorf("aligned panel NDVI %s = %.4f, numpy (own alignment) %.4f", c.name, c.got, c.want)
		}
	}
	// Without the rotation and scale (numpy's translation-only alignment,
	// "panel NDVI aligned"), edges stay misregistered by up to 3 pixels in
	// the corners and drag the low tail down: p2 0.028 instead of 0.124.
	if res.CalibrationMode != "panel" || len(res.Alignment) != 5 {
		t.Errorf("calibration %s, %d alignments", res.CalibrationMode, len(res.Alignment))
	}
	un, err := Analyze(ctx, micaSenseFlight(d), Options{Calibration: "uncalibrated_dn"}, Outputs{})
	if err != nil {
		t.Fatal(err)
	}
	u := indexResult(t, un, "NDVI").Stats
	t.Logf("aligned NDVI, %d x %d: panel mean %.4f std %.4f p2 %.4f p50 %.4f p98 %.4f, vegetation %.3f | uncalibrated_dn mean %.4f std %.4f p2 %.4f p50 %.4f p98 %.4f, vegetation %.3f",
		res.Width, res.Height, al.Mean, al.Std, al.P2, al.P50, al.P98, al.VegetationFraction, u.Mean, u.Std, u.P2, u.P50, u.P98, u.VegetationFraction)
	if savi := indexResult(t, un, "SAVI"); savi.Caveat == "" {
		t.Error("SAVI on uncalibrated DN has no caveat")
	}
}

// TestMicaSenseAlignmentResidual measures what is left of the NIR-to-Red
// misalignment on the aligned flight capture with a phase correlation
// written here, independently of package align: gonum's FFT (any size, not
// a power of two), central-difference gradients instead of Sobel, a taper
// over the whole area (not a power-of-two window), the whole
// common area and each quadrant of it (a rotation or scale error would
// show as different shifts in different quadrants). It also saves the
// aligned capture's NDVI map for a person to look at.
func TestMicaSenseAlignmentResidual(t *testing.T) {
	d := sharedData(t)
	var inputs []raster.Input
	for _, f := range micaSenseFlight(d) {
		inputs = append(inputs, raster.Input{Path: f.Path, Name: f.Filename})
	}
	capt, err := raster.OpenCapture(inputs, raster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer capt.Close()
	if err := capt.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Before: the raw bands are about 14 pixels apart (numpy: 13.5, 4.2).
	red, nir := capt.Bands[2], capt.Bands[3]
	if red.Role != index.Red || nir.Role != index.NIR {
		t.Fatalf("roles %s %s", red.Role, nir.Role)
	}
	bx, by := phaseCorrelate(red.Data, nir.Data, capt.Width, 0, 0, capt.Width, capt.Height)
	t.Logf("before alignment: NIR vs Red %.3f, %.3f px", bx, by)
	if math.Hypot(bx, by) < 10 {
		t.Errorf("raw NIR-Red offset %.2f, %.2f: expected over 10 px", bx, by)
	}
	report, r, err := alignBands(capt.Bands, capt.Width, capt.Height)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range report {
		t.Logf("%-7s offset (%.2f, %.2f) px [metadata (%.2f, %.2f)], scale %.5f, rotation %.3f deg, residual %.3f px, local max %.3f rms %.3f over %d windows, peak %.3f",
			a.Role, a.DX, a.DY, a.InitialDX, a.InitialDY, a.Scale, a.RotationDeg, a.Residual, a.ResidualMax, a.ResidualRMS, a.Windows, a.PeakConfidence)
	}
	w, h := r.Width, r.Height
	redA, nirA := r.Bands[2], r.Bands[3]
	areas := map[string][4]int{
		"whole": {0, 0, w, h}, "top-left": {0, 0, w / 2, h / 2}, "top-right": {w / 2, 0, w, h / 2},
		"bottom-left": {0, h / 2, w / 2, h}, "bottom-right": {w / 2, h / 2, w, h},
	}
	for name, a := range areas {
		dx, dy := phaseCorrelate(redA, nirA, w, a[0], a[1], a[2], a[3])
		t.Logf("aligned NIR vs Red, %s: %.3f, %.3f px", name, dx, dy)
		if math.Hypot(dx, dy) >= 1 {
			t.Errorf("aligned NIR vs Red, %s: residual %.3f, %.3f px, want under 1", name, dx, dy)
		}
	}

	// The NDVI map of the aligned capture, for a person to look at.
	dir := os.Getenv("CANOPY_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "micasense-IMG_0001-aligned-panel-ndvi.png")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := Analyze(context.Background(), micaSenseFlight(d), Options{Panel: micaSensePanel(d), Indices: []string{"NDVI"}}, Outputs{Map: f})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("aligned NDVI map (%d x %d): %s", res.Width, res.Height, path)
}

// phaseCorrelate is the shift (dx, dy) with b(x) ≈ a(x - d) over the area
// [x0, x1) x [y0, y1) of two rasters of row length stride.
func phaseCorrelate(a, b []float32, stride, x0, y0, x1, y1 int) (float64, float64) {
	w, h := x1-x0, y1-y0
	grad := func(v []float32) []complex128 {
		out := make([]complex128, w*h)
		sum := 0.0
		for y := 1; y < h-1; y++ {
			for x := 1; x < w-1; x++ {
				at := func(dx, dy int) float64 {
					f := float64(v[(y0+y+dy)*stride+x0+x+dx])
					if f != f {
						return 0
					}
					return f
				}
				g := math.Hypot((at(1, 0)-at(-1, 0))/2, (at(0, 1)-at(0, -1))/2)
				out[y*w+x] = complex(g, 0)
				sum += g
			}
		}
		m := sum / float64(w*h)
		for y := range h {
			hy := 0.5 - 0.5*math.Cos(2*math.Pi*float64(y)/float64(h-1))
			for x := range w {
				hx := 0.5 - 0.5*math.Cos(2*math.Pi*float64(x)/float64(w-1))
				out[y*w+x] = (out[y*w+x] - complex(m, 0)) * complex(hx*hy, 0)
			}
		}
		return out
	}
	fft2 := func(v []complex128, inverse bool) {
		rows, cols := fourier.NewCmplxFFT(w), fourier.NewCmplxFFT(h)
		line := make([]complex128, w)
		for y := range h {
			if inverse {
				rows.Sequence(line, v[y*w:(y+1)*w])
			} else {
				rows.Coefficients(line, v[y*w:(y+1)*w])
			}
			copy(v[y*w:], line)
		}
		col, res := make([]complex128, h), make([]complex128, h)
		for x := range w {
			for y := range h {
				col[y] = v[y*w+x]
			}
			if inverse {
				cols.Sequence(res, col)
			} else {
				cols.Coefficients(res, col)
			}
			for y := range h {
				v[y*w+x] = res[y]
			}
		}
	}
	fa, fb := grad(a), grad(b)
	fft2(fa, false)
	fft2(fb, false)
	for i := range fb {
		c := fb[i] * cmplx.Conj(fa[i])
		if m := cmplx.Abs(c); m > 0 {
			fb[i] = c / complex(m, 0)
		}
	}
	fft2(fb, true)
	best, bi := math.Inf(-1), 0
	for i, v := range fb {
		if real(v) > best {
			best, bi = real(v), i
		}
	}
	px, py := bi%w, bi/w
	at := func(x, y int) float64 { return real(fb[((y+h)%h)*w+(x+w)%w]) }
	// Two-sample sinc estimate (Foroosh et al. 2002): the peak sits n/(n+c)
	// from the highest sample c towards its higher neighbour n.
	sub := func(l, c, r float64) float64 {
		switch {
		case r > l && r > 0:
			return r / (r + c)
		case l > 0:
			return -l / (l + c)
		}
		return 0
	}
	fx := float64(px) + sub(at(px-1, py), best, at(px+1, py))
	fy := float64(py) + sub(at(px, py-1), best, at(px, py+1))
	if fx > float64(w)/2 {
		fx -= float64(w)
	}
	if fy > float64(h)/2 {
		fy -= float64(h)
	}
	return fx, fy
}

func TestCalibrationModeErrors(t *testing.T) {
	d := sharedData(t)
	ctx := context.Background()
	// Asking for a panel calibration without a panel.
	_, err := Analyze(ctx, micaSenseFlight(d), Options{Calibration: "panel", NoAlign: true}, Outputs{})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "no panel factor") {
		t.Errorf("panel without a panel: %v", err)
	}
	_, err = Analyze(ctx, micaSenseFlight(d), Options{Calibration: "bogus"}, Outputs{})
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("unknown mode: %v", err)
	}
	// Sequoia: dls is MicaSense's mode; a Sequoia's is sunshine.
	dir := filepath.Join(d, "parrot-sequoia/0077")
	seq := files(dir, "IMG_180413_080658_0000_NIR.TIF", "IMG_180413_080658_0000_RED.TIF")
	_, err = Analyze(ctx, seq, Options{Calibration: "dls"}, Outputs{})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "its calibration mode is sunshine") {
		t.Errorf("Sequoia dls: %v", err)
	}
	_, err = Analyze(ctx, micaSenseFlight(d), Options{Calibration: "sunshine", NoAlign: true}, Outputs{})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "sunshine calibration is for Parrot Sequoia") {
		t.Errorf("MicaSense sunshine: %v", err)
	}
}

// TestMeasuredPanelReused: a panel measured once (Panel.Measure, as the
// worker caches it) calibrates a capture exactly as the panel measured
// inside Analyze does, without reading the panel's files again.
func TestMeasuredPanelReused(t *testing.T) {
	d := sharedData(t)
	ctx := context.Background()
	panel := micaSensePanel(d)
	measured, err := panel.Measure(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(measured.Measured) != 5 || measured.FlightID != "NtLNbVIdowuCaWYbg3ck" {
		t.Fatalf("measured %d bands, flight %q", len(measured.Measured), measured.FlightID)
	}
	measured.Files = []File{{Path: filepath.Join(t.TempDir(), "gone.tif"), Filename: "gone.tif"}}
	opt := Options{NoAlign: true, Indices: []string{"NDVI"}}
	opt.Panel = panel
	want, err := Analyze(ctx, micaSenseFlight(d), opt, Outputs{})
	if err != nil {
		t.Fatal(err)
	}
	opt.Panel = &measured
	got, err := Analyze(ctx, micaSenseFlight(d), opt, Outputs{})
	if err != nil {
		t.Fatal(err)
	}
	if g, w := indexResult(t, got, "NDVI").Stats, indexResult(t, want, "NDVI").Stats; g.Mean != w.Mean || g.Std != w.Std || g.Valid != w.Valid {
		t.Errorf("NDVI with the measured panel: mean %v std %v n %d; measured inside Analyze: %v %v %d", g.Mean, g.Std, g.Valid, w.Mean, w.Std, w.Valid)
	}
	if got.CalibrationMode != CalibrationPanel || len(got.Calibration) != 5 {
		t.Errorf("calibration %s, %d bands", got.CalibrationMode, len(got.Calibration))
	}
}

// A panel calibrates captures of its own camera only: the MicaSense panel's
// factors applied to a Parrot Sequoia capture (whose values are in other
// units) would be labelled reflectance and mean nothing, so the analysis
// is refused, saying which cameras, before any pixel is read.
func TestPanelOfAnotherCameraRefused(t *testing.T) {
	d := sharedData(t)
	dir := filepath.Join(d, "parrot-sequoia/0077")
	seq := files(dir, "IMG_180413_080658_0000_GRE.TIF", "IMG_180413_080658_0000_RED.TIF",
		"IMG_180413_080658_0000_REG.TIF", "IMG_180413_080658_0000_NIR.TIF")
	_, err := Analyze(context.Background(), seq, Options{Panel: micaSensePanel(d)}, Outputs{})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "MicaSense RedEdge") || !strings.Contains(err.Error(), "Parrot Sequoia") {
		t.Fatalf("Sequoia capture with a MicaSense panel: %v; want ErrUnsupported naming both cameras", err)
	}
}
