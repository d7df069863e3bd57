// Package raster reads drone images through GDAL (via godal) and turns one
// capture (a multi-band file, or one single-band file per band from a
// multispectral rig) into float32 bands with known roles, no-data as NaN and
// the radiometric preparation the sensor needs.
//
// It is the only package of the module that uses cgo. Only the GTiff, JPEG
// and PNG drivers may open an input, so an upload cannot make GDAL follow a
// VRT or a sidecar file to other files on the worker.
package raster

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/airbusgeo/godal"
)

// Sentinel errors. An error wraps one of these when the input (not the
// machine) is at fault, so a caller can fail the image for good instead of
// retrying.
var (
	ErrUnsupported  = errors.New("unsupported input")
	ErrCorrupt      = errors.New("corrupt input")
	ErrTooLarge     = errors.New("image too large")
	ErrMissingBands = errors.New("missing bands")
)

// GDAL mask flags (gdal.h).
const (
	gmfAllValid   = 0x01
	gmfPerDataset = 0x02
	gmfAlpha      = 0x04
	gmfNoData     = 0x08
)

// Band describes one band of a file as GDAL reports it.
type Band struct {
	Number      int    // 1-based GDAL band number
	Description string // GDAL band description, often empty
	ColorInterp string // GDAL colour interpretation name: "Red", "Gray", "Alpha", "Undefined"
	DataType    string // GDAL data type name: "Byte", "UInt16", "Float32"
	NoData      float64
	HasNoData   bool
	// Scale and Offset are GDAL's value = raw*Scale + Offset (1 and 0 when
	// the file declares none).
	Scale, Offset float64
	MaskFlags     int
}

// File is one opened input. Its header and metadata are read by Open; the
// pixels only by ReadPixels.
type File struct {
	Path string
	Name string // the name the user gave the file; its suffix can tell the band
	// Driver is the GDAL driver short name ("GTiff", "JPEG").
	Driver        string
	Width, Height int
	Bands         []Band
	// Metadata is GDAL's default metadata domain.
	Metadata map[string]string
	// EXIF holds the EXIF_* items: GDAL 3.6 puts them in the default domain
	// for JPEG and in the "EXIF" domain for GTiff.
	EXIF map[string]string
	// XMP is the raw packet from the "xml:XMP" domain, "" if none.
	XMP string
	// GeoTransform is GDAL's affine pixel-to-map transform, valid when
	// HasGeoTransform; Projection is the CRS as WKT, "" if none.
	GeoTransform    [6]float64
	HasGeoTransform bool
	Projection      string

	tiff tiffTags
	xmp  xmpProps
	ds   *godal.Dataset
}

// gdalLog collects what GDAL reports during one call. godal treats every
// warning as an error unless given a handler; Open wants to tolerate
// warnings (and record them) while pixel reads must not, because GDAL's JPEG
// driver only warns about a truncated file and then returns grey pixels.
type gdalLog struct {
	strict bool
	msgs   []string
	codes  []int
}

func (l *gdalLog) handler() godal.ErrorHandler {
	return func(ec godal.ErrorCategory, code int, msg string) error {
		if ec < godal.CE_Warning {
			return nil
		}
		l.msgs = append(l.msgs, msg)
		l.codes = append(l.codes, code)
		if ec >= godal.CE_Failure || l.strict {
			return errors.New(msg)
		}
		return nil
	}
}

// cpleOutOfMemory is CPLE_OutOfMemory: the machine's fault, not the input's.
const cpleOutOfMemory = 2

// classify wraps a GDAL error with the sentinel that fits: the format is not
// one we open, the machine ran out of memory (no sentinel: retry), or the
// file is damaged.
func (l *gdalLog) classify(action string, err error) error {
	for i, m := range l.msgs {
		if l.codes[i] == cpleOutOfMemory {
			return fmt.Errorf("%s: %w", action, err)
		}
		if strings.Contains(m, "not recognized as a supported file format") || strings.Contains(m, "not recognised as a supported file format") {
			return fmt.Errorf("%s: not a GeoTIFF, JPEG or PNG image: %w", action, ErrUnsupported)
		}
	}
	return fmt.Errorf("%s: %w: %v", action, ErrCorrupt, err)
}

// registerDrivers registers the allowed drivers. GDAL's registration
// functions return early when a driver is already registered and
// GDALDriverManager::RegisterDriver is mutex-protected and keeps the first
// driver of a name, so calling this on every Open is safe and cheap; it
// spares the package a global "once".
func registerDrivers() error {
	if err := godal.RegisterRaster(godal.GTiff, godal.DriverName("JPEG"), godal.DriverName("PNG"), godal.Memory); err != nil {
		return fmt.Errorf("register GDAL drivers: %w", err)
	}
	return nil
}

