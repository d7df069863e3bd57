// Package app wires ingest-svc together: config, database, blob store, the
// gRPC and REST servers. main calls Run; tests call it too, with their own
// environment and ":0" addresses.
package app

import (
	"context"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"io"
	"net/http"
	"time"

	"google.golang.org/grpc"

	"github.com/canopyag/canopy/gen"
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/ingest-svc/internal/queue"
	"github.com/canopyag/canopy/ingest-svc/internal/restupload"
	"github.com/canopyag/canopy/ingest-svc/internal/sweep"
	"github.com/canopyag/canopy/ingest-svc/internal/upload"
	"github.com/canopyag/canopy/ingest-svc/internal/workapi"
	"github.com/canopyag/canopy/platform/auth"
	"github.com/canopyag/canopy/platform/catalog"
	"github.com/canopyag/canopy/platform/config"
	"github.com/canopyag/canopy/platform/database"
	"github.com/canopyag/canopy/platform/logging"
	"github.com/canopyag/canopy/platform/notify"
	"github.com/canopyag/canopy/platform/server"
)

// Config is everything ingest-svc reads from the environment.
type Config struct {
	Server   server.Config
	Database database.Config
	Blob     config.Blob
	Migrate  bool
	Upload   upload.Limits
	Queue    queue.Config
	Work     workapi.Config
	Sweep    sweep.Config
	Auth     auth.Config
	// UploadIdle ends an upload whose client sends nothing for this long.
	UploadIdle time.Duration
	LogFormat  string
	LogLevel   string
}

// LoadConfig reads and validates the configuration.
func LoadConfig(getenv config.Getenv) (Config, error) {
	r := config.NewReader(getenv)
	chunkLimit := r.Int(4<<20, 64<<10, 64<<20, "GRPC_MAX_RECV_BYTES")
	certFile, keyFile := r.TLS()
	c := Config{
		Server: server.Config{
			GRPCAddr:       r.String("127.0.0.1:7001", "INGEST_GRPC_ADDR"),
			HTTPAddr:       r.String("127.0.0.1:8001", "INGEST_HTTP_ADDR"),
			ShutdownGrace:  r.Duration(15*time.Second, 0, "SHUTDOWN_GRACE"),
			MaxRecvMsgSize: chunkLimit,
			TLSCertFile:    certFile,
			TLSKeyFile:     keyFile,
		},
		Auth:       r.Auth(),
		UploadIdle: r.Duration(time.Minute, 0, "UPLOAD_IDLE_TIMEOUT"),
		Database:   r.Database(),
		Blob:       r.Blob(),
		Migrate:    r.Bool(true, "MIGRATE_ON_START"),
		Upload: upload.Limits{
			MaxBytes:    r.Int64(512<<20, 1, 1<<40, "MAX_UPLOAD_BYTES"),
			MaxFiles:    r.Int(16, 1, 64, "MAX_UPLOAD_FILES"),
			MaxAttempts: r.Int(3, 1, 100, "MAX_ATTEMPTS"),
		},
		Queue: queue.Config{
			BackoffBase: r.Duration(2*time.Second, time.Millisecond, "RETRY_BACKOFF_BASE"),
			BackoffMax:  r.Duration(5*time.Minute, time.Millisecond, "RETRY_BACKOFF_MAX"),
		},
		Work: workapi.Config{
			DefaultLease: r.Duration(60*time.Second, time.Second, "LEASE_DURATION"),
			MaxLease:     r.Duration(30*time.Minute, time.Second, "MAX_LEASE_DURATION"),
			MaxWait:      r.Duration(60*time.Second, 0, "MAX_CLAIM_WAIT"),
			MaxBatch:     r.Int(100, 1, 10000, "MAX_CLAIM_BATCH"),
			PollInterval: r.Duration(time.Second, 10*time.Millisecond, "CLAIM_POLL_INTERVAL"),
		},
		Sweep: sweep.Config{
			Interval: r.Duration(30*time.Second, 10*time.Millisecond, "OUTPUT_SWEEP_INTERVAL"),
			Grace:    r.Duration(2*time.Minute, 0, "OUTPUT_SWEEP_GRACE"),
		},
	}
	c.LogFormat, c.LogLevel = r.Logging()
	if err := r.Err(); err != nil {
		return Config{}, fmt.Errorf("ingest-svc config: %w", err)
	}
	return c, nil
}

