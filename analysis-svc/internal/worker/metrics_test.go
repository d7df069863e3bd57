package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/canopyag/canopy/analysis-svc/internal/analyze"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/blob"
)

// fakeWork hands out queued items, one per claim, and records reports.
type fakeWork struct {
	items chan *canopyv1.WorkItem

	mu        sync.Mutex
	completed []*canopyv1.CompleteWorkRequest
	failed    []*canopyv1.FailWorkRequest
}

func (f *fakeWork) ClaimWork(ctx context.Context, _ *canopyv1.ClaimWorkRequest, _ ...grpc.CallOption) (*canopyv1.ClaimWorkResponse, error) {
	select {
	case it := <-f.items:
		return &canopyv1.ClaimWorkResponse{Items: []*canopyv1.WorkItem{it}}, nil
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

func (f *fakeWork) RenewLease(context.Context, *canopyv1.RenewLeaseRequest, ...grpc.CallOption) (*canopyv1.RenewLeaseResponse, error) {
	return &canopyv1.RenewLeaseResponse{}, nil
}

func (f *fakeWork) CompleteWork(_ context.Context, r *canopyv1.CompleteWorkRequest, _ ...grpc.CallOption) (*canopyv1.CompleteWorkResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.completed = append(f.completed, r)
	return &canopyv1.CompleteWorkResponse{}, nil
}

func (f *fakeWork) FailWork(_ context.Context, r *canopyv1.FailWorkRequest, _ ...grpc.CallOption) (*canopyv1.FailWorkResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = append(f.failed, r)
	return &canopyv1.FailWorkResponse{}, nil
}

func item(id string) *canopyv1.WorkItem {
	return &canopyv1.WorkItem{Image: &canopyv1.Image{Id: id}, LeaseToken: "tok-" + id}
}

// fakeAnalyzer: image "ok" completes with fixed timings and two colour
// maps, "bad" is a corrupt file, "slow" runs until its context ends
// (closing entered first).
func fakeAnalyzer(entered chan<- struct{}) Analyzer {
	return func(ctx context.Context, _ []analyze.File, _ analyze.Options, out analyze.Outputs) (*analyze.Result, error) {
		switch {
		case strings.Contains(out.MapDir, "canopy-ok-"):
			res := &analyze.Result{
				Width: 2000, Height: 1000, MapIndex: "NDVI",
				DecodeTime: 1500 * time.Millisecond, Duration: 2 * time.Second,
				Indices: []analyze.IndexResult{
					{Name: "NDVI", Available: true, Duration: 250 * time.Millisecond},
					{Name: "SAVI", Available: true, Duration: 500 * time.Millisecond},
					{Name: "EVI", Reason: "EVI needs a Blue band"},
				},
			}
			for _, ix := range []string{"NDVI", "SAVI"} {
				path := filepath.Join(out.MapDir, analyze.MapFileName(ix))
				if err := os.WriteFile(path, []byte("png of "+ix), 0o600); err != nil {
					return nil, err
				}
				res.Outputs = append(res.Outputs, analyze.Output{Kind: analyze.KindColormap, Index: ix, Path: path, Min: -1, Max: 1})
			}
			return res, nil
		case strings.Contains(out.MapDir, "canopy-bad-"):
			return nil, fmt.Errorf("decode: %w", analyze.ErrCorrupt)
		default:
			close(entered)
			<-ctx.Done()
			return nil, ctx.Err()
		}
	}
}

func newTestPool(t *testing.T, work *fakeWork, a Analyzer, log io.Writer) (*Pool, blob.Store) {
	t.Helper()
	blobs, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Workers: 1, WorkerID: "w", ClaimWait: time.Second, Lease: time.Minute, TempDir: t.TempDir()}
	return New(work, blobs, a, cfg, slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))), blobs
}

// histogram returns the sample count and sum of the series of name whose
// labels include want, and its cumulative bucket counts by upper bound.
func histogram(t *testing.T, reg prometheus.Gatherer, name string, want map[string]string) (count uint64, sum float64, buckets map[float64]uint64, found bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := want[lp.GetName()]; ok && v != lp.GetValue() {
					continue series
				}
			}
			h := m.GetHistogram()
			buckets = map[float64]uint64{}
			for _, b := range h.GetBucket() {
				buckets[b.GetUpperBound()] = b.GetCumulativeCount()
			}
			return h.GetSampleCount(), h.GetSampleSum(), buckets, true
		}
	}
	return 0, 0, nil, false
}

func labelValues(t *testing.T, reg prometheus.Gatherer, name, label string) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			out = append(out, labelOf(m, label))
		}
	}
	return out
}

