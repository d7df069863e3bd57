package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/canopyag/canopy/cli/client"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// collectWatch watches id (from afterSeq when it is not 0) until the stream
// ends, returning every event.
func collectWatch(ctx context.Context, s *stack, id string, afterSeq int64, started chan<- struct{}) ([]*canopyv1.ImageEvent, error) {
	stream, err := s.client.Status.WatchImage(ctx, &canopyv1.WatchImageRequest{ImageId: id, AfterSeq: afterSeq})
	if err != nil {
		return nil, err
	}
	var events []*canopyv1.ImageEvent
	for first := true; ; first = false {
		msg, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return events, nil
			}
			return events, err
		}
		if first && started != nil {
			close(started)
		}
		if msg.GetEvent() != nil {
			events = append(events, msg.GetEvent())
		}
	}
}

// An operator cancels a queued image, then changes their mind: both steps
// are in the event log, every watcher sees them, and the retried image is
// analysed as usual.
func TestCancelThenRetry(t *testing.T) {
	s := newStack(t, "local")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	resp, err := s.client.UploadFiles(ctx, []client.File{{Path: filepath.Join(sharedData(t), "odm-tests-dji", "DJI_0061.JPG")}}, client.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetImageId()

	type result struct {
		events []*canopyv1.ImageEvent
		err    error
	}
	watched := make(chan result, 1)
	started := make(chan struct{})
	go func() {
		ev, err := collectWatch(ctx, s, id, 0, started)
		watched <- result{ev, err}
	}()
	<-started

	img, err := s.client.Ingest.CancelImage(ctx, &canopyv1.CancelImageRequest{ImageId: id, Reason: "wrong field"})
	if err != nil {
		t.Fatal(err)
	}
	if img.GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_FAILED || img.GetLastError() != "cancelled: wrong field" {
		t.Fatalf("cancel returned status %v, last_error %q", img.GetStatus(), img.GetLastError())
	}
	// The watcher sees the cancellation as the terminal event, and its stream ends.
	w := <-watched
	if w.err != nil || len(w.events) != 1 || w.events[0].GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_FAILED ||
		w.events[0].GetMessage() != "cancelled: wrong field" {
		t.Fatalf("watcher saw %v (err %v), want one FAILED event 'cancelled: wrong field'", w.events, w.err)
	}
	cancelSeq := w.events[0].GetSeq()

	// What cannot be done is refused with the code that says why.
	for _, c := range []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"cancel a failed image", func() error {
			_, err := s.client.Ingest.CancelImage(ctx, &canopyv1.CancelImageRequest{ImageId: id})
			return err
		}, codes.FailedPrecondition},
		{"retry an unknown image", func() error {
			_, err := s.client.Ingest.RetryImage(ctx, &canopyv1.RetryImageRequest{ImageId: "4b1d6f0e-0000-4000-8000-000000000000"})
			return err
		}, codes.NotFound},
		{"retry a malformed id", func() error {
			_, err := s.client.Ingest.RetryImage(ctx, &canopyv1.RetryImageRequest{ImageId: "../etc"})
			return err
		}, codes.InvalidArgument},
	} {
		if got := status.Code(c.call()); got != c.want {
			t.Errorf("%s: code %v, want %v", c.name, got, c.want)
		}
	}

	// Resume watching after the cancellation, retry, then let it be analysed.
	watched = make(chan result, 1)
	go func() {
		ev, err := collectWatch(ctx, s, id, cancelSeq, nil)
		watched <- result{ev, err}
	}()
	img, err = s.client.Ingest.RetryImage(ctx, &canopyv1.RetryImageRequest{ImageId: id})
	if err != nil {
		t.Fatal(err)
	}
	if img.GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_UPLOADED || img.GetAttempts() != 0 {
		t.Fatalf("retry returned status %v attempts %d, want UPLOADED 0", img.GetStatus(), img.GetAttempts())
	}
	s.startAnalysis()
	w = <-watched
	var got []canopyv1.ImageStatus
	for _, e := range w.events {
		got = append(got, e.GetStatus())
	}
	want := []canopyv1.ImageStatus{canopyv1.ImageStatus_IMAGE_STATUS_UPLOADED, canopyv1.ImageStatus_IMAGE_STATUS_PROCESSING, canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED}
	if w.err != nil || len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("after retry the watcher saw %v (err %v), want %v", got, w.err, want)
	}
	db, err := pgx.Connect(ctx, s.env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM analyses WHERE image_id = $1`, id).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d analyses (err %v), want 1", n, err)
	}

	// Over REST, retrying a completed image is a 400 with the reason.
	r, err := http.Post("http://"+s.ingestHTTP+"/v1/images/"+id+":retry", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusBadRequest {
		t.Errorf("REST retry of a completed image: HTTP %d, want 400", r.StatusCode)
	}
}
