// Package workapi serves the WorkService RPCs over the queue: it validates
// requests, long-polls claims, and maps queue errors to gRPC codes.
package workapi

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/ingest-svc/internal/queue"
	"github.com/canopyag/canopy/platform/apierror"
	"github.com/canopyag/canopy/platform/auth"
	"github.com/canopyag/canopy/platform/catalog"
	"github.com/canopyag/canopy/platform/notify"
)

// Queue is what the API needs from the work queue.
type Queue interface {
	Claim(ctx context.Context, scope catalog.Scope, worker string, n int, lease time.Duration) ([]queue.Claimed, error)
	NextDue(ctx context.Context) (time.Time, bool, error)
	Renew(ctx context.Context, id, token string, lease time.Duration) error
	Complete(ctx context.Context, scope catalog.Scope, id, token string, a *canopyv1.Analysis) (*canopyv1.Image, error)
	CompleteBatch(ctx context.Context, scope catalog.Scope, cs []queue.Completion) ([]queue.Completed, error)
	Fail(ctx context.Context, id, token, msg string, retryable bool) (*canopyv1.Image, error)
	Release(ctx context.Context, id, token, reason string) (*canopyv1.Image, error)
	InScope(ctx context.Context, scope catalog.Scope, id string) (bool, error)
}

// Wakeups is where claimers wait for new work.
type Wakeups interface {
	Subscribe(channel, key string) *notify.Subscription
	Connected() bool
}

// Config bounds what clients may ask for.
type Config struct {
	DefaultLease time.Duration
	MaxLease     time.Duration
	MaxWait      time.Duration
	MaxBatch     int
	// PollInterval is how often a waiting claim re-checks while the LISTEN
	// connection is down (or unavailable, behind a transaction pooler).
	PollInterval time.Duration
}

// Server implements canopyv1.WorkServiceServer.
type Server struct {
	canopyv1.UnimplementedWorkServiceServer
	q    Queue
	wake Wakeups
	cfg  Config
	log  *slog.Logger
	// stopping closes when the service shuts down: waiting claims then
	// return at once instead of holding up the graceful stop.
	stopping <-chan struct{}
	// pickup is nil until RegisterMetrics.
	pickup prometheus.Histogram
}

// RegisterMetrics adds the claim metrics to reg.
func (s *Server) RegisterMetrics(reg prometheus.Registerer) {
	s.pickup = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "canopy_claim_pickup_seconds",
		Help: "Time from an image's upload to its first claim by a worker (the queue's pickup latency).",
		// 1 ms to about 4 minutes.
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 18),
	})
	reg.MustRegister(s.pickup)
}

// New returns the WorkService; stopping closes when the service shuts down.
func New(q Queue, wake Wakeups, cfg Config, log *slog.Logger, stopping <-chan struct{}) *Server {
	return &Server{q: q, wake: wake, cfg: cfg, log: log, stopping: stopping}
}

