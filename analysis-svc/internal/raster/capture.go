package raster

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/canopyag/canopy/analysis-svc/internal/index"
	"github.com/canopyag/canopy/analysis-svc/internal/radiometry"
)

// Calibration modes reported for a capture.
const (
	// CalibrationUncalibratedDN: sensor numbers (8-bit JPEG values, or
	// 16-bit rig DN with black level, exposure and gain taken out). Ratio
	// indices are meaningful, absolute levels and additive constants are
	// not.
	CalibrationUncalibratedDN = "uncalibrated_dn"
	// CalibrationReflectance: float (or scaled) rasters whose valid values
	// all lie in [0, 1].
	CalibrationReflectance = "reflectance"
	// CalibrationPanel: rig DN turned into radiance with the maker's
	// model, then into reflectance with factors measured on a
	// calibration panel of known reflectance (Options.PanelFactors).
	CalibrationPanel = "panel"
	// CalibrationDLS: radiance into reflectance with the downwelling light
	// sensor's irradiance recorded in each band file.
	CalibrationDLS = "dls"
	// CalibrationSunshine: a Parrot Sequoia's DN turned into radiance with
	// Parrot's sensor model, divided by the sunshine sensor's irradiance
	// for the band. Both are in Parrot's arbitrary units, so the values are
	// proportional to reflectance with an unknown constant per band: not
	// reflectance, unlike dls (whose DLS reads W/m²/nm).
	CalibrationSunshine = "sunshine"
	// CalibrationRadiance: radiance (W/m²/sr/nm; Parrot's relative units
	// for a Sequoia) and no reflectance; asked for when measuring a panel
	// capture.
	CalibrationRadiance = "radiance"
	// CalibrationAuto (Options.Calibration only): panel when factors are
	// given, else DLS (MicaSense) or sunshine (Sequoia) when every band
	// file has an irradiance, else uncalibrated_dn.
	CalibrationAuto = ""
)

// Input is one file of a capture.
type Input struct {
	Path string
	Name string     // the user's file name; "" means the base name of Path
	Role index.Role // the caller's role for a single-band file; Unknown if none
}

// Options tune OpenCapture.
type Options struct {
	// BandLayout gives the roles of all bands, in file order then band
	// order, as letters (see ParseLayout). "" means detect.
	BandLayout string
	// MaxPixels caps width*height*bands of each file and of the whole
	// capture; 0 means no limit.
	MaxPixels int64
	// Calibration is the calibration to apply to a MicaSense or Sequoia
	// rig capture: CalibrationAuto, CalibrationPanel, CalibrationDLS
	// (MicaSense), CalibrationSunshine (Sequoia), CalibrationRadiance or
	// CalibrationUncalibratedDN. Any but auto and
	// uncalibrated_dn fail when the capture cannot have it.
	Calibration string
	// PanelFactors are radiance-to-reflectance factors per band role,
	// measured on a panel capture of the same flight (see
	// radiometry.Panel).
	PanelFactors map[index.Role]float64
}

// CaptureBand is one band of a capture.
type CaptureBand struct {
	Role       index.Role
	RoleSource string
	File       string // the file's name
	Number     int    // 1-based band number in its file
	// Data holds Width*Height values after Read: NaN for no data; nil for
	// an alpha band (already applied as a mask) and before Read.
	Data []float32
	// Factor is the radiance-to-reflectance factor applied (panel, DLS or
	// sunshine), 0 when none; Irradiance the DLS reading (W/m²/nm) or the
	// Sequoia sunshine sensor's (counts per ms at gain index 1), 0 if
	// absent.
	Factor, Irradiance float64
	// PrincipalPoint (pixels, column and row) and Focal (pixels) describe
	// the band's lens, zero when the metadata does not say.
	PrincipalPoint [2]float64
	Focal          float64
}

