// Package client is a thin Go SDK over the generated stubs: it dials the
// services, uploads files in chunks, and follows an image's status.
package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/apierror"
)

// DefaultChunkSize balances per-message overhead against memory: 256 KiB
// keeps a stream's buffers small and is far below gRPC's 4 MiB message limit.
const DefaultChunkSize = 256 << 10

// Client talks to ingest-svc and status-svc.
type Client struct {
	Ingest canopyv1.IngestServiceClient
	Status canopyv1.StatusServiceClient
	conns  []*grpc.ClientConn
}

// Dial connects to the two services, in plaintext unless opts include
// WithTLS; WithAPIKey adds the caller's key.
func Dial(ingestAddr, statusAddr string, opts ...grpc.DialOption) (*Client, error) {
	// File names come from the file system and flags from the shell: a
	// string that is not UTF-8 fails as InvalidArgument naming its field,
	// not as an Internal marshalling error.
	opts = append(append(apierror.TextCheckDialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials())), opts...)
	ic, err := grpc.NewClient(ingestAddr, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial ingest-svc %s: %w", ingestAddr, err)
	}
	sc, err := grpc.NewClient(statusAddr, opts...)
	if err != nil {
		ic.Close()
		return nil, fmt.Errorf("dial status-svc %s: %w", statusAddr, err)
	}
	return &Client{
		Ingest: canopyv1.NewIngestServiceClient(ic),
		Status: canopyv1.NewStatusServiceClient(sc),
		conns:  []*grpc.ClientConn{ic, sc},
	}, nil
}

// Close closes the connections.
func (c *Client) Close() error {
	var errs []error
	for _, cc := range c.conns {
		errs = append(errs, cc.Close())
	}
	return errors.Join(errs...)
}

// File is one file to upload.
type File struct {
	Path string
	Role canopyv1.BandRole
}

// UploadOptions are the optional parts of an upload.
type UploadOptions struct {
	BatchID        string
	ClientUploadID string
	BandLayout     string
	// Analysis, if set, asks for these analysis settings (SAVI L, indices,
	// reflectance scale) instead of analysis-svc's defaults.
	Analysis  *canopyv1.AnalysisOptions
	ChunkSize int
	// Progress, if set, is called after every chunk with the bytes sent so far.
	Progress func(sent int64)
}

// UploadFiles uploads one image: a single photo, or every band file of one
// rig capture, in one stream.
func (c *Client) UploadFiles(ctx context.Context, files []File, opt UploadOptions) (*canopyv1.UploadImageResponse, error) {
	md := &canopyv1.UploadMetadata{
		BatchId:        opt.BatchID,
		ClientUploadId: opt.ClientUploadID,
		BandLayout:     opt.BandLayout,
		Analysis:       opt.Analysis,
	}
	readers := make([]io.Reader, len(files))
	for i, f := range files {
		fh, err := os.Open(f.Path)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", f.Path, err)
		}
		defer fh.Close()
		readers[i] = fh
		if st, err := fh.Stat(); err == nil && st.Mode().IsRegular() {
			// Said here, naming the file: an empty file sends no chunk,
			// and the server could only answer that the upload ended
			// after its metadata.
			if st.Size() == 0 {
				return nil, fmt.Errorf("%s is empty: nothing to upload", f.Path)
			}
			readers[i] = &sizedReader{r: fh, want: st.Size()}
		}
		// A name in another encoding (Latin-1 from an old card reader) is
		// sent with U+FFFD for the bytes that are not UTF-8: the name is
		// only a label, and the file still uploads.
		name := strings.ToValidUTF8(filepath.Base(f.Path), "\uFFFD")
		md.Files = append(md.Files, &canopyv1.FileSpec{Filename: name, BandRole: f.Role})
	}
	return c.Upload(ctx, md, readers, opt)
}