// Run serves until ctx ends. ready, if not nil, is called with the bound
// addresses once the service answers.
func Run(ctx context.Context, getenv config.Getenv, stdout io.Writer, ready func(grpcAddr, httpAddr string)) error {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return err
	}
	log := logging.New(stdout, cfg.LogFormat, cfg.LogLevel).With("service", "ingest-svc")

	pool, err := database.Open(ctx, cfg.Database, 30*time.Second)
	if err != nil {
		return err
	}
	defer pool.Close()
	if cfg.Migrate {
		n, err := database.Migrate(ctx, pool)
		if err != nil {
			return err
		}
		log.InfoContext(ctx, "schema up to date", "migrations_applied", n)
	}
	blobs, err := cfg.Blob.Open(ctx)
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "connected", "database", cfg.Database.Redacted(), "blob_store", cfg.Blob.Describe())

	authn, err := auth.New(pool, auth.DefaultPolicy, cfg.Auth, log)
	if err != nil {
		return err
	}
	listener := notify.New(cfg.Database.ConnString(), map[string]notify.KeyFunc{catalog.WorkChannel: nil}, log)
	if !cfg.Database.Listen {
		listener.Disable() // waiting claims poll every CLAIM_POLL_INTERVAL
	}
	// Transitions are announced after they commit, by one goroutine that
	// outlives the server: the last commits of a drain are announced too.
	announcer := notify.NewAnnouncer(cfg.Database.ConnString(), log)
	defer server.Background(context.WithoutCancel(ctx), func(ctx context.Context) { _ = announcer.Run(ctx) })()
	// Authentication runs after the server's own logging and recovery
	// interceptors, so refused calls are logged and counted like others.
	srv := server.New(cfg.Server, log,
		grpc.ChainUnaryInterceptor(authn.Unary()),
		grpc.ChainStreamInterceptor(refuseUploadsWhenStopping(ctx.Done()), authn.Stream(), endIdleUploads(cfg.UploadIdle, log)))
	srv.SetDrain(func(dctx context.Context) { waitForLeases(dctx, pool, log) })
	q := queue.New(pool, cfg.Queue, announcer)
	uploads := upload.New(pool, blobs, cfg.Upload, log, announcer)
	uploads.RegisterMetrics(srv.Metrics())
	canopyv1.RegisterIngestServiceServer(srv.GRPC(), ingestServer{uploads, workapi.NewControl(q, log)})
	work := workapi.New(q, listener, cfg.Work, log, ctx.Done())
	work.RegisterMetrics(srv.Metrics())
	srv.Metrics().MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "canopy_notifications_sent_total",
			Help: "Notifications sent after their transactions committed.",
		}, func() float64 { return float64(announcer.Sent()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "canopy_notification_batches_total",
			Help: "Transactions that carried the notifications (several per batch under load).",
		}, func() float64 { return float64(announcer.Batches()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "canopy_notifications_dropped_total",
			Help: "Notifications given up while the database was unreachable; listeners heal from the tables.",
		}, func() float64 { return float64(announcer.Dropped()) }),
	)
	srv.Metrics().MustRegister(catalog.NewQueueCollector(pool))
	canopyv1.RegisterWorkServiceServer(srv.GRPC(), work)
	srv.AddGateway(canopyv1.RegisterIngestServiceHandlerFromEndpoint)
	srv.AddGateway(canopyv1.RegisterWorkServiceHandlerFromEndpoint)
	srv.Handle("/openapi.json", openAPI())
	if err := srv.Listen(); err != nil {
		return err
	}
	// Raw and multipart REST uploads go through our own gRPC port, like the
	// gateway's calls, so they meet the same limits and interceptors.
	self, err := grpc.NewClient(srv.GRPCAddr(), srv.SelfDialOptions()...)
	if err != nil {
		return fmt.Errorf("dial own gRPC port: %w", err)
	}
	defer self.Close()
	srv.HandleBeforeGateway("/v1/images:upload", restupload.Wrap(canopyv1.NewIngestServiceClient(self), restupload.Options{
		MaxBytes: cfg.Upload.MaxBytes, Idle: cfg.UploadIdle, Stopping: ctx, Grace: cfg.Server.ShutdownGrace,
	}))

	// Outputs that failed analyses left behind are removed in the
	// background; the sweeper stops before the pool closes.
	stopSweep := server.Background(ctx, sweep.New(pool, blobs, cfg.Sweep, log).Run)
	err = srv.ServeWithListener(ctx, listener, ready)
	stopSweep()
	log.Info("stopped")
	return err
}

// Migrate applies the schema migrations and returns: the one-shot
// "migrate" subcommand, for deployments that keep MIGRATE_ON_START off.
func Migrate(ctx context.Context, getenv config.Getenv, stdout io.Writer) error {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return err
	}
	log := logging.New(stdout, cfg.LogFormat, cfg.LogLevel).With("service", "ingest-svc")
	pool, err := database.Open(ctx, cfg.Database, 30*time.Second)
	if err != nil {
		return err
	}
	defer pool.Close()
	n, err := database.Migrate(ctx, pool)
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "schema up to date", "migrations_applied", n)
	return nil
}

// Healthcheck probes a running ingest-svc at its configured gRPC address.
func Healthcheck(ctx context.Context, getenv config.Getenv) error {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return err
	}
	return server.Probe(ctx, cfg.Server.GRPCAddr, cfg.Server.TLSCertFile != "")
}

// ingestServer is IngestService: uploads from the upload service, retry and
// cancel from the queue's control handlers.
type ingestServer struct {
	*upload.Service
	*workapi.Control
}

func openAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(gen.OpenAPI)
	})
}
