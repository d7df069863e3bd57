// Package analyze turns one uploaded capture into vegetation-index answers:
// it reads the bands (package raster), computes every index the bands allow
// with its statistics, health classes and zonal grid (package index), works
// out the ground sample distance when the metadata allows, and writes the
// outputs: a colour map PNG (package colormap) and a float32 GeoTIFF per
// index, and a thumbnail (package thumbnail). It is what the analysis worker
// calls per image.
//
// Every output stays in sensor orientation: pixels are written as the file
// stores them and EXIF orientation is reported (Metadata.Orientation), not
// applied, so the GeoTIFFs, maps, zonal grid and thumbnail line up with one
// another and with the uploaded file.
package analyze

import (
	"context"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/canopyag/canopy/analysis-svc/internal/colormap"
	"github.com/canopyag/canopy/analysis-svc/internal/index"
	"github.com/canopyag/canopy/analysis-svc/internal/raster"
	"github.com/canopyag/canopy/analysis-svc/internal/thumbnail"
)

// Errors wrap one of these when the input (not the machine) is at fault, so
// the caller can fail the image for good instead of retrying. Anything else
// (I/O, out of memory, a cancelled context) may be retried.
var (
	// ErrUnsupported: not a GeoTIFF/JPEG/PNG, files of different sizes or
	// captures, band roles that cannot be told, an invalid option.
	ErrUnsupported = raster.ErrUnsupported
	// ErrCorrupt: GDAL could not decode the file (truncated, damaged).
	ErrCorrupt = raster.ErrCorrupt
	// ErrTooLarge: more pixels than Options.MaxPixels.
	ErrTooLarge = raster.ErrTooLarge
	// ErrMissingBands: the bands allow none of the requested indices.
	ErrMissingBands = raster.ErrMissingBands
)

// PanicError is a panic of the analysis of one image, recovered so that it
// fails that image and not every analysis of the process. It is a bug of
// Canopy's, not of the input, though some input set it off.
type PanicError struct {
	Value any
	Stack []byte // of the goroutine that panicked, for the log
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("internal error, a bug in Canopy's analysis (please report it): %v", e.Value)
}

// Recovered turns a panic recovered as r (non-nil) into a *PanicError with
// the stack of the goroutine that is recovering.
func Recovered(r any) error {
	if pe, ok := r.(*PanicError); ok {
		return pe
	}
	return &PanicError{Value: r, Stack: debug.Stack()}
}

// DefaultMaxPixels caps width*height*bands when Options.MaxPixels is 0:
// 200 million samples are 800 MB as float32, about a 45 MP RGB photo with
// room to spare.
const DefaultMaxPixels = 200_000_000

// File is one uploaded file of a capture.
type File struct {
	Path     string     // where the worker stored it
	Filename string     // the user's file name (its suffix can tell a band)
	Role     index.Role // the user's role for a single-band file; zero = unknown
}

// Options are the per-request settings.
type Options struct {
	// BandLayout names the bands in file order, one letter each:
	// R G B, N (NIR), E (red edge), A (alpha), O or C (other). "" = detect.
	BandLayout string
	// SAVIL is SAVI's soil factor L in 0..1; nil means index.DefaultSAVIL
	// (0.5). L = 0 makes SAVI equal NDVI.
	SAVIL *float64
	// ReflectanceScale, when > 0, declares that stored values times it are
	// reflectance (see raster.Capture.DeclaredScale).
	ReflectanceScale float64
	// TakeoffAltitude, when set, is the take-off point's altitude (metres,
	// the GPS altitude's datum): the height above ground for the ground
	// sample distance when the metadata has no relative altitude.
	TakeoffAltitude *float64
	// MaxPixels caps width*height*bands; 0 means DefaultMaxPixels.
	MaxPixels int64
	// Indices restricts the computed indices by name (case-insensitive);
	// empty means every index the bands allow.
	Indices []string
	// HealthThresholds overrides the default health-class cut points
	// (index.Def.Health) per index name, case-insensitive.
	HealthThresholds map[string]index.Thresholds
	// GridRows and GridCols size the zonal grid, 1..MaxGrid each; 0 means
	// index.DefaultGridRows / DefaultGridCols (8 x 8).
	GridRows, GridCols int
	// Calibration is how a multispectral rig capture's DN become values:
	// "" (automatic), "panel", "dls" (MicaSense), "sunshine" (Sequoia),
	// "uncalibrated_dn" (see CalibrationPanel...). An explicit mode the
	// capture cannot have
	// fails the analysis with ErrUnsupported.
	Calibration string
	// Panel, when set, is a calibration-panel capture of the same flight:
	// it is measured and its factors turn the capture into reflectance.
	Panel *Panel
	// NoAlign leaves the bands of a rig capture as the lenses saw them
	// instead of registering them to one another.
	NoAlign bool
	// ThumbnailMaxSide bounds the thumbnail's longer side in pixels; 0
	// means thumbnail.DefaultMaxSide (256).
	ThumbnailMaxSide int
}

