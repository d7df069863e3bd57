// Package queue is the analysis work queue, kept in the images table: a claim
// leases images with FOR UPDATE SKIP LOCKED, and every transition writes its
// event row in the same transaction. The event is announced (NOTIFY) only
// after that transaction has committed, so nothing is announced that is not
// durable.
package queue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/encoding/protojson"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/catalog"
	"github.com/canopyag/canopy/platform/notify"
)

// ErrLeaseLost means the caller's lease token is not the current one: the
// lease expired and someone else claimed the image, or it was finished.
var ErrLeaseLost = errors.New("lease is not held: it expired and was reclaimed, or the work is already finished")

// Config tunes retries. How many attempts an image gets is stored with the
// image when it is uploaded (images.max_attempts), so a config change never
// rewrites the promise made to images already queued.
type Config struct {
	// BackoffBase is the delay before the first retry; it doubles per attempt
	// up to BackoffMax, with jitter so a burst of failures does not retry in step.
	BackoffBase time.Duration
	BackoffMax  time.Duration
}

// Queue runs the work-queue statements.
type Queue struct {
	pool *pgxpool.Pool
	cfg  Config
	ann  *notify.Announcer
	// lastSweep is when a claim last failed the exhausted images (unix ns).
	lastSweep atomic.Int64
}

// sweepEvery is how often claims fail images whose lease expired on their
// last attempt. Claims never take such an image, so a sweep is only about
// how soon it is reported failed; doing it on every claim cost a fifth of
// a claim's time under load.
const sweepEvery = time.Second

// sweepDue reports whether this claim should sweep, and if so takes the
// turn, so that concurrent claims do not all sweep at once.
func (q *Queue) sweepDue() bool {
	now := time.Now().UnixNano()
	last := q.lastSweep.Load()
	return now-last >= int64(sweepEvery) && q.lastSweep.CompareAndSwap(last, now)
}

// New returns a queue over pool that announces its transitions with ann
// (nil: it announces nothing, for tests of the statements alone).
func New(pool *pgxpool.Pool, cfg Config, ann *notify.Announcer) *Queue {
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = time.Minute
	}
	return &Queue{pool: pool, cfg: cfg, ann: ann}
}

// Events collects the notifications of the events a transaction records,
// to be announced once, and only if, it commits.
type Events struct {
	notes []notify.Note
}

// Notes are the collected notifications.
func (e *Events) Notes() []notify.Note { return e.notes }

// inTx runs fn in a transaction and announces the events it recorded after
// the commit.
func (q *Queue) inTx(ctx context.Context, fn func(tx pgx.Tx, ev *Events) error) error {
	ev := &Events{}
	err := pgx.BeginTxFunc(ctx, q.pool, genericPlans, func(tx pgx.Tx) error {
		ev.notes = ev.notes[:0]
		return fn(tx, ev)
	})
	if err == nil {
		q.ann.Announce(ev.notes...)
	}
	return err
}

// genericPlans begins the queue's transactions with PostgreSQL's plan
// cache held to generic plans. Left to choose, it kept re-planning the
// claim (LIMIT $1) and the image reads (id = ANY($1)) on every call, as
// their custom plans look cheaper than a generic one that must allow any
// limit or array: 0.47 ms of planning per claim and 0.17 ms per image read,
// more than running them, and the largest part of PostgreSQL's CPU per job
// at a thousand jobs a second. Every statement here finds its rows by
// primary key or by one ordered index scan whatever the parameters, so the
// generic plan is the plan; the claim has a statement per kind of scope so
// that a project's claim keeps its own index (see claimSQL). SET LOCAL
// ends with the transaction, so nothing leaks to other users of a pooled
// connection.
var genericPlans = pgx.TxOptions{BeginQuery: "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan"}

// Claimed is one leased image.
type Claimed struct {
	Image *canopyv1.Image
	Token string
	// Panel is the calibration-panel capture the image names in
	// analysis_options.calibrate_with, nil if none (or no longer there).
	Panel *canopyv1.Image
}

