// Package statusapi serves the read side: images, analyses, queue counts,
// and live status streams driven by the process's one LISTEN connection.
package statusapi

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/apierror"
	"github.com/canopyag/canopy/platform/auth"
	"github.com/canopyag/canopy/platform/catalog"
	"github.com/canopyag/canopy/platform/notify"
)

// EventsChannel carries "seq image_id project" for every event.
const EventsChannel = catalog.EventsChannel

// EventKeys routes an event notification to the watchers of its image and
// to the watchers of its project (ProjectKey), and to no one else: a
// watcher of one project is never even woken by another project's events.
func EventKeys(payload string) []string {
	f := strings.Fields(payload)
	var keys []string
	if len(f) > 1 {
		keys = append(keys, f[1])
	}
	if len(f) > 2 {
		keys = append(keys, ProjectKey(f[2]))
	}
	return keys
}

// ProjectKey is the subscription key of a project's events. Image keys are
// UUIDs, so the prefix keeps the two apart.
func ProjectKey(project string) string { return "project:" + project }

// scope is the caller's project. Without a principal (the interceptor was
// not installed, or an open method reached here) nothing is readable: the
// service fails closed rather than serving every project.
func scope(ctx context.Context) (catalog.Scope, error) {
	p := auth.FromContext(ctx)
	if p == nil {
		return catalog.Scope{}, status.Error(codes.Unauthenticated, "no authenticated caller")
	}
	// A key without a project (an all-projects worker key) gets the zero
	// project scope, which matches nothing: workers read no images here.
	return catalog.Project(p.ProjectID), nil
}

// Wakeups is where watchers wait for new events.
type Wakeups interface {
	Subscribe(channel, key string) *notify.Subscription
}

// Server implements canopyv1.StatusServiceServer.
type Server struct {
	canopyv1.UnimplementedStatusServiceServer
	pool *pgxpool.Pool
	wake Wakeups
	log  *slog.Logger
	// gapWait is how long a hole in the event sequence is waited for: a
	// transaction that took a lower seq may commit after a higher one.
	gapWait time.Duration
	// stopping closes when the service shuts down, ending every watch with
	// Unavailable at once so clients reconnect (resuming with after_seq)
	// instead of the stream being cut at the end of the grace period.
	stopping <-chan struct{}
}

// DefaultGapWait is how long a watcher waits for a hole in the event
// sequence unless told otherwise (EVENT_GAP_WAIT).
const DefaultGapWait = 10 * time.Second

// New returns the status service; gapWait is how long a watch waits for a
// seq that was skipped to commit (0: DefaultGapWait).
func New(pool *pgxpool.Pool, wake Wakeups, log *slog.Logger, stopping <-chan struct{}, gapWait time.Duration) *Server {
	if gapWait <= 0 {
		gapWait = DefaultGapWait
	}
	return &Server{pool: pool, wake: wake, log: log, gapWait: gapWait, stopping: stopping}
}

var errStopping = status.Error(codes.Unavailable, "status-svc is shutting down; watch again with after_seq to resume")

// GetImage returns one image.
func (s *Server) GetImage(ctx context.Context, req *canopyv1.GetImageRequest) (*canopyv1.Image, error) {
	sc, err := scope(ctx)
	if err != nil {
		return nil, err
	}
	img, err := catalog.GetImage(ctx, s.pool, sc, req.GetImageId())
	if err != nil {
		return nil, s.toStatus(ctx, "get image", err)
	}
	return img, nil
}

// checkBatchID refuses a batch id no upload can have: uploads take at most
// 256 bytes, so a longer one would match nothing, silently.
func checkBatchID(id string) error {
	if len(id) > 256 {
		return apierror.BadField("batch_id", "%d bytes; batch ids are limited to 256 bytes", len(id))
	}
	return nil
}

