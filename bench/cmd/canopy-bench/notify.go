package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// NotifyResult measures what the NOTIFY in the event trigger costs the write
// path: the same event insert (row plus the trigger's UPDATE of the image's
// last_event_seq) with and without pg_notify, concurrent writers, in a
// scratch schema of the same database, alternating runs.
type NotifyResult struct {
	Writers       int       `json:"writers"`
	Seconds       float64   `json:"seconds_per_run"`
	WithNotify    float64   `json:"with_notify_commits_per_s"`
	WithoutNotify float64   `json:"without_notify_commits_per_s"`
	Ratio         float64   `json:"with_vs_without"`
	PerRunWith    []float64 `json:"per_run_with"`
	PerRunWithout []float64 `json:"per_run_without"`
	// The same with one writer: no concurrent commits, so nothing to
	// serialise. The gap to the figure above is the global lock NOTIFY
	// holds through the commit's WAL flush, which stops group commit.
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
	run := func(table string, writers int) (float64, error) {
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
					if _, err := pool.Exec(ctx, `INSERT INTO bench_notify.`+table+` (image_id, status, message) VALUES ($1, 'processing', 'bench')`, w); err != nil {
						errs <- err
						return
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
	// on, off, off, on: neither always runs first.
	order := []string{"ev_on", "ev_off", "ev_off", "ev_on"}
	for _, table := range order {
		v, err := run(table, c.notifyConns)
		if err != nil {
			return nil, err
		}
		if table == "ev_on" {
			r.PerRunWith = append(r.PerRunWith, v)
		} else {
			r.PerRunWithout = append(r.PerRunWithout, v)
		}
	}
	var on1, off1 []float64
	for _, table := range order {
		v, err := run(table, 1)
		if err != nil {
			return nil, err
		}
		if table == "ev_on" {
			on1 = append(on1, v)
		} else {
			off1 = append(off1, v)
		}
	}
	r.OneWriter.WithNotify, r.OneWriter.WithoutNotify = median(on1), median(off1)
	r.OneWriter.Ratio = ratio(r.OneWriter.WithNotify, r.OneWriter.WithoutNotify)
	r.WithNotify, r.WithoutNotify = median(r.PerRunWith), median(r.PerRunWithout)
	r.Ratio = ratio(r.WithNotify, r.WithoutNotify)
	fmt.Fprintf(os.Stderr, "    event inserts, %d writers: %.0f/s with NOTIFY, %.0f/s without (%.2f); one writer: %.0f/s vs %.0f/s (%.2f)\n",
		r.Writers, r.WithNotify, r.WithoutNotify, r.Ratio, r.OneWriter.WithNotify, r.OneWriter.WithoutNotify, r.OneWriter.Ratio)
	return r, nil
}
