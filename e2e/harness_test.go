package e2e

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	analysisapp "github.com/canopyag/canopy/analysis-svc/app"
	"github.com/canopyag/canopy/cli/client"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	ingestapp "github.com/canopyag/canopy/ingest-svc/app"
	"github.com/canopyag/canopy/platform/blob"
	"github.com/canopyag/canopy/platform/blob/blobtest"
	"github.com/canopyag/canopy/platform/database/dbtest"
	"github.com/canopyag/canopy/platform/shareddata"
	statusapp "github.com/canopyag/canopy/status-svc/app"
)

// stack is one running set of services.
type stack struct {
	t          *testing.T
	env        map[string]string
	blobs      blob.Store
	client     *client.Client
	ingestAddr string
	ingestHTTP string
	statusAddr string
	statusHTTP string
	stopAll    []func()
	// logs is every service's log output, for tests that search it.
	logs *syncBuf
}

// testLog sends service logs to the test's log, shown only on failure or -v.
// Everything written is also kept in tee, when set.
type testLog struct {
	t   *testing.T
	mu  sync.Mutex
	tee *syncBuf
}

func (w *testLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	if w.tee != nil {
		_, _ = w.tee.Write(p)
	}
	return len(p), nil
}

// newStack starts ingest-svc and status-svc. store is "local" or "s3".
// extra, if given, overrides or adds environment variables of every service.
func newStack(t *testing.T, store string, extra ...map[string]string) *stack {
	t.Helper()
	env := map[string]string{
		"DATABASE_URL":       dbtest.NewDatabase(t),
		"INGEST_GRPC_ADDR":   "127.0.0.1:0",
		"INGEST_HTTP_ADDR":   "127.0.0.1:0",
		"STATUS_GRPC_ADDR":   "127.0.0.1:0",
		"STATUS_HTTP_ADDR":   "127.0.0.1:0",
		"ANALYSIS_GRPC_ADDR": "127.0.0.1:0",
		"LOG_LEVEL":          "debug",
		"CLAIM_WAIT":         "2s",
		"WORKERS":            "2",
		// Tests not about authentication run without keys; auth_test.go
		// overrides this with AUTH_MODE=keys and real keys.
		"AUTH_MODE": "insecure-dev",
	}
	switch store {
	case "local":
		env["BLOB_STORE"] = "local"
		env["BLOB_DIR"] = filepath.Join(t.TempDir(), "blobs")
	case "s3":
		cfg := blobtest.StartVersity(t)
		env["BLOB_STORE"] = "s3"
		env["S3_BUCKET"] = cfg.Bucket
		env["S3_ENDPOINT"] = cfg.Endpoint
		env["S3_ACCESS_KEY_ID"] = cfg.AccessKeyID
		env["S3_SECRET_ACCESS_KEY"] = cfg.SecretAccessKey
		env["S3_REGION"] = cfg.Region
	}
	for _, m := range extra {
		for k, v := range m {
			env[k] = v
		}
	}
	s := &stack{t: t, env: env, logs: &syncBuf{}}
	t.Cleanup(s.stop)

	ready := make(chan [2]string, 1)
	exited := s.start("ingest-svc", func(ctx context.Context) error {
		return ingestapp.Run(ctx, s.getenv, &testLog{t: t, tee: s.logs}, func(g, h string) { ready <- [2]string{g, h} })
	})
	addrs := s.wait(ready, exited)
	s.ingestAddr, s.ingestHTTP = addrs[0], addrs[1]
	s.env["INGEST_ADDR"] = s.ingestAddr

	exited = s.start("status-svc", func(ctx context.Context) error {
		return statusapp.Run(ctx, s.getenv, &testLog{t: t, tee: s.logs}, func(g, h string) { ready <- [2]string{g, h} })
	})
	addrs = s.wait(ready, exited)
	s.statusAddr, s.statusHTTP = addrs[0], addrs[1]

	bcfg, err := ingestapp.LoadConfig(s.getenv)
	if err != nil {
		t.Fatal(err)
	}
	if s.blobs, err = bcfg.Blob.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.client, err = client.Dial(s.ingestAddr, s.statusAddr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.client.Close() })
	return s
}

// startAnalysis starts analysis-svc; tests start it after they begin watching,
// so the whole uploaded -> processing -> completed sequence is observable.
func (s *stack) startAnalysis() {
	ready := make(chan [2]string, 1)
	exited := s.start("analysis-svc", func(ctx context.Context) error {
		return analysisapp.Run(ctx, s.getenv, &testLog{t: s.t, tee: s.logs}, func(g string) { ready <- [2]string{g, ""} })
	})
	s.wait(ready, exited)
}

func (s *stack) getenv(k string) string { return s.env[k] }

// start runs a service until the stack stops; the returned channel closes if
// it exits.
func (s *stack) start(name string, run func(ctx context.Context) error) <-chan struct{} {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := run(ctx); err != nil {
			s.t.Errorf("%s: %v", name, err)
		}
	}()
	s.stopAll = append(s.stopAll, func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			s.t.Errorf("%s did not stop within 30s of cancellation", name)
		}
	})
	return done
}

func (s *stack) wait(ready chan [2]string, exited <-chan struct{}) [2]string {
	select {
	case a := <-ready:
		return a
	case <-exited:
		s.t.Fatal("service exited before it was ready")
	case <-time.After(60 * time.Second):
		s.t.Fatal("service did not become ready in 60s")
	}
	return [2]string{}
}

// stop shuts services down in reverse order of start.
func (s *stack) stop() {
	for i := len(s.stopAll) - 1; i >= 0; i-- {
		s.stopAll[i]()
	}
	s.stopAll = nil
}

func sharedData(t *testing.T) string { return shareddata.Dir(t) }

// dialWork returns a WorkService client of the stack's ingest-svc, closed
// when the test ends.
func dialWork(t *testing.T, s *stack) canopyv1.WorkServiceClient {
	t.Helper()
	cc, err := grpc.NewClient(s.ingestAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return canopyv1.NewWorkServiceClient(cc)
}
