package raster

import (
	"fmt"
	"math"
	"strings"

	"github.com/airbusgeo/godal"
)

// Georef is the georeferencing to copy onto an output: GDAL's geotransform
// (nil for none) and the CRS as WKT ("" for none).
type Georef struct {
	GeoTransform []float64
	Projection   string
}

// Compression is how the index GeoTIFFs are compressed; every choice is
// lossless (each float32 reads back bit for bit, write_test.go).
//
// The default is none. An index of an 8-bit photo barely compresses, and
// compressing was the largest part of an analysis. Measured on
// DJI_0061.JPG's VARI (2400 x 1800, 17.3 MB raw; go test -bench, one
// process): uncompressed 20-21 ms per write, ZSTD level 1 69-72 ms for
// 13.6 MB, ZSTD with the floating-point predictor 102 ms, DEFLATE with it
// 190-220 ms for 13.8-14.0 MB, LZW 204-210 ms. The MicaSense RedEdge
// capture's indices (4.7 MB raw) are 4.0 MB with ZSTD. So ZSTD saves a
// fifth of the disk for three times the time; choose it where storage
// matters more than the seconds. GDAL reads ZSTD since 2.3.
type Compression string

// The compressions WriteFloat32GeoTIFF knows.
const (
	CompressNone    Compression = "none"
	CompressZSTD    Compression = "zstd"
	CompressDeflate Compression = "deflate"
)

// ParseCompression reads a Compression by name ("" is none).
func ParseCompression(s string) (Compression, error) {
	switch c := Compression(strings.ToLower(strings.TrimSpace(s))); c {
	case "", CompressNone:
		return CompressNone, nil
	case CompressZSTD, CompressDeflate:
		return c, nil
	}
	return "", fmt.Errorf("GeoTIFF compression %q: want none, zstd or deflate", s)
}

// creationOptions: 512 x 512 tiles, the compression, and BIGTIFF=IF_SAFER
// so outputs of very large inputs stay writable. 512 is the tile size of
// GDAL's cloud-optimised GeoTIFFs; against GDAL's default of 256, a 3 MP
// uncompressed index is written in 12-13 ms instead of 17-19 (about what
// a plain 12 MB file write takes here), as each tile costs GDAL a block
// and a write of its own.
func (c Compression) creationOptions() []string {
	opts := []string{"TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512", "BIGTIFF=IF_SAFER"}
	switch c {
	case CompressZSTD:
		// Level 1 without a predictor: the predictor doubled ZSTD's time
		// for little (indices of 8-bit photos repeat exact values, which
		// byte reordering hides); level 2 is 30-50 % slower for 0-5 % less.
		opts = append(opts, "COMPRESS=ZSTD", "ZSTD_LEVEL=1")
	case CompressDeflate:
		opts = append(opts, "COMPRESS=DEFLATE", "PREDICTOR=3", "ZLEVEL=1")
	}
	return opts
}

// WriteFloat32GeoTIFF writes vals (row-major, width*height) as a one-band
// float32 GeoTIFF at path. NaN is declared as the nodata value, so GIS tools
// mask the pixels the analysis left out. The band description is name. The
// georeferencing is copied when geo has it; pixels stay in sensor
// orientation (EXIF orientation is not applied), like every other output.
func WriteFloat32GeoTIFF(path, name string, vals []float32, width, height int, geo Georef, c Compression) error {
	if width <= 0 || height <= 0 || len(vals) != width*height {
		return fmt.Errorf("write %s GeoTIFF: %d values for %d x %d", name, len(vals), width, height)
	}
	if err := registerDrivers(); err != nil {
		return err
	}
	log := &gdalLog{strict: true}
	ds, err := godal.Create(godal.GTiff, path, 1, godal.Float32, width, height,
		godal.CreationOption(c.creationOptions()...), godal.ErrLogger(log.handler()))
	if err != nil {
		return fmt.Errorf("write %s GeoTIFF: create: %w", name, err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = ds.Close()
		}
	}()
	if len(geo.GeoTransform) == 6 {
		var gt [6]float64
		copy(gt[:], geo.GeoTransform)
		if err := ds.SetGeoTransform(gt, godal.ErrLogger(log.handler())); err != nil {
			return fmt.Errorf("write %s GeoTIFF: set geotransform: %w", name, err)
		}
	}
	if geo.Projection != "" {
		if err := ds.SetProjection(geo.Projection, godal.ErrLogger(log.handler())); err != nil {
			return fmt.Errorf("write %s GeoTIFF: set projection: %w", name, err)
		}
	}
	band := ds.Bands()[0]
	if err := band.SetNoData(math.NaN(), godal.ErrLogger(log.handler())); err != nil {
		return fmt.Errorf("write %s GeoTIFF: set nodata: %w", name, err)
	}
	if err := band.SetDescription(name, godal.ErrLogger(log.handler())); err != nil {
		return fmt.Errorf("write %s GeoTIFF: set description: %w", name, err)
	}
	if err := band.Write(0, 0, vals, width, height, godal.ErrLogger(log.handler())); err != nil {
		return fmt.Errorf("write %s GeoTIFF: %w", name, err)
	}
	closed = true
	if err := ds.Close(godal.ErrLogger(log.handler())); err != nil {
		return fmt.Errorf("write %s GeoTIFF: close: %w", name, err)
	}
	return nil
}
