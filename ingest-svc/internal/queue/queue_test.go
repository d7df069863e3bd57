package queue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/ingest-svc/internal/queue"
	"github.com/canopyag/canopy/platform/catalog"
	"github.com/canopyag/canopy/platform/database/dbtest"
)

// addImage inserts an uploaded image the way ingest does.
func addImage(t *testing.T, pool *pgxpool.Pool, maxAttempts int) string {
	t.Helper()
	ctx := context.Background()
	id := uuid.NewString()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO images (id, filename, size_bytes, status, max_attempts)
			VALUES ($1, 'a.jpg', 10, 'uploaded', $2)`, id, maxAttempts); err != nil {
			return err
		}
		return queue.RecordEvent(ctx, tx, &queue.Events{}, id, catalog.StatusUploaded, 0, "test")
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestClaimCompleteFencing(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	q := queue.New(pool, queue.Config{}, nil)
	id := addImage(t, pool, 3)

	got, err := q.Claim(ctx, catalog.AllProjects, "w1", 5, time.Minute)
	if err != nil || len(got) != 1 || got[0].Image.GetId() != id {
		t.Fatalf("claim: %v %+v", err, got)
	}
	if got[0].Image.GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_PROCESSING || got[0].Image.GetAttempts() != 1 {
		t.Errorf("claimed image: status %v attempts %d", got[0].Image.GetStatus(), got[0].Image.GetAttempts())
	}
	// Nothing else is claimable while the lease holds.
	if again, err := q.Claim(ctx, catalog.AllProjects, "w2", 5, time.Minute); err != nil || len(again) != 0 {
		t.Fatalf("second claim got %d items, err %v", len(again), err)
	}

	// The lease expired an hour ago: the next claim takes it over.
	if _, err := pool.Exec(ctx, `UPDATE images SET lease_expires_at = now() - interval '1 hour' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	re, err := q.Claim(ctx, catalog.AllProjects, "w2", 5, time.Minute)
	if err != nil || len(re) != 1 {
		t.Fatalf("reclaim: %v %+v", err, re)
	}
	if re[0].Image.GetAttempts() != 2 || re[0].Token == got[0].Token {
		t.Errorf("reclaim: attempts %d (want 2), token reused %v", re[0].Image.GetAttempts(), re[0].Token == got[0].Token)
	}

	// The first worker comes back: its token is stale, and nothing changes.
	a := &canopyv1.Analysis{AlgorithmVersion: "test", CalibrationMode: "uncalibrated_dn", Width: 1, Height: 1, Worker: "w1"}
	if _, err := q.Complete(ctx, catalog.AllProjects, id, got[0].Token, a); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("complete with stale token: %v, want ErrLeaseLost", err)
	}
	if _, err := q.Fail(ctx, id, got[0].Token, "boom", false); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("fail with stale token: %v, want ErrLeaseLost", err)
	}
	if err := q.Renew(ctx, id, got[0].Token, time.Minute); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("renew with stale token: %v, want ErrLeaseLost", err)
	}
	if n := count(t, pool, `SELECT count(*) FROM analyses`); n != 0 {
		t.Fatalf("%d analyses after stale completion", n)
	}

	a.Worker = "w2"
	img, err := q.Complete(ctx, catalog.AllProjects, id, re[0].Token, a)
	if err != nil {
		t.Fatal(err)
	}
	if img.GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED {
		t.Errorf("status %v", img.GetStatus())
	}
	if _, err := q.Complete(ctx, catalog.AllProjects, id, re[0].Token, a); !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("second completion: %v, want ErrLeaseLost", err)
	}
	if n := count(t, pool, `SELECT count(*) FROM analyses WHERE image_id = $1 AND worker = 'w2'`, id); n != 1 {
		t.Errorf("%d analyses from w2, want exactly 1", n)
	}
	// Every transition is in the event log, in order.
	rows, err := pool.Query(ctx, `SELECT status FROM image_events WHERE image_id = $1 ORDER BY seq`, id)
	if err != nil {
		t.Fatal(err)
	}
	statuses, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"uploaded", "processing", "processing", "completed"}
	if len(statuses) != len(want) {
		t.Fatalf("events %v, want %v", statuses, want)
	}
	for i := range want {
		if statuses[i] != want[i] {
			t.Fatalf("events %v, want %v", statuses, want)
		}
	}
}

