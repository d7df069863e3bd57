package queue_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/ingest-svc/internal/queue"
	"github.com/canopyag/canopy/platform/catalog"
	"github.com/canopyag/canopy/platform/database/dbtest"
	"github.com/canopyag/canopy/platform/notify"
)

func TestRetryFailedImage(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	q := queue.New(pool, queue.Config{}, nil)
	id := addImage(t, pool, 2)

	// Not failed yet: nothing to retry, and nothing changes.
	if _, err := q.Retry(ctx, catalog.AllProjects, id); !errors.Is(err, queue.ErrWrongState) {
		t.Fatalf("retry of an uploaded image: %v, want ErrWrongState", err)
	}
	c, err := q.Claim(ctx, catalog.AllProjects, "w1", 1, time.Minute)
	if err != nil || len(c) != 1 {
		t.Fatalf("claim: %v %d", err, len(c))
	}
	if _, err := q.Fail(ctx, id, c[0].Token, "decode: truncated", false); err != nil {
		t.Fatal(err)
	}

	img, err := q.Retry(ctx, catalog.AllProjects, id)
	if err != nil {
		t.Fatal(err)
	}
	if img.GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_UPLOADED || img.GetAttempts() != 0 || img.GetLastError() != "" {
		t.Errorf("after retry: status %v attempts %d last_error %q; want uploaded, 0, empty", img.GetStatus(), img.GetAttempts(), img.GetLastError())
	}
	// The event log tells watchers what happened and why it had failed.
	var msg string
	if err := pool.QueryRow(ctx, `SELECT message FROM image_events WHERE image_id = $1 AND status = 'uploaded' ORDER BY seq DESC LIMIT 1`, id).Scan(&msg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "re-queued") || !strings.Contains(msg, "decode: truncated") {
		t.Errorf("retry event message %q", msg)
	}
	// It is claimable again at once, as attempt 1 of a fresh budget.
	again, err := q.Claim(ctx, catalog.AllProjects, "w2", 1, time.Minute)
	if err != nil || len(again) != 1 || again[0].Image.GetAttempts() != 1 {
		t.Fatalf("claim after retry: %v %+v", err, again)
	}
	if _, err := q.Retry(ctx, catalog.AllProjects, "00000000-0000-0000-0000-000000000000"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("retry of a missing image: %v, want ErrNotFound", err)
	}
}

func TestCancelFencesTheWorker(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	q := queue.New(pool, queue.Config{}, nil)
	queued := addImage(t, pool, 3)
	working := addImage(t, pool, 3)
	if _, err := pool.Exec(ctx, `UPDATE images SET uploaded_at = uploaded_at + interval '1 second' WHERE id = $1`, queued); err != nil {
		t.Fatal(err)
	}
	c, err := q.Claim(ctx, catalog.AllProjects, "w1", 1, time.Minute)
	if err != nil || len(c) != 1 || c[0].Image.GetId() != working {
		t.Fatalf("claim: %v %+v", err, c)
	}

	for _, id := range []string{queued, working} {
		img, err := q.Cancel(ctx, catalog.AllProjects, id, "wrong field")
		if err != nil {
			t.Fatal(err)
		}
		if img.GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_FAILED || img.GetLastError() != "cancelled: wrong field" {
			t.Errorf("cancelled %s: status %v last_error %q", id, img.GetStatus(), img.GetLastError())
		}
	}
	// The worker still analysing learns at its next heartbeat or report,
	// and no analysis lands after the cancellation.
	if err := q.Renew(ctx, working, c[0].Token, time.Minute); !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("renew after cancel: %v, want ErrLeaseLost", err)
	}
	a := &canopyv1.Analysis{AlgorithmVersion: "test", CalibrationMode: "uncalibrated_dn", Width: 1, Height: 1}
	_, err = q.Complete(ctx, catalog.AllProjects, working, c[0].Token, a)
	if !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("complete after cancel: %v, want ErrLeaseLost", err)
	}
	// The worker is told why: the cancellation, with its reason.
	if err == nil || !strings.Contains(err.Error(), "has failed: cancelled: wrong field") {
		t.Errorf("complete after cancel says %q, want the cancellation named", err)
	}
	if n := count(t, pool, `SELECT count(*) FROM analyses`); n != 0 {
		t.Errorf("%d analyses stored after cancel, want 0", n)
	}
	if got, err := q.Claim(ctx, catalog.AllProjects, "w2", 5, time.Minute); err != nil || len(got) != 0 {
		t.Errorf("cancelled images were claimed again: %v %d", err, len(got))
	}
	if _, err := q.Cancel(ctx, catalog.AllProjects, queued, ""); !errors.Is(err, queue.ErrWrongState) {
		t.Errorf("second cancel: %v, want ErrWrongState", err)
	}
	// Each cancellation is one failed event.
	if n := count(t, pool, `SELECT count(*) FROM image_events WHERE status = 'failed' AND message = 'cancelled: wrong field'`); n != 2 {
		t.Errorf("%d cancel events, want 2", n)
	}
}

