package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"image/png"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// TestCLI runs the canopy binary, built from cli/cmd/canopy, against the
// real services: a folder of real images with a MicaSense capture goes up
// with --watch, `results --format csv` is checked against GetImage and
// GetAnalysis and against the positions exiftool reads, a re-run of the
// same upload stores nothing new, the outputs can be shown and downloaded,
// and a failing image makes the exit status 1.
func TestCLI(t *testing.T) {
	data := sharedData(t)
	bin := buildCLI(t)
	s := newStack(t, "local")
	s.startAnalysis()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// The flight folder: a DJI photo and the five band files of one
	// MicaSense capture, linked (never copied into the repository).
	flight := filepath.Join(t.TempDir(), "flight")
	if err := os.Mkdir(flight, 0o755); err != nil {
		t.Fatal(err)
	}
	mica := filepath.Join(data, "micasense-rededge", "0000SET", "000")
	links := map[string]string{"DJI_0061.JPG": filepath.Join(data, "odm-tests-dji", "DJI_0061.JPG")}
	for b := 1; b <= 5; b++ {
		name := "IMG_0001_" + strconv.Itoa(b) + ".tif"
		links[name] = filepath.Join(mica, name)
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(flight, name)); err != nil {
			t.Fatal(err)
		}
	}
	canopy := func(env map[string]string, args ...string) (int, string, string) {
		t.Helper()
		return runCLIBinary(ctx, t, bin, env, append([]string{"--ingest", s.ingestAddr, "--status", s.statusAddr}, args...)...)
	}

	const batch = "cli-flight"
	code, out, errOut := canopy(nil, "upload", "--batch", batch, "--watch", flight)
	if code != 0 {
		t.Fatalf("upload --watch: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("canopy upload --watch:\n%s", out)
	if n := strings.Count(out, "\nuploaded ") + btoi(strings.HasPrefix(out, "uploaded ")); n != 2 {
		t.Errorf("upload printed %d 'uploaded' lines, want 2 (the capture is one image):\n%s", n, out)
	}
	if n := strings.Count(out, "completed"); n < 2 {
		t.Errorf("--watch printed %d 'completed', want both images followed to completed:\n%s", n, out)
	}
	imgs := listBatch(ctx, t, s, batch)
	if len(imgs) != 2 {
		t.Fatalf("batch has %d images, want 2", len(imgs))
	}
	files := map[string]int{}
	for _, img := range imgs {
		files[img.GetFilename()] = len(img.GetFiles())
	}
	if files["DJI_0061.JPG"] != 1 || files["IMG_0001_1.tif"] != 5 {
		t.Errorf("images and their file counts %v, want DJI_0061.JPG:1 and IMG_0001_1.tif:5", files)
	}
	keysBefore := countBlobs(ctx, t, s)

	// results --format csv against the services' own answers.
	code, out, errOut = canopy(nil, "results", "--batch", batch, "--format", "csv")
	if code != 0 {
		t.Fatalf("results: exit %d: %s", code, errOut)
	}
	t.Logf("canopy results --format csv:\n%s", out)
	rows := parseResultsCSV(t, out)
	if len(rows) != 2 {
		t.Fatalf("results has %d rows, want 2:\n%s", len(rows), out)
	}
	known := map[string][3]float64{"DJI_0061.JPG": dji0061GPS, "IMG_0001_1.tif": img0001GPS}
	for _, row := range rows {
		id := row["id"]
		img, err := s.client.Status.GetImage(ctx, &canopyv1.GetImageRequest{ImageId: id})
		if err != nil {
			t.Fatalf("GetImage %s: %v", id, err)
		}
		an, err := s.client.Status.GetAnalysis(ctx, &canopyv1.GetAnalysisRequest{ImageId: id})
		if err != nil {
			t.Fatalf("GetAnalysis %s: %v", id, err)
		}
		name := img.GetFilename()
		if row["filename"] != name || row["status"] != "completed" || row["batch"] != batch {
			t.Errorf("%s: row %v; want filename %s, status completed, batch %s", id, row, name, batch)
		}
		// Position: the service's, and what exiftool reads from the file.
		want, ok := known[name]
		if !ok {
			t.Fatalf("unexpected image %s", name)
		}
		for i, col := range []string{"lat", "lon"} {
			got := cellFloat(t, row, col)
			svc := []float64{img.GetGps().GetLatitude(), img.GetGps().GetLongitude()}[i]
			if got != svc || math.Abs(got-want[i]) > 1e-6 {
				t.Errorf("%s %s: CSV %v, GetImage %v, exiftool %v", name, col, got, svc, want[i])
			}
		}
		// Index means: the analysis's, to the last bit; empty when the
		// index is unavailable (no NDVI from an RGB photo).
		byName := map[string]*canopyv1.IndexResult{}
		for _, ix := range an.GetIndices() {
			byName[ix.GetName()] = ix
		}
		for _, ixName := range []string{"NDVI", "SAVI", "VARI"} {
			col := strings.ToLower(ixName) + "_mean"
			ix := byName[ixName]
			if !ix.GetAvailable() {
				if row[col] != "" {
					t.Errorf("%s %s: %q for an unavailable index, want empty", name, col, row[col])
				}
				continue
			}
			if got := cellFloat(t, row, col); math.Abs(got-ix.GetMean()) > 1e-12 {
				t.Errorf("%s %s: CSV %v, GetAnalysis %v", name, col, got, ix.GetMean())
			}
		}
		// Vegetation fraction and health: of NDVI for the capture, of the
		// mapped index (VARI) for the RGB photo.
		wantIx := map[string]string{"DJI_0061.JPG": "VARI", "IMG_0001_1.tif": "NDVI"}[name]
		if byName["NDVI"].GetAvailable() != (name == "IMG_0001_1.tif") || row["veg_index"] != wantIx {
			t.Errorf("%s: veg_index %q, want %s", name, row["veg_index"], wantIx)
		}
		vix := byName[wantIx]
		if got := cellFloat(t, row, "vegetation_fraction"); math.Abs(got-vix.GetVegetationFraction()) > 1e-12 {
			t.Errorf("%s vegetation_fraction: CSV %v, GetAnalysis %v", name, got, vix.GetVegetationFraction())
		}
		var top *canopyv1.HealthClass
		for _, hc := range vix.GetHealthClasses() {
			if top == nil || hc.GetPixels() > top.GetPixels() {
				top = hc
			}
		}
		if top == nil || row["health"] != top.GetName() || math.Abs(cellFloat(t, row, "health_share")-top.GetFraction()) > 1e-12 {
			t.Errorf("%s health %q (%s), want the class with most pixels %v", name, row["health"], row["health_share"], top)
		}
	}

	// The same upload again stores nothing and says so.
	code, out, errOut = canopy(nil, "upload", "--batch", batch, "--watch", flight)
	if code != 0 {
		t.Fatalf("re-run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("canopy upload --watch, again:\n%s", out)
	if n := strings.Count(out, "already uploaded "); n != 2 {
		t.Errorf("re-run printed %d 'already uploaded' lines, want 2:\n%s", n, out)
	}
	if strings.Contains(strings.ReplaceAll(out, "already uploaded", ""), "uploaded ") {
		t.Errorf("re-run uploaded something:\n%s", out)
	}
	again := listBatch(ctx, t, s, batch)
	if len(again) != 2 || !sameIDs(imgs, again) {
		t.Errorf("after the re-run the batch has %d images (want the same 2)", len(again))
	}
	if n := countBlobs(ctx, t, s); n != keysBefore {
		t.Errorf("blob store holds %d objects after the re-run, %d before", n, keysBefore)
	}

	// show and download of the capture.
	var capture *canopyv1.Image
	for _, img := range imgs {
		if img.GetFilename() == "IMG_0001_1.tif" {
			capture = img
		}
	}
	code, out, errOut = canopy(nil, "show", capture.GetId())
	if code != 0 || !strings.Contains(out, "36.5760815") || !strings.Contains(out, "\nNDVI ") {
		t.Errorf("show: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("canopy show:\n%s", out)
	an, err := s.client.Status.GetAnalysis(ctx, &canopyv1.GetAnalysisRequest{ImageId: capture.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	var mapOut *canopyv1.Output
	for _, o := range an.GetOutputs() {
		if o.GetKind() == "colormap" && o.GetIndex() == an.GetMapIndex() {
			mapOut = o
		}
	}
	if mapOut == nil {
		t.Fatalf("analysis lists no colour map of its map index %s: %v", an.GetMapIndex(), an.GetOutputs())
	}
	dest := filepath.Join(t.TempDir(), "map.png")
	env := map[string]string{"BLOB_STORE": "local", "BLOB_DIR": s.env["BLOB_DIR"]}
	if code, out, errOut = canopy(env, "download", "-o", dest, capture.GetId()); code != 0 {
		t.Fatalf("download: exit %d: %s%s", code, out, errOut)
	}
	got, err := os.ReadFile(dest)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.blobs.Open(ctx, mapOut.GetBlobKey())
	if err != nil {
		t.Fatal(err)
	}
	stored, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, stored) {
		t.Errorf("downloaded %d bytes, the store holds %d different ones under %s (stdout %q)", len(got), len(stored), mapOut.GetBlobKey(), out)
	}
	if cfg, err := png.DecodeConfig(bytes.NewReader(got)); err != nil || cfg.Width != int(mapOut.GetWidth()) || cfg.Height != int(mapOut.GetHeight()) {
		t.Errorf("downloaded map: %v, %dx%d; want a %dx%d PNG", err, cfg.Width, cfg.Height, mapOut.GetWidth(), mapOut.GetHeight())
	}

	// A lone band cannot be analysed: the image fails and so does the run.
	lone := filepath.Join(data, "webodm-fixtures", "tiny_drone_image_multispec.tif")
	code, out, errOut = canopy(nil, "upload", "--batch", "cli-bad", "--watch", lone)
	if code != 1 {
		t.Errorf("failing image: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, _ = canopy(nil, "results", "--batch", "cli-bad", "--format", "csv")
	if rows := parseResultsCSV(t, out); code != 0 || len(rows) != 1 || rows[0]["status"] != "failed" || rows[0]["error"] == "" {
		t.Errorf("results of the failed batch: exit %d, rows %v", code, rows)
	}
}

// buildCLI builds cli/cmd/canopy into the test's temporary folder.
func buildCLI(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("no go.work above the working directory")
		}
		dir = filepath.Dir(dir)
	}
	bin := filepath.Join(t.TempDir(), "canopy")
	cmd := exec.Command("go", "build", "-o", bin, "./cli/cmd/canopy")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cli/cmd/canopy: %v\n%s", err, out)
	}
	return bin
}

// runCLIBinary runs bin with args; env is added to a clean environment
// (PATH and HOME only), so no CANOPY_* or BLOB_* setting of the test's
// own environment leaks in.
func runCLIBinary(ctx context.Context, t *testing.T, bin string, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("run canopy %v: %v", args, err)
	return 0, "", ""
}

// parseResultsCSV reads `canopy results --format csv` into one map per row.
func parseResultsCSV(t *testing.T, out string) []map[string]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("results CSV: %v\n%s", err, out)
	}
	var rows []map[string]string
	for _, rec := range recs[1:] {
		row := map[string]string{}
		for i, name := range recs[0] {
			row[name] = rec[i]
		}
		rows = append(rows, row)
	}
	return rows
}

func cellFloat(t *testing.T, row map[string]string, col string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(row[col], 64)
	if err != nil {
		t.Fatalf("image %s: column %s = %q: %v", row["id"], col, row[col], err)
	}
	return v
}

func listBatch(ctx context.Context, t *testing.T, s *stack, batch string) []*canopyv1.Image {
	t.Helper()
	resp, err := s.client.Status.ListImages(ctx, &canopyv1.ListImagesRequest{BatchId: batch, PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetImages()
}

func countBlobs(ctx context.Context, t *testing.T, s *stack) int {
	t.Helper()
	n := 0
	if err := s.blobs.List(ctx, "", func(string) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func sameIDs(a, b []*canopyv1.Image) bool {
	ids := map[string]bool{}
	for _, img := range a {
		ids[img.GetId()] = true
	}
	for _, img := range b {
		if !ids[img.GetId()] {
			return false
		}
	}
	return len(a) == len(b)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
