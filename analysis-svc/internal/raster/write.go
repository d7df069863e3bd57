package raster

import (
	"fmt"
	"math"

	"github.com/airbusgeo/godal"
)

// Georef is the georeferencing to copy onto an output: GDAL's geotransform
// (nil for none) and the CRS as WKT ("" for none).
type Georef struct {
	GeoTransform []float64
	Projection   string
}

// geoTIFFOptions: 256 x 256 tiles and ZSTD at level 1 without a predictor.
// Writing the outputs was half of an analysis with DEFLATE and libtiff's
// floating-point predictor (PREDICTOR=3, ZLEVEL=1); ZSTD level 1 writes the
// same rasters 2.5-6x faster. Measured on real captures (one write each,
// same process): DJI_0061.JPG's VARI and GLI (2400 x 1800, 17.3 MB raw)
// 190-220 ms and 13.8-14.0 MB with DEFLATE+PREDICTOR=3, 75-90 ms and
// 13.6-14.6 MB with ZSTD; the MicaSense RedEdge capture's NDVI, NDRE and
// EVI (4.7 MB raw) 70-80 ms and 3.5 MB against 12-18 ms and 4.0 MB. The
// floating-point predictor buys little with ZSTD (the 8-bit photos'
// indices repeat exact values, which byte reordering hides) and doubles
// ZSTD's time; ZSTD level 2 is 30-50 % slower for 0-5 % less. Both are
// lossless: every float32 reads back bit for bit (write_test.go). GDAL
// reads ZSTD since 2.3 (libtiff 4.0.10). BIGTIFF=IF_SAFER keeps outputs of
// very large inputs writable.
var geoTIFFOptions = []string{"TILED=YES", "COMPRESS=ZSTD", "ZSTD_LEVEL=1", "BIGTIFF=IF_SAFER"}

// WriteFloat32GeoTIFF writes vals (row-major, width*height) as a one-band
// float32 GeoTIFF at path. NaN is declared as the nodata value, so GIS tools
// mask the pixels the analysis left out. The band description is name. The
// georeferencing is copied when geo has it; pixels stay in sensor
// orientation (EXIF orientation is not applied), like every other output.
func WriteFloat32GeoTIFF(path, name string, vals []float32, width, height int, geo Georef) error {
	if width <= 0 || height <= 0 || len(vals) != width*height {
		return fmt.Errorf("write %s GeoTIFF: %d values for %d x %d", name, len(vals), width, height)
	}
	if err := registerDrivers(); err != nil {
		return err
	}
	log := &gdalLog{strict: true}
	ds, err := godal.Create(godal.GTiff, path, 1, godal.Float32, width, height,
		godal.CreationOption(geoTIFFOptions...), godal.ErrLogger(log.handler()))
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
