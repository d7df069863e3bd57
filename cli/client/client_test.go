package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/canopyag/canopy/cli/client"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// fakeIngest ends every upload after it has read `after` messages (the
// metadata counts as one) with err, or with resp when err is nil; after < 0
// reads the whole stream first.
type fakeIngest struct {
	canopyv1.UnimplementedIngestServiceServer
	after int
	err   error
	resp  *canopyv1.UploadImageResponse
	got   chan int64 // bytes of chunk data read, per upload
}

func (f *fakeIngest) UploadImage(stream grpc.ClientStreamingServer[canopyv1.UploadImageRequest, canopyv1.UploadImageResponse]) error {
	var n int64
	defer func() { f.got <- n }()
	for i := 0; f.after < 0 || i < f.after; i++ {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		n += int64(len(msg.GetChunk().GetData()))
	}
	if f.err != nil {
		return f.err
	}
	return stream.SendAndClose(f.resp)
}

func serve(t *testing.T, f *fakeIngest) *client.Client {
	t.Helper()
	f.got = make(chan int64, 1)
	return serveFake(t, func(srv *grpc.Server) { canopyv1.RegisterIngestServiceServer(srv, f) })
}

// serveFake serves what register adds on a loopback port and dials it as
// both ingest-svc and status-svc.
func serveFake(t *testing.T, register func(*grpc.Server)) *client.Client {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	register(srv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	c, err := client.Dial(lis.Addr().String(), lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// 32 MiB in 64 KiB chunks is far more than gRPC's flow-control windows
// hold, so a server that stops reading early makes Send fail with io.EOF
// while the client still has most of the file to send.
const bigFile = 32 << 20

func upload(t *testing.T, c *client.Client, size int) (*canopyv1.UploadImageResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	md := &canopyv1.UploadMetadata{Files: []*canopyv1.FileSpec{{Filename: "a.jpg"}}}
	body := bytes.Repeat([]byte{0xFF, 0xD8, 0xFF, 0xE0}, size/4)
	return c.Upload(ctx, md, []io.Reader{bytes.NewReader(body)}, client.UploadOptions{ChunkSize: 64 << 10})
}

// A server that refuses mid-stream: the caller gets its status code and
// message, not the io.EOF that Send returns.
func TestUploadReportsServerStatusMidStream(t *testing.T) {
	f := &fakeIngest{after: 2, err: status.Error(codes.ResourceExhausted, "upload is over the 65536-byte limit")}
	c := serve(t, f)
	_, err := upload(t, c, bigFile)
	if got := <-f.got; got >= bigFile {
		t.Fatalf("the fake server read all %d bytes; the test needs it to stop early", got)
	}
	if errors.Is(err, io.EOF) || status.Code(err) != codes.ResourceExhausted ||
		!strings.Contains(err.Error(), "upload is over the 65536-byte limit") {
		t.Errorf("got %v, want the server's ResourceExhausted and its message", err)
	}
}

// A server that refuses at the metadata, before any chunk.
func TestUploadReportsServerStatusAtMetadata(t *testing.T) {
	f := &fakeIngest{after: 1, err: status.Error(codes.InvalidArgument, "metadata.files is empty")}
	c := serve(t, f)
	_, err := upload(t, c, bigFile)
	<-f.got
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "metadata.files is empty") {
		t.Errorf("got %v, want the server's InvalidArgument and its message", err)
	}
}

// A server that refuses after reading everything: the error comes from
// CloseAndRecv.
func TestUploadReportsServerStatusAtEnd(t *testing.T) {
	f := &fakeIngest{after: -1, err: status.Error(codes.InvalidArgument, "file 0 (a.jpg) is not a JPEG, TIFF or PNG image")}
	c := serve(t, f)
	_, err := upload(t, c, 1<<20)
	if got := <-f.got; got != 1<<20 {
		t.Errorf("server read %d bytes, want %d", got, 1<<20)
	}
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "not a JPEG, TIFF or PNG") {
		t.Errorf("got %v, want the server's InvalidArgument and its message", err)
	}
}

// A server that answers before reading the file (an upload it already has,
// by client upload id): the answer is the result, not an error.
func TestUploadAcceptsEarlyAnswer(t *testing.T) {
	want := &canopyv1.UploadImageResponse{ImageId: "0190f5f0-0000-7000-8000-000000000001", Duplicate: true}
	f := &fakeIngest{after: 1, resp: want}
	c := serve(t, f)
	resp, err := upload(t, c, bigFile)
	if got := <-f.got; got != 0 {
		t.Fatalf("the fake server read %d bytes of chunks; the test needs it to answer at the metadata", got)
	}
	if err != nil {
		t.Fatalf("early answer reported as %v", err)
	}
	if resp.GetImageId() != want.GetImageId() || !resp.GetDuplicate() {
		t.Errorf("got %+v, want %+v", resp, want)
	}
}

// fakeStatus plays a status-svc that restarts mid-watch: the first stream
// sends the current state then fails with Unavailable; later streams send
// what followed the requested seq.
type fakeStatus struct {
	canopyv1.UnimplementedStatusServiceServer
	mu     sync.Mutex
	after  []int64 // after_seq of each WatchImage call
	downTo int     // calls that fail before sending anything (after the first)
}

func (f *fakeStatus) WatchImage(req *canopyv1.WatchImageRequest, st grpc.ServerStreamingServer[canopyv1.WatchImageResponse]) error {
	f.mu.Lock()
	f.after = append(f.after, req.GetAfterSeq())
	n := len(f.after)
	f.mu.Unlock()
	uploaded := canopyv1.ImageStatus_IMAGE_STATUS_UPLOADED
	switch {
	case n == 1:
		if err := st.Send(&canopyv1.WatchImageResponse{Image: &canopyv1.Image{Id: req.GetImageId(), Status: uploaded, LastEventSeq: 5}}); err != nil {
			return err
		}
		return status.Error(codes.Unavailable, "status-svc is shutting down; watch again with after_seq to resume")
	case n <= 1+f.downTo:
		return status.Error(codes.Unavailable, "connection refused")
	}
	for _, ev := range []*canopyv1.ImageEvent{
		{Seq: 9, Status: canopyv1.ImageStatus_IMAGE_STATUS_PROCESSING},
		{Seq: 12, Status: canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED},
	} {
		if ev.GetSeq() <= req.GetAfterSeq() {
			continue
		}
		if err := st.Send(&canopyv1.WatchImageResponse{Event: ev, Image: &canopyv1.Image{Status: ev.GetStatus(), LastEventSeq: ev.GetSeq()}}); err != nil {
			return err
		}
	}
	return nil
}

func serveStatus(t *testing.T, f *fakeStatus) *client.Client {
	t.Helper()
	return serveFake(t, func(srv *grpc.Server) { canopyv1.RegisterStatusServiceServer(srv, f) })
}

// A watch that loses status-svc resumes after the last event it saw:
// every transition arrives once, in order.
func TestWatchResumesAfterUnavailable(t *testing.T) {
	f := &fakeStatus{downTo: 2}
	c := serveStatus(t, f)
	var got []string
	err := c.Watch(context.Background(), "img", func(m *canopyv1.WatchImageResponse) {
		got = append(got, m.GetImage().GetStatus().String())
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "IMAGE_STATUS_UPLOADED IMAGE_STATUS_PROCESSING IMAGE_STATUS_COMPLETED"; strings.Join(got, " ") != want {
		t.Errorf("saw %v, want %s", got, want)
	}
	// First call from the start, then from seq 5 (the state's latest event) until it is back.
	if fmt.Sprint(f.after) != "[0 5 5 5]" {
		t.Errorf("after_seq of the calls: %v, want [0 5 5 5]", f.after)
	}
}

// It gives up once status-svc has been away longer than WatchResumeFor.
func TestWatchGivesUp(t *testing.T) {
	defer func(d time.Duration) { client.WatchResumeFor = d }(client.WatchResumeFor)
	client.WatchResumeFor = 500 * time.Millisecond
	f := &fakeStatus{downTo: 1000}
	c := serveStatus(t, f)
	err := c.Watch(context.Background(), "img", func(*canopyv1.WatchImageResponse) {})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "gave up resuming") {
		t.Errorf("err %v, want Unavailable after giving up", err)
	}
}

// recordingIngest answers every upload, keeping the metadata it was sent.
type recordingIngest struct {
	canopyv1.UnimplementedIngestServiceServer
	md chan *canopyv1.UploadMetadata
	// end, if set, receives the error that ended the stream: io.EOF when
	// the client finished it, otherwise it was aborted.
	end chan error
}

func (r *recordingIngest) UploadImage(stream grpc.ClientStreamingServer[canopyv1.UploadImageRequest, canopyv1.UploadImageResponse]) error {
	msg, err := stream.Recv()
	if err != nil {
		return err
	}
	r.md <- msg.GetMetadata()
	for {
		if _, err := stream.Recv(); err != nil {
			if r.end != nil {
				r.end <- err
			}
			break
		}
	}
	return stream.SendAndClose(&canopyv1.UploadImageResponse{ImageId: "x"})
}

// A file whose name is in another encoding (Latin-1, from an old card
// reader) uploads, its name sent with U+FFFD for the byte that is not
// UTF-8; a batch id that is not UTF-8 is refused before anything is sent,
// naming its field, where it failed as an Internal marshalling error.
func TestUploadFilesWithTextThatIsNotUTF8(t *testing.T) {
	rec := &recordingIngest{md: make(chan *canopyv1.UploadMetadata, 2)}
	c := serveFake(t, func(srv *grpc.Server) { canopyv1.RegisterIngestServiceServer(srv, rec) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := filepath.Join(t.TempDir(), "lat\xe9n.jpg")
	if err := os.WriteFile(p, []byte{0xFF, 0xD8, 0xFF, 0xE0}, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadFiles(ctx, []client.File{{Path: p}}, client.UploadOptions{}); err != nil {
		t.Fatalf("a Latin-1 file name: %v", err)
	}
	if got := (<-rec.md).GetFiles()[0].GetFilename(); got != "lat\uFFFDn.jpg" {
		t.Errorf("file name sent as %q, want %q", got, "lat\uFFFDn.jpg")
	}
	_, err := c.UploadFiles(ctx, []client.File{{Path: p}}, client.UploadOptions{BatchID: "b\xff"})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "metadata.batch_id") {
		t.Errorf("a batch id that is not UTF-8: %v, want InvalidArgument naming metadata.batch_id", err)
	}
	if len(rec.md) != 0 {
		t.Error("the refused upload reached the server")
	}
}

// An empty file is refused before anything is sent, naming the file (the
// server could only say the upload ended after its metadata).
func TestUploadFilesRefusesAnEmptyFile(t *testing.T) {
	rec := &recordingIngest{md: make(chan *canopyv1.UploadMetadata, 2)}
	c := serveFake(t, func(srv *grpc.Server) { canopyv1.RegisterIngestServiceServer(srv, rec) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	band := filepath.Join(dir, "IMG_0001_1.tif")
	empty := filepath.Join(dir, "IMG_0001_2.tif")
	if err := os.WriteFile(band, []byte("II*\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := c.UploadFiles(ctx, []client.File{{Path: band}, {Path: empty}}, client.UploadOptions{})
	if err == nil || !strings.Contains(err.Error(), empty+" is empty") {
		t.Fatalf("upload with an empty band file: %v, want it named as empty", err)
	}
	if len(rec.md) != 0 {
		t.Error("the refused upload reached the server")
	}
}

// A file cut short while it is sent fails the upload, saying so, and the
// stream is aborted rather than finished: it was reported as uploaded with
// the bytes read so far (found by a fresh-user test truncating a 300 MiB
// file mid-upload).
func TestUploadFilesFailsWhenTheFileChangesMidUpload(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(path string) error
		want   string
	}{
		{"cut short", func(p string) error { return os.Truncate(p, 5000) }, "ended after 5000 of the 20000 bytes"},
		{"grown", func(p string) error {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			_, err = f.Write(make([]byte, 3000))
			return errors.Join(err, f.Close())
		}, "grew while it was uploaded (it had 20000 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := &recordingIngest{md: make(chan *canopyv1.UploadMetadata, 1), end: make(chan error, 1)}
			cl := serveFake(t, func(srv *grpc.Server) { canopyv1.RegisterIngestServiceServer(srv, rec) })
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			p := filepath.Join(t.TempDir(), "field.jpg")
			if err := os.WriteFile(p, append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, make([]byte, 19996)...), 0o600); err != nil {
				t.Fatal(err)
			}
			changed := false
			_, err := cl.UploadFiles(ctx, []client.File{{Path: p}}, client.UploadOptions{ChunkSize: 1000, Progress: func(int64) {
				if !changed { // after the first chunk is sent
					changed = true
					// The server's handler has the stream (else an abort
					// could end it before the handler ran, and rec.end
					// would never hear of it).
					<-rec.md
					if err := c.change(p); err != nil {
						t.Error(err)
					}
				}
			}})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("upload of a file %s mid-upload: %v, want an error with %q", c.name, err, c.want)
			}
			if end := <-rec.end; errors.Is(end, io.EOF) {
				t.Error("the client finished the stream; it should have aborted it")
			}
		})
	}
}