// MaxGrid caps the zonal grid's rows and columns: a finer grid is a
// second, coarse image, which the GeoTIFF outputs already are.
const MaxGrid = 64

// Outputs says where Analyze writes its files. A zero field skips that
// output. The indices are worked on in parallel, so Map and Thumbnail may
// be written at the same time from different goroutines: they must not be
// one writer that is unsafe for that.
type Outputs struct {
	// Map receives the colour map PNG of Result.MapIndex (the main map).
	Map io.Writer
	// MapDir receives one colour map PNG per available index, named
	// "map-" and the index in lower case ("map-ndvi.png"). With Map set as
	// well, Result.MapIndex's map is rendered once and written to both.
	MapDir string
	// Thumbnail receives a small PNG of the capture as a picture.
	Thumbnail io.Writer
	// GeoTIFFDir receives one float32 GeoTIFF per available index, named
	// after it in lower case ("ndvi.tif"), compressed with
	// GeoTIFFCompression ("" is none).
	GeoTIFFDir         string
	GeoTIFFCompression raster.Compression
	// Written, if set, is called with each file written into MapDir or
	// GeoTIFFDir as soon as it is complete and closed, while the other
	// indices are still being computed, so the caller can store it
	// meanwhile; Analyze does not touch the file again. It is called from
	// the goroutines that compute the indices, several at once.
	Written func(Output)
}

// Output kinds, as reported in Output.Kind.
const (
	KindColormap  = "colormap"
	KindGeoTIFF   = "geotiff"
	KindThumbnail = "thumbnail"
)

// Output describes one file Analyze wrote.
type Output struct {
	Kind  string
	Index string // the index shown or stored; "" for the thumbnail
	// Path is the file written into Outputs.GeoTIFFDir or Outputs.MapDir;
	// "" for the outputs written only to an io.Writer.
	Path          string
	ContentType   string
	Width, Height int
	// Min and Max are the value range the colours span: the colour ramp's
	// ends for a colour map; for a GeoTIFF the index's display range (its
	// values are raw and may exceed it); for the thumbnail 0 and the band
	// value drawn as full white.
	Min, Max float64
}

// HealthClass is one health class of an index over the image.
type HealthClass struct {
	Name string
	// Min and Max bound the class as [Min, Max); the outer classes are
	// open-ended (-Inf and +Inf).
	Min, Max float64
	Pixels   int64
	Fraction float64 // of the valid pixels
	// AreaM2 is the ground area in m², when Result.PixelAreaM2 is known.
	AreaM2 *float64
}

// IndexResult is one index: its statistics, or why it was not computed.
type IndexResult struct {
	Name      string
	Available bool
	// Reason says why the index is not available, e.g. "NDVI needs a NIR
	// band; this image has Red, Green, Blue" or "not requested".
	Reason string
	// Caveat flags an available index whose values deserve doubt, e.g. an
	// additive constant (SAVI, EVI, ...) applied to uncalibrated values.
	Caveat    string
	Reference string // the formula and its source
	Stats     index.Stats
	// Health has the thresholds used and the valid pixels per class, in
	// index.ClassNames order; Zones the zonal grid (GridRows x GridCols,
	// row-major from the top left).
	Health             []HealthClass
	Thresholds         index.Thresholds
	GridRows, GridCols int
	Zones              []index.Zone
	// Min and Max are the index's display range (colour ramp, histogram).
	Min, Max float64
	// Duration is the time spent on this index: computing it, its
	// statistics, classes and zones, and writing its GeoTIFF and colour map.
	Duration time.Duration
}

