package analyze

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airbusgeo/godal"

	"github.com/canopyag/canopy/analysis-svc/internal/index"
)

// utm15N is EPSG:32615 as WKT, for synthetic georeferenced inputs.
func utm15N(t *testing.T) string {
	t.Helper()
	sr, err := godal.NewSpatialRefFromEPSG(32615)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	wkt, err := sr.WKT()
	if err != nil {
		t.Fatal(err)
	}
	return wkt
}

// writeGeoTIFF is writeTIFF plus georeferencing.
func writeGeoTIFF(t *testing.T, path string, w, h int, bands [][]float32, describe []string, gt [6]float64, wkt string) {
	t.Helper()
	writeTIFF(t, path, godal.Float32, w, h, bands, describe)
	ds, err := godal.Open(path, godal.Update())
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.SetGeoTransform(gt); err != nil {
		t.Fatal(err)
	}
	if err := ds.SetProjection(wkt); err != nil {
		t.Fatal(err)
	}
	if err := ds.Close(); err != nil {
		t.Fatal(err)
	}
}

// readBand reads band 1 of a GeoTIFF with godal, with its georeferencing
// and nodata.
func readBand(t *testing.T, path string) (vals []float32, w, h int, gt [6]float64, wkt string, nodata float64, hasNoData bool) {
	t.Helper()
	ds, err := godal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	st := ds.Structure()
	w, h = st.SizeX, st.SizeY
	if st.NBands != 1 || ds.Bands()[0].Structure().DataType != godal.Float32 {
		t.Fatalf("%s: %d bands of %v, want 1 Float32", path, st.NBands, ds.Bands()[0].Structure().DataType)
	}
	vals = make([]float32, w*h)
	if err := ds.Bands()[0].Read(0, 0, vals, w, h); err != nil {
		t.Fatal(err)
	}
	gt, _ = ds.GeoTransform()
	nodata, hasNoData = ds.Bands()[0].NoData()
	return vals, w, h, gt, ds.Projection(), nodata, hasNoData
}

// quadrants is a 16 x 16 reflectance raster whose quadrants have NDVI
// 0.7 (top left), 0.5 (top right), 0.3 (bottom left) and 0.1 (bottom
// right): NIR/Red = 0.85/0.15, 0.75/0.25, 0.65/0.35, 0.55/0.45, so
// (NIR-Red)/(NIR+Red) = 0.7/1, 0.5/1, 0.3/1, 0.1/1. Pixel (0,0) has Red
// NaN (nodata) and pixel (1,0) NIR = Red = 0 (0/0): both are left out.
func quadrants() (nir, red []float32) {
	const n = 16
	nir, red = make([]float32, n*n), make([]float32, n*n)
	for y := range n {
		for x := range n {
			i := y*n + x
			switch {
			case y < 8 && x < 8:
				nir[i], red[i] = 0.85, 0.15
			case y < 8:
				nir[i], red[i] = 0.75, 0.25
			case x < 8:
				nir[i], red[i] = 0.65, 0.35
			default:
				nir[i], red[i] = 0.55, 0.45
			}
		}
	}
	red[0] = float32(math.NaN())
	nir[1], red[1] = 0, 0
	return nir, red
}

