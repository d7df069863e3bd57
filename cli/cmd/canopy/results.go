package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// resultRow is one image in `canopy results`. Numbers are full precision
// in JSON and CSV (the table rounds them); a missing value is null in JSON
// and an empty cell in CSV.
type resultRow struct {
	ID       string   `json:"id"`
	Filename string   `json:"filename"`
	Batch    string   `json:"batch"`
	Status   string   `json:"status"`
	Lat      *float64 `json:"lat"`
	Lon      *float64 `json:"lon"`
	NDVIMean *float64 `json:"ndvi_mean"`
	SAVIMean *float64 `json:"savi_mean"`
	VARIMean *float64 `json:"vari_mean"`
	// VegIndex is the index VegFraction and Health are of: NDVI when the
	// image has it, otherwise the index its colour map shows (VARI for an
	// RGB photo).
	VegIndex    string   `json:"veg_index"`
	VegFraction *float64 `json:"vegetation_fraction"`
	// Health is VegIndex's dominant health class (the most pixels) and
	// HealthShare its share of the valid pixels.
	Health      string   `json:"health"`
	HealthShare *float64 `json:"health_share"`
	Warnings    int      `json:"warnings"`
	Error       string   `json:"error"`
}

var csvHeader = []string{"id", "filename", "batch", "status", "lat", "lon", "ndvi_mean", "savi_mean", "vari_mean",
	"veg_index", "vegetation_fraction", "health", "health_share", "warnings", "error"}

const resultsHelp = `usage: canopy results [--batch NAME] [--status STATUS] [--format table|json|csv] [ID...]

One row per image (the named ones, or every image of the batch/status):
id, filename, batch, status, lat, lon, NDVI/SAVI/VARI means, the
vegetation fraction and dominant health class of NDVI (of the colour map's
index, say VARI, when the image has no NDVI), warnings and error.
json is an array of objects with those names; csv has a header row and
full-precision numbers; empty cells and nulls mean "not available".

Flags:
`

func (a *cli) results(ctx context.Context, args []string) error {
	fs := a.flags("results")
	batch := fs.String("batch", "", "only this batch")
	st := fs.String("status", "", "only images in this status: uploaded, processing, completed, failed")
	format := fs.String("format", "table", "table, json or csv")
	asJSON := fs.Bool("json", false, "same as --format json")
	fs.Usage = func() { fmt.Fprint(a.stderr, resultsHelp); fs.PrintDefaults() }
	if err := parseFlags(fs, args); err != nil {
		return errUsage
	}
	if *asJSON {
		*format = "json"
	}
	switch *format {
	case "table", "json", "csv":
	default:
		fmt.Fprintf(a.stderr, "canopy results: unknown format %q: use table, json or csv\n", *format)
		return errUsage
	}
	ids := fs.Args()
	if len(ids) > 0 && (*batch != "" || *st != "") {
		fmt.Fprintln(a.stderr, "canopy results: name image ids or filter with --batch/--status, not both")
		return errUsage
	}
	if len(ids) == 0 {
		req := &canopyv1.ListImagesRequest{BatchId: *batch}
		if *st != "" {
			s, ok := parseStatus(*st)
			if !ok {
				fmt.Fprintf(a.stderr, "canopy results: unknown status %q: use uploaded, processing, completed or failed\n", *st)
				return errUsage
			}
			req.Status = s
		}
		imgs, err := a.listAll(ctx, req)
		if err != nil {
			return err
		}
		for _, img := range imgs {
			ids = append(ids, img.GetId())
		}
	}
	return a.printResults(ctx, ids, *format)
}

func parseStatus(s string) (canopyv1.ImageStatus, bool) {
	v, ok := canopyv1.ImageStatus_value["IMAGE_STATUS_"+strings.ToUpper(s)]
	return canopyv1.ImageStatus(v), ok
}

