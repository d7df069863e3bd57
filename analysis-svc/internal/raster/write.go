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

// geoTIFFOptions: tiles and DEFLATE with the floating-point predictor
// (PREDICTOR=3) shrink index rasters to about half at little CPU cost;
// ZLEVEL=1 because the file is written once per analysis on the worker's
// clock, and levels above 1 buy a few percent for several times the time.
// BIGTIFF=IF_SAFER keeps outputs of very large inputs writable.
var geoTIFFOptions = []string{"TILED=YES", "COMPRESS=DEFLATE", "PREDICTOR=3", "ZLEVEL=1", "BIGTIFF=IF_SAFER"}

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