// TestQuadrantsClassesZonesGeoTIFF runs the whole analysis on the quadrant
// raster, georeferenced in UTM with 2 m x 2 m pixels.
func TestQuadrantsClassesZonesGeoTIFF(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "quad.tif")
	nir, red := quadrants()
	gt := [6]float64{500000, 2, 0, 5000000, 0, -2}
	wkt := utm15N(t)
	writeGeoTIFF(t, in, 16, 16, [][]float32{nir, red}, []string{"nir", "red"}, gt, wkt)

	outDir := t.TempDir()
	var mapPNG, thumb bytes.Buffer
	res, err := Analyze(context.Background(), []File{{Path: in}}, Options{Indices: []string{"NDVI", "SAVI"}},
		Outputs{Map: &mapPNG, Thumbnail: &thumb, GeoTIFFDir: outDir})
	if err != nil {
		t.Fatal(err)
	}
	// Georeferenced in metres: GSD 2 m, 4 m² per pixel.
	if res.GSDSource != GSDFromGeoreferencing || res.GSD != 2 || res.PixelAreaM2 != 4 {
		t.Errorf("GSD %v m (%s), pixel area %v", res.GSD, res.GSDSource, res.PixelAreaM2)
	}

	ndvi := indexResult(t, res, "NDVI")
	// 256 pixels, 2 left out; 64 per quadrant, 62 valid in the top left.
	// Default NDVI thresholds 0.2/0.4/0.6: 0.1 bare, 0.3 stressed, 0.5
	// moderate, 0.7 healthy.
	wantPixels := []int64{64, 64, 64, 62}
	for i, c := range ndvi.Health {
		if c.Name != index.ClassNames[i] || c.Pixels != wantPixels[i] {
			t.Errorf("class %d = %s %d pixels, want %s %d", i, c.Name, c.Pixels, index.ClassNames[i], wantPixels[i])
		}
		if want := float64(wantPixels[i]) / 254; math.Abs(c.Fraction-want) > 1e-12 {
			t.Errorf("%s fraction = %v, want %v", c.Name, c.Fraction, want)
		}
		if want := float64(wantPixels[i]) * 4; c.AreaM2 == nil || *c.AreaM2 != want {
			t.Errorf("%s area = %v, want %v m²", c.Name, c.AreaM2, want)
		}
	}
	if lo, hi := ndvi.Health[0].Min, ndvi.Health[3].Max; !math.IsInf(lo, -1) || !math.IsInf(hi, 1) || ndvi.Health[1].Min != 0.2 || ndvi.Health[1].Max != 0.4 {
		t.Errorf("class bounds %+v", ndvi.Health)
	}

	// 8 x 8 grid over 16 x 16: every cell is 2 x 2 pixels of one quadrant.
	// Cell (0,0) holds pixels (0,0) and (1,0), both left out, so it has 2
	// valid pixels; its mean is still 0.7.
	if ndvi.GridRows != 8 || ndvi.GridCols != 8 || len(ndvi.Zones) != 64 {
		t.Fatalf("grid %d x %d, %d cells", ndvi.GridRows, ndvi.GridCols, len(ndvi.Zones))
	}
	for _, z := range ndvi.Zones {
		var want float32
		var class int
		switch {
		case z.Row < 4 && z.Col < 4:
			want, class = 0.7, 3
		case z.Row < 4:
			want, class = 0.5, 2
		case z.Col < 4:
			want, class = 0.3, 1
		default:
			want, class = 0.1, 0
		}
		valid := int64(4)
		if z.Row == 0 && z.Col == 0 {
			valid = 2
		}
		// NDVI is computed in float64 from float32 inputs and stored as
		// float32: float32((0.85-0.15)/(0.85+0.15)) etc., within 1 ulp of
		// float32(want).
		if z.Valid != valid || math.Abs(z.Mean-float64(want)) > 1e-7 || z.Class != class {
			t.Errorf("cell (%d,%d) = %d valid, mean %v, class %d; want %d, %v, %d", z.Row, z.Col, z.Valid, z.Mean, z.Class, valid, want, class)
		}
	}

	// The NDVI GeoTIFF, read back: pixel for pixel the index values the
	// formula gives on the inputs, NaN declared as nodata, the input's
	// georeferencing.
	var ndviOut *Output
	var kinds []string
	for i, o := range res.Outputs {
		kinds = append(kinds, o.Kind+":"+o.Index)
		if o.Kind == KindGeoTIFF && o.Index == "NDVI" {
			ndviOut = &res.Outputs[i]
		}
	}
	// Each index's GeoTIFF, then its map (only the main map here: no
	// MapDir), the thumbnail last.
	if want := []string{"geotiff:NDVI", "colormap:NDVI", "geotiff:SAVI", "thumbnail:"}; !slices.Equal(kinds, want) {
		t.Errorf("outputs = %v, want %v", kinds, want)
	}
	if ndviOut == nil {
		t.Fatal("no NDVI GeoTIFF")
	}
	vals, w, h, gotGT, gotWKT, nd, hasND := readBand(t, ndviOut.Path)
	if w != 16 || h != 16 || gotGT != gt || !hasND || !math.IsNaN(nd) {
		t.Errorf("GeoTIFF %d x %d, geotransform %v, nodata %v (%v)", w, h, gotGT, nd, hasND)
	}
	if !strings.Contains(gotWKT, "UTM zone 15N") {
		t.Errorf("projection = %.80s...", gotWKT)
	}
	for i := range vals {
		n, r := float64(nir[i]), float64(red[i])
		want := float32((n - r) / (n + r))
		if i == 1 {
			want = float32(math.NaN())
		}
		if got := vals[i]; got != want && !(math.IsNaN(float64(got)) && math.IsNaN(float64(want))) {
			t.Errorf("pixel %d = %v, want %v", i, got, want)
		}
	}

	img, err := png.Decode(&thumb)
	if err != nil {
		t.Fatal(err)
	}
	// 16 x 16 is under 256: the thumbnail keeps the size. It has no
	// blue band: colour infrared needs green, so it is grey NIR.
	if b := img.Bounds(); b.Dx() != 16 || b.Dy() != 16 {
		t.Errorf("thumbnail %v", b)
	}
}

