package analyze

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/canopyag/canopy/analysis-svc/internal/index"
	"github.com/canopyag/canopy/analysis-svc/internal/raster"
	"github.com/canopyag/canopy/analysis-svc/internal/thumbnail"
)

// MaxIndexWorkers caps the indices one analysis computes at once. Each
// worker holds one float32 buffer of the image (4 bytes per pixel) and,
// while it draws a colour map, one byte per pixel more; the decoded bands
// are shared. With the worker pool running one analysis per core, a 2-core
// machine holds at most 2 x 2 such buffers, and no machine more than
// MaxIndexWorkers per analysis.
const MaxIndexWorkers = 4

// indexWorkers is how many indices run at once for jobs jobs: one per
// core the Go scheduler may use, at most MaxIndexWorkers.
func indexWorkers(jobs int) int {
	return max(1, min(runtime.GOMAXPROCS(0), MaxIndexWorkers, jobs))
}

// runIndices computes every available index of res (its statistics,
// classes and zones, then its GeoTIFF and colour map) and the thumbnail.
// The indices are independent, so up to indexWorkers of them run at once,
// each on its own buffer; the thumbnail is one more job. Every index's
// figures are computed exactly as one at a time would compute them. The
// outputs are listed in index.Defs order, per index its GeoTIFF then its
// colour map, the thumbnail last, whatever order they finished in.
func runIndices(ctx context.Context, defs []index.Def, res *Result, bands *index.Bands, params index.Params,
	thresholds map[string]index.Thresholds, rows, cols int, geo raster.Georef, width, height, thumbSide int, out Outputs) error {
	var jobs []int // indices into defs; -1 is the thumbnail
	if out.Thumbnail != nil {
		// First: it is short, and then the last jobs are indices,
		// which keep every worker busy to the end.
		jobs = append(jobs, -1)
	}
	for i := range defs {
		if res.Indices[i].Available {
			jobs = append(jobs, i)
		}
	}
	outputs := make([][]Output, len(defs))
	var thumbOut []Output

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		next     int
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if next == len(jobs) || firstErr != nil {
			return 0, false
		}
		next++
		return jobs[next-1], true
	}
	for range indexWorkers(len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A panic here would end the process with every analysis in
			// it; recovered, it fails this image.
			defer func() {
				if r := recover(); r != nil {
					fail(Recovered(r))
				}
			}()
			var cur []float32 // this worker's index buffer, made on first use
			for {
				j, ok := take()
				if !ok {
					return
				}
				if err := ctx.Err(); err != nil {
					fail(fmt.Errorf("analyze: %w", err))
					return
				}
				if j < 0 {
					o, err := writeThumbnail(out, bands, width, height, thumbSide)
					if err != nil {
						fail(err)
						return
					}
					thumbOut = o
					continue
				}
				if cur == nil {
					cur = make([]float32, width*height)
				}
				o, err := computeIndex(defs[j], &res.Indices[j], cur, bands, params, thresholds[defs[j].Name],
					rows, cols, geo, width, height, res.PixelAreaM2, res.CalibrationMode, defs[j].Name == res.MapIndex, out)
				if err != nil {
					fail(err)
					return
				}
				outputs[j] = o
				if out.Written != nil {
					for _, w := range o {
						if w.Path != "" {
							out.Written(w)
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	withData := 0
	for i, d := range defs {
		res.Outputs = append(res.Outputs, outputs[i]...)
		ir := &res.Indices[i]
		if !ir.Available {
			continue
		}
		if ir.Stats.Valid > 0 {
			withData++
			continue
		}
		// The figures of no pixel are zeros that read as a bare field:
		// the index is reported as not computed, saying why.
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s: no valid pixel", d.Name))
		*ir = IndexResult{Name: ir.Name, Reference: ir.Reference, Duration: ir.Duration,
			Reason: fmt.Sprintf("no valid pixel: all %d are nodata, transparent or outside the index's defined range", ir.Stats.NoData)}
	}
	if withData == 0 {
		return fmt.Errorf("analyze: %w: no pixel has data for any index: every pixel is nodata or transparent (or, for every index, outside its defined range)", ErrMissingBands)
	}
	res.Outputs = append(res.Outputs, thumbOut...)
	return nil
}

// computeIndex computes index d into cur with everything derived from it,
// fills ir, writes the index's GeoTIFF and colour map and returns those
// outputs.
func computeIndex(d index.Def, ir *IndexResult, cur []float32, bands *index.Bands, params index.Params, t index.Thresholds,
	rows, cols int, geo raster.Georef, width, height int, pixelArea float64, calibration string, main bool, out Outputs) ([]Output, error) {
	start := time.Now()
	sum, err := d.ComputeSummary(cur, bands, params, index.SummaryOptions{
		Threshold: d.Threshold, HistMin: d.Min, HistMax: d.Max, Health: t,
		Width: width, Height: height, GridRows: rows, GridCols: cols,
	})
	if err != nil {
		return nil, fmt.Errorf("analyze: compute %s: %w", d.Name, err)
	}
	ir.Thresholds = t
	ir.Stats = sum.Stats
	ir.Min, ir.Max = d.Min, d.Max
	ir.Health = healthClasses(sum.Classes, t, ir.Stats.Valid, pixelArea)
	ir.GridRows, ir.GridCols = rows, cols
	ir.Zones = sum.Zones
	var outs []Output
	if out.GeoTIFFDir != "" {
		path := filepath.Join(out.GeoTIFFDir, strings.ToLower(d.Name)+".tif")
		if err := raster.WriteFloat32GeoTIFF(path, d.Name, cur, width, height, geo, out.GeoTIFFCompression); err != nil {
			return nil, fmt.Errorf("analyze: %w", err)
		}
		outs = append(outs, Output{
			Kind: KindGeoTIFF, Index: d.Name, Path: path, ContentType: "image/tiff",
			Width: width, Height: height, Min: d.Min, Max: d.Max,
		})
	}
	if o, ok, err := writeMap(out, d, cur, width, height, main); err != nil {
		return nil, err
	} else if ok {
		outs = append(outs, o)
	}
	ir.Duration = time.Since(start)
	if d.Additive && !isReflectance(calibration) {
		ir.Caveat = fmt.Sprintf("%s adds a constant that assumes reflectance in 0..1; on uncalibrated sensor values it is unreliable", d.Name)
	}
	return outs, nil
}

// writeThumbnail renders the thumbnail to out.Thumbnail, if the bands
// allow one.
func writeThumbnail(out Outputs, bands *index.Bands, width, height, maxSide int) ([]Output, error) {
	ch, _, ok := thumbnail.Composite(bands)
	if !ok {
		return nil, nil
	}
	tw, th := thumbnail.Size(width, height, maxSide)
	white, err := thumbnail.Render(out.Thumbnail, ch, width, height, tw, th)
	if err != nil {
		return nil, fmt.Errorf("analyze: %w", err)
	}
	return []Output{{Kind: KindThumbnail, ContentType: "image/png", Width: tw, Height: th, Min: 0, Max: white}}, nil
}