func labelOf(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

// TestPoolMetrics runs three images through a pool with fake WorkService
// and analyzer: one completes, one fails (corrupt), one is cut off by
// shutdown and released. The analyzer's timings are fixed, so the index and
// decode histograms and the megapixel counter are exact.
func TestPoolMetrics(t *testing.T) {
	work := &fakeWork{items: make(chan *canopyv1.WorkItem, 3)}
	work.items <- item("ok")
	work.items <- item("bad")
	work.items <- item("slow")
	entered := make(chan struct{})
	var logs bytes.Buffer // written by the pool's goroutines, read after Run
	p, blobs := newTestPool(t, work, fakeAnalyzer(entered), &logs)
	reg := prometheus.NewRegistry()
	p.RegisterMetrics(reg)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the slow image was never analysed")
	}
	// One worker: "ok" and "bad" are done, "slow" runs.
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP canopy_worker_busy Analyses running now.
# TYPE canopy_worker_busy gauge
canopy_worker_busy 1
`), "canopy_worker_busy"); err != nil {
		t.Error(err)
	}
	cancel() // ShutdownGrace 0: the slow analysis is cut off at once.
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// 2000 x 1000 pixels = 2 megapixels, from the completed image only.
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP canopy_analysis_megapixels_total Image pixels (width x height) analysed by completed analyses, in millions.
# TYPE canopy_analysis_megapixels_total counter
canopy_analysis_megapixels_total 2
# HELP canopy_worker_busy Analyses running now.
# TYPE canopy_worker_busy gauge
canopy_worker_busy 0
`), "canopy_analysis_megapixels_total", "canopy_worker_busy"); err != nil {
		t.Error(err)
	}
	for _, result := range []string{"completed", "failed", "released"} {
		if n, _, _, ok := histogram(t, reg, "canopy_analysis_duration_seconds", map[string]string{"result": result}); !ok || n != 1 {
			t.Errorf("duration{result=%s}: %d samples (found %v), want 1", result, n, ok)
		}
	}
	// Index histograms: one sample each for the available indices, none
	// for EVI. Buckets are 0.001 * 2^k s: 0.25 s falls in le=0.256, not
	// le=0.128; 0.5 s in le=0.512, not le=0.256.
	if got := labelValues(t, reg, "canopy_analysis_index_seconds", "index"); strings.Join(got, ",") != "NDVI,SAVI" {
		t.Errorf("index series %v, want NDVI, SAVI", got)
	}
	for _, c := range []struct {
		index      string
		sum        float64
		below, may float64
	}{{"NDVI", 0.25, 0.128, 0.256}, {"SAVI", 0.5, 0.256, 0.512}} {
		n, sum, b, _ := histogram(t, reg, "canopy_analysis_index_seconds", map[string]string{"index": c.index})
		if n != 1 || sum != c.sum || b[c.below] != 0 || b[c.may] != 1 {
			t.Errorf("index %s: %d samples, sum %v, buckets %v", c.index, n, sum, b)
		}
	}
	if n, sum, b, _ := histogram(t, reg, "canopy_analysis_decode_seconds", nil); n != 1 || sum != 1.5 || b[1.024] != 0 || b[2.048] != 1 {
		t.Errorf("decode: %d samples, sum %v, buckets %v", n, sum, b)
	}

	// The debug log has the same timings, in milliseconds.
	for _, want := range []string{"analysis_ms=2000", "decode_ms=1500", "index_ms.NDVI=250", "index_ms.SAVI=500", "megapixels=2"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no %s in the debug log:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), "index_ms.EVI") {
		t.Error("unavailable EVI timed in the log")
	}

	// The reports behind the labels.
	work.mu.Lock()
	defer work.mu.Unlock()
	if len(work.completed) != 1 || len(work.failed) != 2 {
		t.Fatalf("%d completed, %d failed reports", len(work.completed), len(work.failed))
	}
	if f := work.failed[0]; f.GetImageId() != "bad" || f.GetRetryable() || f.GetRelease() {
		t.Errorf("bad image report %v", f)
	}
	if f := work.failed[1]; f.GetImageId() != "slow" || !f.GetRelease() {
		t.Errorf("slow image report %v", f)
	}
	// Both colour maps are stored; the main map is NDVI's, though SAVI's
	// was written after it.
	a := work.completed[0].GetAnalysis()
	if a.GetMapBlobKey() != "images/ok/map-ndvi.png" || len(a.GetOutputs()) != 2 || a.GetOutputs()[1].GetBlobKey() != "images/ok/map-savi.png" {
		t.Errorf("map %s, outputs %v", a.GetMapBlobKey(), a.GetOutputs())
	}
	rc, err := blobs.Open(context.Background(), "images/ok/map-savi.png")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, _ := io.ReadAll(rc); string(b) != "png of SAVI" {
		t.Errorf("stored SAVI map %q", b)
	}
}

