package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// refusingIngest reads the metadata and one chunk of each upload, then
// refuses it with err, as ingest-svc does with an upload over its size limit.
type refusingIngest struct {
	canopyv1.UnimplementedIngestServiceServer
	err error
}

func (f *refusingIngest) UploadImage(stream grpc.ClientStreamingServer[canopyv1.UploadImageRequest, canopyv1.UploadImageResponse]) error {
	for range 2 {
		if _, err := stream.Recv(); errors.Is(err, io.EOF) {
			return errors.New("test needs a file bigger than one chunk")
		} else if err != nil {
			return err
		}
	}
	return f.err
}

// TestUploadPrintsServerStatus: `canopy upload` prints the server's status
// code and message for a refused file (not the io.EOF its stream's Send
// sees) and exits 1.
func TestUploadPrintsServerStatus(t *testing.T) {
	const msg = "upload is over the 1048576-byte limit"
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	canopyv1.RegisterIngestServiceServer(srv, &refusingIngest{err: status.Error(codes.ResourceExhausted, msg)})
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	// 16 MiB: far more than the stream's flow-control windows, so the
	// client is still sending when the server refuses.
	path := filepath.Join(t.TempDir(), "flight.jpg")
	if err := os.WriteFile(path, bytes.Repeat([]byte{0xFF, 0xD8, 0xFF, 0xE0}, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	addr := lis.Addr().String()
	code := run(ctx, []string{"--ingest", addr, "--status", addr, "upload", path}, func(string) string { return "" }, &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	want := "flight.jpg: upload: ResourceExhausted: " + msg
	if !strings.Contains(stderr.String(), want) || strings.Contains(stderr.String(), "EOF") {
		t.Errorf("stderr %q; want it to contain %q and no EOF", stderr.String(), want)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout %q; nothing was uploaded", stdout.String())
	}
}