// Claim leases up to n claimable images to worker for lease: uploaded images
// whose backoff has passed, and processing images whose lease has expired
// (their worker died). Images whose lease expired on their last attempt are
// failed instead, by the claims of every sweepEvery.
//
// scope limits the claim to one project's images, for a worker key bound
// to a project; an all-projects worker key claims from every project.
func (q *Queue) Claim(ctx context.Context, scope catalog.Scope, worker string, n int, lease time.Duration) ([]Claimed, error) {
	var out []Claimed
	err := q.inTx(ctx, func(tx pgx.Tx, ev *Events) error {
		out = out[:0]
		// Both statements in one round trip: a claim is a handful of them,
		// and at a thousand claims a second round trips are the cost.
		b := &pgx.Batch{}
		sweep := q.sweepDue()
		if sweep {
			b.Queue(failExhaustedSQL)
		}
		if project := scope.Arg(); project != nil {
			b.Queue(claimProjectSQL, n, worker, lease.Seconds(), *project)
		} else {
			b.Queue(claimAllSQL, n, worker, lease.Seconds())
		}
		br := tx.SendBatch(ctx, b)
		var failed []notify.Note
		if sweep {
			var err error
			if failed, err = scanEvents(br, catalog.StatusFailed); err != nil {
				br.Close()
				return fmt.Errorf("fail exhausted images: %w", err)
			}
		}
		type claimed struct {
			id, token, project string
		}
		var cs []claimed
		rows, err := br.Query()
		if err == nil {
			for rows.Next() {
				var (
					c   claimed
					seq int64
				)
				if err = rows.Scan(&c.id, &c.token, &seq, &c.project); err != nil {
					break
				}
				cs = append(cs, c)
				ev.notes = append(ev.notes, catalog.EventNotes(seq, c.id, c.project, catalog.StatusProcessing)...)
			}
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("lease images: %w", err)
		}
		ev.notes = append(ev.notes, failed...)
		if len(cs) == 0 {
			return nil
		}
		ids := make([]string, len(cs))
		for i, c := range cs {
			ids[i] = c.id
		}
		imgs, err := catalog.GetImages(ctx, tx, catalog.AllProjects, ids)
		if err != nil {
			return err
		}
		for i, c := range cs {
			panel, err := calibrationPanel(ctx, tx, imgs[i], c.project)
			if err != nil {
				return err
			}
			out = append(out, Claimed{Image: imgs[i], Token: c.token, Panel: panel})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim work: %w", err)
	}
	return out, nil
}

// claimSQL leases up to $1 images to worker $2 for $3 seconds and records
// each one's "processing" event, in one statement; %[1]s is the scope's
// condition on images (claimAllSQL, claimProjectSQL). The event trigger's
// update of images.last_event_seq runs after the statement, so it sees
// the leased rows.
//
// Queued and expired images are looked for separately, each in index
// order (images_status_uploaded_at, or images_project_status for one
// project), so a claim reads a few index entries however long the queue
// is; one query with an OR of the two made the planner fetch and sort
// every claimable image on every claim. A statement per kind of scope,
// rather than "$4 IS NULL OR project_id = $4", because the generic plan
// (genericPlans) of the latter cannot use the project's index. Each part
// locks what it takes, skipping rows that other claims hold, and the
// oldest $1 of both are leased. An expired lease on the last attempt is
// never reclaimed: failExhaustedSQL fails it.
const claimSQL = `
	WITH queued AS (
		SELECT id, status AS old_status, lease_owner AS old_owner, uploaded_at FROM images
		WHERE status = 'uploaded' AND run_after <= now() %[1]s
		ORDER BY uploaded_at, id
		LIMIT $1
		FOR UPDATE SKIP LOCKED),
	expired AS (
		SELECT id, status AS old_status, lease_owner AS old_owner, uploaded_at FROM images
		WHERE status = 'processing' AND lease_expires_at < now() AND attempts < max_attempts %[1]s
		ORDER BY uploaded_at, id
		LIMIT $1
		FOR UPDATE SKIP LOCKED),
	next AS (
		SELECT id, old_status, old_owner FROM (SELECT * FROM queued UNION ALL SELECT * FROM expired) c
		ORDER BY uploaded_at, id
		LIMIT $1),
	leased AS (
		UPDATE images i SET
			status = 'processing',
			attempts = i.attempts + 1,
			lease_owner = $2,
			lease_token = gen_random_uuid(),
			lease_expires_at = now() + make_interval(secs => $3),
			processing_started_at = now()
		FROM next WHERE i.id = next.id
		RETURNING i.id, i.lease_token, i.attempts, i.project_id, i.uploaded_at, next.old_status, next.old_owner),
	ev AS (
		INSERT INTO image_events (image_id, status, attempt, message)
		SELECT id, 'processing', attempts, CASE WHEN old_status = 'processing'
			THEN 'lease of ' || coalesce(old_owner, '?') || ' expired; reclaimed by ' || $2
			ELSE 'claimed by ' || $2 END
		FROM leased
		RETURNING seq, image_id)
	SELECT l.id::text, l.lease_token::text, ev.seq, l.project_id
	FROM leased l JOIN ev ON ev.image_id = l.id
	ORDER BY l.uploaded_at, l.id`

var (
	claimAllSQL     = fmt.Sprintf(claimSQL, "")
	claimProjectSQL = fmt.Sprintf(claimSQL, "AND project_id = $4")
)

// failExhaustedSQL fails images whose lease expired on their last attempt
// (a worker died on them every time, so another try is unlikely to help)
// and records their events; it returns seq, image id and project.
const failExhaustedSQL = `
	WITH f AS (
		UPDATE images SET status = 'failed', processed_at = now(),
			last_error = 'lease of ' || coalesce(lease_owner, '?') || ' expired on the last of ' || max_attempts || ' attempts',
			lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
		WHERE id IN (
			SELECT id FROM images
			WHERE status = 'processing' AND lease_expires_at < now() AND attempts >= max_attempts
			FOR UPDATE SKIP LOCKED)
		RETURNING id, attempts, last_error, project_id),
	ev AS (
		INSERT INTO image_events (image_id, status, attempt, message)
		SELECT id, 'failed', attempts, last_error FROM f
		RETURNING seq, image_id)
	SELECT ev.seq, f.id::text, f.project_id FROM f JOIN ev ON ev.image_id = f.id`

// scanEvents reads the next result of br as (seq, image id, project) rows
// of events of status, as their notifications.
func scanEvents(br pgx.BatchResults, status string) ([]notify.Note, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var notes []notify.Note
	for rows.Next() {
		var (
			seq         int64
			id, project string
		)
		if err := rows.Scan(&seq, &id, &project); err != nil {
			return nil, err
		}
		notes = append(notes, catalog.EventNotes(seq, id, project, status)...)
	}
	return notes, rows.Err()
}

// NextDue is when the next image becomes claimable without a new upload
// (a backoff ending or a lease expiring), or the next sweep is due to fail
// an image whose last lease expired. ok is false when nothing is pending.
func (q *Queue) NextDue(ctx context.Context) (due time.Time, ok bool, err error) {
	var claimable, exhausted *time.Time
	err = q.pool.QueryRow(ctx, `SELECT least(
			(SELECT min(run_after) FROM images WHERE status = 'uploaded'),
			(SELECT min(lease_expires_at) FROM images WHERE status = 'processing' AND attempts < max_attempts)),
		(SELECT min(lease_expires_at) FROM images WHERE status = 'processing' AND attempts >= max_attempts)`).Scan(&claimable, &exhausted)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due work: %w", err)
	}
	if exhausted != nil {
		// Not before the next sweep may run: waking earlier finds nothing.
		sweep := time.Unix(0, q.lastSweep.Load()).Add(sweepEvery)
		if sweep.After(*exhausted) {
			exhausted = &sweep
		}
		if claimable == nil || exhausted.Before(*claimable) {
			claimable = exhausted
		}
	}
	if claimable == nil {
		return time.Time{}, false, nil
	}
	return *claimable, true, nil
}

// Renew extends the lease held with token.
func (q *Queue) Renew(ctx context.Context, id, token string, lease time.Duration) error {
	tag, err := q.pool.Exec(ctx, `UPDATE images SET lease_expires_at = now() + make_interval(secs => $3)
		WHERE id = $1 AND status = 'processing' AND lease_token = $2`, id, token, lease.Seconds())
	if err != nil {
		return fmt.Errorf("renew lease of %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return q.whyNotHeld(ctx, catalog.AllProjects, id)
	}
	return nil
}

// whyNotHeld tells a missing image (or one outside scope, which looks the
// same) from a lost lease.
func (q *Queue) whyNotHeld(ctx context.Context, scope catalog.Scope, id string) error {
	var exists bool
	if err := q.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM images WHERE id = $1 AND ($2::text IS NULL OR project_id = $2::text))`,
		id, scope.Arg()).Scan(&exists); err != nil {
		return fmt.Errorf("look up image %s: %w", id, err)
	}
	if !exists {
		return fmt.Errorf("image %s: %w", id, catalog.ErrNotFound)
	}
	return fmt.Errorf("image %s: %w", id, ErrLeaseLost)
}

// InScope reports whether image id exists within scope.
func (q *Queue) InScope(ctx context.Context, scope catalog.Scope, id string) (bool, error) {
	var ok bool
	err := q.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM images WHERE id = $1 AND ($2::text IS NULL OR project_id = $2::text))`,
		id, scope.Arg()).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("look up image %s: %w", id, err)
	}
	return ok, nil
}

