// Package analyze turns one uploaded capture into vegetation-index answers:
// it reads the bands (package raster), computes every index the bands allow
// with its statistics (package index) and renders one index as a colour map
// (package colormap). It is what the analysis worker calls per image.
package analyze

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/canopyag/canopy/analysis-svc/internal/colormap"
	"github.com/canopyag/canopy/analysis-svc/internal/index"
	"github.com/canopyag/canopy/analysis-svc/internal/raster"
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
	// SAVIL is SAVI's soil factor L in 0..1; 0 means index.DefaultSAVIL
	// (0.5). L = 0 would make SAVI equal NDVI, which is reported anyway.
	SAVIL float64
	// MaxPixels caps width*height*bands; 0 means DefaultMaxPixels.
	MaxPixels int64
	// Indices restricts the computed indices by name (case-insensitive);
	// empty means every index the bands allow.
	Indices []string
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
}

// Metadata is what the capture says about itself (camera, time, GPS, ...).
type Metadata = raster.Metadata

// Result is the analysis of one capture.
type Result struct {
	Width, Height int
	// CalibrationMode is "uncalibrated_dn" or "reflectance".
	CalibrationMode string
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
}

// Analyze reads the capture made of files, computes the indices and writes
// the colour map of Result.MapIndex as PNG to mapOut (skipped when mapOut is
// nil). Multiple files are one rig capture: one band file per band, same
// size and capture id.
func Analyze(ctx context.Context, files []File, opt Options, mapOut io.Writer) (*Result, error) {
	params := index.Params{SAVIL: opt.SAVIL}
	if params.SAVIL == 0 {
		params.SAVIL = index.DefaultSAVIL
	}
	if err := params.Validate(); err != nil {
		return nil, fmt.Errorf("analyze: %w: %v", ErrUnsupported, err)
	}
	defs := index.Defs()
	requested, err := requestedSet(defs, opt.Indices)
	if err != nil {
		return nil, err
	}
	maxPixels := opt.MaxPixels
	if maxPixels == 0 {
		maxPixels = DefaultMaxPixels
	}

	inputs := make([]raster.Input, len(files))
	for i, f := range files {
		inputs[i] = raster.Input{Path: f.Path, Name: f.Filename, Role: f.Role}
	}
	capt, err := raster.OpenCapture(inputs, raster.Options{BandLayout: opt.BandLayout, MaxPixels: maxPixels})
	if err != nil {
		return nil, fmt.Errorf("analyze: %w", err)
	}
	defer capt.Close()
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
	res.CalibrationMode = capt.CalibrationMode
	res.Warnings = append(res.Warnings, capt.Warnings...)
	if capt.Metadata.GPSVoid {
		res.Warnings = append(res.Warnings, "the camera flagged its GPS fix as void: the position, if any, is unreliable")
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

	n := capt.Width * capt.Height
	cur := make([]float32, n)
	var mapVals []float32
	var mapDef index.Def
	for i, d := range defs {
		ir := &res.Indices[i]
		if !ir.Available {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("analyze: %w", err)
		}
		if err := d.Compute(cur, &bands, params); err != nil {
			return nil, fmt.Errorf("analyze: compute %s: %w", d.Name, err)
		}
		ir.Stats = index.Summarize(cur, d.Threshold, d.Min, d.Max)
		if d.Additive && res.CalibrationMode != raster.CalibrationReflectance {
			ir.Caveat = fmt.Sprintf("%s adds a constant that assumes reflectance in 0..1; on uncalibrated sensor values it is unreliable", d.Name)
		}
		if ir.Stats.Valid == 0 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: no valid pixel", d.Name))
		}
		if d.Name == res.MapIndex {
			// Keep this buffer for the map; compute the rest elsewhere.
			mapVals, mapDef = cur, d
			cur = make([]float32, n)
		}
	}

	if mapOut != nil {
		if err := colormap.Render(mapOut, mapVals, capt.Width, capt.Height, mapDef.Min, mapDef.Max); err != nil {
			return nil, fmt.Errorf("analyze: %w", err)
		}
	}
	return res, nil
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
