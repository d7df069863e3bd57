package app

import (
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/auth"
)

// endIdleUploads ends an upload whose client sends nothing for idle: a
// stalled or abandoned stream would otherwise hold its per-key upload slot,
// a blob write and memory until the connection dies. Only the time spent
// waiting for the client counts; a slow blob store, which stops us reading,
// does not. It must run after the auth interceptor, to log the key's id.
func endIdleUploads(idle time.Duration, log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if idle <= 0 || info.FullMethod != canopyv1.IngestService_UploadImage_FullMethodName {
			return handler(srv, ss)
		}
		return handler(srv, &idleStream{ServerStream: ss, idle: idle, log: log})
	}
}

type idleStream struct {
	grpc.ServerStream
	idle time.Duration
	log  *slog.Logger
}

func (s *idleStream) RecvMsg(m any) error {
	done := make(chan error, 1)
	// The receive runs on while we answer: once the handler returns, gRPC
	// ends the stream and the receive returns too. m is not used after an
	// idle error, so its late filling harms nothing.
	go func() { done <- s.ServerStream.RecvMsg(m) }()
	t := time.NewTimer(s.idle)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		ctx := s.Context()
		keyID := ""
		if p := auth.FromContext(ctx); p != nil {
			keyID = p.KeyID
		}
		s.log.WarnContext(ctx, "upload idle too long; ending it", "key_id", keyID, "idle", s.idle)
		return status.Errorf(codes.ResourceExhausted, "nothing received for %s: upload ended; send chunks without long pauses", s.idle)
	}
}
