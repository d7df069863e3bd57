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

// rpcWorkers claims and completes through the RPCs until the queue is
// empty: a claim of one and CompleteWork, or a claim of batch and one
// BatchCompleteWork for all it got.
func rpcWorkers(ctx context.Context, ingest *grpc.ClientConn, workers, batch int) (int64, error) {
	wc := canopyv1.NewWorkServiceClient(ingest)
	return drain(workers, func(w int) (int, error) {
		resp, err := wc.ClaimWork(ctx, &canopyv1.ClaimWorkRequest{WorkerId: fmt.Sprintf("bench-noop-%d", w), MaxItems: int32(batch)})
		if err != nil {
			return 0, err
		}
		items := resp.GetItems()
		if len(items) == 0 {
			return 0, nil
		}
		if batch == 1 {
			it := items[0]
			_, err := wc.CompleteWork(ctx, &canopyv1.CompleteWorkRequest{ImageId: it.GetImage().GetId(), LeaseToken: it.GetLeaseToken(), Analysis: noopAnalysis()})
			if err != nil {
				return 0, err
			}
			return 1, nil
		}
		req := &canopyv1.BatchCompleteWorkRequest{}
		for _, it := range items {
			req.Requests = append(req.Requests, &canopyv1.CompleteWorkRequest{ImageId: it.GetImage().GetId(), LeaseToken: it.GetLeaseToken(), Analysis: noopAnalysis()})
		}
		out, err := wc.BatchCompleteWork(ctx, req)
		if err != nil {
			return 0, err
		}
		for _, r := range out.GetResults() {
			if r.GetErrorCode() != "" {
				return 0, fmt.Errorf("complete: %s: %s", r.GetErrorCode(), r.GetErrorMessage())
			}
		}
		return len(out.GetResults()), nil
	})
}

// The raw-SQL reference runs the statements that change data in the
// service's claim and completion (queue.Claim and queue.CompleteBatch), as
// the service does: each transaction is one round trip (BEGIN, the
// statement, COMMIT, sent together), held to generic plans as the queue's
// are (queue.genericPlans), so that the reference is not slowed by what
// the service avoids. It leaves out the reads that build the RPC answers
// (catalog.GetImages), the exhausted-lease sweep, and gRPC.
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
		ORDER BY uploaded_at, id LIMIT $1),
	leased AS (
		UPDATE images i SET status = 'processing', attempts = i.attempts + 1, lease_owner = $2,
			lease_token = gen_random_uuid(), lease_expires_at = now() + make_interval(secs => 60),
			processing_started_at = now()
		FROM next WHERE i.id = next.id
		RETURNING i.id, i.lease_token, i.attempts),
	ev AS (
		INSERT INTO image_events (image_id, status, attempt, message)
		SELECT id, 'processing', attempts, 'claimed by ' || $2 FROM leased)
	SELECT id::text, lease_token::text FROM leased`

const rawComplete = `
	WITH input AS (
		SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::jsonb[]) AS t(id, token, result)),
	done AS (
		UPDATE images i SET status = 'completed', processed_at = now(), last_error = '',
			lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
		FROM input WHERE i.id = input.id AND i.status = 'processing' AND i.lease_token = input.token
		RETURNING i.id, i.attempts),
	stored AS (
		INSERT INTO analyses (image_id, algorithm_version, calibration_mode, width, height, map_index, map_blob_key, worker, result)
		SELECT id, 'bench-noop', 'none', 1, 1, '', '', $4, n.result FROM done JOIN input n USING (id))
	INSERT INTO image_events (image_id, status, attempt, message)
	SELECT id, 'completed', attempts, 'analysis stored' FROM done`

// rawTx runs stmt with args in a transaction of one round trip and calls
// read with its result.
func rawTx(ctx context.Context, pool *pgxpool.Pool, read func(pgx.Rows) error, stmt string, args ...any) error {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SET LOCAL plan_cache_mode = force_generic_plan")
	b.Queue(stmt, args...).Query(read)
	b.Queue("COMMIT")
	return pool.SendBatch(ctx, b).Close()
}

func rawWorkers(ctx context.Context, pool *pgxpool.Pool, workers, batch int) (int64, error) {
	return drain(workers, func(w int) (int, error) {
		owner := fmt.Sprintf("raw-%d", w)
		var ids, tokens, results []string
		err := rawTx(ctx, pool, func(rows pgx.Rows) error {
			for rows.Next() {
				var id, token string
				if err := rows.Scan(&id, &token); err != nil {
					return err
				}
				ids, tokens = append(ids, id), append(tokens, token)
				results = append(results, `{"imageId":"`+id+`","algorithmVersion":"bench-noop","width":1,"height":1,"calibrationMode":"none","worker":"`+owner+`"}`)
			}
			return rows.Err()
		}, rawClaim, batch, owner)
		if err != nil || len(ids) == 0 {
			return 0, err
		}
		done := 0
		err = rawTx(ctx, pool, func(rows pgx.Rows) error {
			rows.Close()
			done = int(rows.CommandTag().RowsAffected())
			return rows.Err()
		}, rawComplete, ids, tokens, results, owner)
		if err == nil && done != len(ids) {
			err = fmt.Errorf("raw SQL completed %d of %d", done, len(ids))
		}
		return done, err
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