// ClaimWork leases work, blocking up to the requested wait when there is none.
func (s *Server) ClaimWork(ctx context.Context, req *canopyv1.ClaimWorkRequest) (*canopyv1.ClaimWorkResponse, error) {
	select {
	case <-s.stopping:
		// No new leases while shutting down: the drain waits for the
		// held ones to be reported or released.
		return nil, status.Error(codes.Unavailable, "ingest-svc is shutting down; claim again")
	default:
	}
	n := int(req.GetMaxItems())
	if n < 0 || n > s.cfg.MaxBatch {
		return nil, apierror.BadField("max_items", "%d: want 0 to %d", n, s.cfg.MaxBatch)
	}
	n = max(n, 1)
	lease, err := s.lease(req.GetLease())
	if err != nil {
		return nil, err
	}
	if req.GetWait().AsDuration() < 0 {
		return nil, apierror.BadField("wait", "%s is negative; 0 answers at once, and a longer wait is cut to %s", req.GetWait().AsDuration(), s.cfg.MaxWait)
	}
	wait := min(req.GetWait().AsDuration(), s.cfg.MaxWait)
	worker := req.GetWorkerId()
	if worker == "" {
		worker = "anonymous"
		if p, ok := peer.FromContext(ctx); ok {
			worker = p.Addr.String()
		}
	}

	// A worker key of one project claims that project's work only; a key
	// without a project (the usual analysis-svc key) serves every project.
	p := auth.FromContext(ctx)
	if p == nil {
		return nil, status.Error(codes.Unauthenticated, "no authenticated caller")
	}
	sc := catalog.AllProjects
	if p.ProjectID != "" {
		sc = catalog.Project(p.ProjectID)
	}

	// Subscribe before the first try, so an upload landing between the try
	// and the wait still wakes us.
	sub := s.wake.Subscribe(catalog.WorkChannel, "")
	defer sub.Close()
	deadline := time.Now().Add(wait)
	for {
		claimed, err := s.q.Claim(ctx, sc, worker, n, lease)
		if err != nil {
			return nil, internal(ctx, s.log, "claim work", err)
		}
		if len(claimed) > 0 {
			resp := &canopyv1.ClaimWorkResponse{}
			for _, c := range claimed {
				// First attempts only: a retry waits for its backoff on purpose.
				if s.pickup != nil && c.Image.GetAttempts() == 1 {
					s.pickup.Observe(time.Since(c.Image.GetUploadedAt().AsTime()).Seconds())
				}
				resp.Items = append(resp.Items, &canopyv1.WorkItem{Image: c.Image, LeaseToken: c.Token, Lease: durationpb.New(lease), CalibrationPanel: c.Panel})
			}
			return resp, nil
		}
		now := time.Now()
		if !now.Before(deadline) {
			return &canopyv1.ClaimWorkResponse{}, nil
		}
		wakeAt := deadline
		if due, ok, err := s.q.NextDue(ctx); err != nil {
			return nil, internal(ctx, s.log, "claim work", err)
		} else if ok && due.Before(wakeAt) {
			wakeAt = due
		}
		if !s.wake.Connected() && now.Add(s.cfg.PollInterval).Before(wakeAt) {
			wakeAt = now.Add(s.cfg.PollInterval)
		}
		timer := time.NewTimer(max(time.Until(wakeAt), time.Millisecond))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-s.stopping:
			timer.Stop()
			// Unavailable, not an empty answer: workers back off and retry
			// (another replica, or this one once restarted).
			return nil, status.Error(codes.Unavailable, "ingest-svc is shutting down; claim again")
		case <-sub.C():
		case <-timer.C:
		}
		timer.Stop()
	}
}

// RenewLease extends a held lease.
func (s *Server) RenewLease(ctx context.Context, req *canopyv1.RenewLeaseRequest) (*canopyv1.RenewLeaseResponse, error) {
	id, token, err := ids(req.GetImageId(), req.GetLeaseToken())
	if err != nil {
		return nil, err
	}
	if err := s.checkLease(ctx, id); err != nil {
		return nil, err
	}
	lease, err := s.lease(req.GetLease())
	if err != nil {
		return nil, err
	}
	if err := s.q.Renew(ctx, id, token, lease); err != nil {
		return nil, toStatus(ctx, s.log, "renew lease", err)
	}
	return &canopyv1.RenewLeaseResponse{Lease: durationpb.New(lease)}, nil
}

// CompleteWork stores the analysis.
func (s *Server) CompleteWork(ctx context.Context, req *canopyv1.CompleteWorkRequest) (*canopyv1.CompleteWorkResponse, error) {
	c, err := checkCompletion(req)
	if err != nil {
		return nil, err
	}
	sc, err := leaseScope(ctx)
	if err != nil {
		return nil, err
	}
	// The project check is part of the completing statement: no extra
	// round trip on the busiest call.
	img, err := s.q.Complete(ctx, sc, c.ID, c.Token, c.Analysis)
	if err != nil {
		return nil, toStatus(ctx, s.log, "complete work", err)
	}
	return &canopyv1.CompleteWorkResponse{Image: img}, nil
}