// Complete records the analysis and marks the image completed, if token is
// still the image's lease and the image is within scope (a worker key of
// one project completes that project's images only): the checks, the
// analysis, the status and its event are one statement.
func (q *Queue) Complete(ctx context.Context, scope catalog.Scope, id, token string, a *canopyv1.Analysis) (*canopyv1.Image, error) {
	result, err := protojson.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode analysis: %w", err)
	}
	return q.inLease(ctx, "complete", scope, id, func(tx pgx.Tx, ev *Events) (bool, *canopyv1.Image, error) {
		var (
			seq     int64
			project string
		)
		// The image is read back in the same round trip, after the
		// statement (so with the event trigger's last_event_seq); the
		// lease token proved the right to it, whatever its project.
		b := &pgx.Batch{}
		b.Queue(`
			WITH done AS (
				UPDATE images SET status = 'completed', processed_at = now(), last_error = '',
					lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
				WHERE id = $1 AND status = 'processing' AND lease_token = $2
				  AND ($11::text IS NULL OR project_id = $11::text)
				RETURNING id, attempts, project_id),
			stored AS (
				INSERT INTO analyses
					(image_id, algorithm_version, calibration_mode, width, height, map_index, map_blob_key, worker, result)
				SELECT id, $3, $4, $5, $6, $7, $8, $9, $10 FROM done),
			ev AS (
				INSERT INTO image_events (image_id, status, attempt, message)
				SELECT id, 'completed', attempts, 'analysis stored' FROM done
				RETURNING seq)
			SELECT ev.seq, done.project_id FROM done, ev`,
			id, token, a.GetAlgorithmVersion(), a.GetCalibrationMode(), a.GetWidth(), a.GetHeight(),
			a.GetMapIndex(), a.GetMapBlobKey(), a.GetWorker(), result, scope.Arg())
		read, err := catalog.QueueGetImages(b, catalog.AllProjects, []string{id})
		if err != nil {
			return false, nil, err
		}
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		err = br.QueryRow().Scan(&seq, &project)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil, nil
		}
		if err != nil {
			return false, nil, fmt.Errorf("mark completed and store analysis: %w", err)
		}
		imgs, err := read(br)
		if err != nil {
			return false, nil, err
		}
		if err := br.Close(); err != nil {
			return false, nil, err
		}
		ev.notes = append(ev.notes, catalog.EventNotes(seq, id, project, catalog.StatusCompleted)...)
		return true, imgs[0], nil
	})
}

// inLease runs fn in a transaction and returns the image as it is then.
// fn reports whether token was still the image's lease; when it was not,
// nothing changed and the error says whether the image is missing or the
// lease was lost.
func (q *Queue) inLease(ctx context.Context, action string, scope catalog.Scope, id string, fn func(tx pgx.Tx, ev *Events) (held bool, img *canopyv1.Image, err error)) (*canopyv1.Image, error) {
	var img *canopyv1.Image
	held := false
	err := q.inTx(ctx, func(tx pgx.Tx, ev *Events) error {
		var err error
		if held, img, err = fn(tx, ev); err != nil || !held || img != nil {
			return err
		}
		// The lease token proved the right to this image, whatever its project.
		img, err = catalog.GetImage(ctx, tx, catalog.AllProjects, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", action, id, err)
	}
	if !held {
		return nil, q.whyNotHeld(ctx, scope, id)
	}
	return img, nil
}

// Fail ends an attempt. A retryable error re-queues the image after a
// backoff while attempts remain; otherwise the image is failed with msg.
func (q *Queue) Fail(ctx context.Context, id, token, msg string, retryable bool) (*canopyv1.Image, error) {
	return q.inLease(ctx, "fail", catalog.AllProjects, id, func(tx pgx.Tx, ev *Events) (bool, *canopyv1.Image, error) {
		var attempt, maxAttempts int
		err := tx.QueryRow(ctx, `SELECT attempts, max_attempts FROM images
			WHERE id = $1 AND status = 'processing' AND lease_token = $2 FOR UPDATE`, id, token).Scan(&attempt, &maxAttempts)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil, nil
		}
		if err != nil {
			return false, nil, fmt.Errorf("lock image: %w", err)
		}
		if retryable && attempt < maxAttempts {
			delay := q.backoff(attempt)
			if _, err := tx.Exec(ctx, `UPDATE images SET status = 'uploaded', last_error = $2,
					run_after = now() + make_interval(secs => $3),
					lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
				WHERE id = $1`, id, msg, delay.Seconds()); err != nil {
				return false, nil, fmt.Errorf("re-queue: %w", err)
			}
			note := fmt.Sprintf("attempt %d of %d failed, retrying in %s: %s", attempt, maxAttempts, delay.Round(time.Millisecond), msg)
			return true, nil, RecordEvent(ctx, tx, ev, id, catalog.StatusUploaded, attempt, note)
		}
		if _, err := tx.Exec(ctx, `UPDATE images SET status = 'failed', last_error = $2, processed_at = now(),
				lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
			WHERE id = $1`, id, msg); err != nil {
			return false, nil, fmt.Errorf("mark failed: %w", err)
		}
		return true, nil, RecordEvent(ctx, tx, ev, id, catalog.StatusFailed, attempt, msg)
	})
}

// Release gives a leased image back unfinished: it is claimable again at
// once and the attempt is not counted, so restarting workers never uses up
// an image's attempts.
func (q *Queue) Release(ctx context.Context, id, token, reason string) (*canopyv1.Image, error) {
	return q.inLease(ctx, "release", catalog.AllProjects, id, func(tx pgx.Tx, ev *Events) (bool, *canopyv1.Image, error) {
		var attempt int
		err := tx.QueryRow(ctx, `UPDATE images SET status = 'uploaded', attempts = greatest(attempts - 1, 0),
				run_after = now(), lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
			WHERE id = $1 AND status = 'processing' AND lease_token = $2
			RETURNING attempts`, id, token).Scan(&attempt)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil, nil
		}
		if err != nil {
			return false, nil, fmt.Errorf("release: %w", err)
		}
		return true, nil, RecordEvent(ctx, tx, ev, id, catalog.StatusUploaded, attempt, "released unfinished: "+reason)
	})
}

// backoff is exponential with "equal jitter": half fixed, half random, so
// retries spread out but never come sooner than half the nominal delay.
func (q *Queue) backoff(attempt int) time.Duration {
	d := q.cfg.BackoffBase << min(attempt-1, 20)
	if d > q.cfg.BackoffMax || d <= 0 {
		d = q.cfg.BackoffMax
	}
	return d/2 + rand.N(d/2+1)
}

// RecordEvent appends a transition to the event log in tx and adds its
// notifications to ev, for the caller to announce after the commit.
func RecordEvent(ctx context.Context, tx pgx.Tx, ev *Events, id, status string, attempt int, msg string) error {
	var (
		seq     int64
		project string
	)
	if err := tx.QueryRow(ctx, `WITH e AS (
			INSERT INTO image_events (image_id, status, attempt, message) VALUES ($1, $2, $3, $4) RETURNING seq)
		SELECT e.seq, i.project_id FROM e, images i WHERE i.id = $1`,
		id, status, attempt, msg).Scan(&seq, &project); err != nil {
		return fmt.Errorf("record %s event: %w", status, err)
	}
	ev.notes = append(ev.notes, catalog.EventNotes(seq, id, project, status)...)
	return nil
}

// ErrWrongState means the image's status does not allow the operation, e.g.
// retrying an image that has not failed.
var ErrWrongState = errors.New("wrong state")

