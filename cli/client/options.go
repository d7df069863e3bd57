package client

import (
	"google.golang.org/grpc"

	"github.com/canopyag/canopy/platform/auth"
	"github.com/canopyag/canopy/platform/server"
)

// WithAPIKey sends key ("cnp_...") as "authorization: Bearer KEY" on every
// call. secure says the connection uses TLS; with it set, gRPC refuses to
// send the key over a plaintext connection by mistake.
func WithAPIKey(key string, secure bool) grpc.DialOption {
	return grpc.WithPerRPCCredentials(auth.Bearer{Key: key, Secure: secure})
}

// WithTLS dials over TLS, checking the services' certificate against the
// CA in caFile (PEM), or the system's roots when caFile is "".
func WithTLS(caFile string) (grpc.DialOption, error) {
	creds, err := server.ClientTLS(caFile)
	if err != nil {
		return nil, err
	}
	return grpc.WithTransportCredentials(creds), nil
}
