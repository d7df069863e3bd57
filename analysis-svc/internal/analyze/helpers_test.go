package analyze

import (
	"bytes"
	"context"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/airbusgeo/godal"

	"github.com/canopyag/canopy/platform/shareddata"
)

func sharedData(t testing.TB) string { return shareddata.Dir(t) }

func files(dir string, names ...string) []File {
	out := make([]File, len(names))
	for i, n := range names {
		out[i] = File{Path: filepath.Join(dir, n), Filename: filepath.Base(n)}
	}
	return out
}

// run analyses and checks the PNG map decodes to the image's size.
func run(t *testing.T, fs []File, opt Options) *Result {
	t.Helper()
	var buf bytes.Buffer
	res, err := Analyze(context.Background(), fs, opt, Outputs{Map: &buf})
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("map PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != res.Width || b.Dy() != res.Height {
		t.Errorf("map is %v, image %d x %d", b, res.Width, res.Height)
	}
	return res
}

func indexResult(t *testing.T, res *Result, name string) IndexResult {
	t.Helper()
	for _, ir := range res.Indices {
		if ir.Name == name {
			return ir
		}
	}
	t.Fatalf("no %s in result", name)
	return IndexResult{}
}

// reference is what the numpy script computed for one index.
type reference struct {
	n                          int64
	mean, std, min, max        float64
	p2, p5, p25, p50, p75, p95 float64
	p98                        float64
}

// checkStats compares against numpy. The per-pixel values are float32 here
// and float64 in numpy (and the rig normalisation factor is float32 here),
// so agreement is expected to about 1e-6; tol leaves margin. The valid pixel
// count must match exactly: it checks the masking.
func checkStats(t *testing.T, ir IndexResult, want reference, tol float64) {
	t.Helper()
	if !ir.Available {
		t.Fatalf("%s not available: %s", ir.Name, ir.Reason)
	}
	s := ir.Stats
	if s.Valid != want.n {
		t.Errorf("%s valid = %d, want %d", ir.Name, s.Valid, want.n)
	}
	pairs := []struct {
		name      string
		got, want float64
	}{
		{"mean", s.Mean, want.mean}, {"std", s.Std, want.std}, {"min", s.Min, want.min}, {"max", s.Max, want.max},
		{"p2", s.P2, want.p2}, {"p5", s.P5, want.p5}, {"p25", s.P25, want.p25}, {"p50", s.P50, want.p50},
		{"p75", s.P75, want.p75}, {"p95", s.P95, want.p95}, {"p98", s.P98, want.p98},
	}
	for _, p := range pairs {
		if math.Abs(p.got-p.want) > tol*math.Max(1, math.Abs(p.want)) {
			t.Errorf("%s %s = %.9f, numpy %.9f", ir.Name, p.name, p.got, p.want)
		}
	}
}

// writeTIFF writes a GeoTIFF of float32 or uint16 bands for synthetic tests.
func writeTIFF(t testing.TB, path string, dtype godal.DataType, w, h int, bands [][]float32, describe []string) {
	t.Helper()
	if err := godal.RegisterRaster(godal.GTiff); err != nil {
		t.Fatal(err)
	}
	ds, err := godal.Create(godal.GTiff, path, len(bands), dtype, w, h)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range ds.Bands() {
		if err := b.Write(0, 0, bands[i], w, h); err != nil {
			t.Fatal(err)
		}
		if describe != nil {
			if err := b.SetDescription(describe[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := ds.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func ptr(v float64) *float64 { return &v }