// Metadata is what the capture says about itself (camera, time, GPS, ...).
type Metadata = raster.Metadata

// Result is the analysis of one capture.
type Result struct {
	Width, Height int
	// CalibrationMode is "panel", "dls" (reflectance from a panel or the
	// downwelling light sensor), "sunshine" (a Sequoia's values
	// proportional to reflectance, from Parrot's sensor model and sunshine
	// sensor; not reflectance), "reflectance" (a float raster already in
	// 0..1), "radiance" or "uncalibrated_dn".
	CalibrationMode string
	// SAVIL is the soil factor SAVI was computed with.
	SAVIL float64
	// Alignment reports, for a rig capture whose bands were registered to
	// one another, each band's offset and residual misalignment (one entry
	// per data band, in band order); AlignedArea is the common area the
	// outputs were cropped to, in the original pixels. Empty when the
	// bands were not aligned.
	Alignment   []BandAlignment
	AlignedArea image.Rectangle
	// Calibration lists, per data band, the radiance-to-reflectance factor
	// applied (0 when none) and the file's downwelling irradiance.
	Calibration []BandCalibration
	// BandRoles is the role of each band in file and band order ("Red",
	// "NIR", "RedEdge", "Alpha", ...); BandRolesSource says how they were
	// found: "declared", "layout", "xmp", "description",
	// "color_interpretation", "filename", several joined with "+".
	BandRoles       []string
	BandRolesSource string
	// Indices has one entry per known index, in index.Defs order.
	Indices []IndexResult
	// MapIndex is the index drawn in the colour map: NDVI if available,
	// else VARI, else the first available one.
	MapIndex string
	Warnings []string
	Capture  Metadata
	// GSD is the ground sample distance in metres per pixel and
	// PixelAreaM2 the ground area of one pixel, both 0 when unknown (a
	// warning then says why); GSDSource is GSDFromRelativeAltitude or
	// GSDFromGeoreferencing.
	GSD, PixelAreaM2 float64
	GSDSource        string
	// Outputs lists the files written, in index.Defs order: per index its
	// GeoTIFF then its colour map, the thumbnail last. One colour map (the
	// main map) has Index == MapIndex.
	Outputs []Output
	// DecodeTime is the time spent opening the files and decoding their
	// pixels (header checks included); Duration is the whole analysis.
	DecodeTime, Duration time.Duration
}