// TestGridBoundaries checks the cell rule on a raster that does not divide
// evenly: 5 x 3 pixels, value x + 10y, in a 2 x 2 grid. Rows split
// [0,1) and [1,3) (r*3/2), columns [0,2) and [2,5) (c*5/2), so by hand:
//
//	cell (0,0): x 0..1, y 0      -> 0, 1          mean 0.5
//	cell (0,1): x 2..4, y 0      -> 2, 3, 4       mean 3
//	cell (1,0): x 0..1, y 1..2   -> 10,11,20,21   mean 15.5
//	cell (1,1): x 2..4, y 1..2   -> 12..14,22..24 mean 18
func TestGridBoundaries(t *testing.T) {
	vals := make([]float32, 15)
	for y := range 3 {
		for x := range 5 {
			vals[y*5+x] = float32(x + 10*y)
		}
	}
	z := index.Zones(vals, 5, 3, 2, 2, index.Thresholds{1, 10, 16})
	want := []index.Zone{
		{Row: 0, Col: 0, Valid: 2, Mean: 0.5, Class: 0},
		{Row: 0, Col: 1, Valid: 3, Mean: 3, Class: 1},
		{Row: 1, Col: 0, Valid: 4, Mean: 15.5, Class: 2},
		{Row: 1, Col: 1, Valid: 6, Mean: 18, Class: 3},
	}
	if !slices.Equal(z, want) {
		t.Errorf("zones = %+v\nwant %+v", z, want)
	}
	// A grid finer than the image leaves cells empty, never out of range.
	z = index.Zones(vals[:2], 2, 1, 3, 3, index.Thresholds{1, 10, 16})
	var valid int64
	for _, c := range z {
		valid += c.Valid
		if c.Valid == 0 && c.Class != -1 {
			t.Errorf("empty cell has class %d", c.Class)
		}
	}
	if valid != 2 {
		t.Errorf("valid over cells = %d, want 2", valid)
	}
}

func TestOptionsValidated(t *testing.T) {
	for name, opt := range map[string]Options{
		"grid too fine":        {GridRows: MaxGrid + 1},
		"negative grid":        {GridCols: -1},
		"thresholds unordered": {HealthThresholds: map[string]index.Thresholds{"ndvi": {0.5, 0.4, 0.6}}},
		"thresholds NaN":       {HealthThresholds: map[string]index.Thresholds{"NDVI": {math.NaN(), 0.4, 0.6}}},
		"unknown index":        {HealthThresholds: map[string]index.Thresholds{"NDXI": {0.2, 0.4, 0.6}}},
		"negative thumbnail":   {ThumbnailMaxSide: -5},
	} {
		if _, err := Analyze(context.Background(), []File{{Path: "/nonexistent"}}, opt, Outputs{}); err == nil || !strings.Contains(err.Error(), "unsupported") {
			t.Errorf("%s: got %v, want ErrUnsupported", name, err)
		}
	}
}