// A failure message longer than NOTIFY's 8000-byte payload limit is stored
// whole: the notification carries ids only.
func TestLongFailureMessageStoredWhole(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	q := queue.New(pool, queue.Config{}, nil)
	for _, msg := range []string{strings.Repeat("x", 9000), strings.Repeat("é", 4500), strings.Repeat("€", 3000)} {
		id := addImage(t, pool, 1)
		c, err := q.Claim(ctx, catalog.AllProjects, "w", 1, time.Minute)
		if err != nil || len(c) != 1 {
			t.Fatalf("claim: %v %d", err, len(c))
		}
		img, err := q.Fail(ctx, id, c[0].Token, msg, false)
		if err != nil {
			t.Fatalf("fail with a %d-byte message: %v", len(msg), err)
		}
		if img.GetLastError() != msg {
			t.Errorf("last_error is %d bytes, want the whole %d", len(img.GetLastError()), len(msg))
		}
		var stored string
		if err := pool.QueryRow(ctx, `SELECT message FROM image_events WHERE image_id = $1 AND status = 'failed'`, id).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored != msg {
			t.Errorf("event message is %d bytes, want %d", len(stored), len(msg))
		}
	}
}

// A transition is announced only once its transaction has committed, and
// never if the commit fails: here a deferred constraint trigger refuses the
// first cancel at COMMIT, after its event row was written. The listener
// sees the second, committed cancel and nothing before it, and when the
// notification arrives the change is already visible to other sessions.
func TestTransitionAnnouncedOnlyAfterCommit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := dbtest.NewPool(t)
	id := addImage(t, pool, 3)
	if _, err := pool.Exec(ctx, `
		CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.message LIKE '%boom%' THEN RAISE EXCEPTION 'refused at commit'; END IF;
			RETURN NULL;
		END $$;
		CREATE CONSTRAINT TRIGGER refuse_boom AFTER INSERT ON image_events
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_boom();`); err != nil {
		t.Fatal(err)
	}

	conn, q, ann := listeningQueue(t, ctx, pool)

	if _, err := q.Cancel(ctx, catalog.Project("default"), id, "boom"); err == nil || !strings.Contains(err.Error(), "refused at commit") {
		t.Fatalf("cancel refused at commit: %v", err)
	}
	img, err := q.Cancel(ctx, catalog.Project("default"), id, "the committed one")
	if err != nil {
		t.Fatal(err)
	}

	n, err := conn.WaitForNotification(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Payload "SEQ IMAGE_ID PROJECT": the committed event's sequence number.
	if want := fmt.Sprintf("%d %s default", img.GetLastEventSeq(), id); n.Payload != want {
		t.Errorf("first notification %q, want %q (the committed cancel, not the refused one)", n.Payload, want)
	}
	var st string
	if err := pool.QueryRow(ctx, `SELECT status FROM images WHERE id = $1`, id).Scan(&st); err != nil || st != catalog.StatusFailed {
		t.Errorf("when notified, the image is %q (%v), want failed", st, err)
	}
	if got := count(t, pool, `SELECT count(*) FROM image_events WHERE image_id = $1 AND message LIKE '%boom%'`, id); got != 0 {
		t.Errorf("%d refused events stored", got)
	}
	// Nothing else is pending: a short wait times out.
	short, stopShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer stopShort()
	if extra, err := conn.WaitForNotification(short); err == nil {
		t.Errorf("another notification %q arrived", extra.Payload)
	}
	if ann.Sent() != 1 {
		t.Errorf("announcer sent %d notes, want 1", ann.Sent())
	}
}