// Analyze reads the capture made of files, computes the indices and writes
// the outputs that out asks for. Multiple files are one rig capture: one
// band file per band, same size and capture id.
//
// The indices are computed in parallel, up to one per core and at most
// MaxIndexWorkers at once, each with exactly the figures and pixels a
// sequential run gives. Memory: the decoded bands plus, per index being
// worked on, one float32 buffer and one byte per pixel for its colour map;
// each index's GeoTIFF and colour map are written as soon as the index is
// computed, so no other copies are kept.
func Analyze(ctx context.Context, files []File, opt Options, out Outputs) (*Result, error) {
	start := time.Now()
	params := index.Params{SAVIL: index.DefaultSAVIL}
	if opt.SAVIL != nil {
		params.SAVIL = *opt.SAVIL
	}
	if err := params.Validate(); err != nil {
		return nil, fmt.Errorf("analyze: %w: %v", ErrUnsupported, err)
	}
	if !(opt.ReflectanceScale >= 0 && opt.ReflectanceScale <= 1) {
		return nil, fmt.Errorf("analyze: %w: reflectance scale %v is not in (0, 1]", ErrUnsupported, opt.ReflectanceScale)
	}
	defs := index.Defs()
	requested, err := requestedSet(defs, opt.Indices)
	if err != nil {
		return nil, err
	}
	thresholds, err := healthThresholds(defs, opt.HealthThresholds)
	if err != nil {
		return nil, err
	}
	rows, cols := opt.GridRows, opt.GridCols
	if rows == 0 {
		rows = index.DefaultGridRows
	}
	if cols == 0 {
		cols = index.DefaultGridCols
	}
	if rows < 1 || rows > MaxGrid || cols < 1 || cols > MaxGrid {
		return nil, fmt.Errorf("analyze: %w: zonal grid %d x %d is outside 1..%d", ErrUnsupported, rows, cols, MaxGrid)
	}
	thumbSide := opt.ThumbnailMaxSide
	if thumbSide == 0 {
		thumbSide = thumbnail.DefaultMaxSide
	}
	if thumbSide < 1 {
		return nil, fmt.Errorf("analyze: %w: thumbnail size %d", ErrUnsupported, thumbSide)
	}
	maxPixels := opt.MaxPixels
	if maxPixels == 0 {
		maxPixels = DefaultMaxPixels
	}

	inputs := make([]raster.Input, len(files))
	for i, f := range files {
		inputs[i] = raster.Input{Path: f.Path, Name: f.Filename, Role: f.Role}
	}
	ropt := raster.Options{BandLayout: opt.BandLayout, MaxPixels: maxPixels, Calibration: opt.Calibration}
	var panel panelSource
	if opt.Panel != nil {
		if ropt.PanelFactors, panel, err = panelFactors(ctx, opt.Panel, maxPixels); err != nil {
			return nil, fmt.Errorf("analyze: %w", err)
		}
	}
	decodeStart := time.Now()
	capt, err := raster.OpenCapture(inputs, ropt)
	if err != nil {
		return nil, fmt.Errorf("analyze: %w", err)
	}
	defer capt.Close()
	if c := cameraName(capt.Metadata); opt.Panel != nil && panel.Camera != "" && c != "" && c != panel.Camera {
		// Factors turn one camera's radiance into reflectance; another
		// camera's values are in other units, so the result would be
		// neither reflectance nor comparable to anything.
		return nil, fmt.Errorf("analyze: %w: the panel capture was taken with a %s, this capture with a %s: a panel calibrates captures of its own camera only", ErrUnsupported, panel.Camera, c)
	}
	capt.DeclaredScale = opt.ReflectanceScale
	if int64(capt.Width)*int64(capt.Height) >= math.MaxUint32 {
		// index.Summarize counts pixels in 32 bits.
		return nil, fmt.Errorf("analyze: %w: %d x %d pixels, 2^32 or more", ErrTooLarge, capt.Width, capt.Height)
	}

	res := &Result{
		Width: capt.Width, Height: capt.Height,
		BandRolesSource: capt.RolesSource,
		Capture:         capt.Metadata,
	}
	var have []index.Role // data roles, in capture order
	for _, r := range capt.Roles() {
		res.BandRoles = append(res.BandRoles, r.String())
		if r != index.Alpha && r != index.Other {
			have = append(have, r)
		}
	}
	if missing, of := capt.MissingRigBands(); len(missing) > 0 {
		names := make([]string, len(missing))
		for i, r := range missing {
			names[i] = r.String()
		}
		res.Warnings = append(res.Warnings, fmt.Sprintf("this %s %s capture has %d of its %d bands (%s missing): was a band file left out of the upload?",
			capt.Metadata.Make, capt.Metadata.Model, of-len(missing), of, strings.Join(names, ", ")))
	}

	// Decide availability from the header alone, so a capture that allows
	// no index fails before its pixels are decoded.
	res.Indices = make([]IndexResult, len(defs))
	var firstReason string
	for i, d := range defs {
		ir := IndexResult{Name: d.Name, Reference: d.Reference}
		switch reason := d.Unavailable(have); {
		case !requested[d.Name]:
			ir.Reason = "not requested"
		case reason != "":
			ir.Reason = reason
			if firstReason == "" {
				firstReason = reason
			}
		default:
			ir.Available = true
		}
		res.Indices[i] = ir
	}
	res.MapIndex = chooseMapIndex(res.Indices)
	if res.MapIndex == "" {
		return nil, fmt.Errorf("analyze: %w: no requested index can be computed: %s", ErrMissingBands, firstReason)
	}

	if err := capt.Read(ctx); err != nil {
		return nil, fmt.Errorf("analyze: %w", err)
	}
	res.DecodeTime = time.Since(decodeStart)
	res.CalibrationMode = capt.CalibrationMode
	res.SAVIL = params.SAVIL
	if f := capt.Metadata.FlightID; opt.Panel != nil && panel.Flight != "" && f != "" && f != panel.Flight {
		// The light changes between flights; a panel of another flight
		// calibrates this one only roughly.
		res.Warnings = append(res.Warnings, fmt.Sprintf("the panel capture is from flight %s, this capture from flight %s", panel.Flight, f))
	}
	for _, b := range capt.Bands {
		if b.Data != nil && (b.Factor != 0 || b.Irradiance != 0) {
			res.Calibration = append(res.Calibration, BandCalibration{Role: b.Role.String(), File: b.File, Factor: b.Factor, Irradiance: b.Irradiance})
		}
	}
	res.Warnings = append(res.Warnings, capt.Warnings...)
	if capt.Metadata.GPSVoid {
		res.Warnings = append(res.Warnings, "the camera flagged its GPS fix as void: the position, if any, is unreliable")
	}
	if gsd, area, src, err := groundSampling(capt.Metadata, capt.Width, capt.Height, opt.TakeoffAltitude); err != nil {
		res.Warnings = append(res.Warnings, "area unknown: "+err.Error())
	} else {
		res.GSD, res.PixelAreaM2, res.GSDSource = gsd, area, src
		if src == GSDFromRelativeAltitude || src == GSDFromTakeoffAltitude {
			res.Warnings = append(res.Warnings, "areas assume a nadir view over flat ground at the take-off height (the altitude is relative to take-off)")
		}
	}
	geo := raster.Georef{GeoTransform: capt.Metadata.GeoTransform, Projection: capt.Metadata.Projection}
	if len(files) > 1 {
		if opt.NoAlign {
			res.Warnings = append(res.Warnings, "bands come from separate lenses and were not co-registered (alignment switched off): pixel values near object edges mix neighbouring objects")
		} else {
			alignCapture(capt, res, &geo)
		}
	}

	var bands index.Bands
	for _, b := range capt.Bands {
		switch b.Role {
		case index.Blue:
			bands.Blue = b.Data
		case index.Green:
			bands.Green = b.Data
		case index.Red:
			bands.Red = b.Data
		case index.RedEdge:
			bands.RedEdge = b.Data
		case index.NIR:
			bands.NIR = b.Data
		}
	}

	if err := runIndices(ctx, defs, res, &bands, params, thresholds, rows, cols, geo, capt.Width, capt.Height, thumbSide, out); err != nil {
		return nil, err
	}
	res.Duration = time.Since(start)
	return res, nil
}

