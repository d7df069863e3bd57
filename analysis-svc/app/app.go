// Package app wires analysis-svc together. main calls Run; tests call it too.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"

	"github.com/canopyag/canopy/analysis-svc/internal/analyze"
	"github.com/canopyag/canopy/analysis-svc/internal/index"
	"github.com/canopyag/canopy/analysis-svc/internal/raster"
	"github.com/canopyag/canopy/analysis-svc/internal/worker"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/auth"
	"github.com/canopyag/canopy/platform/config"
	"github.com/canopyag/canopy/platform/logging"
	"github.com/canopyag/canopy/platform/server"
)

// Config is everything analysis-svc reads from the environment. It has no
// database settings: the work queue is reached only through ingest-svc.
type Config struct {
	Server     server.Config
	IngestAddr string
	// IngestTLS turns on TLS to ingest-svc; IngestCAFile is the CA to
	// check its certificate with ("" for the system's roots).
	IngestTLS    bool
	IngestCAFile string
	// APIKey is the worker key sent on every call to ingest-svc; "" sends
	// none (AUTH_MODE=insecure-dev on ingest-svc).
	APIKey    string
	Blob      config.Blob
	Worker    worker.Config
	LogFormat string
	LogLevel  string
}

// LoadConfig reads and validates the configuration.
func LoadConfig(getenv config.Getenv) (Config, error) {
	r := config.NewReader(getenv)
	host, _ := os.Hostname()
	certFile, keyFile := r.TLS()
	c := Config{
		Server: server.Config{
			GRPCAddr: r.String("127.0.0.1:7003", "ANALYSIS_GRPC_ADDR"),
			// Off unless set: several workers often share a host, and only
			// a deployment knows which ports it can give them.
			HTTPAddr:      r.String("", "ANALYSIS_HTTP_ADDR"),
			ShutdownGrace: time.Second,
			TLSCertFile:   certFile,
			TLSKeyFile:    keyFile,
		},
		IngestAddr:   r.String("127.0.0.1:7001", "INGEST_ADDR"),
		IngestCAFile: r.String("", "INGEST_TLS_CA_FILE"),
		APIKey:       r.String("", "API_KEY"),
		Blob:         r.Blob(),
		Worker: worker.Config{
			Workers:   r.Int(runtime.GOMAXPROCS(0), 1, 256, "WORKERS", "WORKER_CONCURRENCY"),
			WorkerID:  r.String(fmt.Sprintf("%s-%d", host, os.Getpid()), "WORKER_ID"),
			ClaimWait: r.Duration(30*time.Second, 0, "CLAIM_WAIT"),
			Lease:     r.Duration(60*time.Second, time.Second, "LEASE_DURATION"),
			TempDir:   r.String(os.TempDir(), "WORK_DIR"),
			Options: analyze.Options{
				SAVIL:     proto.Float64(r.Float(0.5, 0, 1, "SAVI_L")),
				MaxPixels: r.Int64(250_000_000, 1, 1<<40, "MAX_PIXELS"),
			},
			ShutdownGrace: r.Duration(20*time.Second, 0, "SHUTDOWN_GRACE"),
		},
	}
	c.LogFormat, c.LogLevel = r.Logging()
	c.IngestTLS = r.Bool(c.IngestCAFile != "", "INGEST_TLS")
	thresholds, err := index.ParseThresholds(r.String("", "HEALTH_THRESHOLDS"))
	c.Worker.Options.HealthThresholds = thresholds
	compression, cerr := raster.ParseCompression(r.String("none", "GEOTIFF_COMPRESSION"))
	c.Worker.GeoTIFFCompression = compression
	err = errors.Join(err, cerr)
	if c.APIKey != "" && !auth.WellFormed(c.APIKey) {
		// Caught here, the service stops with a reason instead of running
		// healthy while every claim is refused.
		err = errors.Join(err, errors.New("API_KEY is not a Canopy key (cnp_...); make a worker key with canopy admin key create --role worker"))
	}
	if err := errors.Join(r.Err(), err); err != nil {
		return Config{}, fmt.Errorf("analysis-svc config: %w", err)
	}
	return c, nil
}

// checkWorkDir makes sure analyses can keep their files in dir: caught at
// start-up, a missing or read-only WORK_DIR stops the service with the
// reason, where otherwise every claimed image failed its attempts on it.
func checkWorkDir(dir string) error {
	probe, err := os.MkdirTemp(dir, "canopy-check-")
	if err != nil {
		return fmt.Errorf("WORK_DIR %s: analyses cannot keep their files there: %w", dir, err)
	}
	return os.Remove(probe)
}

// Healthcheck probes a running analysis-svc at its configured gRPC address.
func Healthcheck(ctx context.Context, getenv config.Getenv) error {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return err
	}
	return server.Probe(ctx, cfg.Server.GRPCAddr, cfg.Server.TLSCertFile != "")
}

// Run works until ctx ends. ready, if not nil, is called once the pool runs.
func Run(ctx context.Context, getenv config.Getenv, stdout io.Writer, ready func(grpcAddr string)) error {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return err
	}
	log := logging.New(stdout, cfg.LogFormat, cfg.LogLevel).With("service", "analysis-svc")
	blobs, err := cfg.Blob.Open(ctx)
	if err != nil {
		return err
	}
	if err := checkWorkDir(cfg.Worker.TempDir); err != nil {
		return err
	}
	creds := insecure.NewCredentials()
	if cfg.IngestTLS {
		if creds, err = server.ClientTLS(cfg.IngestCAFile); err != nil {
			return fmt.Errorf("INGEST_TLS_CA_FILE: %w", err)
		}
	}
	// Bearer refuses to send the key over plaintext only when TLS was asked
	// for; without TLS the key crosses the network in clear (loopback and
	// private networks: see README, "Securing a deployment").
	cc, err := grpc.NewClient(cfg.IngestAddr, grpc.WithTransportCredentials(creds),
		grpc.WithPerRPCCredentials(auth.Bearer{Key: cfg.APIKey, Secure: cfg.IngestTLS}))
	if err != nil {
		return fmt.Errorf("dial ingest-svc %s: %w", cfg.IngestAddr, err)
	}
	defer cc.Close()
	pool := worker.New(canopyv1.NewWorkServiceClient(cc), blobs, analyze.Analyze, cfg.Worker, log)

	// Only health, reflection and /metrics: the service's work is pulled,
	// not served.
	srv := server.New(cfg.Server, log)
	// Served at /metrics on ANALYSIS_HTTP_ADDR, when it is set.
	pool.RegisterMetrics(srv.Metrics())
	if err := srv.Listen(); err != nil {
		return err
	}
	log.InfoContext(ctx, "starting", "workers", cfg.Worker.Workers, "ingest", cfg.IngestAddr, "ingest_tls", cfg.IngestTLS,
		"api_key_set", cfg.APIKey != "", "blob_store", cfg.Blob.Describe(), "work_dir", cfg.Worker.TempDir)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(gctx) })
	g.Go(func() error { return pool.Run(gctx) })
	srv.Health().SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	if ready != nil {
		ready(srv.GRPCAddr())
	}
	err = g.Wait()
	log.Info("stopped")
	return err
}
