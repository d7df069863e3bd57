package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// refuseUploadsWhenStopping refuses uploads that begin once shutdown has
// started (Unavailable: the client retries elsewhere or later); uploads
// already streaming are given the grace period to finish.
func refuseUploadsWhenStopping(stopping <-chan struct{}) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if info.FullMethod == canopyv1.IngestService_UploadImage_FullMethodName {
			select {
			case <-stopping:
				return status.Error(codes.Unavailable, "ingest-svc is shutting down; upload again")
			default:
			}
		}
		return handler(srv, ss)
	}
}

// waitForLeases holds shutdown, while the service still answers, until no
// image is leased any more or ctx (the grace period) ends. Workers that are
// stopping too finish their image or release it, and both need ingest-svc
// to answer: if it stopped first, the image would wait for its lease to
// expire and lose an attempt.
func waitForLeases(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) {
	start := time.Now()
	for {
		var held int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM images WHERE status = 'processing' AND lease_expires_at > now()`).Scan(&held)
		if err != nil {
			if ctx.Err() == nil {
				log.WarnContext(ctx, "shutdown: cannot check held leases; not waiting for workers", "error", err)
			}
			return
		}
		if held == 0 {
			log.InfoContext(ctx, "shutdown: no leases held", "waited_ms", time.Since(start).Milliseconds())
			return
		}
		select {
		case <-ctx.Done():
			log.WarnContext(ctx, "shutdown: grace over with leases still held; they will expire", "held", held)
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