// Retry, cancel and claim stay within their scope: another project's image
// is ErrNotFound and untouched; a project-bound claim skips it; the zero
// scope matches nothing.
func TestQueueScopes(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	q := queue.New(pool, queue.Config{}, nil)
	id := addImage(t, pool, 2) // in project "default", the column's default
	if _, err := pool.Exec(ctx, `INSERT INTO projects (id) VALUES ('other')`); err != nil {
		t.Fatal(err)
	}
	for name, sc := range map[string]catalog.Scope{"another project": catalog.Project("other"), "zero scope": {}} {
		if _, err := q.Cancel(ctx, sc, id, "x"); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("cancel in %s: %v, want ErrNotFound", name, err)
		}
		if _, err := q.Retry(ctx, sc, id); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("retry in %s: %v, want ErrNotFound", name, err)
		}
		if c, err := q.Claim(ctx, sc, "w", 5, time.Minute); err != nil || len(c) != 0 {
			t.Errorf("claim in %s: %v, %d claimed; want none", name, err, len(c))
		}
		if ok, err := q.InScope(ctx, sc, id); err != nil || ok {
			t.Errorf("InScope(%s) = %v, %v; want false", name, ok, err)
		}
	}
	// A short lease, so the expired-lease half of a scoped claim is
	// tried too: another project's claim must not reclaim it either.
	c, err := q.Claim(ctx, catalog.Project("default"), "w", 5, time.Millisecond)
	if err != nil || len(c) != 1 || c[0].Image.GetId() != id {
		t.Fatalf("claim in the image's project: %v %+v", err, c)
	}
	time.Sleep(20 * time.Millisecond)
	if c, err := q.Claim(ctx, catalog.Project("other"), "w2", 5, time.Minute); err != nil || len(c) != 0 {
		t.Errorf("claim of an expired lease in another project: %v, %d claimed; want none", err, len(c))
	}
	c, err = q.Claim(ctx, catalog.Project("default"), "w2", 5, time.Minute)
	if err != nil || len(c) != 1 || c[0].Image.GetId() != id || c[0].Image.GetAttempts() != 2 {
		t.Fatalf("reclaim of the expired lease in the image's project: %v %+v", err, c)
	}
	if _, err := q.Cancel(ctx, catalog.Project("default"), id, "done"); err != nil {
		t.Errorf("cancel in the image's project: %v", err)
	}
}

