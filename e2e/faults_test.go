package e2e

// Faults the pipeline must survive, each against real processes: the three
// services run as built binaries, signalled and killed like in production.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	neturl "net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/canopyag/canopy/cli/client"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/blob"
	"github.com/canopyag/canopy/platform/blob/blobtest"
	"github.com/canopyag/canopy/platform/database/dbtest"
)

// Real images used as load (../shared/data; see PROVENANCE.md).
func micaCapture(data string) []client.File {
	dir := filepath.Join(data, "micasense-rededge", "0000SET", "000")
	var fs []client.File
	for b := 1; b <= 5; b++ {
		fs = append(fs, client.File{Path: filepath.Join(dir, fmt.Sprintf("IMG_0001_%d.tif", b))})
	}
	return fs
}

func djiJPEG(data string) []client.File {
	return []client.File{{Path: filepath.Join(data, "odm-tests-dji", "DJI_0061.JPG")}}
}

func tinyJPEG(data string) []client.File {
	return []client.File{{Path: filepath.Join(data, "webodm-fixtures", "tiny_drone_image.jpg")}}
}

func localBlobs(t *testing.T) (map[string]string, blob.Store) {
	dir := filepath.Join(t.TempDir(), "blobs")
	store, err := blob.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"BLOB_STORE": "local", "BLOB_DIR": dir}, store
}

