package analyze

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
)

// rigBand matches the band files of one rig capture; the first group names
// the capture: MicaSense IMG_0001_4.tif, Sequoia IMG_..._0000_NIR.TIF,
// DJI multispectral DJI_0011_MS_NIR.TIF.
var rigBand = regexp.MustCompile(`^(.*)(_[1-9]\.tif|_(GRE|RED|REG|NIR)\.TIF|_MS_(G|R|RE|NIR)\.TIF)$`)

// sharedCaptures groups the files under dir into captures: rig band files
// by capture name, every other image file alone. Paths are relative to dir.
func sharedCaptures(t *testing.T, dir string) (names []string, groups map[string][]string) {
	t.Helper()
	groups = map[string][]string{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || e.Name() == "PROVENANCE.md" {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		key := rel
		if m := rigBand.FindStringSubmatch(e.Name()); m != nil {
			key = filepath.Join(filepath.Dir(rel), m[1]+"_*")
		}
		if _, ok := groups[key]; !ok {
			names = append(names, key)
		}
		groups[key] = append(groups[key], rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names, groups
}

// TestSharedDataTable analyses every file and capture in ../shared/data
// as the worker does (colour maps, GeoTIFFs and thumbnail written to a temp
// folder) and logs issue 3's closing table: indices, mean NDVI or why not,
// calibration status and time taken. Run it with -v to see the table.
//
// It asserts only what PROVENANCE.md says independently of this code: 22
// files; MicaSense RedEdge captures of 5 bands (Blue, Green, Red, NIR, Red
// edge: every index), Sequoia's 4 bands (Green, Red, Red edge, NIR: no
// Blue, so no EVI, VARI, ExG or GLI, which read Blue), RGB images
// without NIR (no NDVI, VARI from the visible bands), a lone RedEdge-M band
// that fails with missing bands, and a one-band float raster that can give
// no index. The times are reported, never checked.
func TestSharedDataTable(t *testing.T) {
	d := sharedData(t)
	names, groups := sharedCaptures(t, d)
	var nfiles int
	for _, g := range groups {
		nfiles += len(g)
	}
	if nfiles != 22 { // PROVENANCE.md: "Total: 22 files"
		t.Errorf("%d files, PROVENANCE.md lists 22", nfiles)
	}

	rgbOnly := []string{"VARI", "ExG", "GLI", "NGRDI"}
	type expect struct {
		files     int
		available []string // nil: the analysis fails
		errIs     []error
	}
	all := []string{"NDVI", "SAVI", "OSAVI", "MSAVI2", "GNDVI", "NDRE", "EVI", "EVI2", "VARI", "ExG", "GLI", "NGRDI"}
	want := map[string]expect{
		"micasense-rededge/0000SET/000/IMG_0000_*":            {files: 5, available: all},
		"micasense-rededge/0000SET/000/IMG_0001_*":            {files: 5, available: all},
		"parrot-sequoia/0077/IMG_180413_080658_0000_*":        {files: 4, available: []string{"NDVI", "SAVI", "OSAVI", "MSAVI2", "GNDVI", "NDRE", "EVI2", "NGRDI"}},
		"parrot-sequoia/0077/IMG_180413_080658_0000_RGB.JPG":  {files: 1, available: rgbOnly},
		"dji-mini3pro-plaso/testimage.jpg":                    {files: 1, available: rgbOnly},
		"odm-tests-dji/DJI_0061.JPG":                          {files: 1, available: rgbOnly},
		"webodm-fixtures/orthophoto.tif":                      {files: 1, available: rgbOnly},
		"webodm-fixtures/tiny_drone_image.jpg":                {files: 1, available: rgbOnly},
		"webodm-fixtures/tiny_drone_image_multispec.tif":      {files: 1, errIs: []error{ErrMissingBands}},
		"rasterio-tiff-variants/rgb_lzw.tif":                  {files: 1, available: rgbOnly},
		"rasterio-tiff-variants/float_raster_with_nodata.tif": {files: 1, errIs: []error{ErrMissingBands, ErrUnsupported}},
	}

	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "capture\tfiles\tbands\tindices\tmean NDVI\tcalibration\tdecode\ttotal")
	for _, name := range names {
		rel := groups[name]
		w, ok := want[name]
		if !ok {
			t.Errorf("%s: not a file or capture of PROVENANCE.md", name)
		} else if len(rel) != w.files {
			t.Errorf("%s: %d files, want %d", name, len(rel), w.files)
		}
		in := files(d, rel...)
		outDir := t.TempDir()
		thumb, err := os.Create(filepath.Join(outDir, "thumbnail.png"))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		res, err := Analyze(context.Background(), in, Options{}, Outputs{MapDir: outDir, GeoTIFFDir: outDir, Thumbnail: thumb})
		took := time.Since(start)
		thumb.Close()
		_ = os.RemoveAll(outDir) // GeoTIFFs of a 16 MP photo are 64 MB each

		if err != nil {
			if ok && (w.available != nil || !slices.ContainsFunc(w.errIs, func(e error) bool { return errors.Is(err, e) })) {
				t.Errorf("%s: %v", name, err)
			}
			msg := strings.TrimPrefix(err.Error(), "analyze: ")
			fmt.Fprintf(tw, "%s\t%d\t-\tnone\tn/a: fails: %s\tn/a\t-\t%s\n", name, len(rel), msg, ms(took))
			continue
		}
		var avail []string
		for _, ir := range res.Indices {
			if ir.Available {
				avail = append(avail, ir.Name)
			}
		}
		if ok && !slices.Equal(avail, w.available) {
			t.Errorf("%s: available %v, want %v", name, avail, w.available)
		}
		var maps int
		for _, o := range res.Outputs {
			if o.Kind == KindColormap {
				maps++
			}
		}
		if maps != len(avail) {
			t.Errorf("%s: %d colour maps for %d indices", name, maps, len(avail))
		}
		ndvi := indexResult(t, res, "NDVI")
		mean := "n/a: " + ndvi.Reason
		if ndvi.Available {
			mean = fmt.Sprintf("%.4f", ndvi.Stats.Mean)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", name, len(rel), strings.Join(res.BandRoles, ","),
			strings.Join(avail, ","), mean, res.CalibrationMode, ms(res.DecodeTime), ms(took))
	}
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Logf("issue 3 closing table (%d files, %d captures; times on this machine, outputs included):\n%s", nfiles, len(names), table.String())
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }
