package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/canopyag/canopy/platform/catalog"
	"google.golang.org/grpc"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// FanoutResult is scenario 4: W WatchImage streams on one status-svc, one
// image each, plus a few WatchImages (batch) streams, while events are
// inserted at a fixed rate into random watched images.
type FanoutResult struct {
	EventsPerS int          `json:"target_events_per_s"`
	Seconds    float64      `json:"seconds_per_step"`
	Firehoses  int          `json:"firehoses"`
	Steps      []FanoutStep `json:"steps"`
	// Status-svc's connections at the largest step over those at the
	// smallest: 1 when they do not grow with the number of watchers.
	ConnGrowth float64 `json:"status_conn_growth"`
	// The most LISTEN connections status-svc had at any step (want 1).
	MaxListenConns int `json:"max_listen_conns"`
	// Events delivered over events expected, over every step and stream
	// kind: 1 when none is lost.
	DeliveredRatio float64 `json:"delivered_ratio"`
}

// FanoutStep is one watcher count.
type FanoutStep struct {
	Watchers     int     `json:"watchers"`
	SetupSeconds float64 `json:"setup_seconds"`
	Events       int     `json:"events"`
	EventsPerS   float64 `json:"events_per_s"`
	// From the producer's commit returning to the watcher receiving it.
	Latency Dist `json:"commit_to_watcher"`
	Lost    int  `json:"lost"`
	// How long after the last commit the streams took to get everything
	// (or to stop making progress).
	DrainSeconds float64 `json:"drain_seconds"`
	Firehose     Dist    `json:"commit_to_firehose"`
	// Events of the batch a WatchImages stream did not get (per stream, summed).
	FirehoseLost int `json:"firehose_lost"`
	// Connections with status-svc's application_name, and how many of them
	// are LISTENing, sampled while the events flow.
	StatusConns       int     `json:"status_pg_conns"`
	StatusListenConns int     `json:"status_listen_conns"`
	StatusRSSMiB      float64 `json:"status_rss_mib"`
}

// recvLog records when each event seq arrived, per stream.
type recvLog struct {
	mu  sync.Mutex
	got map[int64]time.Time
}

func (l *recvLog) add(seq int64, at time.Time) {
	l.mu.Lock()
	if _, dup := l.got[seq]; !dup {
		l.got[seq] = at
	}
	l.mu.Unlock()
}

func (l *recvLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.got)
}

func runFanout(ctx context.Context, c *runConfig, status *grpc.ClientConn, db *pgxpool.Pool) (*FanoutResult, error) {
	r := &FanoutResult{EventsPerS: c.eventsPerS, Seconds: c.fanoutSeconds, Firehoses: c.firehoses}
	var want, got int
	for _, w := range c.watchers {
		st, sent, recv, err := fanoutStep(ctx, c, w, db)
		if err != nil {
			return nil, fmt.Errorf("%d watchers: %w", w, err)
		}
		want += sent
		got += recv
		r.Steps = append(r.Steps, *st)
		r.MaxListenConns = max(r.MaxListenConns, st.StatusListenConns)
		fmt.Fprintf(os.Stderr, "    %d watchers: %.0f events/s, commit->watcher p50 %.2f ms p99 %.2f ms, lost %d (firehose lost %d), status-svc %d pg conns (%d listening)\n",
			w, st.EventsPerS, st.Latency.P50, st.Latency.P99, st.Lost, st.FirehoseLost, st.StatusConns, st.StatusListenConns)
	}
	if n := len(r.Steps); n > 0 && r.Steps[0].StatusConns > 0 {
		r.ConnGrowth = ratio(float64(r.Steps[n-1].StatusConns), float64(r.Steps[0].StatusConns))
	}
	r.DeliveredRatio = ratio(float64(got), float64(want))
	return r, nil
}

