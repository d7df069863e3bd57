package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/textproto"
	"regexp"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/canopyag/canopy/platform/logging"
)

// RequestIDHeader carries a call's id: taken from the client when it sends
// a sane one (so a ground station can correlate its own logs), made up
// otherwise, and sent back in the response headers either way.
const RequestIDHeader = "x-request-id"

// A client's id is logged verbatim, so only plain tokens are accepted.
var saneRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

func requestID(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(RequestIDHeader); len(v) > 0 && saneRequestID.MatchString(v[0]) {
		return v[0]
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func unaryRequestID() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		id := requestID(ctx)
		_ = grpc.SetHeader(ctx, metadata.Pairs(RequestIDHeader, id))
		return handler(logging.WithRequestID(ctx, id), req)
	}
}

func streamRequestID() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		id := requestID(ss.Context())
		_ = ss.SetHeader(metadata.Pairs(RequestIDHeader, id))
		return handler(srv, &contextStream{ServerStream: ss, ctx: logging.WithRequestID(ss.Context(), id)})
	}
}

type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }

// gatewayHeaderIn forwards X-Request-Id from REST callers to gRPC, besides
// the gateway's defaults.
func gatewayHeaderIn(key string) (string, bool) {
	if textproto.CanonicalMIMEHeaderKey(key) == "X-Request-Id" {
		return RequestIDHeader, true
	}
	return runtime.DefaultHeaderMatcher(key)
}

// gatewayHeaderOut answers REST callers with X-Request-Id rather than the
// gateway's Grpc-Metadata-X-Request-Id.
func gatewayHeaderOut(key string) (string, bool) {
	if key == RequestIDHeader {
		return "X-Request-Id", true
	}
	return runtime.MetadataHeaderPrefix + key, true
}