// checkCompletion checks what CompleteWork needs of a request.
func checkCompletion(req *canopyv1.CompleteWorkRequest) (queue.Completion, error) {
	id, token, err := ids(req.GetImageId(), req.GetLeaseToken())
	if err != nil {
		return queue.Completion{}, err
	}
	a := req.GetAnalysis()
	if a == nil {
		return queue.Completion{}, apierror.BadField("analysis", "is required")
	}
	if a.GetImageId() != "" {
		if aid, err := catalog.ParseID(a.GetImageId()); err != nil || aid != id {
			return queue.Completion{}, apierror.BadField("analysis.image_id", "%q does not match image_id %q", catalog.Abbrev(a.GetImageId()), id)
		}
	}
	// What every reader of a result relies on: an empty analysis would be
	// stored as the image's result and shown as a blank 0 x 0 one.
	if a.GetAlgorithmVersion() == "" {
		return queue.Completion{}, apierror.BadField("analysis.algorithm_version", "is required")
	}
	if a.GetWidth() <= 0 || a.GetHeight() <= 0 {
		field := "analysis.width"
		if a.GetWidth() > 0 {
			field = "analysis.height"
		}
		return queue.Completion{}, apierror.BadField(field, "%d x %d: an analysed image has pixels", a.GetWidth(), a.GetHeight())
	}
	a.ImageId = id
	return queue.Completion{ID: id, Token: token, Analysis: a}, nil
}

// BatchCompleteWork stores several analyses in one transaction. Each
// request is checked as CompleteWork checks it; one that fails its check,
// or whose lease is not held, is answered in its own result, and the
// others are stored.
func (s *Server) BatchCompleteWork(ctx context.Context, req *canopyv1.BatchCompleteWorkRequest) (*canopyv1.BatchCompleteWorkResponse, error) {
	reqs := req.GetRequests()
	if len(reqs) == 0 || len(reqs) > s.cfg.MaxBatch {
		return nil, apierror.BadField("requests", "%d completions: want 1 to %d", len(reqs), s.cfg.MaxBatch)
	}
	sc, err := leaseScope(ctx)
	if err != nil {
		return nil, err
	}
	results := make([]*canopyv1.CompleteWorkResult, len(reqs))
	var (
		cs []queue.Completion
		at []int // the request of each of cs
	)
	first := map[string]int{}
	for i, r := range reqs {
		c, err := checkCompletion(r)
		if j, seen := first[c.ID]; err == nil && seen {
			err = apierror.BadField("image_id", "%s is also requests[%d]: complete an image once", c.ID, j)
		}
		if err != nil {
			results[i] = failedResult(err)
			continue
		}
		first[c.ID] = i
		cs, at = append(cs, c), append(at, i)
	}
	if len(cs) > 0 {
		done, err := s.q.CompleteBatch(ctx, sc, cs)
		if err != nil {
			return nil, toStatus(ctx, s.log, "complete work", err)
		}
		for j, d := range done {
			if d.Err != nil {
				results[at[j]] = failedResult(toStatus(ctx, s.log, "complete work", d.Err))
			} else {
				results[at[j]] = &canopyv1.CompleteWorkResult{Image: d.Image}
			}
		}
	}
	return &canopyv1.BatchCompleteWorkResponse{Results: results}, nil
}

// failedResult is a batch item's answer for err, a gRPC status error.
func failedResult(err error) *canopyv1.CompleteWorkResult {
	st := status.Convert(err)
	return &canopyv1.CompleteWorkResult{ErrorCode: code.Code(st.Code()).String(), ErrorMessage: st.Message()}
}