// ListImages pages through images.
func (s *Server) ListImages(ctx context.Context, req *canopyv1.ListImagesRequest) (*canopyv1.ListImagesResponse, error) {
	sc, err := scope(ctx)
	if err != nil {
		return nil, err
	}
	if st := req.GetStatus(); st != canopyv1.ImageStatus_IMAGE_STATUS_UNSPECIFIED && catalog.StatusFromProto(st) == "" {
		// Unknown, it would have meant no filter: every image.
		return nil, apierror.BadField("status", "%d is not an image status", st)
	}
	if err := checkBatchID(req.GetBatchId()); err != nil {
		return nil, err
	}
	imgs, next, err := catalog.ListImages(ctx, s.pool, sc, catalog.ListFilter{
		Status:    catalog.StatusFromProto(req.GetStatus()),
		BatchID:   req.GetBatchId(),
		PageSize:  int(req.GetPageSize()),
		PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, s.toStatus(ctx, "list images", err)
	}
	return &canopyv1.ListImagesResponse{Images: imgs, NextPageToken: next}, nil
}

// GetAnalysis returns a completed image's analysis.
func (s *Server) GetAnalysis(ctx context.Context, req *canopyv1.GetAnalysisRequest) (*canopyv1.Analysis, error) {
	sc, err := scope(ctx)
	if err != nil {
		return nil, err
	}
	a, err := catalog.GetAnalysis(ctx, s.pool, sc, req.GetImageId())
	if errors.Is(err, catalog.ErrNotFound) {
		// Say whether the image is missing or just not analysed yet (only
		// for an image of the caller's project: another's stays NotFound).
		img, gerr := catalog.GetImage(ctx, s.pool, sc, req.GetImageId())
		if gerr == nil {
			return nil, status.Errorf(codes.FailedPrecondition, "image %s is %s; it has no analysis", img.GetId(), catalog.StatusFromProto(img.GetStatus()))
		}
		err = gerr
	}
	if err != nil {
		return nil, s.toStatus(ctx, "get analysis", err)
	}
	return a, nil
}

// GetQueueStats counts images per status.
func (s *Server) GetQueueStats(ctx context.Context, _ *canopyv1.GetQueueStatsRequest) (*canopyv1.GetQueueStatsResponse, error) {
	sc, err := scope(ctx)
	if err != nil {
		return nil, err
	}
	st, err := catalog.QueueStats(ctx, s.pool, sc)
	if err != nil {
		return nil, s.toStatus(ctx, "queue stats", err)
	}
	return st, nil
}

// WatchImage streams one image's state, then its transitions until a terminal one.
func (s *Server) WatchImage(req *canopyv1.WatchImageRequest, stream grpc.ServerStreamingServer[canopyv1.WatchImageResponse]) error {
	ctx := stream.Context()
	sc, err := scope(ctx)
	if err != nil {
		return err
	}
	id, err := catalog.ParseID(req.GetImageId())
	if err != nil {
		return s.toStatus(ctx, "watch image", err)
	}
	if req.GetAfterSeq() < 0 {
		return apierror.BadField("after_seq", "must not be negative")
	}
	// Subscribe before reading the state: an event committed in between
	// then still wakes us, and the read below picks it up.
	sub := s.wake.Subscribe(EventsChannel, id)
	defer sub.Close()

	// An image of another project is NotFound before anything is sent; the
	// subscription above only ever kicks this stream, which then reads
	// nothing, so it reveals nothing either.
	img, err := catalog.GetImage(ctx, s.pool, sc, id)
	if err != nil {
		return s.toStatus(ctx, "watch image", err)
	}
	last := req.GetAfterSeq()
	switch {
	case last > img.GetLastEventSeq():
		// Sequence numbers are shared by all images: a later one is not
		// this image's, and waiting for it could wait forever.
		return apierror.BadField("after_seq", "%d is beyond image %s's last event, %d", last, id, img.GetLastEventSeq())
	case last == 0:
		if err := stream.Send(&canopyv1.WatchImageResponse{Image: img}); err != nil {
			return err
		}
		if catalog.IsTerminal(img.GetStatus()) {
			return nil
		}
		last = img.GetLastEventSeq()
	case last == img.GetLastEventSeq() && img.GetStatus() == canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED:
		// The caller has seen the completion (a reconnect right after it)
		// and a completed image never changes again: the watch is over. A
		// failed one may still be retried, so its watch waits for that.
		return nil
	}
	for {
		// One image's events are written under its row lock, so they commit
		// in seq order: reading after the last seen seq cannot skip one.
		now, evs, err := catalog.ImageEvents(ctx, s.pool, sc, id, last)
		if err != nil {
			return s.toStatus(ctx, "watch image", err)
		}
		if now != nil {
			img = now
		}
		for _, ev := range evs {
			// The image as it was right after this event, not as it is now.
			at := proto.Clone(img).(*canopyv1.Image)
			at.Status, at.LastEventSeq = ev.GetStatus(), ev.GetSeq()
			if err := stream.Send(&canopyv1.WatchImageResponse{Image: at, Event: ev}); err != nil {
				return err
			}
			last = ev.GetSeq()
			if catalog.IsTerminal(ev.GetStatus()) {
				return nil
			}
		}
		if len(evs) >= catalog.EventPage {
			continue // a full page: read on without waiting for a wake-up
		}
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.stopping:
			return errStopping
		case <-sub.C():
		}
	}
}

