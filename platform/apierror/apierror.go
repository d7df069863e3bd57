// Package apierror builds the gRPC errors for a request field that is
// wrong: InvalidArgument with google.rpc.BadRequest (which field, and why)
// and google.rpc.ErrorInfo (a stable reason a program can switch on), so
// SDKs and the REST gateway's JSON carry more than a sentence.
package apierror

import (
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/canopyag/canopy/platform/catalog"
)

// Domain names this API in ErrorInfo.
const Domain = "canopy.v1"

// ReasonInvalidField is ErrorInfo.reason for a field that is wrong.
const ReasonInvalidField = "INVALID_FIELD"

// BadField returns InvalidArgument for field (its proto name, with a path
// like "metadata.files[2].filename" where it is nested).
func BadField(field, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	st, err := status.New(codes.InvalidArgument, field+": "+msg).WithDetails(
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: msg}}},
		&errdetails.ErrorInfo{Reason: ReasonInvalidField, Domain: Domain, Metadata: map[string]string{"field": field}},
	)
	if err != nil {
		// Only a detail that cannot be marshalled fails; these always can.
		return status.Error(codes.InvalidArgument, field+": "+msg)
	}
	return st.Err()
}

// FromField turns a *catalog.FieldError in err into BadField; ok is false
// when err holds none.
func FromField(err error) (_ error, ok bool) {
	var fe *catalog.FieldError
	if !errors.As(err, &fe) {
		return nil, false
	}
	return BadField(fe.Field, "%s", fe.Reason), true
}