// A batched claim fails the exhausted image, leases the others and records
// one event per image, and a completion records its own; every image's
// last_event_seq is its newest event, and exactly those events are
// announced, each with its own seq.
func TestClaimAndCompleteRecordAndAnnounceEveryEvent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := dbtest.NewPool(t)
	var ids []string
	for range 3 {
		ids = append(ids, addImage(t, pool, 3))
	}
	exhausted := addImage(t, pool, 2)
	if _, err := pool.Exec(ctx, `UPDATE images SET status = 'processing', attempts = 2, lease_owner = 'dead',
		lease_token = gen_random_uuid(), lease_expires_at = now() - interval '1 hour' WHERE id = $1`, exhausted); err != nil {
		t.Fatal(err)
	}
	conn, q, _ := listeningQueue(t, ctx, pool)

	claimed, err := q.Claim(ctx, catalog.AllProjects, "w1", 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed) != 3 {
		t.Fatalf("claimed %d images, want the 3 uploaded ones", len(claimed))
	}
	for i, c := range claimed {
		// Oldest first, each with its files' row and its own lease.
		if c.Image.GetId() != ids[i] || c.Image.GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_PROCESSING || c.Token == "" {
			t.Errorf("claim %d: %s %v token %q, want %s processing with a token", i, c.Image.GetId(), c.Image.GetStatus(), c.Token, ids[i])
		}
	}
	done, err := q.Complete(ctx, catalog.AllProjects, claimed[0].Image.GetId(), claimed[0].Token, &canopyv1.Analysis{AlgorithmVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	// The image as the completion left it: read after the statement, so
	// with the completed event's seq (set by the event trigger).
	var completedSeq int64
	if err := pool.QueryRow(ctx, `SELECT max(seq) FROM image_events WHERE image_id = $1 AND status = 'completed'`, done.GetId()).Scan(&completedSeq); err != nil {
		t.Fatal(err)
	}
	if done.GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED || done.GetLastEventSeq() != completedSeq || len(done.GetFiles()) != len(claimed[0].Image.GetFiles()) {
		t.Errorf("Complete returned %v, last event %d, %d files; want completed, %d, %d files",
			done.GetStatus(), done.GetLastEventSeq(), len(done.GetFiles()), completedSeq, len(claimed[0].Image.GetFiles()))
	}

	// What the database holds after the "uploaded" events of the setup.
	rows, err := pool.Query(ctx, `SELECT e.seq, e.image_id::text, e.status, e.message FROM image_events e
		WHERE e.status <> 'uploaded' ORDER BY e.seq`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	var got []string
	for rows.Next() {
		var (
			seq             int64
			id, st, message string
		)
		if err := rows.Scan(&seq, &id, &st, &message); err != nil {
			t.Fatal(err)
		}
		want[fmt.Sprintf("%d %s default", seq, id)] = true
		got = append(got, st+": "+message)
	}
	rows.Close()
	wantEvents := []string{"failed: lease of dead expired on the last of 2 attempts",
		"processing: claimed by w1", "processing: claimed by w1", "processing: claimed by w1", "completed: analysis stored"}
	if !slices.Equal(got, wantEvents) {
		t.Errorf("events %q, want %q", got, wantEvents)
	}
	if n := count(t, pool, `SELECT count(*) FROM images i WHERE last_event_seq <> (SELECT max(seq) FROM image_events e WHERE e.image_id = i.id)`); n != 0 {
		t.Errorf("%d images whose last_event_seq is not their newest event", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM analyses WHERE image_id = $1`, claimed[0].Image.GetId()); n != 1 {
		t.Errorf("%d analyses stored, want 1", n)
	}
	for len(want) > 0 {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			t.Fatalf("still waiting for %v: %v", want, err)
		}
		if !want[n.Payload] {
			t.Fatalf("unexpected notification %q", n.Payload)
		}
		delete(want, n.Payload)
	}
}

// An image whose lease expired on its last attempt is never reclaimed, and
// a claim that comes just after a sweep leaves it to the next one: waiting
// claims are told to wake for that sweep, not at the expired lease (which
// is in the past, so they would spin), and the next sweep fails it.
func TestExhaustedLeaseWaitsForTheNextSweep(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	q := queue.New(pool, queue.Config{}, nil)
	if c, err := q.Claim(ctx, catalog.AllProjects, "w1", 1, time.Minute); err != nil || len(c) != 0 {
		t.Fatalf("claim of an empty queue: %v %v", c, err) // and the sweep has just run
	}
	id := addImage(t, pool, 1)
	if _, err := pool.Exec(ctx, `UPDATE images SET status = 'processing', attempts = 1, lease_owner = 'dead',
		lease_token = gen_random_uuid(), lease_expires_at = now() - interval '1 minute' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if c, err := q.Claim(ctx, catalog.AllProjects, "w1", 1, time.Minute); err != nil || len(c) != 0 {
		t.Fatalf("claimed %v (%v): an exhausted image must not be reclaimed", c, err)
	}
	due, ok, err := q.NextDue(ctx)
	if err != nil || !ok {
		t.Fatalf("next due: %v %v", ok, err)
	}
	if !due.After(time.Now()) {
		t.Fatalf("next due %v is not in the future: waiting claims would spin until the sweep", due)
	}
	time.Sleep(time.Until(due))
	if _, err := q.Claim(ctx, catalog.AllProjects, "w1", 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	var st, msg string
	if err := pool.QueryRow(ctx, `SELECT status, last_error FROM images WHERE id = $1`, id).Scan(&st, &msg); err != nil {
		t.Fatal(err)
	}
	if st != "failed" || !strings.Contains(msg, "expired on the last of 1 attempts") {
		t.Errorf("after the sweep: %s %q, want failed with the expired-lease reason", st, msg)
	}
}

// Completing needs the image within the caller's scope as well as its lease
// token: with a worker key of another project even the right token is
// NotFound, exactly like a missing image, and nothing is stored.
func TestCompleteOutsideScopeIsNotFound(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	q := queue.New(pool, queue.Config{}, nil)
	id := addImage(t, pool, 2) // project "default"
	c, err := q.Claim(ctx, catalog.AllProjects, "w1", 1, time.Minute)
	if err != nil || len(c) != 1 {
		t.Fatalf("claim: %v %v", c, err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO projects (id) VALUES ('other')`); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Complete(ctx, catalog.Project("other"), id, c[0].Token, &canopyv1.Analysis{AlgorithmVersion: "x"}); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("complete from project other: %v, want ErrNotFound", err)
	}
	if n := count(t, pool, `SELECT count(*) FROM analyses WHERE image_id = $1`, id); n != 0 {
		t.Fatalf("%d analyses stored by a refused completion", n)
	}
	if _, err := q.Complete(ctx, catalog.Project("default"), id, c[0].Token, &canopyv1.Analysis{AlgorithmVersion: "x"}); err != nil {
		t.Fatalf("complete from its own project: %v", err)
	}
}

// listeningQueue is a queue announcing through a running Announcer, and a
// connection listening on the events channel; both end with the test.
func listeningQueue(t *testing.T, ctx context.Context, pool *pgxpool.Pool) (*pgx.Conn, *queue.Queue, *notify.Announcer) {
	t.Helper()
	conn, err := pgx.Connect(ctx, pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(ctx, `LISTEN canopy_image_events`); err != nil {
		t.Fatal(err)
	}
	ann := notify.NewAnnouncer(pool.Config().ConnString(), slog.New(slog.DiscardHandler))
	actx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	go func() { _ = ann.Run(actx) }()
	return conn, queue.New(pool, queue.Config{}, ann), ann
}
