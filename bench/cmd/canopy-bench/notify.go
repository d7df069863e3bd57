package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/canopyag/canopy/platform/notify"
)

// NotifyResult measures what notifications cost the write path: the same
// event insert (row plus the trigger's UPDATE of the image's
// last_event_seq) without any notification, with the notification sent
// after the commit as the services send it (platform/notify.Announcer),
// and, for comparison, with pg_notify inside the inserting transaction as
// the services did before. Concurrent writers, a scratch schema of the
// same database, alternating runs.
type NotifyResult struct {
	Writers int     `json:"writers"`
	Seconds float64 `json:"seconds_per_run"`
	// WithNotify is after-commit announcing, the services' way.
	WithNotify    float64   `json:"with_notify_commits_per_s"`
	WithoutNotify float64   `json:"without_notify_commits_per_s"`
	Ratio         float64   `json:"with_vs_without"`
	PerRunWith    []float64 `json:"per_run_with"`
	PerRunWithout []float64 `json:"per_run_without"`
	// InCommit is pg_notify in the inserting transaction: PostgreSQL's
	// notify lock is held through each commit's WAL flush, so notifying
	// commits do not group.
	InCommit      float64 `json:"in_commit_notify_commits_per_s"`
	InCommitRatio float64 `json:"in_commit_vs_without"`
	// Announced counts the notes the announcer sent, and Batches the
	// transactions they went in.
	Announced int64 `json:"announced"`
	Batches   int64 `json:"announce_batches"`
	// The same with one writer: no concurrent commits, so nothing to
	// serialise.
	OneWriter struct {
		WithNotify    float64 `json:"with_notify_commits_per_s"`
		WithoutNotify float64 `json:"without_notify_commits_per_s"`
		Ratio         float64 `json:"with_vs_without"`
	} `json:"one_writer"`
	SyncCommit string `json:"synchronous_commit"`
	Fsync      string `json:"fsync"`
}

const notifySchema = `
DROP SCHEMA IF EXISTS bench_notify CASCADE;
CREATE SCHEMA bench_notify;
CREATE TABLE bench_notify.imgs (id int PRIMARY KEY, last_event_seq bigint NOT NULL DEFAULT 0);
INSERT INTO bench_notify.imgs (id) SELECT g FROM generate_series(0, 255) g;
CREATE TABLE bench_notify.ev_on (seq bigserial PRIMARY KEY, image_id int NOT NULL, status text NOT NULL, message text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE bench_notify.ev_off (seq bigserial PRIMARY KEY, image_id int NOT NULL, status text NOT NULL, message text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE FUNCTION bench_notify.on_f() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE bench_notify.imgs SET last_event_seq = NEW.seq WHERE id = NEW.image_id;
    PERFORM pg_notify('bench_notify_cost', NEW.seq::text || ' ' || NEW.image_id::text);
    RETURN NULL;
END $$;
CREATE FUNCTION bench_notify.off_f() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE bench_notify.imgs SET last_event_seq = NEW.seq WHERE id = NEW.image_id;
    RETURN NULL;
END $$;
CREATE TRIGGER t AFTER INSERT ON bench_notify.ev_on FOR EACH ROW EXECUTE FUNCTION bench_notify.on_f();
CREATE TRIGGER t AFTER INSERT ON bench_notify.ev_off FOR EACH ROW EXECUTE FUNCTION bench_notify.off_f();
`

func runNotify(ctx context.Context, c *runConfig, db *pgxpool.Pool) (*NotifyResult, error) {
	if _, err := db.Exec(ctx, notifySchema); err != nil {
		return nil, fmt.Errorf("scratch schema: %w", err)
	}
	defer db.Exec(context.WithoutCancel(ctx), `DROP SCHEMA IF EXISTS bench_notify CASCADE`) //nolint:errcheck
	cfg, err := pgxpool.ParseConfig(c.dbURL)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns, cfg.MinConns = int32(c.notifyConns), int32(c.notifyConns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	r := &NotifyResult{Writers: c.notifyConns, Seconds: c.notifySeconds}
	_ = db.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&r.SyncCommit)
	_ = db.QueryRow(ctx, `SHOW fsync`).Scan(&r.Fsync)
	ann, stopAnn, err := startAnnouncer(ctx, c.dbURL)
	if err != nil {
		return nil, err
	}
	defer stopAnn()

	// run inserts into table; "after" is ev_off plus an announcement of
	// each committed insert.
	run := func(table string, writers int) (float64, error) {
		announce := table == "after"
		if announce {
			table = "ev_off"
		}
		var n atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		deadline := time.Now().Add(time.Duration(c.notifySeconds * float64(time.Second)))
		start := time.Now()
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					var seq int64
					if err := pool.QueryRow(ctx, `INSERT INTO bench_notify.`+table+` (image_id, status, message) VALUES ($1, 'processing', 'bench') RETURNING seq`, w).Scan(&seq); err != nil {
						errs <- err
						return
					}
					if announce {
						ann.Announce(notify.Note{Channel: "bench_notify_cost", Payload: fmt.Sprintf("%d %d", seq, w)})
					}
					n.Add(1)
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return 0, err
		}
		return round3(float64(n.Load()) / time.Since(start).Seconds()), nil
	}
	// Alternating, so that no kind always runs first.
	order := []string{"after", "ev_off", "ev_on", "ev_off", "after", "ev_on"}
	var inCommit []float64
	for _, table := range order {
		v, err := run(table, c.notifyConns)
		if err != nil {
			return nil, err
		}
		switch table {
		case "after":
			r.PerRunWith = append(r.PerRunWith, v)
		case "ev_on":
			inCommit = append(inCommit, v)
		default:
			r.PerRunWithout = append(r.PerRunWithout, v)
		}
	}
	var on1, off1 []float64
	for _, table := range []string{"after", "ev_off", "ev_off", "after"} {
		v, err := run(table, 1)
		if err != nil {
			return nil, err
		}
		if table == "after" {
			on1 = append(on1, v)
		} else {
			off1 = append(off1, v)
		}
	}
	r.InCommit = median(inCommit)
	r.OneWriter.WithNotify, r.OneWriter.WithoutNotify = median(on1), median(off1)
	r.OneWriter.Ratio = ratio(r.OneWriter.WithNotify, r.OneWriter.WithoutNotify)
	r.WithNotify, r.WithoutNotify = median(r.PerRunWith), median(r.PerRunWithout)
	r.Ratio = ratio(r.WithNotify, r.WithoutNotify)
	r.InCommitRatio = ratio(r.InCommit, r.WithoutNotify)
	r.Announced, r.Batches = ann.Sent(), ann.Batches()
	fmt.Fprintf(os.Stderr, "    event inserts, %d writers: %.0f/s announced after commit, %.0f/s without (%.2f), %.0f/s notifying in the commit (%.2f); one writer: %.0f/s vs %.0f/s (%.2f)\n",
		r.Writers, r.WithNotify, r.WithoutNotify, r.Ratio, r.InCommit, r.InCommitRatio, r.OneWriter.WithNotify, r.OneWriter.WithoutNotify, r.OneWriter.Ratio)
	return r, nil
}

// startAnnouncer runs a notify.Announcer on its own connection, as
// ingest-svc announces its commits: the bench's writers stand in for
// ingest-svc, so they announce as it does.
func startAnnouncer(ctx context.Context, dbURL string) (*notify.Announcer, func(), error) {
	ann := notify.NewAnnouncer(dbURL, slog.New(slog.DiscardHandler))
	actx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = ann.Run(actx) }()
	return ann, func() { cancel(); <-done }, nil
}
