package workapi

import (
	"context"
	"log/slog"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/apierror"
	"github.com/canopyag/canopy/platform/auth"
	"github.com/canopyag/canopy/platform/catalog"
)

// projectScope is the caller's project: retry and cancel act only within
// it, and another project's image is NotFound. No principal means the call
// bypassed authentication, so nothing is allowed (fail closed).
func projectScope(ctx context.Context) (catalog.Scope, error) {
	p := auth.FromContext(ctx)
	if p == nil || p.ProjectID == "" {
		return catalog.Scope{}, status.Error(codes.Unauthenticated, "retry and cancel need the key of a project")
	}
	return catalog.Project(p.ProjectID), nil
}

// maxReasonBytes bounds a cancellation reason: it is stored and shown to
// every watcher, so it is a note, not a document.
const maxReasonBytes = 1024

// ImageQueue is what the operator RPCs need from the work queue.
type ImageQueue interface {
	Retry(ctx context.Context, scope catalog.Scope, id string) (*canopyv1.Image, error)
	Cancel(ctx context.Context, scope catalog.Scope, id, reason string) (*canopyv1.Image, error)
}

// Control serves the operator side of IngestService: RetryImage and
// CancelImage. It lives beside the work API because both act on the queue;
// the ingest server embeds it next to the upload service.
type Control struct {
	q   ImageQueue
	log *slog.Logger
}

// NewControl returns the RetryImage and CancelImage handlers.
func NewControl(q ImageQueue, log *slog.Logger) *Control {
	return &Control{q: q, log: log}
}

// RetryImage re-queues a failed image with fresh attempts.
func (c *Control) RetryImage(ctx context.Context, req *canopyv1.RetryImageRequest) (*canopyv1.Image, error) {
	sc, err := projectScope(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseImageID(req.GetImageId())
	if err != nil {
		return nil, err
	}
	img, err := c.q.Retry(ctx, sc, id)
	if err != nil {
		return nil, toStatus(ctx, c.log, "retry image", err)
	}
	c.log.InfoContext(ctx, "image re-queued", "image_id", id)
	return img, nil
}

// CancelImage fails an unfinished image with the reason "cancelled".
func (c *Control) CancelImage(ctx context.Context, req *canopyv1.CancelImageRequest) (*canopyv1.Image, error) {
	sc, err := projectScope(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseImageID(req.GetImageId())
	if err != nil {
		return nil, err
	}
	reason := req.GetReason()
	if len(reason) > maxReasonBytes || !utf8.ValidString(reason) {
		return nil, apierror.BadField("reason", "want valid UTF-8 of at most %d bytes", maxReasonBytes)
	}
	img, err := c.q.Cancel(ctx, sc, id, reason)
	if err != nil {
		return nil, toStatus(ctx, c.log, "cancel image", err)
	}
	c.log.InfoContext(ctx, "image cancelled", "image_id", id, "reason", reason)
	return img, nil
}