// Upload streams readers (one per md.Files entry, in order) as one image.
func (c *Client) Upload(ctx context.Context, md *canopyv1.UploadMetadata, readers []io.Reader, opt UploadOptions) (*canopyv1.UploadImageResponse, error) {
	if len(readers) != len(md.GetFiles()) {
		return nil, fmt.Errorf("upload: %d readers for %d declared files", len(readers), len(md.GetFiles()))
	}
	size := opt.ChunkSize
	if size <= 0 {
		size = DefaultChunkSize
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // a local read error must abort the stream, not complete it
	stream, err := c.Ingest.UploadImage(ctx)
	if err != nil {
		return nil, fmt.Errorf("start upload: %w", err)
	}
	if err := stream.Send(&canopyv1.UploadImageRequest{Payload: &canopyv1.UploadImageRequest_Metadata{Metadata: md}}); err != nil {
		return serverAnswer(stream, err)
	}
	buf := make([]byte, size)
	var sent int64
	for i, r := range readers {
		for {
			n, rerr := io.ReadFull(r, buf)
			if n > 0 {
				chunk := &canopyv1.Chunk{FileIndex: int32(i), Data: buf[:n]}
				if err := stream.Send(&canopyv1.UploadImageRequest{Payload: &canopyv1.UploadImageRequest_Chunk{Chunk: chunk}}); err != nil {
					// io.EOF from Send means the server ended the call; its
					// status (say ResourceExhausted) is what the user needs,
					// or its answer (say, the image of an earlier upload
					// with the same client upload id).
					return serverAnswer(stream, err)
				}
				sent += int64(n)
				if opt.Progress != nil {
					opt.Progress(sent)
				}
			}
			if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
				break
			}
			if rerr != nil {
				return nil, fmt.Errorf("read %s: %w", md.GetFiles()[i].GetFilename(), rerr)
			}
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	return resp, nil
}

// sizedReader reads a file that must keep the size it had when it was
// opened. One cut short or grown while it is sent was stored as whatever
// had been read and reported as uploaded; the error ends the upload
// instead (Upload aborts the stream on a read error, so nothing is
// stored).
type sizedReader struct {
	r         io.Reader
	want, got int64
}

func (s *sizedReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.got += int64(n)
	switch {
	case s.got > s.want:
		return n, fmt.Errorf("the file grew while it was uploaded (it had %d bytes when opened); nothing was stored", s.want)
	case errors.Is(err, io.EOF) && s.got < s.want:
		return n, fmt.Errorf("the file changed while it was uploaded: it ended after %d of the %d bytes it had when opened; nothing was stored", s.got, s.want)
	}
	return n, err
}

// serverAnswer is what the server said when it ended the call before the
// client finished sending: its status, or its response when it answered
// early (an upload it already has needs no more bytes).
func serverAnswer(stream grpc.ClientStreamingClient[canopyv1.UploadImageRequest, canopyv1.UploadImageResponse], sendErr error) (*canopyv1.UploadImageResponse, error) {
	if !errors.Is(sendErr, io.EOF) {
		// The client's own error (a message it refused to send): the
		// server has nothing to say.
		return nil, fmt.Errorf("upload: %w", sendErr)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	return resp, nil
}

// WatchResumeFor bounds how long Watch keeps reconnecting while status-svc
// is unavailable (a restart, a network blip) before it gives up.
var WatchResumeFor = time.Minute

// Watch calls fn with every update of an image until it reaches a terminal
// state (the stream ends) or ctx ends. When status-svc goes away mid-watch
// it reconnects and resumes after the last event it delivered, so fn sees
// each transition once, for up to WatchResumeFor.
func (c *Client) Watch(ctx context.Context, imageID string, fn func(*canopyv1.WatchImageResponse)) error {
	var last int64 // seq of the last event delivered; 0 before the first message
	var down time.Time
	backoff := 200 * time.Millisecond
	for {
		err := c.watchOnce(ctx, imageID, &last, fn)
		if err == nil || status.Code(err) != codes.Unavailable || ctx.Err() != nil {
			return err
		}
		if down.IsZero() {
			down = time.Now()
		}
		if time.Since(down) > WatchResumeFor {
			return fmt.Errorf("%w (gave up resuming after %s)", err, WatchResumeFor)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// watchOnce runs one WatchImage stream from after *last, advancing it.
func (c *Client) watchOnce(ctx context.Context, imageID string, last *int64, fn func(*canopyv1.WatchImageResponse)) error {
	stream, err := c.Status.WatchImage(ctx, &canopyv1.WatchImageRequest{ImageId: imageID, AfterSeq: *last})
	if err != nil {
		return fmt.Errorf("watch %s: %w", imageID, err)
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("watch %s: %w", imageID, err)
		}
		switch {
		case msg.GetEvent() != nil:
			*last = msg.GetEvent().GetSeq()
		case *last == 0:
			// The first message: the state as of its latest event.
			*last = msg.GetImage().GetLastEventSeq()
		}
		fn(msg)
	}
}
