// Package statusapi serves the read side: images, analyses, queue counts,
// and live status streams driven by the process's one LISTEN connection.
package statusapi

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/apierror"
	"github.com/canopyag/canopy/platform/catalog"
	"github.com/canopyag/canopy/platform/notify"
)

// EventsChannel carries "seq image_id" for every event (see migrations).
const EventsChannel = "canopy_image_events"

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

// New returns the status service.
func New(pool *pgxpool.Pool, wake Wakeups, log *slog.Logger, stopping <-chan struct{}) *Server {
	return &Server{pool: pool, wake: wake, log: log, gapWait: 10 * time.Second, stopping: stopping}
}

var errStopping = status.Error(codes.Unavailable, "status-svc is shutting down; watch again with after_seq to resume")

// GetImage returns one image.
func (s *Server) GetImage(ctx context.Context, req *canopyv1.GetImageRequest) (*canopyv1.Image, error) {
	img, err := catalog.GetImage(ctx, s.pool, req.GetImageId())
	if err != nil {
		return nil, s.toStatus(ctx, "get image", err)
	}
	return img, nil
}

// ListImages pages through images.
func (s *Server) ListImages(ctx context.Context, req *canopyv1.ListImagesRequest) (*canopyv1.ListImagesResponse, error) {
	imgs, next, err := catalog.ListImages(ctx, s.pool, catalog.ListFilter{
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
	a, err := catalog.GetAnalysis(ctx, s.pool, req.GetImageId())
	if errors.Is(err, catalog.ErrNotFound) {
		// Say whether the image is missing or just not analysed yet.
		img, gerr := catalog.GetImage(ctx, s.pool, req.GetImageId())
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
	st, err := catalog.QueueStats(ctx, s.pool)
	if err != nil {
		return nil, s.toStatus(ctx, "queue stats", err)
	}
	return st, nil
}

// WatchImage streams one image's state, then its transitions until a terminal one.
func (s *Server) WatchImage(req *canopyv1.WatchImageRequest, stream grpc.ServerStreamingServer[canopyv1.WatchImageResponse]) error {
	ctx := stream.Context()
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

	img, err := catalog.GetImage(ctx, s.pool, id)
	if err != nil {
		return s.toStatus(ctx, "watch image", err)
	}
	last := req.GetAfterSeq()
	if last == 0 {
		if err := stream.Send(&canopyv1.WatchImageResponse{Image: img}); err != nil {
			return err
		}
		if catalog.IsTerminal(img.GetStatus()) {
			return nil
		}
		last = img.GetLastEventSeq()
	}
	for {
		// One image's events are written under its row lock, so they commit
		// in seq order: reading after the last seen seq cannot skip one.
		evs, err := catalog.Events(ctx, s.pool, catalog.EventFilter{ImageID: id, AfterSeq: last})
		if err != nil {
			return s.toStatus(ctx, "watch image", err)
		}
		if len(evs) > 0 {
			if img, err = catalog.GetImage(ctx, s.pool, id); err != nil {
				return s.toStatus(ctx, "watch image", err)
			}
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
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.stopping:
			return errStopping
		case <-sub.C():
		}
	}
}

// WatchImages streams every event, or those of one batch, until the client leaves.
func (s *Server) WatchImages(req *canopyv1.WatchImagesRequest, stream grpc.ServerStreamingServer[canopyv1.WatchImagesResponse]) error {
	ctx := stream.Context()
	if req.GetAfterSeq() < 0 {
		return apierror.BadField("after_seq", "must not be negative")
	}
	sub := s.wake.Subscribe(EventsChannel, "")
	defer sub.Close()
	last := req.GetAfterSeq()
	if last == 0 {
		var err error
		if last, err = catalog.LatestSeq(ctx, s.pool); err != nil {
			return s.toStatus(ctx, "watch images", err)
		}
	}
	gaps := newGapTracker(s.gapWait)
	for {
		// Holes are tracked over the whole sequence even for one batch:
		// reading the batch's events alone, a seq committed late (another
		// transaction took a higher one and committed first) would be
		// skipped for good once last passed it.
		evs, err := s.sequence(ctx, req.GetBatchId(), gaps.readFrom(last))
		if err != nil {
			return s.toStatus(ctx, "watch images", err)
		}
		for _, me := range evs {
			ev := me.Event
			if !gaps.deliver(ev.GetSeq(), last, true) {
				continue
			}
			last = max(last, ev.GetSeq())
			if !me.InBatch {
				continue
			}
			if err := stream.Send(&canopyv1.WatchImagesResponse{Event: ev}); err != nil {
				return err
			}
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

// sequence reads the events after seq: all of them, or the whole sequence
// with batch's marked.
func (s *Server) sequence(ctx context.Context, batch string, after int64) ([]catalog.MarkedEvent, error) {
	if batch != "" {
		return catalog.SequenceForBatch(ctx, s.pool, batch, after, 0)
	}
	evs, err := catalog.Events(ctx, s.pool, catalog.EventFilter{AfterSeq: after})
	if err != nil {
		return nil, err
	}
	out := make([]catalog.MarkedEvent, len(evs))
	for i, ev := range evs {
		out[i] = catalog.MarkedEvent{Event: ev, InBatch: true}
	}
	return out, nil
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
