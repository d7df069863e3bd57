package server

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/canopyag/canopy/platform/apierror"
)

// PostgreSQL stores no NUL character (U+0000), in text columns or jsonb: a
// request string holding one failed its statement as a database error,
// answered Unavailable ("try again") though no retry can succeed. Every
// request message is checked here instead, before any handler, and the
// first such field is named in an InvalidArgument (apierror.StorableText).

func unaryStorableText() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if m, ok := req.(proto.Message); ok {
			if err := apierror.StorableText(m, ""); err != nil {
				return nil, err
			}
		}
		return handler(ctx, req)
	}
}

func streamStorableText() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, &textCheckedStream{ServerStream: ss})
	}
}

// textCheckedStream checks each message the client streams in.
type textCheckedStream struct{ grpc.ServerStream }

func (s *textCheckedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if pm, ok := m.(proto.Message); ok {
		return apierror.StorableText(pm, "")
	}
	return nil
}