// fanoutStep returns the step, the number of deliveries expected and the
// number received (over all streams).
func fanoutStep(ctx context.Context, c *runConfig, watchers int, db *pgxpool.Pool) (*FanoutStep, int, int, error) {
	st := &FanoutStep{Watchers: watchers}
	batch := fmt.Sprintf("bench-fanout-%d-%d", watchers, time.Now().UnixNano())
	// 'processing' without a lease expiry: no claim can take them, and no
	// upload event (hence no canopy_work notification) is involved.
	rows, err := db.Query(ctx, `INSERT INTO images (id, batch_id, filename, size_bytes, status, max_attempts, attempts)
		SELECT gen_random_uuid(), $1, 'fanout.jpg', 1, 'processing', 3, 1 FROM generate_series(1, $2) RETURNING id::text`, batch, watchers)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("seed images: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, 0, 0, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, 0, fmt.Errorf("seed images: %w", err)
	}
	defer func() {
		if _, err := db.Exec(context.WithoutCancel(ctx), `DELETE FROM images WHERE batch_id = $1`, batch); err != nil {
			fmt.Fprintln(os.Stderr, "    cleanup:", err)
		}
	}()

	// Separate HTTP/2 connections, a few hundred streams each, as many
	// browsers or dashboards behind a proxy would be.
	conns, closeConns, err := dialN(c.status, c.apiKey, max(1, watchers/250))
	if err != nil {
		return nil, 0, 0, err
	}
	defer closeConns()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()

	logs := make([]*recvLog, watchers)
	fire := make([]*recvLog, c.firehoses)
	var ready, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	fail := func(err error) {
		if wctx.Err() == nil && !errors.Is(err, io.EOF) {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err)
		}
	}
	t0 := time.Now()
	for i := range c.firehoses {
		fire[i] = &recvLog{got: map[int64]time.Time{}}
		cl := canopyv1.NewStatusServiceClient(conns[i%len(conns)])
		s, err := cl.WatchImages(wctx, &canopyv1.WatchImagesRequest{BatchId: batch})
		if err != nil {
			return nil, 0, 0, fmt.Errorf("watch images: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := s.Recv()
				if err != nil {
					fail(err)
					return
				}
				fire[i].add(m.GetEvent().GetSeq(), time.Now())
			}
		}()
	}
	// Open the watches a bounded number at a time: each costs status-svc
	// one read of the image, and opening 10,000 at once measures only the
	// pool's queue.
	sem := make(chan struct{}, 64)
	for i, id := range ids {
		logs[i] = &recvLog{got: map[int64]time.Time{}}
		cl := canopyv1.NewStatusServiceClient(conns[i%len(conns)])
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			s, err := cl.WatchImage(wctx, &canopyv1.WatchImageRequest{ImageId: id})
			if err != nil {
				<-sem
				fail(err)
				return
			}
			if _, err := s.Recv(); err != nil { // the current state
				<-sem
				fail(err)
				return
			}
			<-sem
			ready.Add(1)
			for {
				m, err := s.Recv()
				if err != nil {
					fail(err)
					return
				}
				logs[i].add(m.GetEvent().GetSeq(), time.Now())
			}
		}()
	}
	for ready.Load()+failed.Load() < int64(watchers) {
		if time.Since(t0) > 2*time.Minute {
			return nil, 0, 0, fmt.Errorf("only %d of %d watches started in 2 minutes", ready.Load(), watchers)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if failed.Load() > 0 {
		return nil, 0, 0, fmt.Errorf("%d watches failed: %v", failed.Load(), firstErr.Load())
	}
	st.SetupSeconds = round3(time.Since(t0).Seconds())
	// WatchImages subscribes before its first read; give the firehoses a
	// moment to be past it so events are not counted lost by a slow start.
	time.Sleep(200 * time.Millisecond)

	// Produce: a pacing loop hands out insert tickets to a few writers.
	type sent struct {
		idx int
		seq int64
		at  time.Time
	}
	var smu sync.Mutex
	var sents []sent
	tickets := make(chan int, c.eventsPerS)
	perr := make(chan error, 8)
	ann, stopAnn, err := startAnnouncer(ctx, c.dbURL)
	if err != nil {
		return nil, 0, 0, err
	}
	defer stopAnn()
	var pwg sync.WaitGroup
	for range 8 {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			for idx := range tickets {
				var (
					seq     int64
					project string
				)
				// Lock the image row before the insert takes its seq, as the
				// services do: one image's events then commit in seq order.
				if err := db.QueryRow(ctx, `WITH l AS (SELECT id, project_id FROM images WHERE id = $1 FOR UPDATE),
					e AS (INSERT INTO image_events (image_id, status, attempt, message)
						SELECT id, 'processing', 1, 'bench fan-out' FROM l RETURNING seq)
					SELECT e.seq, l.project_id FROM e, l`, ids[idx]).Scan(&seq, &project); err != nil {
					select {
					case perr <- err:
					default:
					}
					continue
				}
				at := time.Now()
				ann.Announce(catalog.EventNotes(seq, ids[idx], project, catalog.StatusProcessing)...)
				smu.Lock()
				sents = append(sents, sent{idx, seq, at})
				smu.Unlock()
			}
		}()
	}
	rss := sampleRSS(c.statusPID)
	rng := rand.New(rand.NewPCG(uint64(watchers), 1))
	dur := time.Duration(c.fanoutSeconds * float64(time.Second))
	start := time.Now()
	issued := 0
	sampled := false
	for el := time.Since(start); el < dur; el = time.Since(start) {
		for due := int(el.Seconds() * float64(c.eventsPerS)); issued < due; issued++ {
			tickets <- rng.IntN(watchers)
		}
		if !sampled && el > dur/2 {
			sampled = true
			if err := db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE query ILIKE 'listen%') FROM pg_stat_activity WHERE application_name = $1`, c.statusApp).Scan(&st.StatusConns, &st.StatusListenConns); err != nil {
				return nil, 0, 0, fmt.Errorf("pg_stat_activity: %w", err)
			}
		}
		time.Sleep(time.Millisecond)
	}
	close(tickets)
	pwg.Wait()
	prodDur := time.Since(start)
	select {
	case err := <-perr:
		return nil, 0, 0, fmt.Errorf("insert event: %w", err)
	default:
	}
	st.Events = len(sents)
	st.EventsPerS = round3(float64(len(sents)) / prodDur.Seconds())

	// Drain: wait (bounded) until every stream has what it should.
	drained := func() bool {
		per := map[int]int{}
		for _, s := range sents {
			per[s.idx]++
		}
		for idx, n := range per {
			if logs[idx].len() < n {
				return false
			}
		}
		for _, f := range fire {
			if f.len() < len(sents) {
				return false
			}
		}
		return true
	}
	// Wait while deliveries still arrive (a behind stream is slow, not
	// lossy): stop when complete, after 5 s without progress, or at 60 s.
	received := func() int {
		n := 0
		for _, l := range logs {
			n += l.len()
		}
		for _, f := range fire {
			n += f.len()
		}
		return n
	}
	t, lastN, lastProgress := time.Now(), -1, time.Now()
	for !drained() && time.Since(lastProgress) < 5*time.Second && time.Since(t) < time.Minute {
		if n := received(); n != lastN {
			lastN, lastProgress = n, time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	st.DrainSeconds = round3(time.Since(t).Seconds())
	st.StatusRSSMiB = rss.Stop()
	cancel()
	wg.Wait()

	var lat, flat []time.Duration
	for _, s := range sents {
		if at, ok := logs[s.idx].got[s.seq]; ok {
			lat = append(lat, max(0, at.Sub(s.at)))
		} else {
			st.Lost++
		}
		for _, f := range fire {
			if at, ok := f.got[s.seq]; ok {
				flat = append(flat, max(0, at.Sub(s.at)))
			} else {
				st.FirehoseLost++
			}
		}
	}
	st.Latency, st.Firehose = dist(lat), dist(flat)
	want := len(sents) * (1 + len(fire))
	return st, want, want - st.Lost - st.FirehoseLost, nil
}
