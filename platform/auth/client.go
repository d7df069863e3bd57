package auth

import (
	"context"
	"net/http"

	"google.golang.org/grpc/metadata"
)

// Bearer is gRPC per-call credentials carrying an API key.
type Bearer struct {
	Key string
	// Secure says the connection is TLS. Without TLS the key crosses the
	// network in clear; that is accepted for loopback and private networks
	// (see README, "Securing a deployment").
	Secure bool
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (b Bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	if b.Key == "" {
		return nil, nil
	}
	return map[string]string{"authorization": "Bearer " + b.Key}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (b Bearer) RequireTransportSecurity() bool { return b.Secure }

// ForwardHTTP returns ctx with the HTTP request's Authorization header as
// outgoing gRPC metadata, for handlers that relay a REST call to the
// service's own gRPC port.
func ForwardHTTP(ctx context.Context, r *http.Request) context.Context {
	if v := r.Header.Get("Authorization"); v != "" {
		return metadata.AppendToOutgoingContext(ctx, "authorization", v)
	}
	return ctx
}