// MapFileName is the name of an index's colour map in Outputs.MapDir.
func MapFileName(indexName string) string {
	return "map-" + strings.ToLower(indexName) + ".png"
}

// writeMap renders index d's values as a colour map to out.MapDir and, for
// the main map, to out.Map, and returns the output written (ok false when
// out asks for neither).
func writeMap(out Outputs, d index.Def, vals []float32, width, height int, main bool) (o Output, ok bool, err error) {
	var ws []io.Writer
	var path string
	var f *os.File
	if out.MapDir != "" {
		path = filepath.Join(out.MapDir, MapFileName(d.Name))
		if f, err = os.Create(path); err != nil {
			return o, false, fmt.Errorf("analyze: colour map: %w", err)
		}
		defer f.Close()
		ws = append(ws, f)
	}
	if main && out.Map != nil {
		ws = append(ws, out.Map)
	}
	if len(ws) == 0 {
		return o, false, nil
	}
	if err := colormap.Render(io.MultiWriter(ws...), vals, width, height, d.Min, d.Max); err != nil {
		return o, false, fmt.Errorf("analyze: %s: %w", d.Name, err)
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return o, false, fmt.Errorf("analyze: colour map %s: %w", d.Name, err)
		}
	}
	return Output{
		Kind: KindColormap, Index: d.Name, Path: path, ContentType: "image/png",
		Width: width, Height: height, Min: d.Min, Max: d.Max,
	}, true, nil
}

// healthThresholds resolves each index's health cut points: the default of
// its Def unless overrides names it.
func healthThresholds(defs []index.Def, overrides map[string]index.Thresholds) (map[string]index.Thresholds, error) {
	out := make(map[string]index.Thresholds, len(defs))
	for _, d := range defs {
		out[d.Name] = d.Health
	}
	for name, t := range overrides {
		d, ok := index.Lookup(name)
		if !ok {
			return nil, fmt.Errorf("analyze: %w: health thresholds for unknown index %q", ErrUnsupported, name)
		}
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("analyze: %w: %s: %v", ErrUnsupported, d.Name, err)
		}
		out[d.Name] = t
	}
	return out, nil
}