// Open reads a file's header and metadata. It refuses, before any pixel is
// decoded, a file whose width*height*bands exceeds maxPixels (when > 0).
// name is the user's file name (for suffix-based band roles); "" means the
// base name of path.
func Open(path, name string, maxPixels int64) (*File, error) {
	if name == "" {
		name = filepath.Base(path)
	}
	// Opening with os first separates "the worker lost the file" (not the
	// input's fault) from "GDAL cannot read it", and gives the TIFF tags.
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	tags, tagErr := readTIFFTags(fh)
	fh.Close()
	if tagErr != nil {
		return nil, fmt.Errorf("open %s: %w: %v", name, ErrCorrupt, tagErr)
	}
	if err := registerDrivers(); err != nil {
		return nil, err
	}
	log := &gdalLog{}
	ds, err := godal.Open(path, godal.RasterOnly(), godal.Drivers("GTiff", "JPEG", "PNG"),
		godal.ErrLogger(log.handler()), godal.ConfigOption("GDAL_PAM_ENABLED=NO"))
	if err != nil {
		return nil, log.classify("open "+name, err)
	}
	f := &File{Path: path, Name: name, tiff: tags, ds: ds}
	if err := f.readHeader(maxPixels); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (f *File) readHeader(maxPixels int64) error {
	st := f.ds.Structure()
	f.Width, f.Height = st.SizeX, st.SizeY
	nb := st.NBands
	if nb == 0 || f.Width <= 0 || f.Height <= 0 {
		return fmt.Errorf("open %s: %w: no raster bands", f.Name, ErrUnsupported)
	}
	if err := checkPixels(f.Width, f.Height, nb, maxPixels); err != nil {
		return fmt.Errorf("open %s: %w", f.Name, err)
	}
	f.Driver = f.ds.Driver().ShortName()
	for i, b := range f.ds.Bands() {
		bs := b.Structure()
		nd, ok := b.NoData()
		f.Bands = append(f.Bands, Band{
			Number:      i + 1,
			Description: strings.TrimSpace(b.Description()),
			ColorInterp: b.ColorInterp().Name(),
			DataType:    bs.DataType.String(),
			NoData:      nd,
			HasNoData:   ok,
			Scale:       bs.Scale,
			Offset:      bs.Offset,
			MaskFlags:   b.MaskFlags(),
		})
	}
	f.Metadata = f.ds.Metadatas()
	f.EXIF = map[string]string{}
	for k, v := range f.Metadata {
		if strings.HasPrefix(k, "EXIF_") {
			f.EXIF[k] = v
		}
	}
	for k, v := range f.ds.Metadatas(godal.Domain("EXIF")) {
		f.EXIF[k] = v
	}
	// An xml: domain holds one XML document, but godal's Metadatas splits
	// every entry at its first "=" as if it were KEY=VALUE; join it back.
	for k, v := range f.ds.Metadatas(godal.Domain("xml:XMP")) {
		f.XMP = k + "=" + v
	}
	f.xmp = parseXMP(f.XMP)
	log := &gdalLog{}
	if gt, err := f.ds.GeoTransform(godal.ErrLogger(log.handler())); err == nil {
		f.GeoTransform, f.HasGeoTransform = gt, true
	}
	f.Projection = f.ds.Projection()
	return nil
}

func float32NaN() float32 { return float32(math.NaN()) }

// checkPixels enforces the size limit on width*height*bands.
func checkPixels(w, h, bands int, limit int64) error {
	n := int64(w) * int64(h) * int64(bands)
	if limit <= 0 || n <= limit {
		return nil
	}
	if bands == 1 {
		return fmt.Errorf("%w: %d x %d = %d pixels exceeds limit %d", ErrTooLarge, w, h, n, limit)
	}
	return fmt.Errorf("%w: %d x %d x %d bands = %d pixels exceeds limit %d", ErrTooLarge, w, h, bands, n, limit)
}

// Close releases the GDAL dataset. It is safe to call twice.
func (f *File) Close() error {
	if f.ds == nil {
		return nil
	}
	err := f.ds.Close()
	f.ds = nil
	if err != nil {
		return fmt.Errorf("close %s: %w", f.Name, err)
	}
	return nil
}

// BandScale turns a band's stored values into the values analysed:
// value*Scale + Offset. The zero BandScale (and {1, 0}) leaves them as read.
type BandScale struct{ Scale, Offset float64 }

func (b BandScale) none() bool { return (b.Scale == 0 || b.Scale == 1) && b.Offset == 0 }

// bandConv is what reading does to one band's values: nodata becomes NaN,
// the rest is scaled.
type bandConv struct {
	scale     BandScale
	hasNoData bool
	noData    float32
}

// readFloat32 reads every band, band-interleaved, as float32, converted
// by conv (one per band). 8- and 16-bit files (every camera's JPEGs, PNGs
// and band TIFFs) are read in their own type and converted here, in
// parallel: GDAL's own conversion to float32 took longer than decoding (a
// 20 MP JPEG: 250-365 ms against 120-140 ms read as bytes). Widening an
// integer to float32 is exact, so the values are the same either way, and
// scaling in the same pass saves a pass over every band (about 80 ms of a
// 20 MP JPEG's analysis).
func (f *File) readFloat32(w, h int, conv []bandConv, opts ...godal.DatasetIOOption) ([]float32, error) {
	n := w * h * len(f.Bands)
	same := func(dt string) bool {
		for _, b := range f.Bands {
			if b.DataType != dt {
				return false
			}
		}
		return true
	}
	switch {
	case same("Byte"):
		raw := make([]uint8, n)
		if err := f.ds.Read(0, 0, raw, w, h, opts...); err != nil {
			return nil, err
		}
		return widen(raw, w*h, conv), nil
	case same("UInt16"):
		raw := make([]uint16, n)
		if err := f.ds.Read(0, 0, raw, w, h, opts...); err != nil {
			return nil, err
		}
		return widen(raw, w*h, conv), nil
	}
	buf := make([]float32, n)
	if err := f.ds.Read(0, 0, buf, w, h, opts...); err != nil {
		return nil, err
	}
	inParallel(buf, w*h, func(i, _ int, dst []float32) { convert(dst, dst, conv[i]) })
	return buf, nil
}

// widen converts raw, bands of bandLen values one after the other, to
// float32 by conv, split across the cores. A band to be scaled or to have
// a nodata value masked has at most 65,536 distinct values (8 or 16 bits),
// so those are converted once, into a table, and each pixel is a load from
// it instead of a conversion, a multiply-add or a compare: the same bits,
// since the table is convert's own output. BenchmarkWiden: 1.1-1.5x as
// fast for those; slower for a band taken as read (convert's loop is
// then only the widening) or one with few pixels beside the table's
// entries, which keep the per-pixel loop.
func widen[T uint8 | uint16](raw []T, bandLen int, conv []bandConv) []float32 {
	out := make([]float32, len(raw))
	tables := make([]*widenTable, len(conv))
	for i, c := range conv {
		if (c.hasNoData || !c.scale.none()) && bandLen >= 8*tableEntries[T]() {
			tables[i] = newWidenTable[T](c)
		}
	}
	inParallel(out, bandLen, func(i, at int, dst []float32) {
		if t := tables[i]; t != nil {
			lookup(dst, raw[at:at+len(dst)], t)
		} else {
			convert(dst, raw[at:at+len(dst)], conv[i])
		}
	})
	return out
}

// tableEntries is how many values T has: 256 or 65,536.
func tableEntries[T uint8 | uint16]() int {
	var top T
	top--
	return int(top) + 1
}

// widenTable holds a band's converted value for every raw value. It is
// indexed by uint16 for 8-bit data too, so that the compiler can leave
// out the bounds check in lookup; only the first 256 entries are set then.
type widenTable [1 << 16]float32

func newWidenTable[T uint8 | uint16](c bandConv) *widenTable {
	var t widenTable
	all := make([]T, tableEntries[T]())
	for v := range all {
		all[v] = T(v)
	}
	convert(t[:len(all)], all, c)
	return &t
}

func lookup[T uint8 | uint16](dst []float32, src []T, t *widenTable) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] = t[uint16(v)]
	}
}