// TestPoolWithoutMetrics: a pool never given a registry still works.
func TestPoolWithoutMetrics(t *testing.T) {
	work := &fakeWork{items: make(chan *canopyv1.WorkItem, 2)}
	work.items <- item("ok")
	work.items <- item("bad")
	p, _ := newTestPool(t, work, fakeAnalyzer(nil), io.Discard)
	runUntilReported(t, p, work, 2)
}

// runUntilReported runs p until work has n reports (completed or failed),
// then stops it.
func runUntilReported(t *testing.T, p *Pool, work *fakeWork, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		work.mu.Lock()
		got := len(work.completed) + len(work.failed)
		work.mu.Unlock()
		if got >= n {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("%d of %d images reported", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A file the blob store does not have fails the image at once, saying what
// to check, instead of using up every attempt on retries.
func TestMissingBlobFailsPermanently(t *testing.T) {
	work := &fakeWork{items: make(chan *canopyv1.WorkItem, 1)}
	it := item("gone")
	it.Image.Files = []*canopyv1.ImageFile{{Filename: "DJI_0061.JPG", BlobKey: "images/gone/0", ContentType: "image/jpeg"}}
	work.items <- it
	p, _ := newTestPool(t, work, fakeAnalyzer(nil), io.Discard)
	runUntilReported(t, p, work, 1)
	if len(work.failed) != 1 {
		t.Fatalf("reports: %d completed, %d failed; want 1 failure", len(work.completed), len(work.failed))
	}
	f := work.failed[0]
	if f.GetRetryable() || f.GetRelease() || !strings.Contains(f.GetError(), "images/gone/0 is not in the blob store") || !strings.Contains(f.GetError(), "BLOB_DIR") {
		t.Errorf("FailWork retryable %v, release %v, error %q; want a permanent failure naming the key and the settings to check", f.GetRetryable(), f.GetRelease(), f.GetError())
	}
}

// A panic in the analysis of one image fails that image for good, saying
// it is a bug, logs the stack, and the worker goes on to the next image.
func TestAPanicFailsThatImageAndTheWorkerGoesOn(t *testing.T) {
	work := &fakeWork{items: make(chan *canopyv1.WorkItem, 2)}
	work.items <- item("trips")
	work.items <- item("ok")
	ok := fakeAnalyzer(nil)
	a := func(ctx context.Context, fs []analyze.File, opt analyze.Options, out analyze.Outputs) (*analyze.Result, error) {
		if strings.Contains(out.MapDir, "canopy-trips-") {
			var none []int
			_ = none[len(out.MapDir)] // a runtime panic, as a bug would make
		}
		return ok(ctx, fs, opt, out)
	}
	var logs syncBuffer
	p, _ := newTestPool(t, work, a, &logs)
	runUntilReported(t, p, work, 2)
	if len(work.failed) != 1 || len(work.completed) != 1 {
		t.Fatalf("reports: %d completed, %d failed; want the panicking image failed and the other completed", len(work.completed), len(work.failed))
	}
	f := work.failed[0]
	if f.GetImageId() != "trips" || f.GetRetryable() || !strings.Contains(f.GetError(), "bug") || !strings.Contains(f.GetError(), "index out of range") {
		t.Errorf("FailWork %s retryable %v, error %q; want trips failed for good as a bug, with the panic's message", f.GetImageId(), f.GetRetryable(), f.GetError())
	}
	if l := logs.String(); !strings.Contains(l, "panic in analysis") || !strings.Contains(l, "analyseContained") {
		t.Errorf("log lacks the panic and its stack:\n%s", l)
	}
}

// syncBuffer is a bytes.Buffer the pool's goroutines may log to at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// refusingWork refuses every claim for the worker's credentials.
type refusingWork struct{ *fakeWork }

func (refusingWork) ClaimWork(context.Context, *canopyv1.ClaimWorkRequest, ...grpc.CallOption) (*canopyv1.ClaimWorkResponse, error) {
	return nil, status.Error(codes.Unauthenticated, "missing API key")
}

// A claim refused for the worker's credentials ends Run with an error
// saying what to set, instead of retrying (and warning) for good.
func TestRefusedCredentialsStopThePool(t *testing.T) {
	work := refusingWork{&fakeWork{}}
	blobs, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Workers: 2, WorkerID: "w", ClaimWait: time.Second, Lease: time.Minute, TempDir: t.TempDir()}
	p := New(work, blobs, fakeAnalyzer(nil), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard
	defer cancel()
	err = p.Run(ctx)
	if !errors.Is(err, errRefused) || !strings.Contains(err.Error(), "Unauthenticated") || !strings.Contains(err.Error(), "API_KEY") {
		t.Errorf("Run: %v; want the refusal, naming API_KEY", err)
	}
	if ctx.Err() != nil {
		t.Error("Run returned only when its context ended")
	}
}