func TestHealthThresholdOverride(t *testing.T) {
	in := filepath.Join(t.TempDir(), "quad.tif")
	nir, red := quadrants()
	writeTIFF(t, in, godal.Float32, 16, 16, [][]float32{nir, red}, []string{"nir", "red"})
	// Cut points 0.05/0.25/0.4 put 0.1 in stressed, 0.3 in moderate, 0.5
	// and 0.7 in healthy.
	res, err := Analyze(context.Background(), []File{{Path: in}},
		Options{Indices: []string{"NDVI"}, HealthThresholds: map[string]index.Thresholds{"ndvi": {0.05, 0.25, 0.4}}, GridRows: 2, GridCols: 1}, Outputs{})
	if err != nil {
		t.Fatal(err)
	}
	ndvi := indexResult(t, res, "NDVI")
	var got []int64
	for _, c := range ndvi.Health {
		got = append(got, c.Pixels)
		if c.AreaM2 != nil {
			t.Errorf("area %v without georeferencing or altitude", *c.AreaM2)
		}
	}
	if want := []int64{0, 64, 64, 126}; !slices.Equal(got, want) {
		t.Errorf("classes = %v, want %v", got, want)
	}
	// 2 x 1 grid: the top half averages 0.7 (62 px) and 0.5 (64 px):
	// (62*0.7 + 64*0.5)/126 = 0.598...; the bottom (0.3+0.1)/2 = 0.2.
	top, bottom := ndvi.Zones[0], ndvi.Zones[1]
	if top.Valid != 126 || math.Abs(top.Mean-(62*0.7+64*0.5)/126) > 1e-7 || top.Class != 3 {
		t.Errorf("top = %+v", top)
	}
	if bottom.Valid != 128 || math.Abs(bottom.Mean-0.2) > 1e-7 || bottom.Class != 1 {
		t.Errorf("bottom = %+v", bottom)
	}
	if res.GSD != 0 || !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.HasPrefix(w, "area unknown: ") }) {
		t.Errorf("GSD %v, warnings %q", res.GSD, res.Warnings)
	}
}

