// Package worker is analysis-svc's pool: each worker claims an image over
// the WorkService RPCs, fetches its files from the blob store, analyses them,
// stores the outputs (a colour map and a GeoTIFF per index, a thumbnail)
// and reports the result. It holds no database
// credentials; ingest-svc owns every status change.
package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/canopyag/canopy/analysis-svc/internal/analyze"
	"github.com/canopyag/canopy/analysis-svc/internal/raster"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/blob"
)

// Config tunes the pool.
type Config struct {
	Workers       int
	WorkerID      string
	ClaimWait     time.Duration
	Lease         time.Duration
	TempDir       string
	Options       analyze.Options
	ShutdownGrace time.Duration
	// GeoTIFFCompression compresses the index GeoTIFFs ("" is none).
	GeoTIFFCompression raster.Compression
}

// Analyzer turns an image's files into a result and writes its outputs.
type Analyzer func(ctx context.Context, files []analyze.File, opt analyze.Options, out analyze.Outputs) (*analyze.Result, error)

// WorkQueue is the part of ingest-svc's WorkService a worker calls
// (canopyv1.WorkServiceClient has it).
type WorkQueue interface {
	ClaimWork(ctx context.Context, in *canopyv1.ClaimWorkRequest, opts ...grpc.CallOption) (*canopyv1.ClaimWorkResponse, error)
	RenewLease(ctx context.Context, in *canopyv1.RenewLeaseRequest, opts ...grpc.CallOption) (*canopyv1.RenewLeaseResponse, error)
	CompleteWork(ctx context.Context, in *canopyv1.CompleteWorkRequest, opts ...grpc.CallOption) (*canopyv1.CompleteWorkResponse, error)
	FailWork(ctx context.Context, in *canopyv1.FailWorkRequest, opts ...grpc.CallOption) (*canopyv1.FailWorkResponse, error)
}

// Pool runs the workers.
type Pool struct {
	work    WorkQueue
	blobs   blob.Store
	analyze Analyzer
	cfg     Config
	log     *slog.Logger
	// metrics is nil until RegisterMetrics.
	metrics *metrics
	// panels keeps the calibration panels measured so far.
	panels panelCache
}

// New returns a pool; Run starts it.
func New(work WorkQueue, blobs blob.Store, analyze Analyzer, cfg Config, log *slog.Logger) *Pool {
	return &Pool{work: work, blobs: blobs, analyze: analyze, cfg: cfg, log: log}
}

// Run claims and processes work until ctx ends. In-flight analyses then get
// ShutdownGrace to finish; what is still running after that is cut off and
// handed back (FailWork, retryable) so no one waits for its lease to expire.
func (p *Pool) Run(ctx context.Context) error {
	// A claim refused for the worker's credentials stops every worker:
	// no retry can succeed, and exiting says so where a retry loop would
	// only log warnings for good.
	ctx, refuse := context.WithCancelCause(ctx)
	defer refuse(nil)
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()
	go func() {
		<-ctx.Done()
		select {
		case <-time.After(p.cfg.ShutdownGrace):
			cancelJobs()
		case <-jobCtx.Done():
		}
	}()
	var wg sync.WaitGroup
	for i := range p.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.loop(ctx, jobCtx, fmt.Sprintf("%s/%d", p.cfg.WorkerID, i), refuse)
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); errors.Is(err, errRefused) {
		return err
	}
	return nil
}

// errRefused is wrapped by Run's error when ingest-svc refused the
// worker's credentials.
var errRefused = errors.New("ingest-svc refused this worker")

