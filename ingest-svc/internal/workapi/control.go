package workapi

import (
	"context"
	"log/slog"
	"unicode/utf8"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/apierror"
)

// maxReasonBytes bounds a cancellation reason: it is stored and shown to
// every watcher, so it is a note, not a document.
const maxReasonBytes = 1024

// ImageQueue is what the operator RPCs need from the work queue.
type ImageQueue interface {
	Retry(ctx context.Context, id string) (*canopyv1.Image, error)
	Cancel(ctx context.Context, id, reason string) (*canopyv1.Image, error)
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
	id, err := parseImageID(req.GetImageId())
	if err != nil {
		return nil, err
	}
	img, err := c.q.Retry(ctx, id)
	if err != nil {
		return nil, toStatus(ctx, c.log, "retry image", err)
	}
	c.log.InfoContext(ctx, "image re-queued", "image_id", id)
	return img, nil
}

// CancelImage fails an unfinished image with the reason "cancelled".
func (c *Control) CancelImage(ctx context.Context, req *canopyv1.CancelImageRequest) (*canopyv1.Image, error) {
	id, err := parseImageID(req.GetImageId())
	if err != nil {
		return nil, err
	}
	reason := req.GetReason()
	if len(reason) > maxReasonBytes || !utf8.ValidString(reason) {
		return nil, apierror.BadField("reason", "want valid UTF-8 of at most %d bytes", maxReasonBytes)
	}
	img, err := c.q.Cancel(ctx, id, reason)
	if err != nil {
		return nil, toStatus(ctx, c.log, "cancel image", err)
	}
	c.log.InfoContext(ctx, "image cancelled", "image_id", id, "reason", reason)
	return img, nil
}