// FailWork ends an attempt with an error.
func (s *Server) FailWork(ctx context.Context, req *canopyv1.FailWorkRequest) (*canopyv1.FailWorkResponse, error) {
	id, token, err := ids(req.GetImageId(), req.GetLeaseToken())
	if err != nil {
		return nil, err
	}
	msg := req.GetError()
	if msg == "" {
		return nil, apierror.BadField("error", "is required: say why the attempt failed")
	}
	if err := s.checkLease(ctx, id); err != nil {
		return nil, err
	}
	var img *canopyv1.Image
	if req.GetRelease() {
		img, err = s.q.Release(ctx, id, token, msg)
	} else {
		img, err = s.q.Fail(ctx, id, token, msg, req.GetRetryable())
	}
	if err != nil {
		return nil, toStatus(ctx, s.log, "fail work", err)
	}
	return &canopyv1.FailWorkResponse{Image: img}, nil
}

// leaseScope is the images the caller's lease calls may touch: its
// project's, or every project's for a worker key without one.
func leaseScope(ctx context.Context) (catalog.Scope, error) {
	p := auth.FromContext(ctx)
	if p == nil {
		return catalog.Scope{}, status.Error(codes.Unauthenticated, "no authenticated caller")
	}
	if p.ProjectID == "" {
		return catalog.AllProjects, nil
	}
	return catalog.Project(p.ProjectID), nil
}

// checkLease refuses a lease call on another project's image by a worker
// key bound to one project: NotFound, as if there were no such image. The
// lease token alone already proves the right to the image; this keeps a
// per-project worker within its project even with a token it should not
// have. An all-projects worker key is not checked (one query saved per
// heartbeat).
func (s *Server) checkLease(ctx context.Context, id string) error {
	p := auth.FromContext(ctx)
	if p == nil {
		return status.Error(codes.Unauthenticated, "no authenticated caller")
	}
	if p.ProjectID == "" {
		return nil
	}
	ok, err := s.q.InScope(ctx, catalog.Project(p.ProjectID), id)
	if err != nil {
		return internal(ctx, s.log, "check image project", err)
	}
	if !ok {
		return status.Errorf(codes.NotFound, "image %s: not found", id)
	}
	return nil
}

func (s *Server) lease(d *durationpb.Duration) (time.Duration, error) {
	if d == nil || d.AsDuration() == 0 {
		return s.cfg.DefaultLease, nil
	}
	l := d.AsDuration()
	if l < time.Second || l > s.cfg.MaxLease {
		return 0, apierror.BadField("lease", "%s: want 1s to %s", l, s.cfg.MaxLease)
	}
	return l, nil
}

func ids(imageID, token string) (string, string, error) {
	id, err := parseImageID(imageID)
	if err != nil {
		return "", "", err
	}
	tok, err := catalog.ParseID(token)
	if err != nil {
		return "", "", apierror.BadField("lease_token", "%q is not a lease token", catalog.Abbrev(token))
	}
	return id, tok, nil
}

// parseImageID checks an image id, answering InvalidArgument with the field.
func parseImageID(id string) (string, error) {
	id, err := catalog.ParseID(id)
	if err != nil {
		fe, _ := apierror.FromField(err)
		return "", fe
	}
	return id, nil
}

// toStatus maps queue errors to gRPC codes.
func toStatus(ctx context.Context, log *slog.Logger, action string, err error) error {
	switch {
	case errors.Is(err, queue.ErrLeaseLost), errors.Is(err, queue.ErrWrongState):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, catalog.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return internal(ctx, log, action, err)
}

// internal logs the detail and tells the client only that the store failed:
// Unavailable, because a database hiccup is worth retrying.
func internal(ctx context.Context, log *slog.Logger, action string, err error) error {
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	log.ErrorContext(ctx, action+" failed", "error", err)
	return status.Errorf(codes.Unavailable, "%s: database unavailable, try again", action)
}
