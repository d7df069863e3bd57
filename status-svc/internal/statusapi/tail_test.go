package statusapi

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/canopyag/canopy/platform/database/dbtest"
)

type deliveries struct {
	mu  sync.Mutex
	got []string
}

func (d *deliveries) Deliver(channel, payload string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, channel+" "+payload)
}

func (d *deliveries) take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.got
	d.got = nil
	return out
}

// The tail delivers, in seq order, exactly the events that were not
// notified: not those before it started, not those the listener saw, and
// a seq whose transaction commits after a higher one once it commits.
func TestEventTail(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	// Two images: the late transaction holds its image's row (the event
	// trigger updates it), so the others' events are of another image.
	var id, lateID string
	if err := pool.QueryRow(ctx, `INSERT INTO images (id, filename, size_bytes, status, max_attempts)
		VALUES (gen_random_uuid(), 'a.jpg', 1, 'uploaded', 3) RETURNING id::text`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `INSERT INTO images (id, filename, size_bytes, status, max_attempts)
		VALUES (gen_random_uuid(), 'b.jpg', 1, 'uploaded', 3) RETURNING id::text`).Scan(&lateID); err != nil {
		t.Fatal(err)
	}
	add := func(p *pgxpool.Pool) int64 {
		var seq int64
		if err := p.QueryRow(ctx, `INSERT INTO image_events (image_id, status, attempt, message) VALUES ($1, 'uploaded', 0, 'x') RETURNING seq`, id).Scan(&seq); err != nil {
			t.Fatal(err)
		}
		return seq
	}
	before := add(pool)

	d := &deliveries{}
	tail := NewEventTail(pool, d, time.Hour, 0, true, slog.New(slog.DiscardHandler))
	tail.grace = 0                         // deliver what is not notified at the next read
	if err := tail.poll(ctx); err != nil { // starts after `before`
		t.Fatal(err)
	}
	notified := add(pool)
	tail.Keys(fmt.Sprintf("%d %s default", notified, id)) // the listener saw it
	lost := add(pool)

	// A transaction takes the next seq and commits only later.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var late int64
	if err := tx.QueryRow(ctx, `INSERT INTO image_events (image_id, status, attempt, message) VALUES ($1, 'processing', 1, 'late') RETURNING seq`, lateID).Scan(&late); err != nil {
		t.Fatal(err)
	}
	after := add(pool)

	if err := tail.poll(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{
		fmt.Sprintf("canopy_image_events %d %s default", lost, id),
		fmt.Sprintf("canopy_image_events %d %s default", after, id),
	}
	if got := d.take(); !slices.Equal(got, want) {
		t.Errorf("first read delivered %q, want %q (not %d from before the start, not %d which was notified)", got, want, before, notified)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tail.poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := d.take(), []string{fmt.Sprintf("canopy_image_events %d %s default", late, lateID)}; !slices.Equal(got, want) {
		t.Errorf("after the late commit: delivered %q, want %q", got, want)
	}
	if err := tail.poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := d.take(); len(got) != 0 {
		t.Errorf("a read with nothing new delivered %q", got)
	}
	if tail.Healed() != 3 {
		t.Errorf("healed %d, want 3", tail.Healed())
	}
	tail.mu.Lock()
	low, seen := tail.low, len(tail.seen)
	tail.mu.Unlock()
	if low != after || seen != 0 {
		t.Errorf("low %d with %d seen above it, want %d and 0", low, seen, after)
	}
}
