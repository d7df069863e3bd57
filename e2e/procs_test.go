package e2e

// Helpers for the fault tests: the services run as real processes (built
// once per test binary), PostgreSQL as a throwaway cluster when a test must
// restart it, and checks of the invariants every fault must leave intact.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/canopyag/canopy/platform/blob"
	"github.com/canopyag/canopy/platform/shareddata"
	"github.com/canopyag/canopy/platform/testnet"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// serviceBinaries builds ingest-svc, status-svc and analysis-svc once per
// test binary and returns the directory holding them.
func serviceBinaries(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		root, err := shareddata.RepoRoot()
		if err != nil {
			binErr = err
			return
		}
		dir, err := os.MkdirTemp("", "canopy-e2e-bin-")
		if err != nil {
			binErr = err
			return
		}
		binDir = dir
		cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator),
			"./ingest-svc/cmd/ingest-svc", "./status-svc/cmd/status-svc", "./analysis-svc/cmd/analysis-svc")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatalf("build service binaries: %v", binErr)
	}
	return binDir
}

// freePortAddr returns a local address with a free port (see
// testnet.FreeAddr).
func freePortAddr(t *testing.T) string { return testnet.FreeAddr(t) }

// proc is one service running as a child process.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	log    *syncBuf
	done   chan struct{}
	err    error     // set before done closes
	exited time.Time // likewise
	health string
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startProc runs binary name with env on top of the test's environment and
// waits until its gRPC health check at healthAddr answers SERVING.
func startProc(t *testing.T, name string, env map[string]string, healthAddr string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, log: &syncBuf{}, done: make(chan struct{}), health: healthAddr}
	p.cmd = exec.Command(filepath.Join(serviceBinaries(t), name))
	p.cmd.Env = os.Environ()
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p.cmd.Env = append(p.cmd.Env, k+"="+env[k])
	}
	p.cmd.Stdout = p.log
	p.cmd.Stderr = p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		p.exited = time.Now()
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.running() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() || os.Getenv("CANOPY_E2E_LOGS") == "1" {
			t.Logf("--- %s output (last 60 lines) ---\n%s", name, lastLines(p.log.String(), 60))
		}
	})
	if err := p.waitServing(60 * time.Second); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, lastLines(p.log.String(), 60))
	}
	return p
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) waitServing(wait time.Duration) error {
	cc, err := grpc.NewClient(p.health, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer cc.Close()
	hc := healthpb.NewHealthClient(cc)
	deadline := time.Now().Add(wait)
	for {
		if !p.running() {
			return fmt.Errorf("exited before serving: %v", p.err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not serving after %s: %v", wait, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *proc) signal(sig syscall.Signal) {
	if err := p.cmd.Process.Signal(sig); err != nil && p.running() {
		p.t.Fatalf("signal %s to %s: %v", sig, p.name, err)
	}
}

// wait waits up to d for the process to exit and returns its exit code, or
// fails the test.
func (p *proc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		p.t.Fatalf("%s still running %s after it was told to stop\n%s", p.name, d, lastLines(p.log.String(), 40))
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatalf("%s: %v", p.name, p.err)
	}
	return 0
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// services holds the addresses and shared settings of one deployment.
type services struct {
	t          *testing.T
	env        map[string]string // shared by all three
	ingestAddr string
	statusAddr string
}

func newServices(t *testing.T, databaseURL string, blobEnv map[string]string) *services {
	env := map[string]string{
		"DATABASE_URL":       databaseURL,
		"LOG_FORMAT":         "text",
		"LOG_LEVEL":          "info",
		"CLAIM_WAIT":         "5s",
		"RETRY_BACKOFF_BASE": "200ms",
		"RETRY_BACKOFF_MAX":  "1s",
		// Failed images' leftover outputs are swept at once, so the
		// orphan check below can wait for the sweep instead of minutes.
		"OUTPUT_SWEEP_INTERVAL": "200ms",
		"OUTPUT_SWEEP_GRACE":    "0s",
		// These tests are about faults, not authentication.
		"AUTH_MODE": "insecure-dev",
	}
	for k, v := range blobEnv {
		env[k] = v
	}
	return &services{t: t, env: env}
}

func (s *services) merged(extra map[string]string) map[string]string {
	env := map[string]string{}
	for k, v := range s.env {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// startIngest starts ingest-svc on fresh ports; workers started later
// claim from it.
func (s *services) startIngest(extra map[string]string) *proc {
	s.ingestAddr = freePortAddr(s.t)
	env := s.merged(map[string]string{"INGEST_GRPC_ADDR": s.ingestAddr, "INGEST_HTTP_ADDR": freePortAddr(s.t)})
	for k, v := range extra {
		env[k] = v
	}
	return startProc(s.t, "ingest-svc", env, s.ingestAddr)
}

func (s *services) startStatus(extra map[string]string) *proc {
	s.statusAddr = freePortAddr(s.t)
	env := s.merged(map[string]string{"STATUS_GRPC_ADDR": s.statusAddr, "STATUS_HTTP_ADDR": freePortAddr(s.t)})
	for k, v := range extra {
		env[k] = v
	}
	return startProc(s.t, "status-svc", env, s.statusAddr)
}

// startAnalysis starts a worker process named workerID (its workers are
// workerID/0, workerID/1, ...).
func (s *services) startAnalysis(workerID string, extra map[string]string) *proc {
	addr := freePortAddr(s.t)
	env := s.merged(map[string]string{
		"ANALYSIS_GRPC_ADDR": addr, "INGEST_ADDR": s.ingestAddr, "WORKER_ID": workerID,
		"WORK_DIR": s.t.TempDir(),
	})
	delete(env, "DATABASE_URL") // analysis-svc has no database access
	for k, v := range extra {
		env[k] = v
	}
	p := startProc(s.t, "analysis-svc", env, addr)
	p.name = "analysis-svc[" + workerID + "]"
	return p
}

// pgCluster is a throwaway PostgreSQL server a test may stop and start.
type pgCluster struct {
	t       *testing.T
	bin     string
	dir     string
	data    string
	port    int
	asOwner []string // runuser prefix when running as root
}

// startPostgres initialises and starts a throwaway cluster on a free port
// and creates database canopy; it returns the cluster and the database URL.
func startPostgres(t *testing.T) (*pgCluster, string) {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		t.Skip("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: cannot run a throwaway cluster")
	}
	sort.Strings(bins)
	c := &pgCluster{t: t, bin: filepath.Dir(bins[len(bins)-1])}
	dir, err := os.MkdirTemp("", "canopy-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir, c.data = dir, filepath.Join(dir, "data")
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("running as root and there is no postgres user to run a throwaway cluster: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		c.asOwner = []string{"runuser", "-u", "postgres", "--"}
	}
	_, portStr, _ := net.SplitHostPort(freePortAddr(t))
	c.port, _ = strconv.Atoi(portStr)
	c.run("initdb", "-D", c.data, "--auth=trust", "--no-sync", "-U", "postgres")
	c.start()
	t.Cleanup(func() {
		_ = c.pgctl("stop", "-m", "immediate")
	})

	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE canopy`); err != nil {
		t.Fatal(err)
	}
	return c, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/canopy?sslmode=disable", c.port)
}

func (c *pgCluster) run(name string, args ...string) {
	c.t.Helper()
	argv := append(append(append([]string{}, c.asOwner...), filepath.Join(c.bin, name)), args...)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

func (c *pgCluster) pgctl(args ...string) error {
	argv := append(append(append([]string{}, c.asOwner...), filepath.Join(c.bin, "pg_ctl"), "-D", c.data, "-w", "-t", "60"), args...)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return nil
}

func (c *pgCluster) start() {
	c.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", c.port, c.dir)
	if err := c.pgctl("-l", filepath.Join(c.dir, "log"), "-o", opts, "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		c.t.Fatalf("%v\n%s", err, lastLines(string(log), 30))
	}
}

// restart stops the server the way an operator's restart does (fast:
// sessions are terminated, transactions rolled back), waits down, starts it.
func (c *pgCluster) restart(down time.Duration) {
	c.t.Helper()
	if err := c.pgctl("stop", "-m", "fast"); err != nil {
		c.t.Fatal(err)
	}
	time.Sleep(down)
	c.start()
}

// openPool connects the test's own pool for assertions.
func openPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// summary is what a fault left behind, per image status.
type summary struct {
	images, completed, failed, pending int
	analyses                           int
	blobs                              int
	attempts                           map[int]int // attempts -> images
}

func (s summary) String() string {
	var at []string
	for k, v := range s.attempts {
		at = append(at, fmt.Sprintf("%d:%d", k, v))
	}
	sort.Strings(at)
	return fmt.Sprintf("images=%d completed=%d failed=%d not-terminal=%d analyses=%d blobs=%d attempts{%s}",
		s.images, s.completed, s.failed, s.pending, s.analyses, s.blobs, strings.Join(at, " "))
}

// checkInvariants checks what no fault may break, and returns a summary:
//   - every completed image has exactly one analysis row and exactly one
//     completed event; no other image has an analysis;
//   - every file row's blob exists with the recorded size and SHA-256;
//   - every output an analysis names exists;
//   - every blob in the store belongs to a file row or an analysis (no
//     orphans).
func checkInvariants(t *testing.T, ctx context.Context, db *pgxpool.Pool, store blob.Store) summary {
	t.Helper()
	sum := summary{attempts: map[int]int{}}
	rows, err := db.Query(ctx, `SELECT i.id::text, i.status, i.attempts,
			(SELECT count(*) FROM analyses a WHERE a.image_id = i.id),
			(SELECT count(*) FROM image_events e WHERE e.image_id = i.id AND e.status = 'completed')
		FROM images i`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var (
			id, st                 string
			attempts               int
			analyses, completedEvs int
		)
		if err := rows.Scan(&id, &st, &attempts, &analyses, &completedEvs); err != nil {
			t.Fatal(err)
		}
		sum.images++
		sum.analyses += analyses
		switch st {
		case "completed":
			sum.completed++
			sum.attempts[attempts]++
			if analyses != 1 || completedEvs != 1 {
				t.Errorf("image %s completed with %d analysis rows and %d completed events, want exactly 1 and 1", id, analyses, completedEvs)
			}
		case "failed":
			sum.failed++
			if analyses != 0 {
				t.Errorf("failed image %s has %d analysis rows", id, analyses)
			}
		default:
			sum.pending++
			if analyses != 0 {
				t.Errorf("%s image %s has %d analysis rows", st, id, analyses)
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	// ingest-svc sweeps away the outputs that attempts of a failed image
	// left; wait (bounded) until every failed image has been swept since it
	// failed, then nothing may be orphaned.
	sweepDeadline := time.Now().Add(30 * time.Second)
	for {
		var unswept int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM images WHERE status = 'failed'
			AND (outputs_swept_at IS NULL OR outputs_swept_at < processed_at)`).Scan(&unswept); err != nil {
			t.Fatal(err)
		}
		if unswept == 0 {
			break
		}
		if time.Now().After(sweepDeadline) {
			t.Errorf("%d failed images still not swept of their outputs after 30s", unswept)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	referenced := map[string]bool{}
	rows, err = db.Query(ctx, `SELECT image_id::text, blob_key, size_bytes, sha256 FROM image_files
		UNION ALL SELECT image_id::text, map_blob_key, -1, '' FROM analyses WHERE map_blob_key <> ''
		UNION ALL SELECT a.image_id::text, o->>'blobKey', -1, '' FROM analyses a,
			jsonb_array_elements(coalesce(a.result->'outputs', '[]'::jsonb)) o WHERE o->>'blobKey' <> ''`)
	if err != nil {
		t.Fatal(err)
	}
	type fileRow struct {
		id, key, sha string
		size         int64
	}
	var files []fileRow
	for rows.Next() {
		var f fileRow
		if err := rows.Scan(&f.id, &f.key, &f.size, &f.sha); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		referenced[f.key] = true
		if f.size < 0 {
			if _, err := store.Size(ctx, f.key); err != nil {
				t.Errorf("image %s: analysis output %s: %v", f.id, f.key, err)
			}
			continue
		}
		got, sha, err := blobDigest(ctx, store, f.key)
		if err != nil {
			t.Errorf("image %s: row without blob: %s: %v", f.id, f.key, err)
			continue
		}
		if got != f.size || sha != f.sha {
			t.Errorf("image %s: blob %s is %d bytes (sha256 %s), row says %d (%s)", f.id, f.key, got, sha, f.size, f.sha)
		}
	}
	err = store.List(ctx, "", func(key string) error {
		sum.blobs++
		if !referenced[key] {
			t.Errorf("orphaned blob %s: no file row or analysis refers to it", key)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func blobDigest(ctx context.Context, store blob.Store, key string) (int64, string, error) {
	rc, err := store.Open(ctx, key)
	if err != nil {
		return 0, "", err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return n, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// waitTerminal waits until no image is uploaded or processing, or fails
// the test at the deadline.
func waitTerminal(t *testing.T, ctx context.Context, db *pgxpool.Pool, wait time.Duration) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		var pending int
		var detail string
		err := db.QueryRow(ctx, `SELECT count(*), coalesce(string_agg(status || ' attempts=' || attempts || ' ' || last_error, '; '), '')
			FROM images WHERE status IN ('uploaded', 'processing')`).Scan(&pending, &detail)
		if err == nil && pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d images still not terminal after %s (%v): %.500s", pending, wait, err, detail)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
