package e2e

import (
	"context"
	"path/filepath"
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