// Retry puts a failed image back in the queue with its attempts reset, as if
// it had just been uploaded. Its files are still stored, so nothing needs to
// be sent again.
func (q *Queue) Retry(ctx context.Context, scope catalog.Scope, id string) (*canopyv1.Image, error) {
	return q.operate(ctx, "retry", scope, id, func(tx pgx.Tx, ev *Events, status, lastError string) error {
		if status != catalog.StatusFailed {
			return fmt.Errorf("%w: the image is %s; only a failed image can be retried", ErrWrongState, status)
		}
		if _, err := tx.Exec(ctx, `UPDATE images SET status = 'uploaded', attempts = 0, run_after = now(),
				last_error = '', processing_started_at = NULL, processed_at = NULL
			WHERE id = $1`, id); err != nil {
			return fmt.Errorf("re-queue: %w", err)
		}
		msg := "re-queued by request"
		if lastError != "" {
			msg += "; it had failed with: " + lastError
		}
		return RecordEvent(ctx, tx, ev, id, catalog.StatusUploaded, 0, msg)
	})
}

// Cancel fails an image that is not finished. A worker analysing it loses
// its lease: its next heartbeat or report is refused, so no analysis is
// stored after the cancellation.
func (q *Queue) Cancel(ctx context.Context, scope catalog.Scope, id, reason string) (*canopyv1.Image, error) {
	return q.operate(ctx, "cancel", scope, id, func(tx pgx.Tx, ev *Events, status, _ string) error {
		if status != catalog.StatusUploaded && status != catalog.StatusProcessing {
			return fmt.Errorf("%w: the image is already %s; only an image still queued or processing can be cancelled", ErrWrongState, status)
		}
		msg := "cancelled"
		if reason != "" {
			msg += ": " + reason
		}
		var attempt int
		if err := tx.QueryRow(ctx, `UPDATE images SET status = 'failed', last_error = $2, processed_at = now(),
				lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
			WHERE id = $1 RETURNING attempts`, id, msg).Scan(&attempt); err != nil {
			return fmt.Errorf("mark cancelled: %w", err)
		}
		return RecordEvent(ctx, tx, ev, id, catalog.StatusFailed, attempt, msg)
	})
}

// operate runs fn on the locked image in a transaction and returns the image
// as fn left it. An image outside scope is ErrNotFound, like a missing one.
func (q *Queue) operate(ctx context.Context, action string, scope catalog.Scope, id string, fn func(tx pgx.Tx, ev *Events, status, lastError string) error) (*canopyv1.Image, error) {
	var img *canopyv1.Image
	err := q.inTx(ctx, func(tx pgx.Tx, ev *Events) error {
		var status, lastError string
		err := tx.QueryRow(ctx, `SELECT status, last_error FROM images
			WHERE id = $1 AND ($2::text IS NULL OR project_id = $2::text) FOR UPDATE`, id, scope.Arg()).Scan(&status, &lastError)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("image %s: %w", id, catalog.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("lock image: %w", err)
		}
		if err := fn(tx, ev, status, lastError); err != nil {
			return err
		}
		img, err = catalog.GetImage(ctx, tx, scope, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", action, id, err)
	}
	return img, nil
}
