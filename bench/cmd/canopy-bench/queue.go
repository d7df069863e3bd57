package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// PickupResult is scenario 2 (first half): upload commit to claim.
type PickupResult struct {
	N int `json:"n"`
	// From the upload's response reaching the client (just after the commit)
	// to the idle worker's ClaimWork answer reaching it.
	Latency Dist `json:"commit_to_claim"`
	// Uploads answered after the claim had already arrived (counted as 0).
	ClaimBeforeResponse int  `json:"claim_before_response"`
	UploadMillis        Dist `json:"tiny_upload_ms"`
}

// QueueResult is scenario 3.
type QueueResult struct {
	Jobs    int `json:"jobs_per_run"`
	Workers int `json:"workers"`
	Batch   int `json:"batch"`
	Rounds  int `json:"rounds"`
	// Medians over the rounds, jobs/s.
	RPCSingle      float64      `json:"rpc_single_jobs_per_s"`
	RawSingle      float64      `json:"raw_sql_single_jobs_per_s"`
	RPCBatched     float64      `json:"rpc_batched_jobs_per_s"`
	RawBatched     float64      `json:"raw_sql_batched_jobs_per_s"`
	RatioSingle    float64      `json:"rpc_vs_raw_single"`
	RatioBatched   float64      `json:"rpc_vs_raw_batched"`
	PerRoundSingle [][2]float64 `json:"per_round_single_rpc_raw"`
	PerRoundBatch  [][2]float64 `json:"per_round_batched_rpc_raw"`
}

func tinyJPEG(seed int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for y := range 16 {
		for x := range 16 {
			img.Set(x, y, color.RGBA{uint8(x * 16), uint8(y * 16), uint8(seed), 255})
		}
	}
	var b bytes.Buffer
	_ = jpeg.Encode(&b, img, nil)
	return b.Bytes()
}

func noopAnalysis() *canopyv1.Analysis {
	return &canopyv1.Analysis{AlgorithmVersion: "bench-noop", Width: 1, Height: 1, CalibrationMode: "none", Worker: "canopy-bench"}
}

type claimSeen struct {
	id string
	at time.Time
}

func runPickup(ctx context.Context, c *runConfig, ingest *grpc.ClientConn) (*PickupResult, error) {
	wc := canopyv1.NewWorkServiceClient(ingest)
	cl := canopyv1.NewIngestServiceClient(ingest)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	seen := make(chan claimSeen, 16)
	werr := make(chan error, 1)
	go func() { // the idle worker: long-polls, completes at once
		for ctx.Err() == nil {
			resp, err := wc.ClaimWork(ctx, &canopyv1.ClaimWorkRequest{WorkerId: "bench-idle", MaxItems: 1, Wait: durationpb.New(30 * time.Second)})
			at := time.Now()
			if err != nil {
				if ctx.Err() == nil {
					werr <- err
				}
				return
			}
			for _, it := range resp.GetItems() {
				if _, err := wc.CompleteWork(ctx, &canopyv1.CompleteWorkRequest{ImageId: it.GetImage().GetId(), LeaseToken: it.GetLeaseToken(), Analysis: noopAnalysis()}); err != nil {
					werr <- err
					return
				}
				seen <- claimSeen{it.GetImage().GetId(), at}
			}
		}
	}()
	time.Sleep(100 * time.Millisecond) // let the first claim start waiting
	r := &PickupResult{N: c.pickupN}
	var lat, up []time.Duration
	batch := fmt.Sprintf("bench-pickup-%d", time.Now().UnixNano())
	for i := range c.pickupN {
		t0 := time.Now()
		resp, err := sendImage(ctx, cl, tinyJPEG(i), 64<<10, "pickup.jpg", batch)
		tr := time.Now()
		if err != nil {
			return nil, fmt.Errorf("upload: %w", err)
		}
		up = append(up, tr.Sub(t0))
		select {
		case s := <-seen:
			if s.id != resp.GetImageId() {
				return nil, fmt.Errorf("claimed %s, expected %s (is another worker running, or was the queue not empty?)", s.id, resp.GetImageId())
			}
			d := s.at.Sub(tr)
			if d < 0 {
				r.ClaimBeforeResponse++
				d = 0
			}
			lat = append(lat, d)
		case err := <-werr:
			return nil, fmt.Errorf("worker: %w", err)
		case <-time.After(10 * time.Second):
			return nil, fmt.Errorf("upload %s not claimed within 10s", resp.GetImageId())
		}
		// The worker is back in ClaimWork a moment after completing.
		time.Sleep(5 * time.Millisecond)
	}
	r.Latency, r.UploadMillis = dist(lat), dist(up)
	fmt.Fprintf(os.Stderr, "    commit->claim p50 %.2f ms p99 %.2f ms\n", r.Latency.P50, r.Latency.P99)
	return r, nil
}

