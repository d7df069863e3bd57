// Package sweep removes what failed analyses leave in the blob store.
//
// A worker writes an image's outputs (colour maps, GeoTIFFs, thumbnail)
// before it reports. If it dies or loses its lease part-way and the image
// then fails for good, those blobs belong to no analysis. The sweeper
// deletes every blob under a failed image's prefix that is not one of its
// uploaded files; the uploaded files stay, so RetryImage still works.
package sweep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/canopyag/canopy/platform/blob"
)

// Config is the sweeper's timing.
type Config struct {
	// Interval between sweeps.
	Interval time.Duration
	// Grace is how long after failing an image is left alone, so a worker
	// that has just lost its lease stops writing before its outputs go
	// (workers notice a lost lease within a third of the lease).
	Grace time.Duration
	// Batch bounds the images swept in one round.
	Batch int
}

// Store is what the sweeper needs of the blob store.
type Store interface {
	List(ctx context.Context, prefix string, fn func(key string) error) error
	Delete(ctx context.Context, key string) error
}

// Sweeper deletes failed images' outputs.
type Sweeper struct {
	pool  *pgxpool.Pool
	blobs Store
	cfg   Config
	log   *slog.Logger
}

// New returns a sweeper; Run starts it.
func New(pool *pgxpool.Pool, blobs Store, cfg Config, log *slog.Logger) *Sweeper {
	if cfg.Batch <= 0 {
		cfg.Batch = 100
	}
	return &Sweeper{pool: pool, blobs: blobs, cfg: cfg, log: log}
}

// Run sweeps every Interval until ctx ends. Errors are logged and the
// next round tries again: nothing is lost by sweeping late.
func (s *Sweeper) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if n, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "output sweep failed; retrying next round", "error", err)
		} else if n > 0 {
			s.log.InfoContext(ctx, "removed outputs of failed images", "blobs", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep does one round and returns how many blobs it deleted.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	rows, err := s.pool.Query(ctx, `SELECT id::text FROM images
		WHERE status = 'failed' AND processed_at <= now() - make_interval(secs => $1)
		  AND (outputs_swept_at IS NULL OR outputs_swept_at < processed_at)
		ORDER BY processed_at LIMIT $2`, s.cfg.Grace.Seconds(), s.cfg.Batch)
	if err != nil {
		return 0, fmt.Errorf("find failed images to sweep: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("find failed images to sweep: %w", err)
	}
	var total int
	var errs []error
	for _, id := range ids {
		n, err := s.sweepImage(ctx, id)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// sweepImage deletes one failed image's outputs while holding its row
// lock, so a RetryImage (which locks the row too) waits, and no new
// attempt can write outputs that this sweep would then delete.
func (s *Sweeper) sweepImage(ctx context.Context, id string) (int, error) {
	var deleted int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var still bool
		err := tx.QueryRow(ctx, `SELECT true FROM images WHERE id = $1 AND status = 'failed' FOR UPDATE SKIP LOCKED`, id).Scan(&still)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // retried meanwhile, or locked by a retry: a later round decides
		}
		if err != nil {
			return fmt.Errorf("lock image: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT blob_key FROM image_files WHERE image_id = $1`, id)
		if err != nil {
			return fmt.Errorf("list files: %w", err)
		}
		keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("list files: %w", err)
		}
		uploaded := map[string]bool{}
		for _, k := range keys {
			uploaded[k] = true
		}
		var outputs []string
		if err := s.blobs.List(ctx, blob.ImagePrefix(id), func(key string) error {
			if !uploaded[key] {
				outputs = append(outputs, key)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("list blobs: %w", err)
		}
		for _, k := range outputs {
			if err := s.blobs.Delete(ctx, k); err != nil {
				return fmt.Errorf("delete %s: %w", k, err)
			}
			deleted++
		}
		_, err = tx.Exec(ctx, `UPDATE images SET outputs_swept_at = now() WHERE id = $1`, id)
		return err
	})
	if err != nil {
		return deleted, fmt.Errorf("sweep image %s: %w", id, err)
	}
	return deleted, nil
}
