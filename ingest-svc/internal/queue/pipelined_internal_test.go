package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/canopyag/canopy/platform/catalog"
	"github.com/canopyag/canopy/platform/database/dbtest"
)

// A claim whose caller goes away after the images are leased, but before
// the answer reaches it, is rolled back: its images stay queued with their
// attempts unspent, instead of sitting leased under tokens no one holds.
func TestClaimOfAGoneCallerIsRolledBack(t *testing.T) {
	pool := dbtest.NewPool(t)
	q := New(pool, Config{}, nil)
	bg := context.Background()
	id := uuid.NewString()
	if _, err := pool.Exec(bg, `INSERT INTO images (id, filename, size_bytes, status, max_attempts)
		VALUES ($1, 'a.jpg', 10, 'uploaded', 3)`, id); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	q.afterRead = cancel // the leased image has been read back: the caller leaves
	got, err := q.Claim(ctx, catalog.AllProjects, "w1", 1, time.Minute)
	if !errors.Is(err, context.Canceled) || len(got) != 0 {
		t.Fatalf("claim: %v, %d images; want context.Canceled and none", err, len(got))
	}
	var status string
	var attempts int
	var token *string
	if err := pool.QueryRow(bg, `SELECT status, attempts, lease_token::text FROM images WHERE id = $1`, id).Scan(&status, &attempts, &token); err != nil {
		t.Fatal(err)
	}
	if status != "uploaded" || attempts != 0 || token != nil {
		t.Errorf("after the abandoned claim: %s, %d attempts, token %v; want uploaded, 0, none", status, attempts, token)
	}
	var events int
	if err := pool.QueryRow(bg, `SELECT count(*) FROM image_events WHERE image_id = $1`, id).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != 0 {
		t.Errorf("%d events recorded for the abandoned claim", events)
	}
	// The connection went back to the pool usable, and the image is
	// claimable at once.
	q.afterRead = nil
	if again, err := q.Claim(bg, catalog.AllProjects, "w2", 1, time.Minute); err != nil || len(again) != 1 || again[0].Image.GetId() != id {
		t.Fatalf("claim again: %v, %d images", err, len(again))
	}
}