func seedJobs(ctx context.Context, pool *pgxpool.Pool, n int, batch string) error {
	_, err := pool.Exec(ctx, `INSERT INTO images (id, batch_id, filename, size_bytes, status, max_attempts)
		SELECT gen_random_uuid(), $1, 'noop.jpg', 1, 'uploaded', 3 FROM generate_series(1, $2)`, batch, n)
	return err
}

// drain runs workers goroutines, each calling round until it completes
// nothing (the queue is empty) or fails, and returns the total completed
// and the first error.
func drain(workers int, round func(w int) (completed int, err error)) (int64, error) {
	var done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, err := round(w)
				done.Add(int64(n))
				if err != nil {
					errs <- err
					return
				}
				if n == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return done.Load(), <-errs
}

// rpcWorkers claims and completes through the RPCs until the queue is empty.
func rpcWorkers(ctx context.Context, ingest *grpc.ClientConn, workers, batch int) (int64, error) {
	wc := canopyv1.NewWorkServiceClient(ingest)
	return drain(workers, func(w int) (int, error) {
		resp, err := wc.ClaimWork(ctx, &canopyv1.ClaimWorkRequest{WorkerId: fmt.Sprintf("bench-noop-%d", w), MaxItems: int32(batch)})
		if err != nil {
			return 0, err
		}
		for i, it := range resp.GetItems() {
			if _, err := wc.CompleteWork(ctx, &canopyv1.CompleteWorkRequest{ImageId: it.GetImage().GetId(), LeaseToken: it.GetLeaseToken(), Analysis: noopAnalysis()}); err != nil {
				return i, err
			}
		}
		return len(resp.GetItems()), nil
	})
}

// The raw-SQL reference runs the statements that change data in the
// service's claim and completion (queue.Claim and queue.Complete), in the
// same transactions, without the reads that build the RPC answers
// (catalog.GetImages) or the exhausted-lease sweep. Its transactions hold
// PostgreSQL to generic plans as the queue's do (queue.genericPlans), so
// that the reference is not slowed by re-planning the service avoids.
var rawTx = pgx.TxOptions{BeginQuery: "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan"}

const rawClaim = `
	WITH queued AS (
		SELECT id, uploaded_at FROM images
		WHERE status = 'uploaded' AND run_after <= now()
		ORDER BY uploaded_at, id LIMIT $1 FOR UPDATE SKIP LOCKED),
	expired AS (
		SELECT id, uploaded_at FROM images
		WHERE status = 'processing' AND lease_expires_at < now() AND attempts < max_attempts
		ORDER BY uploaded_at, id LIMIT $1 FOR UPDATE SKIP LOCKED),
	next AS (
		SELECT id FROM (SELECT * FROM queued UNION ALL SELECT * FROM expired) c
		ORDER BY uploaded_at, id LIMIT $1)
	UPDATE images i SET status = 'processing', attempts = i.attempts + 1, lease_owner = $2,
		lease_token = gen_random_uuid(), lease_expires_at = now() + make_interval(secs => 60),
		processing_started_at = now()
	FROM next WHERE i.id = next.id
	RETURNING i.id::text, i.lease_token::text, i.attempts`