func TestFailRetryThenPermanent(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	q := queue.New(pool, queue.Config{BackoffBase: time.Hour, BackoffMax: time.Hour}, nil)
	id := addImage(t, pool, 2)

	c, err := q.Claim(ctx, catalog.AllProjects, "w", 1, time.Minute)
	if err != nil || len(c) != 1 {
		t.Fatal(err)
	}
	img, err := q.Fail(ctx, id, c[0].Token, "storage hiccup", true)
	if err != nil {
		t.Fatal(err)
	}
	if img.GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_UPLOADED || img.GetLastError() != "storage hiccup" {
		t.Errorf("after retryable failure: %v %q, want re-queued with the error", img.GetStatus(), img.GetLastError())
	}
	// The backoff (half to all of an hour) keeps it from being claimed now.
	if c, _ := q.Claim(ctx, catalog.AllProjects, "w", 1, time.Minute); len(c) != 0 {
		t.Fatal("claimed during backoff")
	}
	due, ok, err := q.NextDue(ctx)
	if err != nil || !ok || time.Until(due) < 29*time.Minute {
		t.Errorf("next due %v (%v, %v): want about half an hour or more ahead", due, ok, err)
	}
	if _, err := pool.Exec(ctx, `UPDATE images SET run_after = now() WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	c, err = q.Claim(ctx, catalog.AllProjects, "w", 1, time.Minute)
	if err != nil || len(c) != 1 || c[0].Image.GetAttempts() != 2 {
		t.Fatalf("second claim: %v %+v", err, c)
	}
	// Retryable, but the attempts are used up: failed for good.
	img, err = q.Fail(ctx, id, c[0].Token, "storage hiccup again", true)
	if err != nil {
		t.Fatal(err)
	}
	if img.GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_FAILED || img.GetLastError() != "storage hiccup again" {
		t.Errorf("after last attempt: %v %q", img.GetStatus(), img.GetLastError())
	}
}

func TestPermanentFailureNoRetry(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	q := queue.New(pool, queue.Config{}, nil)
	id := addImage(t, pool, 5)
	c, err := q.Claim(ctx, catalog.AllProjects, "w", 1, time.Minute)
	if err != nil || len(c) != 1 {
		t.Fatal(err)
	}
	img, err := q.Fail(ctx, id, c[0].Token, "corrupt JPEG", false)
	if err != nil {
		t.Fatal(err)
	}
	if img.GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_FAILED || img.GetAttempts() != 1 {
		t.Errorf("permanent failure: %v after %d attempts", img.GetStatus(), img.GetAttempts())
	}
}

// A worker shutting down gives its image back: claimable at once, and the
// attempt does not count, so restarts never use up an image's attempts.
func TestReleaseDoesNotCountAttempt(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	q := queue.New(pool, queue.Config{}, nil)
	id := addImage(t, pool, 1)
	for range 3 {
		c, err := q.Claim(ctx, catalog.AllProjects, "w", 1, time.Minute)
		if err != nil || len(c) != 1 || c[0].Image.GetAttempts() != 1 {
			t.Fatalf("claim: %v %+v", err, c)
		}
		img, err := q.Release(ctx, id, c[0].Token, "shutting down")
		if err != nil {
			t.Fatal(err)
		}
		if img.GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_UPLOADED || img.GetAttempts() != 0 {
			t.Fatalf("after release: %v, %d attempts; want uploaded with 0", img.GetStatus(), img.GetAttempts())
		}
	}
}

// A batch of completions stores the ones whose lease is held and answers
// the others on their own: a stale token, an image that does not exist.
func TestCompleteBatchAnswersEachImage(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	q := queue.New(pool, queue.Config{}, nil)
	ids := []string{addImage(t, pool, 3), addImage(t, pool, 3), addImage(t, pool, 3)}
	claimed, err := q.Claim(ctx, catalog.AllProjects, "w1", 3, time.Minute)
	if err != nil || len(claimed) != 3 {
		t.Fatalf("claim: %v, %d images", err, len(claimed))
	}
	token := map[string]string{}
	for _, c := range claimed {
		token[c.Image.GetId()] = c.Token
	}
	analysis := func(w int32) *canopyv1.Analysis {
		return &canopyv1.Analysis{AlgorithmVersion: "test", Width: w, Height: 2, CalibrationMode: "none"}
	}
	missing := uuid.NewString()
	cs := []queue.Completion{
		{ID: ids[0], Token: token[ids[0]], Analysis: analysis(10)},
		{ID: ids[1], Token: uuid.NewString(), Analysis: analysis(11)}, // not its token
		{ID: missing, Token: uuid.NewString(), Analysis: analysis(12)},
		{ID: ids[2], Token: token[ids[2]], Analysis: analysis(13)},
	}
	got, err := q.CompleteBatch(ctx, catalog.AllProjects, cs)
	if err != nil || len(got) != len(cs) {
		t.Fatalf("complete batch: %v, %d answers", err, len(got))
	}
	for _, i := range []int{0, 3} {
		img := got[i].Image
		if got[i].Err != nil || img.GetId() != cs[i].ID || img.GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED {
			t.Errorf("answer %d: %v, image %s %v; want %s completed", i, got[i].Err, img.GetId(), img.GetStatus(), cs[i].ID)
		}
		// Each stored analysis is its own request's (width 10 + i).
		if w := count(t, pool, `SELECT width FROM analyses WHERE image_id = $1`, cs[i].ID); w != 10+i {
			t.Errorf("image %d: stored width %d, want %d", i, w, 10+i)
		}
		// The image carries its completed event's seq.
		if seq := count(t, pool, `SELECT max(seq) FROM image_events WHERE image_id = $1 AND status = 'completed'`, cs[i].ID); img.GetLastEventSeq() != int64(seq) {
			t.Errorf("image %d: last_event_seq %d, completed event %d", i, img.GetLastEventSeq(), seq)
		}
	}
	if !errors.Is(got[1].Err, queue.ErrLeaseLost) || got[1].Image != nil {
		t.Errorf("stale token: %v, %v; want ErrLeaseLost and no image", got[1].Err, got[1].Image)
	}
	if !errors.Is(got[2].Err, catalog.ErrNotFound) {
		t.Errorf("missing image: %v, want ErrNotFound", got[2].Err)
	}
	if n := count(t, pool, `SELECT count(*) FROM images WHERE id = $1 AND status = 'processing' AND lease_token IS NOT NULL`, ids[1]); n != 1 {
		t.Errorf("the image with the stale token changed: %d rows still processing, want 1", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM analyses`); n != 2 {
		t.Errorf("%d analyses stored, want 2", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM image_events WHERE status = 'completed'`); n != 2 {
		t.Errorf("%d completed events, want 2", n)
	}
	// The held lease of ids[1] still completes on its own.
	if img, err := q.Complete(ctx, catalog.AllProjects, ids[1], token[ids[1]], analysis(11)); err != nil || img.GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED {
		t.Errorf("complete the remaining image: %v, %v", err, img.GetStatus())
	}
}

// A statement that fails leaves no transaction open: the connection goes
// back to the pool idle (not closed and replaced), and the next call on it
// works.
func TestCompleteBatchFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	q := queue.New(pool, queue.Config{}, nil)
	id := addImage(t, pool, 3)
	claimed, err := q.Claim(ctx, catalog.AllProjects, "w1", 1, time.Minute)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v", err)
	}
	conns := pool.Stat().NewConnsCount()
	// Not a UUID: PostgreSQL refuses the token, after BEGIN ran.
	if _, err := q.Complete(ctx, catalog.AllProjects, id, "not-a-token", &canopyv1.Analysis{AlgorithmVersion: "t", Width: 1, Height: 1}); err == nil {
		t.Fatal("a malformed token was accepted")
	}
	if n := count(t, pool, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`); n != 0 {
		t.Errorf("%d connections left idle in a transaction", n)
	}
	if _, err := q.Complete(ctx, catalog.AllProjects, id, claimed[0].Token, &canopyv1.Analysis{AlgorithmVersion: "t", Width: 1, Height: 1}); err != nil {
		t.Errorf("complete after the failure: %v", err)
	}
	if n := pool.Stat().NewConnsCount() - conns; n != 0 {
		t.Errorf("%d connections opened: the failed one was closed instead of rolled back", n)
	}
}
