package worker

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/canopyag/canopy/analysis-svc/internal/analyze"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/blob"
)

// waitForBlob reports whether key appears in blobs before ctx ends.
func waitForBlob(ctx context.Context, blobs blob.Store, key string) bool {
	for ctx.Err() == nil {
		if _, err := blobs.Size(ctx, key); err == nil {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// An output handed over with Outputs.Written is stored while the analysis
// still runs; if the analysis then fails, it is removed again, and an
// analysis that completes has all its outputs stored.
func TestOutputsStoredWhileTheAnalysisRuns(t *testing.T) {
	for _, fail := range []bool{false, true} {
		work := &fakeWork{items: make(chan *canopyv1.WorkItem, 1)}
		work.items <- item("early")
		storedEarly := make(chan bool, 1)
		var blobs blob.Store
		analyzer := func(ctx context.Context, _ []analyze.File, _ analyze.Options, out analyze.Outputs) (*analyze.Result, error) {
			res := &analyze.Result{Width: 1, Height: 1, MapIndex: "NDVI"}
			for _, ix := range []string{"NDVI", "SAVI"} {
				path := filepath.Join(out.MapDir, analyze.MapFileName(ix))
				if err := os.WriteFile(path, []byte("png of "+ix), 0o600); err != nil {
					return nil, err
				}
				o := analyze.Output{Kind: analyze.KindColormap, Index: ix, Path: path}
				res.Outputs = append(res.Outputs, o)
				if ix == "NDVI" {
					out.Written(o)
					wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					storedEarly <- waitForBlob(wctx, blobs, "images/early/map-ndvi.png")
					cancel()
				}
			}
			if fail {
				return nil, errors.New("out of memory")
			}
			return res, nil
		}
		p, b := newTestPool(t, work, analyzer, io.Discard)
		blobs = b
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		if !<-storedEarly {
			t.Fatalf("fail=%v: the NDVI map was not stored while the analysis ran", fail)
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			work.mu.Lock()
			n := len(work.completed) + len(work.failed)
			work.mu.Unlock()
			if n > 0 || time.Now().After(deadline) {
				break
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		for _, ix := range []string{"ndvi", "savi"} {
			key := "images/early/map-" + ix + ".png"
			_, err := blobs.Size(context.Background(), key)
			switch {
			case fail && !errors.Is(err, blob.ErrNotFound):
				t.Errorf("after the analysis failed, %s: %v, want it removed", key, err)
			case !fail && err != nil:
				t.Errorf("after the analysis completed, %s: %v", key, err)
			}
		}
		if fail && len(work.failed) != 1 || !fail && len(work.completed) != 1 {
			t.Errorf("fail=%v: %d completed, %d failed", fail, len(work.completed), len(work.failed))
		}
	}
}