func rawWorkers(ctx context.Context, pool *pgxpool.Pool, workers, batch int) (int64, error) {
	type item struct {
		id, token string
		attempt   int
	}
	return drain(workers, func(w int) (int, error) {
		owner := fmt.Sprintf("raw-%d", w)
		var items []item
		err := pgx.BeginTxFunc(ctx, pool, rawTx, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, rawClaim, batch, owner)
			if err != nil {
				return err
			}
			for rows.Next() {
				var it item
				if err := rows.Scan(&it.id, &it.token, &it.attempt); err != nil {
					return err
				}
				items = append(items, it)
			}
			if err := rows.Err(); err != nil {
				return err
			}
			for _, it := range items {
				if _, err := tx.Exec(ctx, `INSERT INTO image_events (image_id, status, attempt, message) VALUES ($1, 'processing', $2, $3)`, it.id, it.attempt, "claimed by "+owner); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		for i, it := range items {
			err := pgx.BeginTxFunc(ctx, pool, rawTx, func(tx pgx.Tx) error {
				var attempt int
				if err := tx.QueryRow(ctx, `UPDATE images SET status = 'completed', processed_at = now(), last_error = '',
						lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
					WHERE id = $1 AND status = 'processing' AND lease_token = $2 RETURNING attempts`, it.id, it.token).Scan(&attempt); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `INSERT INTO analyses (image_id, algorithm_version, calibration_mode, width, height, map_index, map_blob_key, worker, result)
					VALUES ($1, 'bench-noop', 'none', 1, 1, '', '', $2, $3)`, it.id, owner,
					`{"imageId":"`+it.id+`","algorithmVersion":"bench-noop","width":1,"height":1,"calibrationMode":"none","worker":"`+owner+`"}`); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `INSERT INTO image_events (image_id, status, attempt, message) VALUES ($1, 'completed', $2, 'analysis stored')`, it.id, attempt)
				return err
			})
			if err != nil {
				return i, err
			}
		}
		return len(items), nil
	})
}

func runQueue(ctx context.Context, c *runConfig, ingest *grpc.ClientConn, db *pgxpool.Pool) (*QueueResult, error) {
	var waiting int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM images WHERE status IN ('uploaded', 'processing')`).Scan(&waiting); err != nil {
		return nil, err
	}
	if waiting > 0 {
		return nil, fmt.Errorf("%d images are queued or processing: run the queue scenario on an empty queue with analysis-svc stopped", waiting)
	}
	cfg, err := pgxpool.ParseConfig(c.dbURL)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(c.queueWorkers)
	cfg.MinConns = int32(c.queueWorkers)
	raw, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	r := &QueueResult{Jobs: c.queueJobs, Workers: c.queueWorkers, Batch: c.queueBatch, Rounds: c.queueRounds}
	one := func(kind string, batch int) (float64, error) {
		if err := seedJobs(ctx, db, c.queueJobs, "bench-queue"); err != nil {
			return 0, fmt.Errorf("seed: %w", err)
		}
		if _, err := db.Exec(ctx, "ANALYZE images"); err != nil {
			return 0, err
		}
		t := time.Now()
		var n int64
		if kind == "rpc" {
			n, err = rpcWorkers(ctx, ingest, c.queueWorkers, batch)
		} else {
			n, err = rawWorkers(ctx, raw, c.queueWorkers, batch)
		}
		d := time.Since(t)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", kind, err)
		}
		if n != int64(c.queueJobs) {
			return 0, fmt.Errorf("%s: %d of %d jobs done", kind, n, c.queueJobs)
		}
		return round3(float64(n) / d.Seconds()), nil
	}
	var rs, ss, rb, sb []float64
	for round := range c.queueRounds {
		for _, b := range []int{1, c.queueBatch} {
			// Alternate which goes first, so neither always meets a
			// freshly vacuumed (or bloated) table.
			order := []string{"raw", "rpc"}
			if round%2 == 1 {
				order = []string{"rpc", "raw"}
			}
			got := map[string]float64{}
			for _, k := range order {
				v, err := one(k, b)
				if err != nil {
					return nil, err
				}
				got[k] = v
			}
			if b == 1 {
				rs, ss = append(rs, got["rpc"]), append(ss, got["raw"])
				r.PerRoundSingle = append(r.PerRoundSingle, [2]float64{got["rpc"], got["raw"]})
			} else {
				rb, sb = append(rb, got["rpc"]), append(sb, got["raw"])
				r.PerRoundBatch = append(r.PerRoundBatch, [2]float64{got["rpc"], got["raw"]})
			}
			fmt.Fprintf(os.Stderr, "    round %d batch %d: rpc %.0f jobs/s, raw SQL %.0f jobs/s\n", round+1, b, got["rpc"], got["raw"])
		}
	}
	r.RPCSingle, r.RawSingle, r.RPCBatched, r.RawBatched = median(rs), median(ss), median(rb), median(sb)
	// The ratio of medians, and each round's ratio is in the per-round lists.
	r.RatioSingle, r.RatioBatched = ratio(r.RPCSingle, r.RawSingle), ratio(r.RPCBatched, r.RawBatched)
	return r, nil
}