func dial(t *testing.T, s *services) *client.Client {
	t.Helper()
	c, err := client.Dial(s.ingestAddr, s.statusAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// event is one image_events row.
type event struct {
	status  string
	attempt int
	message string
	at      time.Time
}

func events(t *testing.T, ctx context.Context, db *pgxpool.Pool, id string) []event {
	t.Helper()
	rows, err := db.Query(ctx, `SELECT status, attempt, message, created_at FROM image_events WHERE image_id = $1 ORDER BY seq`, id)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (event, error) {
		var e event
		err := r.Scan(&e.status, &e.attempt, &e.message, &e.at)
		return e, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// listen returns a channel of image ids whose events were announced.
func listen(t *testing.T, ctx context.Context, url string) <-chan string {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `LISTEN canopy_image_events`); err != nil {
		t.Fatal(err)
	}
	ids := make(chan string, 1024)
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			n, err := conn.WaitForNotification(lctx)
			if err != nil {
				return
			}
			_, id, _ := strings.Cut(n.Payload, " ")
			select {
			case ids <- id:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		conn.Close(context.Background())
	})
	return ids
}

// 1. kill -9 of an analysis worker mid-job: the image is reclaimed once its
// lease expires and completes exactly once, on the second attempt.
func TestFaultWorkerKilledMidJob(t *testing.T) {
	data := sharedData(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const lease = 2 * time.Second

	url := dbtest.NewDatabase(t)
	db := openPool(t, url)
	blobEnv, store := localBlobs(t)
	s := newServices(t, url, blobEnv)
	s.env["LEASE_DURATION"] = lease.String()
	s.env["WORKERS"] = "1"
	s.startIngest(nil)
	s.startStatus(nil)
	c := dial(t, s)
	notes := listen(t, ctx, url)

	// The kill must land mid-job. The worker is frozen (SIGSTOP) the moment
	// its claim is announced, and killed only if the image is then still
	// processing under its lease; if the job won the race, try again.
	var (
		id        string
		victim    string
		expiresAt time.Time
		killedAt  time.Time
	)
	for try := 1; try <= 3 && victim == ""; try++ {
		// The worker first, waiting in ClaimWork, then the upload: the
		// claim comes a moment after the upload, and the freeze right
		// after the claim's notification. Started after the upload, the
		// worker could finish the job (under a second) before its start-up
		// was even seen.
		name := fmt.Sprintf("doomed%d", try)
		w := s.startAnalysis(name, nil)
		resp, err := c.UploadFiles(ctx, micaCapture(data), client.UploadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		id = resp.GetImageId()
		waitEvent(t, ctx, db, notes, id, "processing", 1)
		w.signal(syscall.SIGSTOP)
		time.Sleep(200 * time.Millisecond) // anything already on the wire lands
		var st, owner string
		var attempts int
		if err := db.QueryRow(ctx, `SELECT status, coalesce(lease_owner, ''), attempts, coalesce(lease_expires_at, now())
			FROM images WHERE id = $1`, id).Scan(&st, &owner, &attempts, &expiresAt); err != nil {
			t.Fatal(err)
		}
		w.signal(syscall.SIGKILL)
		killedAt = time.Now()
		if code := w.wait(10 * time.Second); code != -int(syscall.SIGKILL) {
			t.Fatalf("worker exit %d, want killed by SIGKILL", code)
		}
		if st == "processing" && owner == name+"/0" && attempts == 1 {
			victim = name + "/0"
			break
		}
		t.Logf("try %d: the job finished (%s, owner %q) before the worker was frozen; again", try, st, owner)
		waitTerminal(t, ctx, db, 30*time.Second)
	}
	if victim == "" {
		t.Fatal("could not catch a worker mid-job in 3 tries")
	}

	// A second worker: it must wait for the lease, then reclaim.
	s.startAnalysis("rescuer", nil)
	reclaimedAt := waitEvent(t, ctx, db, notes, id, "processing", 2)
	waitEvent(t, ctx, db, notes, id, "completed", 2)

	var st string
	var attempts, analyses int
	var worker string
	if err := db.QueryRow(ctx, `SELECT i.status, i.attempts, (SELECT count(*) FROM analyses a WHERE a.image_id = i.id),
			coalesce((SELECT a.worker FROM analyses a WHERE a.image_id = i.id), '')
		FROM images i WHERE i.id = $1`, id).Scan(&st, &attempts, &analyses, &worker); err != nil {
		t.Fatal(err)
	}
	if st != "completed" || attempts != 2 || analyses != 1 || worker != "rescuer/0" {
		t.Errorf("after the kill: status %s, attempts %d, %d analysis rows by %q; want completed, 2, 1 by rescuer/0",
			st, attempts, analyses, worker)
	}
	evs := events(t, ctx, db, id)
	var got []string
	for _, e := range evs {
		got = append(got, fmt.Sprintf("%s/%d", e.status, e.attempt))
	}
	want := []string{"uploaded/0", "processing/1", "processing/2", "completed/2"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events %v, want %v", got, want)
	}
	if len(evs) == 4 {
		if !strings.Contains(evs[2].message, "lease of "+victim+" expired") {
			t.Errorf("reclaim event says %q, want it to name the expired lease of %s", evs[2].message, victim)
		}
		// Reclaimed after the lease, never before (the victim might only
		// have been slow).
		if evs[2].at.Before(expiresAt) {
			t.Errorf("reclaimed at %s, before the lease expired at %s", evs[2].at, expiresAt)
		}
	}
	sum := checkInvariants(t, ctx, db, store)
	t.Logf("lease %s; killed %s mid-job; reclaimed %s after the kill; %s",
		lease, victim, reclaimedAt.Sub(killedAt).Round(time.Millisecond), sum)
}

// waitEvent waits, woken by NOTIFY, until image id has an event with the
// status and attempt, and returns when the test learnt of it.
func waitEvent(t *testing.T, ctx context.Context, db *pgxpool.Pool, notes <-chan string, id, status string, attempt int) time.Time {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM image_events WHERE image_id = $1 AND status = $2 AND attempt = $3`,
			id, status, attempt).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return time.Now()
		}
		select {
		case <-notes:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatalf("image %s: no %s event of attempt %d within 60s: %v", id, status, attempt, events(t, ctx, db, id))
		}
	}
}

// slowReader paces a file the way a ground station on a thin link sends
// it, so uploads are really in flight when a fault hits.
type slowReader struct {
	r     io.Reader
	pause time.Duration
}

func (s slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.pause)
	return s.r.Read(p)
}

// uploadResult is what one upload attempt came to, from the client's side.
type uploadResult struct {
	clientID string
	id       string
	err      error
	started  time.Time // first chunk sent
	ended    time.Time
}

// uploadOnce uploads files under a unique client upload id, so the test
// can tell afterwards whether anything was recorded for a failed attempt.
func uploadOnce(ctx context.Context, c *client.Client, files []client.File, clientID string, pause time.Duration) uploadResult {
	res := uploadResult{clientID: clientID}
	md := &canopyv1.UploadMetadata{ClientUploadId: clientID}
	var readers []io.Reader
	for _, f := range files {
		fh, err := os.Open(f.Path)
		if err != nil {
			res.err = err
			return res
		}
		defer fh.Close()
		md.Files = append(md.Files, &canopyv1.FileSpec{Filename: filepath.Base(f.Path), BandRole: f.Role})
		readers = append(readers, slowReader{r: fh, pause: pause})
	}
	var once sync.Once
	resp, err := c.Upload(ctx, md, readers, client.UploadOptions{ChunkSize: 64 << 10, Progress: func(int64) {
		once.Do(func() { res.started = time.Now() })
	}})
	res.ended = time.Now()
	res.err = err
	if err == nil {
		res.id = resp.GetImageId()
	}
	return res
}

// grpcCode digs the status code out of a client error.
func grpcCode(err error) codes.Code {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if st, ok := status.FromError(e); ok {
			return st.Code()
		}
	}
	return codes.Unknown
}

// checkUploads checks each attempt against the database: an acknowledged
// upload is recorded under its id; a failed one failed with Unavailable and
// left no row.
func checkUploads(t *testing.T, ctx context.Context, db *pgxpool.Pool, results []uploadResult) (ok, refused int) {
	t.Helper()
	for _, r := range results {
		var id string
		err := db.QueryRow(ctx, `SELECT id::text FROM images WHERE client_upload_id = $1`, r.clientID).Scan(&id)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
		switch {
		case r.err == nil:
			ok++
			if id != r.id {
				t.Errorf("upload %s acknowledged as %s, but the database has %q", r.clientID, r.id, id)
			}
		default:
			refused++
			if code := grpcCode(r.err); code != codes.Unavailable {
				t.Errorf("upload %s failed with %v (%v), want Unavailable", r.clientID, code, r.err)
			}
			if id != "" {
				t.Errorf("upload %s failed (%v) yet image %s was recorded", r.clientID, r.err, id)
			}
		}
	}
	return ok, refused
}

// 5. SIGTERM to every service at once, under load: uploads in flight finish
// or are refused, claimed work is finished or released (no lease is left to
// expire), and after a restart everything completes on its first attempt.
func TestFaultSIGTERMUnderLoad(t *testing.T) {
	data := sharedData(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// Far longer than the test waits: work that had to wait for its lease
	// to expire would fail the test instead of slowing it down.
	const lease = 5 * time.Minute

	url := dbtest.NewDatabase(t)
	db := openPool(t, url)
	blobEnv, store := localBlobs(t)
	s := newServices(t, url, blobEnv)
	s.env["LEASE_DURATION"] = lease.String()
	s.env["WORKERS"] = "1"
	ingest := s.startIngest(nil)
	statusSvc := s.startStatus(nil)
	c := dial(t, s)

	// A backlog, so both workers are busy when the signal comes.
	for i := range 6 {
		if r := uploadOnce(ctx, c, micaCapture(data), fmt.Sprintf("backlog-%d", i), 0); r.err != nil {
			t.Fatal(r.err)
		}
	}
	// One worker that finishes its image within its grace period, and one
	// whose grace is over at once, so its image is cut off and released.
	patient := s.startAnalysis("patient", map[string]string{"SHUTDOWN_GRACE": "30s"})
	quick := s.startAnalysis("quick", map[string]string{"SHUTDOWN_GRACE": "0s"})

	// Three ground stations upload continuously over slow links.
	var (
		mu       sync.Mutex
		results  []uploadResult
		stopLoad atomic.Bool
		wg       sync.WaitGroup
		sent     atomic.Int64
	)
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stopLoad.Load(); i++ {
				r := uploadOnce(ctx, c, djiJPEG(data), fmt.Sprintf("station%d-%d", g, i), 15*time.Millisecond)
				sent.Add(1)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				if r.err != nil {
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	// Signal once both workers hold a lease and some uploads went through.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var processing int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM images WHERE status = 'processing'`).Scan(&processing); err != nil {
			t.Fatal(err)
		}
		if processing == 2 && sent.Load() >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("load did not build up: %d processing, %d uploads", processing, sent.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	rows, err := db.Query(ctx, `SELECT id::text, lease_owner FROM images WHERE status = 'processing'`)
	if err != nil {
		t.Fatal(err)
	}
	leased := map[string]string{} // image -> worker
	for rows.Next() {
		var id, owner string
		if err := rows.Scan(&id, &owner); err != nil {
			t.Fatal(err)
		}
		leased[id] = owner
	}
	rows.Close()
	termAt := time.Now()
	procs := []*proc{ingest, statusSvc, patient, quick}
	for _, p := range procs {
		p.signal(syscall.SIGTERM)
	}
	// Keep uploading for a moment: new uploads must be refused cleanly.
	time.Sleep(time.Second)
	stopLoad.Store(true)
	for _, p := range procs {
		if code := p.wait(60 * time.Second); code != 0 {
			t.Errorf("%s exited with %d after SIGTERM, want 0", p.name, code)
		}
		t.Logf("%s stopped %s after SIGTERM", p.name, p.exited.Sub(termAt).Round(time.Millisecond))
	}
	wg.Wait()

	// Nothing may be left holding a lease: finished or given back.
	var held []string
	rows, err = db.Query(ctx, `SELECT id::text || ' (' || coalesce(lease_owner, '') || ')' FROM images WHERE status = 'processing'`)
	if err != nil {
		t.Fatal(err)
	}
	held, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(held) > 0 {
		t.Errorf("%d images still processing after every service stopped, waiting for their leases to expire: %v", len(held), held)
	}
	// Each image leased at the signal: the patient worker finished it, the
	// quick one gave it back (without using up the attempt).
	for id, owner := range leased {
		evs := events(t, ctx, db, id)
		last := evs[len(evs)-1]
		switch {
		case strings.HasPrefix(owner, "patient/"):
			if last.status != "completed" || last.attempt != 1 {
				t.Errorf("image %s, leased by %s at SIGTERM: last event %+v, want completed within the grace period", id, owner, last)
			}
		case strings.HasPrefix(owner, "quick/"):
			if last.status != "uploaded" || last.attempt != 0 || !strings.HasPrefix(last.message, "released unfinished") {
				t.Errorf("image %s, leased by %s at SIGTERM: last event %+v, want released (uploaded, attempt 0)", id, owner, last)
			}
		default:
			t.Errorf("image %s leased by unknown worker %q", id, owner)
		}
	}
	var released, finishedAfterTerm int
	if err := db.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE message LIKE 'released unfinished%'),
			count(*) FILTER (WHERE status = 'completed' AND created_at >= $1)
		FROM image_events`, termAt).Scan(&released, &finishedAfterTerm); err != nil {
		t.Fatal(err)
	}
	var inFlightOK, inFlightFailed int
	for _, r := range results {
		if !r.started.IsZero() && r.started.Before(termAt) && r.ended.After(termAt) {
			if r.err == nil {
				inFlightOK++
			} else {
				inFlightFailed++
				t.Errorf("upload %s was streaming when SIGTERM came and failed: %v; in-flight uploads get the grace period", r.clientID, r.err)
			}
		}
	}
	ok, refused := checkUploads(t, ctx, db, results)

	// Restart everything: the queue must drain without any lease expiring.
	s.startIngest(nil)
	s.startStatus(nil)
	s.startAnalysis("after", nil)
	waitTerminal(t, ctx, db, 90*time.Second)
	var expired int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM image_events WHERE message LIKE '%expired%'`).Scan(&expired); err != nil {
		t.Fatal(err)
	}
	if expired > 0 {
		t.Errorf("%d leases had to expire", expired)
	}
	sum := checkInvariants(t, ctx, db, store)
	if sum.completed != sum.images || sum.attempts[1] != sum.images {
		t.Errorf("want every image completed on its first attempt: %s", sum)
	}
	t.Logf("uploads: %d acknowledged, %d refused (Unavailable); streaming at SIGTERM: %d finished, %d failed; "+
		"work at SIGTERM: %d completed during the grace, %d released; after restart: %s",
		ok, refused, inFlightOK, inFlightFailed, finishedAfterTerm, released, sum)
}

// loadGen uploads from a few ground stations until stopped, recording every
// attempt.
type loadGen struct {
	mu      sync.Mutex
	results []uploadResult
	stop    atomic.Bool
	wg      sync.WaitGroup
	sent    atomic.Int64
}

func startLoad(ctx context.Context, c *client.Client, stations int, prefix string, pick func(station, i int) []client.File, pause time.Duration) *loadGen {
	l := &loadGen{}
	for g := range stations {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; !l.stop.Load() && ctx.Err() == nil; i++ {
				r := uploadOnce(ctx, c, pick(g, i), fmt.Sprintf("%s%d-%d", prefix, g, i), pause)
				l.sent.Add(1)
				l.mu.Lock()
				l.results = append(l.results, r)
				l.mu.Unlock()
				if r.err != nil {
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	return l
}

func (l *loadGen) finish() []uploadResult {
	l.stop.Store(true)
	l.wg.Wait()
	return l.results
}

// 2. PostgreSQL restarted while uploads and analyses run: every service
// reconnects by itself, uploads caught by the restart either complete or
// fail with Unavailable, and nothing is left half-written.
func TestFaultPostgresRestart(t *testing.T) {
	data := sharedData(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	pg, url := startPostgres(t)
	blobEnv, store := localBlobs(t)
	s := newServices(t, url, blobEnv)
	s.env["LEASE_DURATION"] = "5s"
	s.env["WORKERS"] = "2"
	s.startIngest(nil)
	s.startStatus(nil)
	s.startAnalysis("w", nil)
	c := dial(t, s)
	db := openPool(t, url)

	pick := func(g, i int) []client.File {
		if (g+i)%3 == 0 {
			return tinyJPEG(data)
		}
		return djiJPEG(data)
	}
	load := startLoad(ctx, c, 3, "station", pick, 10*time.Millisecond)
	deadline := time.Now().Add(60 * time.Second)
	for {
		var completed int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM images WHERE status = 'completed'`).Scan(&completed); err != nil {
			t.Fatal(err)
		}
		if completed >= 2 && load.sent.Load() >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("load did not build up: %d completed, %d uploads", completed, load.sent.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
	downAt := time.Now()
	pg.restart(time.Second)
	upAt := time.Now()
	db.Reset()                  // the test's own connections died with the server
	time.Sleep(3 * time.Second) // load goes on against the restarted server
	results := load.finish()

	// Reconnected on their own: a new upload is accepted and a watcher on
	// status-svc follows it to completed (its LISTEN connection is back).
	var probe uploadResult
	for try := 0; ; try++ {
		probe = uploadOnce(ctx, c, tinyJPEG(data), fmt.Sprintf("probe-%d", try), 0)
		results = append(results, probe)
		if probe.err == nil {
			break
		}
		// Refusals while it reconnects are expected; anything else, or the
		// test's own deadline passing, is not.
		if grpcCode(probe.err) != codes.Unavailable || ctx.Err() != nil {
			t.Fatalf("ingest-svc did not recover after the restart: %v", probe.err)
		}
		sleep(ctx, 200*time.Millisecond)
	}
	recovered := time.Since(upAt)
	var last *canopyv1.Image
	for {
		err := c.Watch(ctx, probe.id, func(m *canopyv1.WatchImageResponse) { last = m.GetImage() })
		if err == nil {
			break
		}
		if grpcCode(err) != codes.Unavailable || ctx.Err() != nil {
			t.Fatalf("watch after the restart: %v", err)
		}
		sleep(ctx, 200*time.Millisecond)
	}
	if last.GetStatus() != canopyv1.ImageStatus_IMAGE_STATUS_COMPLETED {
		t.Errorf("probe image ended %v (%q), want COMPLETED", last.GetStatus(), last.GetLastError())
	}

	waitTerminal(t, ctx, db, 90*time.Second)
	ok, refused := checkUploads(t, ctx, db, results)
	var duringRestart int
	var lastRefusal, firstOK time.Duration = -1, -1
	for _, r := range results {
		if r.ended.After(downAt) && (r.started.IsZero() || r.started.Before(upAt)) {
			duringRestart++
		}
		if d := r.ended.Sub(upAt); d > 0 {
			if r.err != nil && d > lastRefusal {
				lastRefusal = d
			}
			if r.err == nil && (firstOK < 0 || d < firstOK) {
				firstOK = d
			}
		}
	}
	sum := checkInvariants(t, ctx, db, store)
	if sum.completed != sum.images {
		t.Errorf("every upload was a readable image, so every one must complete: %s", sum)
	}
	t.Logf("database down for %s; uploads: %d acknowledged, %d refused (Unavailable), %d overlapping the restart; "+
		"after the server was back: first upload acknowledged at +%s, last refused at +%s, probe accepted at +%s; %s",
		upAt.Sub(downAt).Round(time.Millisecond), ok, refused, duringRestart,
		firstOK.Round(time.Millisecond), lastRefusal.Round(time.Millisecond), recovered.Round(time.Millisecond), sum)
}

// s3Fault is what the fault proxy does to a request.
type s3Fault int32

const (
	passThrough    s3Fault = iota
	firstTry503            // 503 to the first attempt of every request
	partsAlways503         // and to every attempt of UploadPart
)

// faultProxy stands between a service and the S3 server: it can refuse
// connections (its port closed), or answer 503 to the first try of each
// request (recognised by the SDK's amz-sdk-request header) after reading
// the whole body, so only a client that can replay the body succeeds.
type faultProxy struct {
	t        *testing.T
	addr     string
	handler  http.Handler
	mode     atomic.Int32
	injected atomic.Int64
	mu       sync.Mutex
	srv      *http.Server
	ops      map[string]int // injected 503s per S3 operation
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	u, err := neturl.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{t: t, addr: freePortAddr(t), ops: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u) // keeps the Host header the request was signed with
	p.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode := s3Fault(p.mode.Load())
		q := r.URL.Query()
		isPart := r.Method == http.MethodPut && q.Has("partNumber") && q.Has("uploadId")
		first := strings.Contains(r.Header.Get("amz-sdk-request"), "attempt=1;")
		if (mode == firstTry503 || mode == partsAlways503) && first || mode == partsAlways503 && isPart {
			_, _ = io.Copy(io.Discard, r.Body) // the body is spent: a retry must send it again
			p.injected.Add(1)
			p.mu.Lock()
			p.ops[s3Op(r)]++
			p.mu.Unlock()
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>injected by the test</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	})
	p.accept()
	t.Cleanup(p.refuse)
	return p
}

func s3Op(r *http.Request) string {
	q := r.URL.Query()
	switch {
	case q.Has("partNumber"):
		return "UploadPart"
	case r.Method == http.MethodPost && q.Has("uploads"):
		return "CreateMultipartUpload"
	case r.Method == http.MethodPost && q.Has("uploadId"):
		return "CompleteMultipartUpload"
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		return "AbortMultipartUpload"
	}
	return r.Method
}

// accept opens the port (again).
func (p *faultProxy) accept() {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ln net.Listener
	var err error
	for range 50 { // the port was ours a moment ago; wait for it to free up
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("reopen proxy port: %v", err)
	}
	p.srv = &http.Server{Handler: p.handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
}

// refuse closes the port and every connection: new connections are refused.
func (p *faultProxy) refuse() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.srv != nil {
		_ = p.srv.Close()
		p.srv = nil
	}
}

func (p *faultProxy) opCounts() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprint(p.ops)
}

// faultFile writes a file of n bytes that ingest-svc accepts as a TIFF
// (it sniffs the signature) and returns its path and SHA-256.
func faultFile(t *testing.T, n int, seed byte) (string, string) {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{seed})
	_, _ = r.Read(b)
	copy(b, "II*\x00")
	path := filepath.Join(t.TempDir(), fmt.Sprintf("big%d.tif", seed))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return path, hex.EncodeToString(sum[:])
}

// 3. The object store fails: first it refuses connections, then it answers
// 503 to the first try of every request. Uploads fail cleanly while it is
// down, and succeed once retries can get through, which needs a body that
// can be sent again; a multipart upload that fails, or that the client
// cancels, is aborted.
func TestFaultObjectStore(t *testing.T) {
	data := sharedData(t)
	cfg := blobtest.StartVersity(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	proxy := newFaultProxy(t, cfg.Endpoint)
	url := dbtest.NewDatabase(t)
	db := openPool(t, url)
	s := newServices(t, url, map[string]string{
		"BLOB_STORE": "s3", "S3_BUCKET": cfg.Bucket, "S3_ENDPOINT": "http://" + proxy.addr,
		"S3_ACCESS_KEY_ID": cfg.AccessKeyID, "S3_SECRET_ACCESS_KEY": cfg.SecretAccessKey, "S3_REGION": cfg.Region,
	})
	// At debug level every call is logged when its handler returns, with
	// its request id, which is how phase 4 knows the server has finished
	// with a cancelled upload.
	ingest := s.startIngest(map[string]string{"LOG_LEVEL": "debug"}) // creates the bucket through the healthy proxy
	s.startStatus(nil)
	c := dial(t, s)
	uploadDone := func(requestID string) bool {
		for _, line := range strings.Split(ingest.log.String(), "\n") {
			if strings.Contains(line, "method=/canopy.v1.IngestService/UploadImage ") && strings.Contains(line+" ", " request_id="+requestID+" ") {
				return true
			}
		}
		return false
	}
	direct, err := blob.NewS3(ctx, cfg) // the store as it really is, behind the proxy
	if err != nil {
		t.Fatal(err)
	}
	raw := s3.New(s3.Options{
		Region: cfg.Region, BaseEndpoint: aws.String(cfg.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
	})
	pendingMultipart := func() []string {
		out, err := raw.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &cfg.Bucket})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, u := range out.Uploads {
			keys = append(keys, aws.ToString(u.Key))
		}
		return keys
	}
	bigPath, bigSHA := faultFile(t, 12<<20, 1) // two 8 MiB parts: multipart
	big := []client.File{{Path: bigPath}}

	parallel := func(n int, prefix string, files func(i int) []client.File) []uploadResult {
		out := make([]uploadResult, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out[i] = uploadOnce(ctx, c, files(i), fmt.Sprintf("%s-%d", prefix, i), 0)
			}()
		}
		wg.Wait()
		return out
	}
	pick := func(i int) []client.File {
		if i == 0 {
			return big
		}
		return tinyJPEG(data)
	}

	// Phase 1: connection refused. Enough uploads that the SDK's retries
	// would run out of its retry budget if it had one shared by all calls.
	proxy.refuse()
	down := parallel(24, "refused", pick)
	for _, r := range down {
		if r.err == nil {
			t.Errorf("upload %s succeeded while the store refused every connection", r.clientID)
		}
	}
	checkUploads(t, ctx, db, down)

	// Phase 2: the store is back but answers 503 to the first try of each
	// request: every upload must get through on a retry.
	proxy.mode.Store(int32(firstTry503))
	proxy.accept()
	flaky := parallel(6, "flaky", pick)
	for _, r := range flaky {
		if r.err != nil {
			t.Errorf("upload %s failed although every request succeeds on its second try: %v", r.clientID, r.err)
		}
	}
	injected503 := proxy.injected.Load()
	if injected503 < int64(len(flaky)) {
		t.Errorf("only %d 503s injected for %d uploads: the fault did not happen", injected503, len(flaky))
	}
	var bigID string
	if flaky[0].err == nil {
		bigID = flaky[0].id
		var key, sha string
		if err := db.QueryRow(ctx, `SELECT blob_key, sha256 FROM image_files WHERE image_id = $1`, bigID).Scan(&key, &sha); err != nil {
			t.Fatal(err)
		}
		n, stored, err := blobDigest(ctx, direct, key)
		if err != nil || stored != bigSHA || sha != bigSHA {
			t.Errorf("multipart upload stored %d bytes with sha256 %s (row says %s, %v); the file's is %s", n, stored, sha, err, bigSHA)
		}
	}

	// Phase 3: every try of every part fails: the upload fails cleanly and
	// its multipart upload is aborted.
	proxy.mode.Store(int32(partsAlways503))
	failed := uploadOnce(ctx, c, big, "parts-fail", 0)
	if failed.err == nil {
		t.Errorf("multipart upload succeeded although every UploadPart failed")
	}
	checkUploads(t, ctx, db, []uploadResult{failed})
	if keys := pendingMultipart(); len(keys) > 0 {
		t.Errorf("failed multipart upload not aborted: %v", keys)
	}

	// Phase 4: the client gives up half-way through a multipart upload.
	proxy.mode.Store(int32(firstTry503))
	const cancelledID = "cancelled-upload"
	cctx, ccancel := context.WithCancel(metadata.AppendToOutgoingContext(ctx, "x-request-id", cancelledID))
	var sentBytes atomic.Int64
	go func() {
		for sentBytes.Load() < 10<<20 && cctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		ccancel()
	}()
	fh, err := os.Open(bigPath)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Upload(cctx, &canopyv1.UploadMetadata{ClientUploadId: "cancelled", Files: []*canopyv1.FileSpec{{Filename: "big.tif"}}},
		[]io.Reader{slowReader{r: fh, pause: time.Millisecond}}, client.UploadOptions{ChunkSize: 256 << 10, Progress: func(n int64) { sentBytes.Store(n) }})
	fh.Close()
	ccancel()
	if err == nil {
		t.Fatal("cancelled upload succeeded")
	}
	// The client's call returns as soon as it cancels; the server may
	// still be creating the multipart upload (its first try answered 503),
	// so the store is checked only once the server's handler has returned:
	// its own log line, found by request id. (A count of lines taken before
	// the call misses a line of phase 3 still in the pipe from ingest-svc,
	// whose arrival then ended the wait.)
	deadline := time.Now().Add(90 * time.Second)
	for !uploadDone(cancelledID) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !uploadDone(cancelledID) {
		t.Fatalf("ingest-svc still handling the cancelled upload after 90s")
	}
	if keys := pendingMultipart(); len(keys) > 0 {
		t.Errorf("cancelled multipart upload not aborted when its call ended: %v", keys)
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM images WHERE client_upload_id = 'cancelled'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("cancelled upload recorded (%d rows, %v)", n, err)
	}

	sum := checkInvariants(t, ctx, db, direct)
	if sum.images != len(flaky) {
		t.Errorf("%d images recorded, want the %d uploads of phase 2", sum.images, len(flaky))
	}
	t.Logf("refused: %d uploads failed cleanly; 503 on first tries: %d uploads stored, %d 503s injected (%s); "+
		"failed and cancelled multipart uploads aborted; %s", len(down), len(flaky), proxy.injected.Load(), proxy.opCounts(), sum)
}

// Soak: many uploads while workers are killed at random and the database
// restarts once. Every image must end terminal, each completed image with
// exactly one analysis, and no blob may be orphaned. CANOPY_SOAK_IMAGES
// sets the number of images (default 200; the figure is 2000).
func TestFaultSoak(t *testing.T) {
	data := sharedData(t)
	total := 200
	if v := os.Getenv("CANOPY_SOAK_IMAGES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("CANOPY_SOAK_IMAGES=%q: want a positive integer", v)
		}
		total = n
	}
	budget := 2*time.Minute + time.Duration(total)*300*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	start := time.Now()

	pg, url := startPostgres(t)
	blobEnv, store := localBlobs(t)
	s := newServices(t, url, blobEnv)
	s.env["LEASE_DURATION"] = "2s"
	s.env["WORKERS"] = "1"
	s.env["MAX_ATTEMPTS"] = "5"
	s.startIngest(nil)
	s.startStatus(nil)
	c := dial(t, s)
	db := openPool(t, url)

	// Two worker processes; a chaos loop kills one at random (SIGKILL) and
	// starts a replacement, about every 1.5 s.
	var (
		wmu     sync.Mutex
		workers []*proc
		kills   int
		nextID  int
	)
	startWorker := func() {
		nextID++
		p := s.startAnalysis(fmt.Sprintf("soak%d", nextID), nil)
		wmu.Lock()
		workers = append(workers, p)
		wmu.Unlock()
	}
	startWorker()
	startWorker()
	chaosDone := make(chan struct{})
	stopChaos := make(chan struct{})
	go func() {
		defer close(chaosDone)
		r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
		for {
			select {
			case <-stopChaos:
				return
			case <-time.After(time.Second + time.Duration(r.IntN(1000))*time.Millisecond):
			}
			wmu.Lock()
			i := r.IntN(len(workers))
			victim := workers[i]
			workers = append(workers[:i], workers[i+1:]...)
			kills++
			wmu.Unlock()
			victim.signal(syscall.SIGKILL)
			<-victim.done
			startWorker()
		}
	}()

	// Four stations upload until total images are acknowledged; mostly the
	// small drone JPEG, with full-size JPEGs and 5-band captures mixed in.
	pick := func(g, i int) []client.File {
		switch (g*7 + i) % 20 {
		case 0:
			return micaCapture(data)
		case 1, 2:
			return djiJPEG(data)
		}
		return tinyJPEG(data)
	}
	var acked atomic.Int64
	load := &loadGen{}
	for g := range 4 {
		load.wg.Add(1)
		go func() {
			defer load.wg.Done()
			for i := 0; acked.Load() < int64(total) && ctx.Err() == nil; i++ {
				if acked.Add(1) > int64(total) { // reserve a slot
					acked.Add(-1)
					return
				}
				r := uploadOnce(ctx, c, pick(g, i), fmt.Sprintf("soak%d-%d", g, i), 0)
				if r.err != nil {
					acked.Add(-1)
					time.Sleep(100 * time.Millisecond)
				}
				load.mu.Lock()
				load.results = append(load.results, r)
				load.mu.Unlock()
			}
		}()
	}
	// One database restart, once a third of the images are in.
	for acked.Load() < int64(total/3) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	restartAt := time.Since(start)
	pg.restart(time.Second)
	db.Reset()
	load.wg.Wait()
	uploadsDone := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("uploads did not finish within %s", budget)
	}
	end, _ := ctx.Deadline()
	waitTerminal(t, ctx, db, time.Until(end)-10*time.Second)
	close(stopChaos)
	<-chaosDone

	ok, refused := checkUploads(t, ctx, db, load.results)
	if ok != total {
		t.Errorf("%d uploads acknowledged, want %d", ok, total)
	}
	sum := checkInvariants(t, ctx, db, store)
	if sum.images != total {
		t.Errorf("%d images recorded, want %d", sum.images, total)
	}
	rows, err := db.Query(ctx, `SELECT id::text || ': ' || last_error FROM images WHERE status = 'failed'`)
	if err != nil {
		t.Fatal(err)
	}
	failedWhy, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range failedWhy {
		// Only a worker dying on every one of an image's attempts may fail
		// it; all the images are readable.
		if !strings.Contains(f, "expired on the last of") {
			t.Errorf("image failed for a reason other than repeated worker deaths: %s", f)
		}
		id, _, _ := strings.Cut(f, ":")
		t.Logf("failed: %s; events: %+v", f, events(t, ctx, db, id))
	}
	var reclaims int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM image_events WHERE message LIKE 'lease of % expired; reclaimed%'`).Scan(&reclaims); err != nil {
		t.Fatal(err)
	}
	t.Logf("soak: %d images in %s (uploads done at %s, database restarted at %s); %d uploads refused and retried; "+
		"%d worker kills, %d leases reclaimed; %s",
		total, time.Since(start).Round(time.Second), uploadsDone.Round(time.Second), restartAt.Round(time.Second),
		refused, kills, reclaims, sum)
}

// sleep waits d, or less if ctx ends first.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