// inParallel calls fn with parts of buf (bands of bandLen values one after
// the other), each within one band and starting at index at of buf, split
// across the cores.
func inParallel(buf []float32, bandLen int, fn func(band, at int, part []float32)) {
	if bandLen <= 0 {
		return
	}
	parts := max(1, min(runtime.GOMAXPROCS(0), 4, len(buf)>>16))
	var wg sync.WaitGroup
	for p := range parts {
		lo, hi := p*len(buf)/parts, (p+1)*len(buf)/parts
		for at := lo; at < hi; {
			band, start, end := at/bandLen, at, min(hi, (at/bandLen+1)*bandLen)
			wg.Add(1)
			go func() {
				defer wg.Done()
				fn(band, start, buf[start:end:end])
			}()
			at = end
		}
	}
	wg.Wait()
}

// convert writes src's values into dst by c. Integer to float32 is exact,
// and the scaling rounds as applyScale does.
func convert[T uint8 | uint16 | float32](dst []float32, src []T, c bandConv) {
	src = src[:len(dst)]
	nan := float32NaN()
	sc, off := c.scale.Scale, c.scale.Offset
	switch {
	case c.hasNoData && c.scale.none():
		for i, v := range src {
			x := float32(v)
			if x == c.noData {
				x = nan
			}
			dst[i] = x
		}
	case c.hasNoData:
		for i, v := range src {
			x := float32(v)
			if x == c.noData {
				dst[i] = nan
			} else {
				dst[i] = float32(float64(x)*sc + off)
			}
		}
	case c.scale.none():
		for i, v := range src {
			dst[i] = float32(v)
		}
	default:
		for i, v := range src {
			dst[i] = float32(float64(float32(v))*sc + off)
		}
	}
}

