package analyze

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/airbusgeo/godal"
)

// analyzeWith runs Analyze with GOMAXPROCS procs (so indexWorkers(...) of
// them at once) writing every output into a fresh directory, and returns
// the result with its timings zeroed and the bytes of every file written.
func analyzeWith(t *testing.T, procs int, fs []File, opt Options) (*Result, map[string][]byte) {
	t.Helper()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	dir := t.TempDir()
	var thumb, main bytes.Buffer
	res, err := Analyze(context.Background(), fs, opt, Outputs{Map: &main, MapDir: dir, GeoTIFFDir: dir, Thumbnail: &thumb})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"thumbnail": thumb.Bytes(), "main map": main.Bytes()}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	res.Duration, res.DecodeTime = 0, 0
	for i := range res.Indices {
		res.Indices[i].Duration = 0
	}
	for i := range res.Outputs {
		res.Outputs[i].Path = filepath.Base(res.Outputs[i].Path)
	}
	return res, files
}

// TestParallelIndicesMatchSequential: computing the indices four at a time
// gives the same result (every figure, warning and output, in the same
// order) and byte-identical files as one at a time.
func TestParallelIndicesMatchSequential(t *testing.T) {
	fs := micaSenseFlight(sharedData(t)) // 12 indices
	seq, seqFiles := analyzeWith(t, 1, fs, Options{})
	par, parFiles := analyzeWith(t, 4, fs, Options{})
	if a, b := showResult(seq), showResult(par); a != b {
		i := 0
		for i < len(a) && i < len(b) && a[i] == b[i] {
			i++
		}
		lo := max(0, i-200)
		t.Errorf("results differ at byte %d:\n one at a time ...%s\n four at once  ...%s", i, a[lo:min(len(a), i+200)], b[lo:min(len(b), i+200)])
	}
	if len(seqFiles) != len(parFiles) || len(par.Outputs) < 25 {
		t.Errorf("%d files one at a time, %d four at once, %d outputs", len(seqFiles), len(parFiles), len(par.Outputs))
	}
	for name, b := range seqFiles {
		if !bytes.Equal(b, parFiles[name]) {
			t.Errorf("%s: %d bytes one at a time, %d four at once, not the same", name, len(b), len(parFiles[name]))
		}
	}
}

// TestIndexErrorStopsTheOthers: an output that cannot be written fails the
// analysis with that error, and a cancelled context with its error,
// however many indices run at once.
func TestIndexErrorStopsTheOthers(t *testing.T) {
	in := filepath.Join(t.TempDir(), "quad.tif")
	nir, red := quadrants()
	writeTIFF(t, in, godal.Float32, 16, 16, [][]float32{nir, red}, []string{"nir", "red"})
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	missing := filepath.Join(t.TempDir(), "gone", "deeper")
	_, err := Analyze(context.Background(), []File{{Path: in}}, Options{}, Outputs{GeoTIFFDir: missing})
	if err == nil || !strings.Contains(err.Error(), "GeoTIFF") {
		t.Errorf("GeoTIFFDir missing: error %v", err)
	}
	_, err = Analyze(context.Background(), []File{{Path: in}}, Options{}, Outputs{MapDir: missing})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("MapDir missing: error %v, want os.ErrNotExist", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Analyze(ctx, []File{{Path: in}}, Options{}, Outputs{MapDir: t.TempDir()}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v, want context.Canceled", err)
	}
}

// showResult prints r with every float to the bit (and -0), pointers as
// the values they point to where they matter (areas) and as "ptr"
// elsewhere (metadata), so two results compare as strings.
func showResult(r *Result) string {
	s := pointer.ReplaceAllString(fmt.Sprintf("%#v", *r), "(ptr)")
	for _, ir := range r.Indices {
		for _, h := range ir.Health {
			if h.AreaM2 != nil {
				s += fmt.Sprintf(" %v", *h.AreaM2)
			}
		}
	}
	return s
}

var pointer = regexp.MustCompile(`\(0x[0-9a-f]+\)`)
