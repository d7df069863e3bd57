package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// A batch watcher must get an event whose transaction took its seq before
// another one but committed after it. Reading only the batch's events after
// the last seq seen skipped such an event for good (found by the fan-out
// benchmark: a few events per thousand lost under 8 concurrent writers).
func TestWatchImagesBatchLateCommit(t *testing.T) {
	s := newStack(t, "local")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := connect(t, ctx, s)
	ids := map[string]string{}
	for _, name := range []string{"early", "late", "marker", "other"} {
		batch := "late-commit"
		if name == "other" {
			batch = "another-batch"
		}
		var id string
		if err := db.QueryRow(ctx, `INSERT INTO images (id, batch_id, filename, size_bytes, status, max_attempts, attempts)
			VALUES (gen_random_uuid(), $1, $2, 1, 'processing', 3, 1) RETURNING id::text`, batch, name+".jpg").Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[name] = id
	}
	st, err := statusClient(t, s).WatchImages(ctx, &canopyv1.WatchImagesRequest{BatchId: "late-commit"})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *canopyv1.ImageEvent, 16)
	go func() {
		for {
			m, err := st.Recv()
			if err != nil {
				close(got)
				return
			}
			got <- m.GetEvent()
		}
	}()
	insert := `INSERT INTO image_events (image_id, status, attempt, message) VALUES ($1, 'processing', 1, $2)`
	expect := func(name string) {
		t.Helper()
		for {
			select {
			case ev, ok := <-got:
				if !ok {
					t.Fatalf("stream ended waiting for %s", name)
				}
				// The readiness loop below may insert a marker more than
				// once, and a later one can arrive after the first: skip it.
				if ev.GetImageId() == ids["marker"] && name != "marker" {
					continue
				}
				if ev.GetImageId() != ids[name] {
					t.Fatalf("got event %d of %s (%q), want %s", ev.GetSeq(), ev.GetImageId(), ev.GetMessage(), name)
				}
				return
			case <-time.After(15 * time.Second):
				t.Fatalf("no event for %s within 15s", name)
			}
		}
	}
	// The stream starts after the newest event: wait until it delivers one
	// so what follows is certainly after its start.
	deadline := time.Now().Add(10 * time.Second)
	for ready := false; !ready; {
		if _, err := db.Exec(ctx, insert, ids["marker"], "marker"); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-got:
			ready = ev.GetImageId() == ids["marker"]
		case <-time.After(300 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("watch never delivered the marker")
			}
		}
	}
	for len(got) > 0 {
		<-got
	}

	// early takes seq n and holds it; an event of another batch and late
	// (seq n+1, n+2) commit first.
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other, err := pgx.Connect(ctx, s.env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	if _, err := tx.Exec(ctx, insert, ids["early"], "early"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(ctx, insert, ids["other"], "other batch"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(ctx, insert, ids["late"], "late"); err != nil {
		t.Fatal(err)
	}
	expect("late")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	expect("early")
	for {
		select {
		case ev := <-got:
			if ev.GetImageId() == ids["marker"] {
				continue
			}
			t.Fatalf("unexpected event %d of %s (%q)", ev.GetSeq(), ev.GetImageId(), ev.GetMessage())
		case <-time.After(500 * time.Millisecond):
		}
		break
	}
}

// A watcher that fell more than one read (catalog.EventPage) behind reads
// on without waiting for another notification: here 2,500 events land at
// once and only one notification comes, and the watcher gets all of them.
// (It got the first 1,000 and then waited: in the fan-out benchmark with
// 10,000 watchers the firehose streams ended up to 16,000 events short.)
func TestWatchImagesReadsOnPastAFullPage(t *testing.T) {
	// No event-log tail: the one notification below is the only wake-up.
	s := newStack(t, "local", map[string]string{"EVENT_POLL_INTERVAL": "1h"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := connect(t, ctx, s)
	var id string
	if err := db.QueryRow(ctx, `INSERT INTO images (id, filename, size_bytes, status, max_attempts, attempts)
		VALUES (gen_random_uuid(), 'many.jpg', 1, 'processing', 3, 1) RETURNING id::text`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	// The watch resumes after an event of its own rather than starting at
	// "new events only": that start is read when the call reaches
	// status-svc, which on a slow machine can be after the events below,
	// and the stream then waited for good. Either way round, the 2,500
	// events are more than a page after its start.
	var start int64
	if err := db.QueryRow(ctx, `INSERT INTO image_events (image_id, status, attempt, message)
		VALUES ($1, 'processing', 1, 'start') RETURNING seq`, id).Scan(&start); err != nil {
		t.Fatal(err)
	}
	st, err := statusClient(t, s).WatchImages(ctx, &canopyv1.WatchImagesRequest{AfterSeq: start})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 4096)
	go func() {
		for {
			if _, err := st.Recv(); err != nil {
				return
			}
			got <- struct{}{}
		}
	}()
	const n = 2500
	insertEventsNotifyOnce(t, ctx, db, id, n)
	for i := range n {
		select {
		case <-got:
		case <-ctx.Done():
			t.Fatalf("got %d of %d events", i, n)
		}
	}
}

// insertEventsNotifyOnce inserts n events of image id in one statement and
// sends one notification for them all, the last one's; it returns that
// seq.
func insertEventsNotifyOnce(t *testing.T, ctx context.Context, db *pgx.Conn, id string, n int) int64 {
	t.Helper()
	var last int64
	if err := db.QueryRow(ctx, `WITH e AS (INSERT INTO image_events (image_id, status, attempt, message)
		SELECT $1, 'processing', 1, 'event ' || g FROM generate_series(1, $2) g RETURNING seq)
		SELECT max(seq) FROM e`, id, n).Scan(&last); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `SELECT pg_notify('canopy_image_events', $1)`, fmt.Sprintf("%d %s default", last, id)); err != nil {
		t.Fatal(err)
	}
	return last
}

// connect is a plain connection to the stack's database, closed with the test.
func connect(t *testing.T, ctx context.Context, s *stack) *pgx.Conn {
	t.Helper()
	db, err := pgx.Connect(ctx, s.env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	return db
}

// statusClient is a keyless StatusService client of the stack, closed with
// the test.
func statusClient(t *testing.T, s *stack) canopyv1.StatusServiceClient {
	t.Helper()
	cc, err := grpc.NewClient(s.statusAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return canopyv1.NewStatusServiceClient(cc)
}

// A transaction that took a seq and has not committed leaves a hole; the
// events after it still reach a WatchImages stream while the hole is
// open, however many they are, and the late event comes when it commits.
// (Reads used to start below the oldest hole: with more than a page after
// it, the stream re-read the same page until the hole was given up, up
// to EVENT_GAP_WAIT, set here far beyond the test's own timeout.)
func TestWatchImagesOpenHoleDoesNotHoldUpLaterEvents(t *testing.T) {
	s := newStack(t, "local", map[string]string{"EVENT_GAP_WAIT": "1h"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := connect(t, ctx, s)
	// Two images: an event's insert locks its image's row until commit.
	var id, other string
	if err := db.QueryRow(ctx, `INSERT INTO images (id, filename, size_bytes, status, max_attempts, attempts)
		VALUES (gen_random_uuid(), 'many.jpg', 1, 'processing', 3, 1) RETURNING id::text`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `INSERT INTO images (id, filename, size_bytes, status, max_attempts, attempts)
		VALUES (gen_random_uuid(), 'hole.jpg', 1, 'processing', 3, 1) RETURNING id::text`).Scan(&other); err != nil {
		t.Fatal(err)
	}
	// One event first, so the hole below is not seq 1 (a resume point of
	// 0 would mean "new events only"). The watch resumes after it: "new
	// events only" starts where the sequence stands when the call reaches
	// status-svc, which on a slow machine can be after the events below.
	var first int64
	if err := db.QueryRow(ctx, `INSERT INTO image_events (image_id, status, attempt, message) VALUES ($1, 'processing', 1, 'first') RETURNING seq`, id).Scan(&first); err != nil {
		t.Fatal(err)
	}
	st, err := statusClient(t, s).WatchImages(ctx, &canopyv1.WatchImagesRequest{AfterSeq: first})
	if err != nil {
		t.Fatal(err)
	}
	follow := func(st grpc.ServerStreamingClient[canopyv1.WatchImagesResponse]) <-chan *canopyv1.WatchImagesResponse {
		got := make(chan *canopyv1.WatchImagesResponse, 8192)
		go func() {
			for {
				r, err := st.Recv()
				if err != nil {
					return
				}
				got <- r
			}
		}()
		return got
	}
	got := follow(st)
	// The hole: an event inserted in a transaction left open.
	late, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Rollback(context.Background())
	db2 := connect(t, ctx, s)
	var hole int64
	if err := late.QueryRow(ctx, `INSERT INTO image_events (image_id, status, attempt, message)
		VALUES ($1, 'processing', 1, 'late') RETURNING seq`, other).Scan(&hole); err != nil {
		t.Fatal(err)
	}
	const n = 2500
	last := insertEventsNotifyOnce(t, ctx, db2, id, n)
	// Every message says to resume below the hole while it is open.
	var resume int64
	for i := range n {
		select {
		case r := <-got:
			if r.GetEvent().GetSeq() == hole {
				t.Fatalf("the uncommitted event %d was delivered", hole)
			}
			if resume = r.GetResumeAfterSeq(); resume >= hole {
				t.Fatalf("event %d says to resume after %d, past the open hole %d", r.GetEvent().GetSeq(), resume, hole)
			}
		case <-ctx.Done():
			t.Fatalf("with a hole open at seq %d, got %d of the %d events after it", hole, i, n)
		}
	}
	// A watcher that reconnects now, from where it was told to resume,
	// gets the events again (it drops them by seq) and the late one too.
	st2, err := statusClient(t, s).WatchImages(ctx, &canopyv1.WatchImagesRequest{AfterSeq: resume})
	if err != nil {
		t.Fatal(err)
	}
	resumed := follow(st2)
	for i := range n {
		select {
		case <-resumed:
		case <-ctx.Done():
			t.Fatalf("the resumed stream got %d of the %d events", i, n)
		}
	}
	if err := late.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db2.Exec(ctx, `SELECT pg_notify('canopy_image_events', $1)`, fmt.Sprintf("%d %s default", hole, other)); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]<-chan *canopyv1.WatchImagesResponse{"first stream": got, "resumed stream": resumed} {
		select {
		case r := <-c:
			if ev := r.GetEvent(); ev.GetSeq() != hole || ev.GetMessage() != "late" {
				t.Errorf("%s: after the commit got event %d %q, want %d \"late\"", name, ev.GetSeq(), ev.GetMessage(), hole)
			}
			if r.GetResumeAfterSeq() < last {
				t.Errorf("%s: with no hole left, resume after %d, want %d", name, r.GetResumeAfterSeq(), last)
			}
		case <-ctx.Done():
			t.Fatalf("%s: the late event %d never came", name, hole)
		}
	}
}
