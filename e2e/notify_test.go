package e2e

import (
	"context"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/canopyag/canopy/cli/client"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// The LISTEN connections of both services are killed over and over while an
// image goes uploaded -> processing -> completed. Notifications sent while a
// connection is down are lost for good, so the watcher only ends correctly
// if the services heal the gap themselves when they reconnect.
func TestWatchHealsKilledListener(t *testing.T) {
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

	admin, err := pgx.Connect(ctx, s.env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var kills atomic.Int64
	stopKilling := make(chan struct{})
	killerDone := make(chan struct{})
	go func() {
		defer close(killerDone)
		for {
			var n int64
			// A listener's last statement is its LISTEN.
			err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'listen%'`).Scan(&n)
			if err != nil {
				return
			}
			kills.Add(n)
			select {
			case <-stopKilling:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	// Wait until at least one listener has been killed before any transition.
	for kills.Load() == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("no LISTEN connection found to kill")
		case <-time.After(10 * time.Millisecond):
		}
	}
	s.startAnalysis()

	var w result
	select {
	case w = <-watched:
	case <-ctx.Done():
		t.Fatal("the watcher never saw the image finish")
	}
	close(stopKilling)
	<-killerDone
	var got []canopyv1.ImageStatus
	for _, e := range w.events {
		got = append(got, e.GetStatus())
	}
	t.Logf("killed %d LISTEN connections; watcher saw %v", kills.Load(), got)
	if w.err != nil || len(got) == 0 || got[len(got)-1] != canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED {
		t.Fatalf("watcher saw %v (err %v), want it to end with COMPLETED", got, w.err)
	}
	// A single image's watcher reads the event log, so it sees every step
	// even though the notifications for some were lost.
	if len(got) != 2 || got[0] != canopyv1.ImageStatus_IMAGE_STATUS_PROCESSING {
		t.Errorf("watcher saw %v, want [PROCESSING COMPLETED]", got)
	}
}

// Behind a transaction pooler no session can LISTEN. With DATABASE_LISTEN
// off the services hold no LISTEN connection at all, and an image still
// goes uploaded -> processing -> completed for its watcher: claims poll
// every CLAIM_POLL_INTERVAL and status-svc reads the event log every
// EVENT_POLL_INTERVAL.
func TestPipelineWithoutListen(t *testing.T) {
	s := newStack(t, "local", map[string]string{
		"DATABASE_LISTEN":     "false",
		"CLAIM_POLL_INTERVAL": "100ms",
		"EVENT_POLL_INTERVAL": "100ms",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, watched := uploadAndWatch(t, ctx, s)
	s.startAnalysis()
	evs := <-watched
	var got []canopyv1.ImageStatus
	for _, e := range evs {
		got = append(got, e.GetStatus())
	}
	// The watch starts with the image as it is (uploaded), then the changes.
	want := []canopyv1.ImageStatus{canopyv1.ImageStatus_IMAGE_STATUS_PROCESSING, canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED}
	if !slices.Equal(got, want) {
		t.Fatalf("watcher saw %v, want %v", got, want)
	}
	db := openPool(t, s.env["DATABASE_URL"])
	var listens int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND query ILIKE 'listen%'`).Scan(&listens); err != nil {
		t.Fatal(err)
	}
	if listens != 0 {
		t.Errorf("%d LISTEN connections with DATABASE_LISTEN=false", listens)
	}
}

// A writer that dies between its commit and its NOTIFY loses the
// notification, not the event. Here the "writer" is a plain SQL session
// that fails a queued image the way the queue does and never notifies;
// the watcher, woken by nothing, still gets the failure from status-svc's
// read of the event log.
func TestWatchHealsLostNotification(t *testing.T) {
	s := newStack(t, "local", map[string]string{"EVENT_POLL_INTERVAL": "200ms"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, watched := uploadAndWatch(t, ctx, s)
	db := openPool(t, s.env["DATABASE_URL"])
	if _, err := db.Exec(ctx, `UPDATE images SET status = 'failed', last_error = 'failed by a writer that died', processed_at = now() WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO image_events (image_id, status, attempt, message) VALUES ($1, 'failed', 0, 'failed by a writer that died')`, id); err != nil {
		t.Fatal(err)
	}
	evs := <-watched
	if n := len(evs); n != 1 || evs[0].GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_FAILED || evs[0].GetMessage() != "failed by a writer that died" {
		t.Fatalf("watcher saw %v, want the unannounced failure", evs)
	}
}

// uploadAndWatch uploads a small photo and watches it from a goroutine; it
// returns once the watch is open. The channel gets the events the watch saw
// when it ends.
func uploadAndWatch(t *testing.T, ctx context.Context, s *stack) (string, <-chan []*canopyv1.ImageEvent) {
	t.Helper()
	resp, err := s.client.UploadFiles(ctx, []client.File{{Path: filepath.Join(sharedData(t), "webodm-fixtures", "tiny_drone_image.jpg")}}, client.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetImageId()
	watched := make(chan []*canopyv1.ImageEvent, 1)
	started := make(chan struct{})
	go func() {
		ev, err := collectWatch(ctx, s, id, 0, started)
		if err != nil {
			t.Errorf("watch: %v", err)
		}
		watched <- ev
	}()
	<-started
	return id, watched
}
