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

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/encoding/protojson"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/catalog"
	"github.com/canopyag/canopy/platform/notify"
)

// ErrLeaseLost means the caller's lease token is not the current one: the
// lease expired and the image was claimed again or went back to the queue,
// or the image was finished (completed, failed, or cancelled). The error
// wrapping it says which, from the image's state.
var ErrLeaseLost = errors.New("lease is not held")

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
	// afterRead, when set (by tests), runs once a pipelined transaction's
	// results are read, before a confirmed commit.
	afterRead func()
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
var genericPlans = pgx.TxOptions{BeginQuery: "BEGIN; " + genericPlansSQL}

const genericPlansSQL = "SET LOCAL plan_cache_mode = force_generic_plan"

// pipelined runs a transaction in one round trip: BEGIN (with
// genericPlans' setting), the statements queue adds to the batch, and
// COMMIT are sent together, and read is then called with the results of
// the statements queue added. At a thousand jobs a second, each round trip
// saved is CPU saved on both sides of the connection; a claim and a
// completion used to take three or four each.
//
// A failed statement makes PostgreSQL skip the rest, COMMIT too, and the
// transaction is rolled back. Because COMMIT is sent before read runs, an
// error of read's own (decoding a row) no longer undoes the transaction:
// the reads only build the caller's answer, and losing it after the commit
// is what a lost response already does (a completion's retry finds it
// done), so the transitions stay correct. The events read collected are
// announced whenever the transaction may have committed; a notification
// for nothing new only makes listeners read.
//
// With confirm, COMMIT is sent only after read, in a second round trip,
// and only if ctx is still live: a transaction whose caller has gone is
// rolled back. A claim needs that: committed for a caller that never gets
// the answer, its images would sit leased under tokens no one holds until
// the lease expires, each losing an attempt.
func (q *Queue) pipelined(ctx context.Context, confirm bool, queue func(b *pgx.Batch) error, read func(br pgx.BatchResults, ev *Events) error) error {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(genericPlansSQL)
	if err := queue(b); err != nil {
		return err
	}
	if !confirm {
		b.Queue("COMMIT")
	}
	conn, err := q.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire a connection: %w", err)
	}
	defer conn.Release()
	ev := &Events{}
	br := conn.SendBatch(ctx, b)
	_, err = br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		err = read(br, ev)
	}
	if err == nil && !confirm {
		_, err = br.Exec() // COMMIT
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if q.afterRead != nil {
		q.afterRead()
	}
	pg := conn.Conn().PgConn()
	if err == nil && confirm {
		if err = ctx.Err(); err == nil {
			_, err = conn.Exec(ctx, "COMMIT")
		}
	}
	if pg.IsClosed() {
		// A cancelled or broken round trip: whether it committed is unknown.
		return err
	}
	if pg.TxStatus() != 'I' {
		// A statement failed, or the caller went away before a confirmed
		// commit: the transaction is still open. End it here rather than
		// have the pool close the connection.
		_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		return err
	}
	q.ann.Announce(ev.notes...)
	return err
}

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
	if n <= 0 {
		return nil, nil
	}
	// The tokens are made here, so that the statement reading the leased
	// images back can go in the claim's round trip (see pipelined); COMMIT
	// follows in a second one, once the answer is built and the caller is
	// still there to get it.
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = uuid.NewString()
	}
	sweep := q.sweepDue()
	type claimed struct {
		id, token, project string
	}
	var (
		out      []Claimed
		projects []string // of out's images
		read     func(pgx.BatchResults) (map[string]*canopyv1.Image, error)
	)
	err := q.pipelined(ctx, true, func(b *pgx.Batch) error {
		if sweep {
			b.Queue(failExhaustedSQL)
		}
		if project := scope.Arg(); project != nil {
			b.Queue(claimProjectSQL, n, worker, lease.Seconds(), tokens, *project)
		} else {
			b.Queue(claimAllSQL, n, worker, lease.Seconds(), tokens)
		}
		read = catalog.QueueGetLeasedImages(b, tokens)
		return nil
	}, func(br pgx.BatchResults, ev *Events) error {
		if sweep {
			failed, err := scanEvents(br, catalog.StatusFailed)
			if err != nil {
				return fmt.Errorf("fail exhausted images: %w", err)
			}
			ev.notes = append(ev.notes, failed...)
		}
		var cs []claimed
		rows, err := br.Query()
		if err != nil {
			return fmt.Errorf("lease images: %w", err)
		}
		for rows.Next() {
			var (
				c   claimed
				seq int64
			)
			if err := rows.Scan(&c.id, &c.token, &seq, &c.project); err != nil {
				rows.Close()
				return fmt.Errorf("lease images: %w", err)
			}
			cs = append(cs, c)
			ev.notes = append(ev.notes, catalog.EventNotes(seq, c.id, c.project, catalog.StatusProcessing)...)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("lease images: %w", err)
		}
		imgs, err := read(br)
		if err != nil {
			return err
		}
		for _, c := range cs {
			img := imgs[c.id]
			if img == nil {
				return fmt.Errorf("image %s leased but not read back", c.id)
			}
			out = append(out, Claimed{Image: img, Token: c.token})
			projects = append(projects, c.project)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim work: %w", err)
	}
	// The panels are read after the commit: a panel is a finished image of
	// its own, which the claim does not change.
	for i := range out {
		if out[i].Panel, err = calibrationPanel(ctx, q.pool, out[i].Image, projects[i]); err != nil {
			return nil, fmt.Errorf("claim work: %w", err)
		}
	}
	return out, nil
}

// claimSQL leases up to $1 images to worker $2 for $3 seconds, with the
// lease tokens $4 (the k-th image leased gets the k-th), and records each
// one's "processing" event, in one statement; %[1]s is the scope's
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
		SELECT id, old_status, old_owner, row_number() OVER (ORDER BY uploaded_at, id) AS k
		FROM (SELECT * FROM queued UNION ALL SELECT * FROM expired) c
		ORDER BY uploaded_at, id
		LIMIT $1),
	leased AS (
		UPDATE images i SET
			status = 'processing',
			attempts = i.attempts + 1,
			lease_owner = $2,
			lease_token = ($4::uuid[])[next.k],
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
	claimProjectSQL = fmt.Sprintf(claimSQL, "AND project_id = $5")
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
// same) from a lost lease, and says what became of the image: a worker
// whose image was cancelled is told so, not that its lease expired.
func (q *Queue) whyNotHeld(ctx context.Context, scope catalog.Scope, id string) error {
	var st, owner, lastError string
	err := q.pool.QueryRow(ctx, `SELECT status, coalesce(lease_owner, ''), last_error FROM images
		WHERE id = $1 AND ($2::text IS NULL OR project_id = $2::text)`, id, scope.Arg()).Scan(&st, &owner, &lastError)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("image %s: %w", id, catalog.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("look up image %s: %w", id, err)
	}
	var why string
	switch st {
	case catalog.StatusProcessing:
		why = "the image is leased to " + owner + " under another token (the lease expired and it was claimed again, or the token is wrong)"
	case catalog.StatusUploaded:
		why = "the image is queued again (the lease expired or was released)"
	case catalog.StatusCompleted:
		why = "the image is already completed"
	case catalog.StatusFailed:
		why = "the image has failed: " + lastError
	default:
		why = "the image is " + st
	}
	return fmt.Errorf("image %s: %w: %s", id, ErrLeaseLost, why)
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
	done, err := q.CompleteBatch(ctx, scope, []Completion{{ID: id, Token: token, Analysis: a}})
	if err != nil {
		return nil, err
	}
	return done[0].Image, done[0].Err
}

// Completion is one analysis to store: Complete's arguments.
type Completion struct {
	ID, Token string
	Analysis  *canopyv1.Analysis
}

// Completed is one completion's outcome: the image as stored, or why
// nothing was stored for it (ErrLeaseLost, catalog.ErrNotFound).
type Completed struct {
	Image *canopyv1.Image
	Err   error
}

// CompleteBatch is Complete for several images in one transaction and one
// round trip, answered in cs' order. An image whose lease is not held is
// answered with its error and the others are stored; the returned error
// means none was (the ids must be distinct UUIDs).
func (q *Queue) CompleteBatch(ctx context.Context, scope catalog.Scope, cs []Completion) ([]Completed, error) {
	var (
		ids, tokens, versions, modes, indices, keys, workers []string
		widths, heights                                      []int32
		results                                              []string
	)
	for _, c := range cs {
		id, err := catalog.ParseID(c.ID)
		if err != nil {
			return nil, err
		}
		a := c.Analysis
		result, err := protojson.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("encode analysis of %s: %w", id, err)
		}
		ids, tokens = append(ids, id), append(tokens, c.Token)
		versions, modes = append(versions, a.GetAlgorithmVersion()), append(modes, a.GetCalibrationMode())
		widths, heights = append(widths, a.GetWidth()), append(heights, a.GetHeight())
		indices, keys, workers = append(indices, a.GetMapIndex()), append(keys, a.GetMapBlobKey()), append(workers, a.GetWorker())
		results = append(results, string(result))
	}
	out := make([]Completed, len(cs))
	held := make(map[string]bool, len(cs))
	var read func(pgx.BatchResults) (map[string]*canopyv1.Image, error)
	err := q.pipelined(ctx, false, func(b *pgx.Batch) error {
		if len(ids) == 1 {
			b.Queue(completeOneSQL, ids[0], tokens[0], versions[0], modes[0], widths[0], heights[0], indices[0], keys[0], workers[0], results[0], scope.Arg())
		} else {
			b.Queue(completeManySQL, ids, tokens, versions, modes, widths, heights, indices, keys, workers, results, scope.Arg())
		}
		// The images are read back in the same round trip, after the
		// statement (so with the event trigger's last_event_seq); the
		// lease token proved the right to them, whatever their project.
		var err error
		read, err = catalog.QueueFindImages(b, catalog.AllProjects, ids)
		return err
	}, func(br pgx.BatchResults, ev *Events) error {
		rows, err := br.Query()
		if err != nil {
			return fmt.Errorf("mark completed and store analyses: %w", err)
		}
		for rows.Next() {
			var (
				id, project string
				seq         int64
			)
			if err := rows.Scan(&id, &seq, &project); err != nil {
				rows.Close()
				return fmt.Errorf("mark completed and store analyses: %w", err)
			}
			held[id] = true
			ev.notes = append(ev.notes, catalog.EventNotes(seq, id, project, catalog.StatusCompleted)...)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("mark completed and store analyses: %w", err)
		}
		imgs, err := read(br)
		if err != nil {
			return err
		}
		for i, id := range ids {
			if held[id] {
				out[i].Image = imgs[id]
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("complete work: %w", err)
	}
	for i, id := range ids {
		switch {
		case !held[id]:
			out[i].Err = q.whyNotHeld(ctx, scope, id)
		case out[i].Image == nil:
			out[i].Err = fmt.Errorf("image %s completed but not read back", id)
		}
	}
	return out, nil
}

// completeSQL marks the images $1 completed where $2 is still their lease
// token and they are within scope $11, stores their analyses ($3..$10, one
// per image) and records their events; it returns each completed image's
// id, event seq and project. %[1]s makes the input rows: one from scalar
// parameters (completeOneSQL) or one per element of array parameters
// (completeManySQL). A single completion is the common call, and encoding
// ten one-element arrays cost it a tenth of ingest-svc's CPU.
const completeSQL = `
	WITH input AS (%[1]s),
	done AS (
		UPDATE images i SET status = 'completed', processed_at = now(), last_error = '',
			lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
		FROM input
		WHERE i.id = input.id AND i.status = 'processing' AND i.lease_token = input.token
		  AND ($11::text IS NULL OR i.project_id = $11::text)
		RETURNING i.id, i.attempts, i.project_id),
	stored AS (
		INSERT INTO analyses
			(image_id, algorithm_version, calibration_mode, width, height, map_index, map_blob_key, worker, result)
		SELECT id, n.algorithm_version, n.calibration_mode, n.width, n.height, n.map_index, n.map_blob_key, n.worker, n.result
		FROM done JOIN input n USING (id)),
	ev AS (
		INSERT INTO image_events (image_id, status, attempt, message)
		SELECT id, 'completed', attempts, 'analysis stored' FROM done
		RETURNING seq, image_id)
	SELECT done.id::text, ev.seq, done.project_id FROM done JOIN ev ON ev.image_id = done.id`

var (
	completeOneSQL = fmt.Sprintf(completeSQL, `SELECT $1::uuid AS id, $2::uuid AS token, $3::text AS algorithm_version,
		$4::text AS calibration_mode, $5::int AS width, $6::int AS height, $7::text AS map_index,
		$8::text AS map_blob_key, $9::text AS worker, $10::jsonb AS result`)
	completeManySQL = fmt.Sprintf(completeSQL, `SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int[], $6::int[],
			$7::text[], $8::text[], $9::text[], $10::jsonb[])
		AS t(id, token, algorithm_version, calibration_mode, width, height, map_index, map_blob_key, worker, result)`)
)

// inLease runs fn in a transaction and returns the image as it is then.
// fn reports whether token was still the image's lease; when it was not,
// nothing changed and the error says whether the image is missing or the
// lease was lost.
func (q *Queue) inLease(ctx context.Context, action string, scope catalog.Scope, id string, fn func(tx pgx.Tx, ev *Events) (held bool, err error)) (*canopyv1.Image, error) {
	var img *canopyv1.Image
	held := false
	err := q.inTx(ctx, func(tx pgx.Tx, ev *Events) error {
		var err error
		if held, err = fn(tx, ev); err != nil || !held {
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
	return q.inLease(ctx, "fail", catalog.AllProjects, id, func(tx pgx.Tx, ev *Events) (bool, error) {
		var attempt, maxAttempts int
		err := tx.QueryRow(ctx, `SELECT attempts, max_attempts FROM images
			WHERE id = $1 AND status = 'processing' AND lease_token = $2 FOR UPDATE`, id, token).Scan(&attempt, &maxAttempts)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("lock image: %w", err)
		}
		if retryable && attempt < maxAttempts {
			delay := q.backoff(attempt)
			if _, err := tx.Exec(ctx, `UPDATE images SET status = 'uploaded', last_error = $2,
					run_after = now() + make_interval(secs => $3),
					lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
				WHERE id = $1`, id, msg, delay.Seconds()); err != nil {
				return false, fmt.Errorf("re-queue: %w", err)
			}
			note := fmt.Sprintf("attempt %d of %d failed, retrying in %s: %s", attempt, maxAttempts, delay.Round(time.Millisecond), msg)
			return true, RecordEvent(ctx, tx, ev, id, catalog.StatusUploaded, attempt, note)
		}
		if _, err := tx.Exec(ctx, `UPDATE images SET status = 'failed', last_error = $2, processed_at = now(),
				lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
			WHERE id = $1`, id, msg); err != nil {
			return false, fmt.Errorf("mark failed: %w", err)
		}
		return true, RecordEvent(ctx, tx, ev, id, catalog.StatusFailed, attempt, msg)
	})
}

// Release gives a leased image back unfinished: it is claimable again at
// once and the attempt is not counted, so restarting workers never uses up
// an image's attempts.
func (q *Queue) Release(ctx context.Context, id, token, reason string) (*canopyv1.Image, error) {
	return q.inLease(ctx, "release", catalog.AllProjects, id, func(tx pgx.Tx, ev *Events) (bool, error) {
		var attempt int
		err := tx.QueryRow(ctx, `UPDATE images SET status = 'uploaded', attempts = greatest(attempts - 1, 0),
				run_after = now(), lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
			WHERE id = $1 AND status = 'processing' AND lease_token = $2
			RETURNING attempts`, id, token).Scan(&attempt)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("release: %w", err)
		}
		return true, RecordEvent(ctx, tx, ev, id, catalog.StatusUploaded, attempt, "released unfinished: "+reason)
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
