package main

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// cancellingIngest cancels image "a" and refuses any other, the way
// ingest-svc refuses a finished image.
type cancellingIngest struct {
	canopyv1.UnimplementedIngestServiceServer
	reasons []string
}

func (f *cancellingIngest) CancelImage(_ context.Context, req *canopyv1.CancelImageRequest) (*canopyv1.Image, error) {
	f.reasons = append(f.reasons, req.GetReason())
	if req.GetImageId() != "a" {
		return nil, status.Error(codes.FailedPrecondition, "wrong state: the image is already completed")
	}
	return &canopyv1.Image{Id: "a", Status: canopyv1.ImageStatus_IMAGE_STATUS_FAILED}, nil
}

// One refused id does not stop the others; each line says what happened,
// and the exit status says something was refused.
func TestCancelReportsEachImage(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	fake := &cancellingIngest{}
	canopyv1.RegisterIngestServiceServer(srv, fake)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	addr := lis.Addr().String()
	code := run(ctx, []string{"--ingest", addr, "--status", addr, "cancel", "--reason", "wrong field", "b", "a"}, func(string) string { return "" }, &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if got := stdout.String(); got != "a\tfailed\n" {
		t.Errorf("stdout %q, want %q", got, "a\tfailed\n")
	}
	if want := "canopy: b: FailedPrecondition: wrong state: the image is already completed\n"; stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
	if len(fake.reasons) != 2 || fake.reasons[0] != "wrong field" {
		t.Errorf("server got reasons %q, want the flag's reason on both calls", fake.reasons)
	}
}