// ReadPixels decodes every band as float32, band after band, each
// Width*Height long. Integer data up to 24 bits converts exactly; no 8-bit
// colour model is involved. A pixel is NaN in a band when it equals the
// band's nodata value, and in every band when the alpha band or GDAL's
// per-dataset mask marks it transparent. GDAL scale and offset are not
// applied here (saturation must be judged on raw values).
//
// Any GDAL warning while decoding fails the read with ErrCorrupt: GDAL's
// JPEG driver only warns about a truncated file and fills the rest grey.
func (f *File) ReadPixels() ([][]float32, error) { return f.ReadPixelsScaled(nil) }

// ReadPixelsScaled is ReadPixels with band i's values, but nodata, turned
// into value*scales[i].Scale + scales[i].Offset as they are read (nil, or
// a zero BandScale, leaves a band as read); the alpha band is never
// scaled.
func (f *File) ReadPixelsScaled(scales []BandScale) ([][]float32, error) {
	if f.ds == nil {
		return nil, fmt.Errorf("read %s: file closed", f.Name)
	}
	w, h, nb := f.Width, f.Height, len(f.Bands)
	conv := make([]bandConv, nb)
	for i, b := range f.Bands {
		if b.ColorInterp == "Alpha" {
			continue
		}
		conv[i] = bandConv{hasNoData: b.HasNoData, noData: float32(b.NoData)}
		if i < len(scales) {
			conv[i].scale = scales[i]
		}
	}
	log := &gdalLog{strict: true}
	buf, err := f.readFloat32(w, h, conv, godal.BandInterleaved(), godal.ErrLogger(log.handler()),
		godal.ConfigOption("GDAL_ERROR_ON_LIBJPEG_WARNING=TRUE", "GDAL_PAM_ENABLED=NO"))
	if err != nil {
		return nil, log.classify("read "+f.Name, err)
	}
	bands := make([][]float32, nb)
	for i := range bands {
		bands[i] = buf[i*w*h : (i+1)*w*h : (i+1)*w*h]
	}
	nan := float32NaN()
	alpha := -1
	for i, b := range f.Bands {
		if b.ColorInterp == "Alpha" {
			alpha = i
		}
	}
	var mask []float32 // 0 where transparent
	switch {
	case alpha >= 0:
		mask = bands[alpha]
	case f.Bands[0].MaskFlags&(gmfAllValid|gmfAlpha|gmfNoData) == 0 && f.Bands[0].MaskFlags&gmfPerDataset != 0:
		// An explicit per-dataset mask (e.g. an internal TIFF mask).
		mb := f.ds.Bands()[0].MaskBand()
		m := make([]uint8, w*h)
		if err := mb.Read(0, 0, m, w, h, godal.ErrLogger(log.handler())); err != nil {
			return nil, log.classify("read mask of "+f.Name, err)
		}
		mask = make([]float32, w*h)
		for j, v := range m {
			mask[j] = float32(v)
		}
	}
	if mask != nil {
		for i := range bands {
			if i == alpha {
				continue
			}
			b := bands[i][:len(mask)]
			for j, m := range mask {
				if m == 0 {
					b[j] = nan
				}
			}
		}
	}
	return bands, nil
}