// healthClasses describes the valid pixels per class (counts); areas are
// filled when pixelArea (m²) is known.
func healthClasses(counts [4]int64, t index.Thresholds, valid int64, pixelArea float64) []HealthClass {
	out := make([]HealthClass, len(counts))
	for i, n := range counts {
		lo, hi := t.Bounds(i)
		c := HealthClass{Name: index.ClassNames[i], Min: lo, Max: hi, Pixels: n}
		if valid > 0 {
			c.Fraction = float64(n) / float64(valid)
		}
		if pixelArea > 0 {
			a := float64(n) * pixelArea
			c.AreaM2 = &a
		}
		out[i] = c
	}
	return out
}

// requestedSet resolves Options.Indices to canonical names; empty means all.
func requestedSet(defs []index.Def, names []string) (map[string]bool, error) {
	set := map[string]bool{}
	if len(names) == 0 {
		for _, d := range defs {
			set[d.Name] = true
		}
		return set, nil
	}
	for _, n := range names {
		d, ok := index.Lookup(n)
		if !ok {
			known := make([]string, len(defs))
			for i, d := range defs {
				known[i] = d.Name
			}
			return nil, fmt.Errorf("analyze: %w: unknown index %q (known: %s)", ErrUnsupported, n, strings.Join(known, ", "))
		}
		set[d.Name] = true
	}
	return set, nil
}

func chooseMapIndex(irs []IndexResult) string {
	for _, want := range []string{"NDVI", "VARI"} {
		for _, ir := range irs {
			if ir.Name == want && ir.Available {
				return want
			}
		}
	}
	for _, ir := range irs {
		if ir.Available {
			return ir.Name
		}
	}
	return ""
}

// isReflectance says whether a calibration mode yields reflectance, the
// scale additive index constants (SAVI's L, EVI's 1) are defined for.
func isReflectance(mode string) bool {
	switch mode {
	case CalibrationReflectance, CalibrationPanel, CalibrationDLS:
		return true
	}
	return false
}

// alignCapture registers the bands of a rig capture, crops the capture (and
// its georeferencing, if any) to the common area and reports the result. A
// registration that fails leaves the bands as they were, with a warning.
func alignCapture(capt *raster.Capture, res *Result, geo *raster.Georef) {
	al, r, err := alignBands(capt.Bands, capt.Width, capt.Height)
	if err != nil {
		res.Warnings = append(res.Warnings, "bands come from separate lenses and could not be co-registered ("+err.Error()+"): pixel values near object edges mix neighbouring objects")
		return
	}
	var why []string
	for _, a := range al {
		if w := a.doubtful(); w != "" {
			why = append(why, w)
		}
	}
	if len(why) > 0 {
		// A wrong registration is worse than none: keep the bands as the
		// lenses saw them and say so.
		res.Warnings = append(res.Warnings, "bands come from separate lenses and were left as recorded, not co-registered, because the registration is doubtful: "+strings.Join(why, "; "))
		return
	}
	j := 0
	for i := range capt.Bands {
		if capt.Bands[i].Data != nil {
			capt.Bands[i].Data = r.Bands[j]
			j++
		}
	}
	res.Alignment, res.AlignedArea = al, r.Crop
	capt.Width, capt.Height = r.Width, r.Height
	res.Width, res.Height = r.Width, r.Height
	if gt := geo.GeoTransform; len(gt) == 6 {
		x0, y0 := float64(r.Crop.Min.X), float64(r.Crop.Min.Y)
		moved := append([]float64(nil), gt...)
		moved[0] += x0*gt[1] + y0*gt[2]
		moved[3] += x0*gt[4] + y0*gt[5]
		geo.GeoTransform = moved
	}
	for _, a := range al {
		if !a.Reference && a.ResidualMax > 1 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("the %s band (%s) is still up to %.2f pixels off the reference band in places after alignment", a.Role, a.File, a.ResidualMax))
		}
	}
}