// TestColourMapPerIndex checks the colour maps on the quadrant raster
// (NIR and Red only), whose bands allow NDVI, SAVI, OSAVI, MSAVI2 and EVI2
// (index.Defs: the indices needing only NIR and Red).
func TestColourMapPerIndex(t *testing.T) {
	in := filepath.Join(t.TempDir(), "quad.tif")
	nir, red := quadrants()
	writeTIFF(t, in, godal.Float32, 16, 16, [][]float32{nir, red}, []string{"nir", "red"})

	mapDir := t.TempDir()
	var main bytes.Buffer
	res, err := Analyze(context.Background(), []File{{Path: in}}, Options{}, Outputs{Map: &main, MapDir: mapDir})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range res.Outputs {
		if o.Kind != KindColormap {
			t.Errorf("output %s:%s without GeoTIFFDir or Thumbnail", o.Kind, o.Index)
			continue
		}
		got = append(got, o.Index)
		if want := filepath.Join(mapDir, "map-"+strings.ToLower(o.Index)+".png"); o.Path != want {
			t.Errorf("%s map at %s, want %s", o.Index, o.Path, want)
		}
		if o.Min != -1 || o.Max != 1 || o.ContentType != "image/png" || o.Width != 16 || o.Height != 16 {
			t.Errorf("%s map output %+v", o.Index, o)
		}
	}
	if want := []string{"NDVI", "SAVI", "OSAVI", "MSAVI2", "EVI2"}; !slices.Equal(got, want) {
		t.Fatalf("colour maps for %v, want %v", got, want)
	}
	if res.MapIndex != "NDVI" {
		t.Errorf("main map %s", res.MapIndex)
	}
	// Timings: decode and each index are disjoint parts of the whole; the
	// indices run in parallel (up to indexWorkers at once), so their sum
	// may exceed the rest of the whole by that factor, no more.
	var parts time.Duration
	for _, ir := range res.Indices {
		if ir.Available && ir.Duration <= 0 || !ir.Available && ir.Duration != 0 {
			t.Errorf("%s (available %v) took %v", ir.Name, ir.Available, ir.Duration)
		}
		if res.DecodeTime+ir.Duration > res.Duration {
			t.Errorf("decode %v + %s %v > whole %v", res.DecodeTime, ir.Name, ir.Duration, res.Duration)
		}
		parts += ir.Duration
	}
	if rest := res.Duration - res.DecodeTime; res.DecodeTime <= 0 || parts > rest*time.Duration(indexWorkers(len(res.Indices))) {
		t.Errorf("decode %v, indices %v in all, whole %v", res.DecodeTime, parts, res.Duration)
	}
	// The main map writer gets the same bytes as map-ndvi.png.
	ndviPNG, err := os.ReadFile(filepath.Join(mapDir, "map-ndvi.png"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(main.Bytes(), ndviPNG) {
		t.Errorf("main map (%d bytes) differs from map-ndvi.png (%d bytes)", main.Len(), len(ndviPNG))
	}

	// Expected colours, by hand from the colormap's definition: ColorBrewer
	// RdYlGn's 11 anchors over [-1, 1]; t = (v+1)/2 is quantised to step
	// s = round(t*254) of 0..254, whose colour is the sRGB interpolation at
	// x = 10*s/254 between anchors floor(x) and floor(x)+1, rounded.
	//   NDVI top left: (0.85-0.15)/(0.85+0.15) = 0.7, t = 0.85, s = 216
	//     (215.9), x = 8.50394 between #66bd63 (102,189,99) and #1a9850
	//     (26,152,80): 102-0.50394*76 = 63.70, 189-0.50394*37 = 170.35,
	//     99-0.50394*19 = 89.43 -> (64, 170, 89).
	//   SAVI bottom right: 1.5*(0.55-0.45)/(0.55+0.45+0.5) = 0.1, t = 0.55,
	//     s = 140 (139.7), x = 5.51181 between #ffffbf (255,255,191) and
	//     #d9ef8b (217,239,139): 255-0.51181*38 = 235.55,
	//     255-0.51181*16 = 246.81, 191-0.51181*52 = 164.39 -> (236, 247, 164).
	//   OSAVI bottom right: 0.1/(1+0.16) = 0.086207, t = 0.543103, s = 138
	//     (137.95), x = 5.43307: 255-0.43307*38 = 238.54,
	//     255-0.43307*16 = 248.07, 191-0.43307*52 = 168.48 -> (239, 248, 168).
	// numpy (/usr/bin/python3) on the float32 inputs gives the same steps.
	known := map[string]struct {
		x, y int
		c    color.NRGBA
	}{
		"NDVI":  {2, 0, color.NRGBA{64, 170, 89, 255}},
		"SAVI":  {15, 15, color.NRGBA{236, 247, 164, 255}},
		"OSAVI": {15, 15, color.NRGBA{239, 248, 168, 255}},
	}
	for _, name := range got {
		f, err := os.Open(filepath.Join(mapDir, MapFileName(name)))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s map: %v", name, err)
		}
		if b := img.Bounds(); b != image.Rect(0, 0, 16, 16) {
			t.Errorf("%s map bounds %v", name, b)
		}
		// Pixel (0,0) has Red NaN: nodata in every index, fully
		// transparent. Pixel (1,0) has NIR = Red = 0: 0/0 in NDVI (nodata),
		// but 0 in the others, whose denominators have a constant (SAVI
		// 0/0.5, OSAVI 0/0.16, MSAVI2 (1-sqrt(1))/2, EVI2 0/1); 0 is t = 0.5,
		// step 127, x = 5: anchor 5 exactly, #ffffbf.
		if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
			t.Errorf("%s map: nodata pixel (0,0) alpha %d, want 0", name, a)
		}
		c10 := color.NRGBAModel.Convert(img.At(1, 0)).(color.NRGBA)
		if want := (color.NRGBA{0xff, 0xff, 0xbf, 0xff}); name == "NDVI" && c10.A != 0 || name != "NDVI" && c10 != want {
			t.Errorf("%s map: pixel (1,0) = %v", name, c10)
		}
		if _, _, _, a := img.At(2, 0).RGBA(); a != 0xffff {
			t.Errorf("%s map: valid pixel (2,0) alpha %d, want opaque", name, a)
		}
		if k, ok := known[name]; ok {
			if c := color.NRGBAModel.Convert(img.At(k.x, k.y)).(color.NRGBA); c != k.c {
				t.Errorf("%s map pixel (%d,%d) = %v, want %v", name, k.x, k.y, c, k.c)
			}
		}
	}

	// Options.Indices restricts the maps too; the main map follows.
	mapDir = t.TempDir()
	res, err = Analyze(context.Background(), []File{{Path: in}}, Options{Indices: []string{"savi", "OSAVI"}}, Outputs{MapDir: mapDir})
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, o := range res.Outputs {
		got = append(got, o.Kind+":"+o.Index)
	}
	if want := []string{"colormap:SAVI", "colormap:OSAVI"}; !slices.Equal(got, want) || res.MapIndex != "SAVI" {
		t.Errorf("outputs %v, main map %s; want %v, SAVI", got, res.MapIndex, want)
	}
	entries, err := os.ReadDir(mapDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"map-osavi.png", "map-savi.png"}; !slices.Equal(names, want) {
		t.Errorf("files %v, want %v", names, want)
	}
}