// WatchImages streams every event of the caller's project, or those of one
// of its batches, until the client leaves.
func (s *Server) WatchImages(req *canopyv1.WatchImagesRequest, stream grpc.ServerStreamingServer[canopyv1.WatchImagesResponse]) error {
	ctx := stream.Context()
	p := auth.FromContext(ctx)
	if p == nil || p.ProjectID == "" {
		return status.Error(codes.Unauthenticated, "no authenticated caller of a project")
	}
	sc := catalog.Project(p.ProjectID)
	if req.GetAfterSeq() < 0 {
		return apierror.BadField("after_seq", "must not be negative")
	}
	if err := checkBatchID(req.GetBatchId()); err != nil {
		return err
	}
	sub := s.wake.Subscribe(EventsChannel, ProjectKey(p.ProjectID))
	defer sub.Close()
	last := req.GetAfterSeq()
	if last == 0 {
		var err error
		if last, err = catalog.LatestSeq(ctx, s.pool); err != nil {
			return s.toStatus(ctx, "watch images", err)
		}
	} else {
		// A resume point no event ever had (a database made again since,
		// or a number from elsewhere) would wait for good, silently.
		allocated, err := catalog.AllocatedSeq(ctx, s.pool)
		if err != nil {
			return s.toStatus(ctx, "watch images", err)
		}
		if last > allocated {
			return apierror.BadField("after_seq", "%d is beyond the newest event, %d (was the database made again?); watch with 0 for new events", last, allocated)
		}
	}
	gaps := newGapTracker(s.gapWait)
	batch := req.GetBatchId()
	for {
		// Every seq is accounted for, ours or not (another project's or
		// another batch's, by number only), so holes can be told apart and
		// waited for. Reading one batch's events alone would skip for good
		// an event whose transaction committed after a later one's.
		seqs, err := catalog.EventsWithSeqs(ctx, s.pool, catalog.EventFilter{Scope: sc, BatchID: batch, AfterSeq: last, Holes: gaps.openHoles()})
		if err != nil {
			return s.toStatus(ctx, "watch images", err)
		}
		for _, se := range seqs {
			if !gaps.deliver(se.Seq, last) {
				continue
			}
			last = max(last, se.Seq)
			if se.Event != nil {
				if err := stream.Send(&canopyv1.WatchImagesResponse{Event: se.Event, ResumeAfterSeq: gaps.resumeAfter(last)}); err != nil {
					return err
				}
			}
		}
		gaps.expire()
		if len(seqs) >= catalog.EventPage {
			// A full page: more are waiting, and their notifications may
			// all have come already. Waiting for the next one would leave
			// a watcher that fell behind stuck behind for good.
			continue
		}
		var timeout <-chan time.Time
		if gaps.open() {
			// Re-read while a hole is open even without a notification, so
			// a seq that was rolled back does not hold anything up.
			timeout = time.After(200 * time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.stopping:
			return errStopping
		case <-sub.C():
		case <-timeout:
		}
	}
}

func (s *Server) toStatus(ctx context.Context, action string, err error) error {
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, catalog.ErrInvalid):
		if fe, ok := apierror.FromField(err); ok {
			return fe
		}
		return status.Error(codes.InvalidArgument, err.Error())
	case ctx.Err() != nil:
		return status.FromContextError(ctx.Err()).Err()
	}
	s.log.ErrorContext(ctx, action+" failed", "error", err)
	return status.Errorf(codes.Unavailable, "%s: database unavailable, try again", action)
}