// printResults prints one row per image in format: the main job's closing
// table.
func (a *cli) printResults(ctx context.Context, ids []string, format string) error {
	c, err := a.connect()
	if err != nil {
		return err
	}
	rows := make([]resultRow, 0, len(ids))
	for _, id := range ids {
		img, err := c.Status.GetImage(ctx, &canopyv1.GetImageRequest{ImageId: id})
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		var an *canopyv1.Analysis
		if img.GetStatus() == canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED {
			if an, err = c.Status.GetAnalysis(ctx, &canopyv1.GetAnalysisRequest{ImageId: id}); err != nil {
				return fmt.Errorf("%s: %w", id, err)
			}
		}
		rows = append(rows, makeRow(img, an))
	}
	switch format {
	case "json":
		b, err := json.Marshal(rows)
		if err != nil {
			return err
		}
		return a.writeJSON(b)
	case "csv":
		w := csv.NewWriter(a.stdout)
		if err := w.Write(csvHeader); err != nil {
			return err
		}
		for _, r := range rows {
			if err := w.Write(r.csv()); err != nil {
				return err
			}
		}
		w.Flush()
		return w.Error()
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "image\tfile\tstatus\tlat\tlon\tNDVI\tSAVI\tVARI\tveg frac\thealth\tnote")
	for _, r := range rows {
		vf, health := "-", "-"
		if r.VegFraction != nil {
			vf = fmt.Sprintf("%.2f (%s)", *r.VegFraction, r.VegIndex)
		}
		if r.Health != "" {
			health = fmt.Sprintf("%s %.0f%%", r.Health, *r.HealthShare*100)
		}
		note := r.Error
		if note == "" && r.Warnings > 0 {
			note = fmt.Sprintf("%d warning(s)", r.Warnings)
		}
		fmt.Fprintln(w, strings.Join([]string{r.ID, cell(r.Filename), r.Status, fixed(r.Lat, 6), fixed(r.Lon, 6),
			fixed(r.NDVIMean, 3), fixed(r.SAVIMean, 3), fixed(r.VARIMean, 3), vf, health, cell(note)}, "\t"))
	}
	return w.Flush()
}

// makeRow builds an image's row; an is nil until the image is completed.
func makeRow(img *canopyv1.Image, an *canopyv1.Analysis) resultRow {
	r := resultRow{ID: img.GetId(), Filename: img.GetFilename(), Batch: img.GetBatchId(), Status: statusName(img.GetStatus())}
	if img.GetStatus() == canopyv1.ImageStatus_IMAGE_STATUS_FAILED {
		r.Error = img.GetLastError()
	}
	if g := img.GetGps(); g != nil && g.GetValid() {
		r.Lat, r.Lon = ptr(g.GetLatitude()), ptr(g.GetLongitude())
	}
	if an == nil {
		return r
	}
	r.Warnings = len(an.GetWarnings())
	byName := map[string]*canopyv1.IndexResult{}
	for _, ix := range an.GetIndices() {
		if ix.GetAvailable() {
			byName[ix.GetName()] = ix
		}
	}
	mean := func(name string) *float64 {
		if ix := byName[name]; ix != nil {
			return ptr(ix.GetMean())
		}
		return nil
	}
	r.NDVIMean, r.SAVIMean, r.VARIMean = mean("NDVI"), mean("SAVI"), mean("VARI")
	veg := byName["NDVI"]
	if veg == nil {
		veg = byName[an.GetMapIndex()]
	}
	if veg != nil {
		r.VegIndex = veg.GetName()
		r.VegFraction = ptr(veg.GetVegetationFraction())
		if hc := dominantClass(veg.GetHealthClasses()); hc != nil {
			r.Health, r.HealthShare = hc.GetName(), ptr(hc.GetFraction())
		}
	}
	return r
}

// dominantClass is the health class with the most pixels; a tie goes to
// the class listed first (the less healthy one). nil when there are no
// classes or no pixels.
func dominantClass(classes []*canopyv1.HealthClass) *canopyv1.HealthClass {
	var best *canopyv1.HealthClass
	for _, c := range classes {
		if c.GetPixels() > 0 && (best == nil || c.GetPixels() > best.GetPixels()) {
			best = c
		}
	}
	return best
}

func (r resultRow) csv() []string {
	return []string{r.ID, r.Filename, r.Batch, r.Status, full(r.Lat), full(r.Lon), full(r.NDVIMean), full(r.SAVIMean), full(r.VARIMean),
		r.VegIndex, full(r.VegFraction), r.Health, full(r.HealthShare), strconv.Itoa(r.Warnings), r.Error}
}

func ptr(v float64) *float64 { return &v }

// full formats v exactly (it parses back to the same float64); "" for nil.
func full(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'g', -1, 64)
}

// fixed formats v with digits decimals; "-" for nil.
func fixed(v *float64, digits int) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', digits, 64)
}