func (p *Pool) loop(ctx, jobCtx context.Context, id string, refuse context.CancelCauseFunc) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		resp, err := p.work.ClaimWork(ctx, &canopyv1.ClaimWorkRequest{
			WorkerId: id, MaxItems: 1,
			Wait:  durationpb.New(p.cfg.ClaimWait),
			Lease: durationpb.New(p.cfg.Lease),
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if c := status.Code(err); c == codes.Unauthenticated || c == codes.PermissionDenied {
				refuse(fmt.Errorf("%w: %s: %s (set API_KEY to a key with the worker role)", errRefused, c, status.Convert(err).Message()))
				return
			}
			p.log.WarnContext(ctx, "claim failed; retrying", "worker", id, "error", err, "backoff", backoff)
			sleep(ctx, backoff+rand.N(backoff/2))
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		for _, item := range resp.GetItems() {
			p.process(jobCtx, id, item)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// process runs one leased image to CompleteWork or FailWork.
func (p *Pool) process(ctx context.Context, worker string, item *canopyv1.WorkItem) {
	img := item.GetImage()
	log := p.log.With("image_id", img.GetId(), "worker", worker, "attempt", img.GetAttempts())
	start := time.Now()
	p.metrics.start()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go p.heartbeat(ctx, cancel, item, log)

	result, keys, panel, err := p.analyseContained(ctx, item)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && errors.Is(cause, errLeaseLost) {
			log.WarnContext(ctx, "lease lost mid-analysis; result dropped")
			p.metrics.finish(resultFailed, time.Since(start).Seconds(), nil)
			return
		}
		if pe := (*analyze.PanicError)(nil); errors.As(err, &pe) {
			log.ErrorContext(ctx, "panic in analysis", "panic", fmt.Sprint(pe.Value), "stack", string(pe.Stack))
		}
		req := &canopyv1.FailWorkRequest{ImageId: img.GetId(), LeaseToken: item.GetLeaseToken(), Error: err.Error(), Retryable: !isInputError(err)}
		outcome := resultFailed
		if ctx.Err() != nil {
			// Cut off by shutdown: hand the image back without using up an attempt.
			req.Error, req.Release = "worker "+worker+" shut down mid-analysis", true
			outcome = resultReleased
			log.WarnContext(ctx, "analysis cut off by shutdown; releasing the image")
		} else {
			log.WarnContext(ctx, "analysis failed", "error", req.Error, "permanent", !req.Retryable)
		}
		p.report(ctx, log, func(c context.Context) error {
			_, err := p.work.FailWork(c, req)
			return err
		})
		p.metrics.finish(outcome, time.Since(start).Seconds(), nil)
		return
	}
	log.DebugContext(ctx, "analysis timings", timingAttrs(result)...)
	a := toProto(img.GetId(), result, keys)
	withPanel(a, panel)
	a.Worker = worker
	a.DurationSeconds = time.Since(start).Seconds()
	a.CreatedAt = timestamppb.Now()
	taken := p.report(ctx, log, func(c context.Context) error {
		_, err := p.work.CompleteWork(c, &canopyv1.CompleteWorkRequest{ImageId: img.GetId(), LeaseToken: item.GetLeaseToken(), Analysis: a})
		return err
	})
	if !taken {
		// Cancelled or reclaimed meanwhile: the analysis is not the image's.
		p.metrics.finish(resultFailed, time.Since(start).Seconds(), nil)
		log.InfoContext(ctx, "analysis not recorded", "duration_ms", time.Since(start).Milliseconds())
		return
	}
	p.metrics.finish(resultCompleted, time.Since(start).Seconds(), result)
	log.InfoContext(ctx, "image analysed", "duration_ms", time.Since(start).Milliseconds(), "map", a.GetMapBlobKey(), "outputs", len(keys))
}

// timingAttrs are the log attributes of an analysis's timings: the whole
// analysis, the decode and each computed index, in milliseconds.
func timingAttrs(r *analyze.Result) []any {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	var idx []any
	for _, ix := range r.Indices {
		if ix.Available {
			idx = append(idx, slog.Float64(ix.Name, ms(ix.Duration)))
		}
	}
	return []any{
		slog.Float64("analysis_ms", ms(r.Duration)),
		slog.Float64("decode_ms", ms(r.DecodeTime)),
		slog.Group("index_ms", idx...),
		slog.Float64("megapixels", float64(r.Width)*float64(r.Height)/1e6),
	}
}

// report delivers a CompleteWork/FailWork, retrying while ingest-svc is
// unreachable: the result is worth more than the lease's remaining time.
// It reports whether ingest-svc took the result.
func (p *Pool) report(ctx context.Context, log *slog.Logger, call func(context.Context) error) bool {
	// A cut-off job still reports, so its lease is given back at once.
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.Lease)
	defer cancel()
	backoff := 100 * time.Millisecond
	for {
		err := call(c)
		switch status.Code(err) {
		case codes.OK:
			return true
		case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
			if c.Err() != nil {
				log.ErrorContext(ctx, "could not report result; the lease will expire and the image be retried", "error", err)
				return false
			}
			sleep(c, backoff)
			backoff = min(backoff*2, 5*time.Second)
		default:
			// FailedPrecondition: the lease was lost (cancelled, or another
			// worker has it).
			log.WarnContext(ctx, "result refused", "error", err)
			return false
		}
	}
}

var errLeaseLost = errors.New("lease lost")

// heartbeat renews the lease at a third of its length, so a slow but
// healthy analysis is never reclaimed; if the lease is lost, the job stops.
func (p *Pool) heartbeat(ctx context.Context, cancel context.CancelCauseFunc, item *canopyv1.WorkItem, log *slog.Logger) {
	lease := item.GetLease().AsDuration()
	if lease <= 0 {
		lease = p.cfg.Lease
	}
	t := time.NewTicker(lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, err := p.work.RenewLease(ctx, &canopyv1.RenewLeaseRequest{
			ImageId: item.GetImage().GetId(), LeaseToken: item.GetLeaseToken(), Lease: durationpb.New(lease),
		})
		switch status.Code(err) {
		case codes.OK, codes.Canceled:
		case codes.FailedPrecondition, codes.NotFound:
			cancel(errLeaseLost)
			return
		default:
			log.WarnContext(ctx, "lease renewal failed; will try again", "error", err)
		}
	}
}

// fetch downloads an image's files into dir.
func (p *Pool) fetch(ctx context.Context, img *canopyv1.Image, dir string) ([]analyze.File, error) {
	var files []analyze.File
	for i, f := range img.GetFiles() {
		// GDAL picks drivers partly by extension, so keep the original one
		// (only the extension: the name itself is client data).
		ext := strings.ToLower(filepath.Ext(f.GetFilename()))
		if len(ext) > 6 || strings.ContainsAny(ext, `/\`) {
			ext = ""
		}
		path := filepath.Join(dir, fmt.Sprintf("file%d%s", i, ext))
		if err := p.download(ctx, f.GetBlobKey(), path); err != nil {
			return nil, err
		}
		files = append(files, analyze.File{Path: path, Filename: f.GetFilename(), Role: roleFromProto(f.GetBandRole())})
	}
	return files, nil
}

// analyseImage downloads the files, analyses them and stores the outputs.
// It returns the result, the blob key of each of result.Outputs and the
// calibration panel applied, if any.
// analyseContained is analyseImage with a panic on its goroutine turned
// into the image's error (analyze does the same on the goroutines it
// starts): one image that trips a bug fails, the others in the process
// go on.
func (p *Pool) analyseContained(ctx context.Context, item *canopyv1.WorkItem) (res *analyze.Result, keys []string, used *usedPanel, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, keys, used, err = nil, nil, nil, analyze.Recovered(r)
		}
	}()
	return p.analyseImage(ctx, item)
}

func (p *Pool) analyseImage(ctx context.Context, item *canopyv1.WorkItem) (*analyze.Result, []string, *usedPanel, error) {
	img := item.GetImage()
	dir, err := os.MkdirTemp(p.cfg.TempDir, "canopy-"+img.GetId()+"-")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("make work dir: %w", err)
	}
	defer os.RemoveAll(dir)

	files, err := p.fetch(ctx, img, dir)
	if err != nil {
		return nil, nil, nil, err
	}
	opt := withImageOptions(p.cfg.Options, img)
	panel, used, err := p.panelFor(ctx, item, files, dir)
	if err != nil {
		return nil, nil, nil, err
	}
	if panel != nil {
		// Asked for by name: a capture the panel cannot calibrate (not a
		// MicaSense rig, a band the panel lacks) fails, saying why,
		// instead of falling back to another mode.
		opt.Panel, opt.Calibration = panel, analyze.CalibrationPanel
	}

	outDir := filepath.Join(dir, "out")
	if err := os.Mkdir(outDir, 0o700); err != nil {
		return nil, nil, nil, fmt.Errorf("make output dir: %w", err)
	}
	// One colour map and one GeoTIFF per index go to outDir as files
	// (map-ndvi.png, ndvi.tif), each written as soon as its index is
	// computed; the main map is the colour map of res.MapIndex.
	thumbPath := filepath.Join(outDir, "thumbnail.png")
	tf, err := os.Create(thumbPath)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("create thumbnail file: %w", err)
	}
	// Each map and GeoTIFF is stored as soon as it is written, while the
	// other indices are still computed: storing is mostly waiting for the
	// disk (a local store syncs every file, S3 answers every PUT), which
	// after the analysis was a fifth of a 3 MP image's time.
	st := p.newStorer(ctx, img.GetId())
	res, err := p.analyze(ctx, files, opt, analyze.Outputs{
		Thumbnail: tf, MapDir: outDir, GeoTIFFDir: outDir, GeoTIFFCompression: p.cfg.GeoTIFFCompression,
		Written: st.store,
	})
	if cerr := tf.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write thumbnail: %w", cerr)
	}
	if err != nil {
		st.abandon()
		return nil, nil, nil, withFileNames(err, dir, files)
	}
	// The input files are no longer needed; free their disk space.
	for _, f := range files {
		_ = os.Remove(f.Path)
	}
	keys := make([]string, len(res.Outputs))
	for i, o := range res.Outputs {
		keys[i] = outputKey(img.GetId(), o)
		switch {
		case o.Kind == analyze.KindThumbnail:
			o.Path = thumbPath
			st.store(o)
		case o.Path == "":
			st.abandon()
			return nil, nil, nil, fmt.Errorf("output %s %s has no file", o.Kind, o.Index)
		case !st.started(o.Path):
			// Written early is a speed-up, not a promise: store whatever
			// was not handed over while the analysis ran.
			st.store(o)
		}
	}
	if err := st.wait(); err != nil {
		return nil, nil, nil, err
	}
	return res, keys, used, nil
}

// storer stores one image's outputs, up to storeConcurrency at once, and
// on any failure removes every one it stored: a retry writes the same
// keys again, but an image that fails for good should not leave half its
// outputs.
type storer struct {
	p     *Pool
	ctx   context.Context
	image string
	g     *errgroup.Group
	mu    sync.Mutex
	keys  []string
	paths map[string]bool // the files being stored or stored
}

func (p *Pool) newStorer(ctx context.Context, imageID string) *storer {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(storeConcurrency)
	return &storer{p: p, ctx: gctx, image: imageID, g: g, paths: map[string]bool{}}
}

// started reports whether the file at path has been handed to store.
func (s *storer) started(path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paths[path]
}

// store starts storing output o, waiting for a turn when storeConcurrency
// stores are under way.
func (s *storer) store(o analyze.Output) {
	key := outputKey(s.image, o)
	s.mu.Lock()
	s.keys = append(s.keys, key)
	s.paths[o.Path] = true
	s.mu.Unlock()
	s.g.Go(func() error { return s.p.store(s.ctx, key, o.Path) })
}

// wait waits for every store; on a failure it removes what was stored.
func (s *storer) wait() error {
	err := s.g.Wait()
	if err != nil {
		s.remove()
	}
	return err
}

// abandon waits for the stores under way and removes everything stored.
func (s *storer) abandon() {
	_ = s.g.Wait()
	s.remove()
}

func (s *storer) remove() {
	// Best effort, and even when the analysis was cancelled.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 10*time.Second)
	defer cancel()
	for _, k := range s.keys {
		_ = s.p.blobs.Delete(dctx, k)
	}
}

// outputKey names an output in the blob store next to the image's other
// blobs: images/ID/map-ndvi.png (the existing colour-map name),
// images/ID/index-ndvi.tif, images/ID/thumbnail.png. Names depend only on
// the image and the output, so a retried analysis overwrites its earlier
// attempt's files instead of leaving stale ones beside them.
func outputKey(imageID string, o analyze.Output) string {
	ix := strings.ToLower(o.Index)
	prefix := blob.ImagePrefix(imageID)
	switch o.Kind {
	case analyze.KindColormap:
		return fmt.Sprintf("%smap-%s.png", prefix, ix)
	case analyze.KindGeoTIFF:
		return fmt.Sprintf("%sindex-%s.tif", prefix, ix)
	case analyze.KindThumbnail:
		return prefix + "thumbnail.png"
	}
	return fmt.Sprintf("%s%s-%s", prefix, o.Kind, ix)
}

// storeConcurrency bounds the outputs of one image stored at once.
const storeConcurrency = 8

// fileStore is a blob store that can take a file over instead of copying
// it (blob.Local, when the work dir is on its file system).
type fileStore interface {
	PutFile(ctx context.Context, key, path string) (int64, error)
}

// store uploads one output file and removes the local copy, so the work
// dir never holds every output twice over (GeoTIFFs of a large image are
// tens of MB each).
func (p *Pool) store(ctx context.Context, key, path string) error {
	if fs, ok := p.blobs.(fileStore); ok {
		if _, err := fs.PutFile(ctx, key, path); err != nil {
			return fmt.Errorf("store %s: %w", key, err)
		}
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reopen output %s: %w", filepath.Base(path), err)
	}
	defer os.Remove(path)
	defer f.Close()
	if _, err := p.blobs.Put(ctx, key, f); err != nil {
		return fmt.Errorf("store %s: %w", key, err)
	}
	return nil
}

func (p *Pool) download(ctx context.Context, key, path string) error {
	rc, err := p.blobs.Open(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		// ingest-svc stores a file before it records the image, so a
		// missing one is not a hiccup: most often this worker reads another
		// store than ingest-svc writes to. Retries cannot help.
		return fmt.Errorf("%w: %s is not in the blob store analysis-svc reads; check that it has the same BLOB_STORE, BLOB_DIR or S3 settings as ingest-svc, then retry the image", errBlobMissing, key)
	}
	if err != nil {
		return fmt.Errorf("fetch %s: %w", key, err)
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return fmt.Errorf("fetch %s: %w", key, err)
	}
	return f.Close()
}

// errBlobMissing: an uploaded file is not in the blob store.
var errBlobMissing = errors.New("uploaded file missing")

// isInputError tells a failure that retrying cannot help (a corrupt,
// unsupported or too large file, missing bands, a file the store does not
// have) from a passing fault of the machine.
func isInputError(err error) bool {
	// A panic is counted with them: the same input would set it off again
	// on every attempt. canopy retry tries again once it is fixed.
	var pe *analyze.PanicError
	return errors.As(err, &pe) || errors.Is(err, analyze.ErrUnsupported) || errors.Is(err, analyze.ErrCorrupt) ||
		errors.Is(err, analyze.ErrTooLarge) || errors.Is(err, analyze.ErrMissingBands) ||
		errors.Is(err, errBlobMissing) || errors.Is(err, errPanel)
}

// withImageOptions applies what the upload asked for over the pool's
// defaults: the band layout, SAVI's L, the indices, a reflectance scale.
// ingest-svc has checked the values; analyze checks them again.
func withImageOptions(opt analyze.Options, img *canopyv1.Image) analyze.Options {
	opt.BandLayout = img.GetBandLayout()
	o := img.GetAnalysisOptions()
	if o == nil {
		return opt
	}
	if o.SaviL != nil {
		opt.SAVIL = o.SaviL
	}
	if len(o.GetIndices()) > 0 {
		opt.Indices = o.GetIndices()
	}
	if o.ReflectanceScale != nil {
		opt.ReflectanceScale = o.GetReflectanceScale()
	}
	if o.TakeoffAltitudeM != nil {
		opt.TakeoffAltitude = o.TakeoffAltitudeM
	}
	return opt
}

// namedError is an analysis error as the uploader should read it: the
// worker's temp paths replaced by the names of the uploaded files. The
// original stays underneath, for errors.Is.
type namedError struct {
	err error
	msg string
}

func (e *namedError) Error() string { return e.msg }
func (e *namedError) Unwrap() error { return e.err }

func withFileNames(err error, dir string, files []analyze.File) error {
	msg := err.Error()
	for _, f := range files {
		msg = strings.ReplaceAll(msg, f.Path, f.Filename)
	}
	// Anything else under the work dir (an output being written).
	msg = strings.ReplaceAll(msg, dir+string(filepath.Separator), "")
	return &namedError{err: err, msg: msg}
}