// Capture is one image to analyse: one multi-band file or a rig's
// single-band files taken together.
type Capture struct {
	Width, Height int
	Bands         []CaptureBand
	// RolesSource lists the sources that named the bands, e.g. "xmp" or
	// "color_interpretation"; several are joined with "+".
	RolesSource string
	// DeclaredScale, when set before Read, is the uploader's word that the
	// stored values times this factor are reflectance (0.0001 for 0..10000).
	// It replaces the full-scale normalisation of bands whose file declares
	// no scale of its own; rig band files ignore it (they hold raw DN).
	DeclaredScale float64
	// CalibrationMode is set by Read.
	CalibrationMode string
	Warnings        []string
	Metadata        Metadata

	opt   Options
	files []*File
	// bandFile[i] is the index in files of Bands[i].
	bandFile []int
	// sunshine holds the Sequoia sunshine readings found by
	// chooseCalibration.
	sunshine []sunshineReading
}

// OpenCapture opens every input, reads headers and metadata and works out the
// band roles; it reads no pixels. It refuses, with errors wrapping
// ErrUnsupported, ErrTooLarge or ErrMissingBands: inputs of different sizes,
// files from different captures (XMP capture ids), two bands with the same
// role, and bands whose role nothing tells. Close the capture when done.
func OpenCapture(inputs []Input, opt Options) (_ *Capture, err error) {
	if len(inputs) == 0 {
		return nil, fmt.Errorf("open capture: %w: no files", ErrMissingBands)
	}
	c := &Capture{opt: opt}
	switch opt.Calibration {
	case CalibrationAuto, CalibrationUncalibratedDN, CalibrationPanel, CalibrationDLS, CalibrationSunshine, CalibrationRadiance:
	default:
		return nil, fmt.Errorf("open capture: %w: calibration %q (want panel, dls, sunshine, uncalibrated_dn, radiance or empty for automatic)", ErrUnsupported, opt.Calibration)
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	var total int64
	for _, in := range inputs {
		f, err := Open(in.Path, in.Name, opt.MaxPixels)
		if err != nil {
			return nil, err
		}
		c.files = append(c.files, f)
		total += int64(f.Width) * int64(f.Height) * int64(len(f.Bands))
	}
	if opt.MaxPixels > 0 && total > opt.MaxPixels {
		return nil, fmt.Errorf("open capture: %w: %d files hold %d pixels, limit %d", ErrTooLarge, len(c.files), total, opt.MaxPixels)
	}
	first := c.files[0]
	c.Width, c.Height = first.Width, first.Height
	for _, f := range c.files[1:] {
		if f.Width != c.Width || f.Height != c.Height {
			return nil, fmt.Errorf("open capture: %w: band files differ in size: %s is %d x %d, %s is %d x %d; co-registering bands of different sizes is not supported",
				ErrUnsupported, first.Name, first.Width, first.Height, f.Name, f.Width, f.Height)
		}
	}
	if err := c.checkSameCapture(); err != nil {
		return nil, err
	}
	if err := c.assignRoles(inputs, opt.BandLayout); err != nil {
		return nil, err
	}
	c.Metadata = metadataOf(c.files)
	for i := range c.Bands {
		c.Bands[i].PrincipalPoint, c.Bands[i].Focal = lensGeometry(c.files[c.bandFile[i]])
	}
	return c, nil
}

// captureID is the rig's id shared by the files of one exposure.
func captureID(f *File) string {
	for _, k := range []string{"MicaSense:CaptureId", "Camera:CaptureUUID", "drone-dji:CaptureUUID"} {
		if v := f.xmp.first(k); v != "" {
			return v
		}
	}
	return ""
}

func (c *Capture) checkSameCapture() error {
	var ref *File
	for _, f := range c.files {
		id := captureID(f)
		if id == "" {
			continue
		}
		if ref == nil {
			ref = f
			continue
		}
		if rid := captureID(ref); rid != id {
			return fmt.Errorf("open capture: %w: %s and %s are from different captures (capture id %s vs %s)", ErrUnsupported, ref.Name, f.Name, rid, id)
		}
	}
	return nil
}

func (c *Capture) assignRoles(inputs []Input, layout string) error {
	var lay []index.Role
	if layout != "" {
		var err error
		if lay, err = ParseLayout(layout); err != nil {
			return err
		}
		n := 0
		for _, f := range c.files {
			n += len(f.Bands)
		}
		if len(lay) != n {
			return fmt.Errorf("band layout %q: %w: it names %d bands, the image has %d", layout, ErrUnsupported, len(lay), n)
		}
	}
	var sources []string
	for fi, f := range c.files {
		var fl []index.Role
		if lay != nil {
			fl, lay = lay[:len(f.Bands)], lay[len(f.Bands):]
		}
		roles, srcs, err := fileRoles(f, inputs[fi].Role, fl)
		if err != nil {
			return err
		}
		for bi, r := range roles {
			if r == index.Unknown {
				return c.unknownRole(f, bi)
			}
			c.Bands = append(c.Bands, CaptureBand{Role: r, RoleSource: srcs[bi], File: f.Name, Number: bi + 1})
			c.bandFile = append(c.bandFile, fi)
			if !slices.Contains(sources, srcs[bi]) {
				sources = append(sources, srcs[bi])
			}
		}
	}
	for i, a := range c.Bands {
		if a.Role == index.Other || a.Role == index.Alpha {
			continue
		}
		for _, b := range c.Bands[i+1:] {
			if b.Role == a.Role {
				return fmt.Errorf("band roles: %w: two bands are %s: %s band %d (%s) and %s band %d (%s)",
					ErrUnsupported, a.Role, a.File, a.Number, a.RoleSource, b.File, b.Number, b.RoleSource)
			}
		}
	}
	c.RolesSource = strings.Join(sources, "+")
	return nil
}

func (c *Capture) unknownRole(f *File, bi int) error {
	switch {
	case len(f.Bands) > 1:
		return fmt.Errorf("band roles: %w: %s has %d bands and nothing in it (XMP band names, band descriptions, colour interpretation) says which is which; give a band layout, one letter per band in order: R G B, N for NIR, E for red edge, A for alpha, O for other (e.g. \"BGRNE\")",
			ErrUnsupported, f.Name, len(f.Bands))
	case len(c.files) > 1:
		return fmt.Errorf("band roles: %w: nothing says which band %s holds (no XMP band name, description or known file-name suffix); declare its role", ErrUnsupported, f.Name)
	default:
		return fmt.Errorf("band roles: %w: %s has a single band and nothing says which; every index needs at least two bands (e.g. NIR and Red)", ErrMissingBands, f.Name)
	}
}

// Roles returns the role of each band, in capture order.
func (c *Capture) Roles() []index.Role {
	out := make([]index.Role, len(c.Bands))
	for i, b := range c.Bands {
		out[i] = b.Role
	}
	return out
}

// Close releases every file. It is safe to call more than once.
func (c *Capture) Close() error {
	var first error
	for _, f := range c.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Read decodes every file and prepares its bands: nodata and alpha become
// NaN; any GDAL scale and offset are applied; for a MicaSense or Sequoia
// single-band file, saturated pixels become NaN and raw DN become either
// reflectance (panel or DLS calibration, see Options.Calibration), values
// proportional to it (Sequoia sunshine calibration) or, without
// calibration, (DN - black level) / (exposure x gain). It sets
// CalibrationMode and adds warnings. Files are closed as soon as they are
// read.
func (c *Capture) Read(ctx context.Context) error {
	mode, models, err := c.chooseCalibration()
	if err != nil {
		return err
	}
	normalised, declaredIgnored := false, false
	rigEG := map[int]float64{} // file index -> exposure x gain, for normalised rig files
	minEG := math.Inf(1)
	allFloatOrScaled := true
	for fi, f := range c.files {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read capture: %w", err)
		}
		rig := rigSensor(f)
		// A file that is neither a radiometric model's nor a rig's is
		// scaled as it is read (see ReadPixelsScaled); those keep their raw
		// values for saturation and black level.
		var scales []BandScale
		if models == nil && rig == nil {
			scales = make([]BandScale, len(f.Bands))
			for bi, b := range f.Bands {
				scaled := b.Scale != 1 || b.Offset != 0
				if scaled {
					scales[bi] = BandScale{Scale: b.Scale, Offset: b.Offset}
				} else if c.DeclaredScale > 0 && b.ColorInterp != "Alpha" {
					scales[bi] = BandScale{Scale: c.DeclaredScale}
					scaled = true
				} else if full := fullScale(b.DataType); full > 0 && b.ColorInterp != "Alpha" {
					// Integer counts as a fraction of full scale: indices with an
					// additive constant (SAVI's L) assume values in 0..1.
					scales[bi] = BandScale{Scale: 1 / full}
				}
				if b.ColorInterp != "Alpha" && !scaled && !strings.HasPrefix(b.DataType, "Float") {
					allFloatOrScaled = false
				}
			}
		}
		px, err := f.ReadPixelsScaled(scales)
		if err != nil {
			return err
		}
		c.warnConstantBands(fi, px, scales)
		if rig != nil && c.DeclaredScale > 0 && !declaredIgnored {
			declaredIgnored = true
			c.Warnings = append(c.Warnings, "the declared reflectance scale is ignored for rig band files: they hold raw sensor values")
		}
		switch {
		case models != nil:
			if n := countAtLeast(px[0], rig.saturation); n > 0 {
				c.Warnings = append(c.Warnings, fmt.Sprintf("%s: %d saturated pixels (DN >= %g) treated as no data", f.Name, n, rig.saturation))
			}
			if err := models[fi].Radiance(px[0], f.Width, f.Height); err != nil {
				return fmt.Errorf("read capture: radiance of %s: %w", f.Name, err)
			}
			allFloatOrScaled = false
		case rig != nil:
			warns, ok := rig.prepare(f, px[0])
			c.Warnings = append(c.Warnings, warns...)
			if ok {
				exposure, gain, _ := exposureGain(f.EXIF)
				rigEG[fi] = exposure * gain
				minEG = math.Min(minEG, exposure*gain)
			}
			normalised = normalised || ok
			allFloatOrScaled = false
		}
		for i := range c.Bands {
			if c.bandFile[i] == fi && c.Bands[i].Role != index.Alpha {
				c.Bands[i].Data = px[c.Bands[i].Number-1]
			}
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if models != nil {
		c.CalibrationMode = mode
		return c.toReflectance(mode, models)
	}
	c.CalibrationMode = CalibrationUncalibratedDN
	// prepare left (DN - black) / (exposure x gain). Multiplying every rig
	// band by the capture's smallest exposure x gain over the 16-bit full
	// scale keeps the ratios between bands (so NDVI is unchanged) and puts
	// every value in 0..1, the range SAVI's soil factor and EVI's constants
	// are defined for.
	if len(rigEG) > 0 {
		for i := range c.Bands {
			if _, ok := rigEG[c.bandFile[i]]; ok && c.Bands[i].Data != nil {
				applyScale(c.Bands[i].Data, minEG/65535, 0)
			}
		}
	}
	if normalised {
		c.Warnings = append(c.Warnings, "values are sensor numbers normalised for black level, exposure and gain, not reflectance (no panel or sunlight-sensor calibration)")
	}
	if allFloatOrScaled {
		lo, hi := c.validRange()
		if lo >= 0 && hi <= 1 {
			c.CalibrationMode = CalibrationReflectance
		} else if !math.IsInf(lo, 1) {
			c.Warnings = append(c.Warnings, fmt.Sprintf("float values span %g..%g, outside reflectance 0..1; treated as uncalibrated", lo, hi))
		}
	}
	return nil
}

// chooseCalibration decides, from the headers, how the rig's DN become
// values. It returns the radiometric model of every file when they are to
// become radiance (modes panel, dls, sunshine, radiance), nil models for the
// uncalibrated path. A mode that was asked for but is impossible is an error
// that says what is missing; automatic mode falls back with a warning.
func (c *Capture) chooseCalibration() (string, []radiometry.Model, error) {
	want := c.opt.Calibration
	if want == CalibrationUncalibratedDN {
		return want, nil, nil
	}
	if want == CalibrationAuto && !c.isRig() {
		return "", nil, nil
	}
	fail := func(why string) (string, []radiometry.Model, error) {
		if want == CalibrationAuto {
			c.Warnings = append(c.Warnings, "no reflectance calibration: "+why)
			return "", nil, nil
		}
		return "", nil, fmt.Errorf("calibration %s: %w: %s", want, ErrUnsupported, why)
	}
	models := make([]radiometry.Model, len(c.files))
	// noIrradiance[i] says why file i has no downwelling reading ("" if it
	// has one).
	noIrradiance := make([]string, len(c.files))
	sequoia := false
	for i, f := range c.files {
		rig := rigSensor(f)
		switch {
		case rig == nil:
			return fail(fmt.Sprintf("%s is not a MicaSense or Parrot Sequoia band file", f.Name))
		case rig.name == "MicaSense":
			m, err := micaSenseModel(f, rig.saturation)
			if err != nil {
				return fail(err.Error())
			}
			if !(m.Irradiance > 0) {
				noIrradiance[i] = fmt.Sprintf("%s has no downwelling light sensor irradiance (XMP Camera:Irradiance)", f.Name)
			}
			models[i] = m
		default:
			sequoia = true
			m, err := sequoiaModel(f, rig.saturation)
			if err != nil {
				return fail(err.Error())
			}
			if s, err := sunshineIrradiance(f); err == nil {
				m.Irradiance = s.Irradiance
				c.sunshine = append(c.sunshine, sunshineReading{file: f.Name, Sunshine: s})
			} else {
				noIrradiance[i] = err.Error()
			}
			models[i] = m
		}
	}
	mode := want
	if mode == CalibrationAuto {
		switch {
		case len(c.opt.PanelFactors) > 0:
			mode = CalibrationPanel
		case sequoia:
			mode = CalibrationSunshine
		default:
			mode = CalibrationDLS
		}
	}
	switch mode {
	case CalibrationPanel:
		for _, b := range c.Bands {
			if _, ok := c.opt.PanelFactors[b.Role]; !ok && b.Role != index.Alpha {
				return "", nil, fmt.Errorf("calibration panel: %w: no panel factor for the %s band (%s)", ErrUnsupported, b.Role, b.File)
			}
		}
	case CalibrationDLS, CalibrationSunshine:
		if sequoia != (mode == CalibrationSunshine) {
			if sequoia {
				return fail("a Parrot Sequoia has a sunshine sensor, not a downwelling light sensor: its calibration mode is sunshine")
			}
			return fail("sunshine calibration is for Parrot Sequoia captures; this is a MicaSense capture (its mode is dls)")
		}
		for _, why := range noIrradiance {
			if why != "" {
				return fail(why + " and no panel was given")
			}
		}
	}
	return mode, models, nil
}

// sunshineReading is the sunshine-sensor reading used for one Sequoia file.
type sunshineReading struct {
	file string
	radiometry.Sunshine
}

// minSunshineCount is the CH0 count below which a sunshine reading's
// quantisation (one count) is worse than 1%.
const minSunshineCount = 100

// isRig says whether every file is a MicaSense or Sequoia band file.
func (c *Capture) isRig() bool {
	for _, f := range c.files {
		if rigSensor(f) == nil {
			return false
		}
	}
	return true
}

// toReflectance applies the panel, DLS or sunshine factor to every radiance
// band. The DLS reading is first corrected for the sensor's tilt towards or
// away from the sun where the file gives the sensor's orientation, the time
// and the position.
func (c *Capture) toReflectance(mode string, models []radiometry.Model) error {
	var sunFactors []float64
	var noSun string
	for i := range c.Bands {
		b := &c.Bands[i]
		m := models[c.bandFile[i]]
		b.Irradiance = m.SensorIrradiance()
		if b.Data == nil {
			continue
		}
		switch mode {
		case CalibrationPanel:
			b.Factor = c.opt.PanelFactors[b.Role]
		case CalibrationDLS:
			e := b.Irradiance
			if k, why := sunCorrection(c.files[c.bandFile[i]], c.Metadata); why == "" {
				e *= k
				sunFactors = append(sunFactors, k)
			} else if noSun == "" {
				noSun = why
			}
			f, err := radiometry.DLSFactor(e)
			if err != nil {
				return fmt.Errorf("read capture: %s: %w", b.File, err)
			}
			b.Factor = f
		case CalibrationSunshine:
			f, err := radiometry.SunshineFactor(b.Irradiance)
			if err != nil {
				return fmt.Errorf("read capture: %s: %w", b.File, err)
			}
			b.Factor = f
		default:
			continue
		}
		radiometry.Scale(b.Data, b.Factor)
	}
	switch {
	case mode == CalibrationDLS && noSun == "":
		lo, hi := slices.Min(sunFactors), slices.Max(sunFactors)
		c.Warnings = append(c.Warnings, fmt.Sprintf("reflectance from the downwelling light sensor, its readings corrected for the sensor's tilt to the sun (factor %.3f..%.3f, clear sky assumed); the diffuser's angular response is not modelled, and on MicaSense's sample panel capture the corrected irradiance still differs from the panel's by -23%% to +18%% per band, so absolute reflectance is rough (a panel capture of the same flight is more accurate)", lo, hi))
	case mode == CalibrationDLS:
		c.Warnings = append(c.Warnings, "reflectance from the downwelling light sensor's readings as recorded, not corrected for the sensor's tilt to the sun ("+noSun+"), so absolute reflectance is rough (a panel capture of the same flight is more accurate)")
	case mode == CalibrationSunshine:
		c.Warnings = append(c.Warnings, "values are proportional to reflectance, not reflectance: Parrot's sensor-model radiance (exposure, ISO, f-number and vignetting applied) over the sunshine sensor's irradiance, both in Parrot's arbitrary units, so each band carries an unknown constant factor that only a calibration panel gives; the sunshine reading is not corrected for the sensor's tilt to the sun")
		var low []string
		for _, r := range c.sunshine {
			if r.Record.CH0 < minSunshineCount {
				low = append(low, fmt.Sprintf("%s %d", r.file, r.Record.CH0))
			}
		}
		if len(low) > 0 {
			c.Warnings = append(c.Warnings, fmt.Sprintf("sunshine sensor counts are low (CH0 %s; one count is over 1%%), so the irradiance is coarse (dim light)", strings.Join(low, ", ")))
		}
	case mode == CalibrationRadiance:
		c.Warnings = append(c.Warnings, "values are radiance (W/m²/sr/nm; Parrot's relative units for a Sequoia), not reflectance")
	}
	return nil
}

func countAtLeast(v []float32, limit float32) int64 {
	var n int64
	for _, x := range v {
		if x >= limit {
			n++
		}
	}
	return n
}

// validRange is the min and max over the data bands, ignoring NaN.
func (c *Capture) validRange() (lo, hi float64) {
	l, h := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, b := range c.Bands {
		for _, v := range b.Data {
			if v < l {
				l = v
			}
			if v > h {
				h = v
			}
		}
	}
	return float64(l), float64(h)
}

// warnConstantBands warns of each data band of file fi whose every pixel
// with data holds one value, as the file stores it: a band file left blank
// or a dead sensor gives indices of one number (NDVI -1 over a NIR band of
// zeros) that read as an answer about the plants. It looks at the values
// as read, before any radiometric correction: vignetting and the row
// gradient make a stuck sensor's constant vary. scales are those the file
// was read with (nil: raw).
func (c *Capture) warnConstantBands(fi int, px [][]float32, scales []BandScale) {
	f := c.files[fi]
	for i, b := range c.Bands {
		if c.bandFile[i] != fi || b.Role == index.Alpha || b.Role == index.Other {
			continue
		}
		v, n, ok := constantValue(px[b.Number-1])
		if !ok || n < 2 {
			continue
		}
		stored := float64(v)
		if scales != nil && !scales[b.Number-1].none() {
			sc := scales[b.Number-1]
			stored = (stored - sc.Offset) / sc.Scale
			if !strings.HasPrefix(f.Bands[b.Number-1].DataType, "Float") {
				stored = math.Round(stored) // undo float32 rounding of a count
			}
		}
		c.Warnings = append(c.Warnings, fmt.Sprintf("the %s band (%s) has the same value (%g as stored) in all of its %d pixels with data: an empty band file or a dead sensor? Indices that use it say nothing about the plants",
			b.Role, f.Name, stored, n))
	}
}

// constantValue reports whether every finite value of v is the same one,
// with that value and how many finite values there are; NaN and ±Inf are
// no data.
func constantValue(v []float32) (value float32, n int, ok bool) {
	for _, x := range v {
		if x-x != 0 {
			continue
		}
		if n == 0 {
			value = x
		} else if x != value {
			return 0, 0, false
		}
		n++
	}
	return value, n, true
}

func applyScale(v []float32, scale, offset float64) {
	for i, x := range v {
		v[i] = float32(float64(x)*scale + offset)
	}
}

// fullScale is the largest count of an unsigned integer data type, or 0 for
// types whose values are not counts from 0 (signed, float).
func fullScale(dataType string) float64 {
	switch dataType {
	case "Byte":
		return 255
	case "UInt16":
		return 65535
	}
	return 0
}
