// Package app wires status-svc together. main calls Run; tests call it too.
package app

import (
	"context"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"io"
	"time"

	"google.golang.org/grpc"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/auth"
	"github.com/canopyag/canopy/platform/config"
	"github.com/canopyag/canopy/platform/database"
	"github.com/canopyag/canopy/platform/logging"
	"github.com/canopyag/canopy/platform/notify"
	"github.com/canopyag/canopy/platform/server"
	"github.com/canopyag/canopy/status-svc/internal/sse"
	"github.com/canopyag/canopy/status-svc/internal/statusapi"
)

// Config is everything status-svc reads from the environment.
type Config struct {
	Server   server.Config
	Database database.Config
	Auth     auth.Config
	// EventPoll is how often the event log is read for events whose
	// notification never came; without LISTEN, the latency of every watch.
	EventPoll time.Duration
	// GapWait is how long a watch of a project or batch waits for a seq
	// that was skipped (its transaction not yet committed) before giving
	// it up as rolled back.
	GapWait   time.Duration
	LogFormat string
	LogLevel  string
}

// LoadConfig reads and validates the configuration.
func LoadConfig(getenv config.Getenv) (Config, error) {
	r := config.NewReader(getenv)
	certFile, keyFile := r.TLS()
	c := Config{
		Server: server.Config{
			GRPCAddr:      r.String("127.0.0.1:7002", "STATUS_GRPC_ADDR"),
			HTTPAddr:      r.String("127.0.0.1:8002", "STATUS_HTTP_ADDR"),
			ShutdownGrace: r.Duration(5*time.Second, 0, "SHUTDOWN_GRACE"),
			TLSCertFile:   certFile,
			TLSKeyFile:    keyFile,
		},
		Database:  r.Database(),
		Auth:      r.Auth(),
		EventPoll: r.Duration(time.Second, 10*time.Millisecond, "EVENT_POLL_INTERVAL"),
		GapWait:   r.Duration(statusapi.DefaultGapWait, 10*time.Millisecond, "EVENT_GAP_WAIT"),
	}
	c.LogFormat, c.LogLevel = r.Logging()
	if err := r.Err(); err != nil {
		return Config{}, fmt.Errorf("status-svc config: %w", err)
	}
	return c, nil
}

// Healthcheck probes a running status-svc at its configured gRPC address.
func Healthcheck(ctx context.Context, getenv config.Getenv) error {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return err
	}
	return server.Probe(ctx, cfg.Server.GRPCAddr, cfg.Server.TLSCertFile != "")
}

// Run serves until ctx ends. ready, if not nil, is called with the bound
// addresses once the service answers. status-svc never migrates: ingest-svc
// owns the schema, so it waits until the schema is there.
func Run(ctx context.Context, getenv config.Getenv, stdout io.Writer, ready func(grpcAddr, httpAddr string)) error {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return err
	}
	log := logging.New(stdout, cfg.LogFormat, cfg.LogLevel).With("service", "status-svc")
	pool, err := database.Open(ctx, cfg.Database, 30*time.Second)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := database.WaitForSchema(ctx, pool, 60*time.Second); err != nil {
		return err
	}
	log.InfoContext(ctx, "connected", "database", cfg.Database.Redacted())

	// The tail records which events were notified (its Keys) and delivers
	// through the listener those whose notification never came.
	var tail *statusapi.EventTail
	listener := notify.New(cfg.Database.ConnString(), map[string]notify.KeyFunc{
		statusapi.EventsChannel: func(p string) []string { return tail.Keys(p) },
	}, log)
	if !cfg.Database.Listen {
		listener.Disable()
	}
	tail = statusapi.NewEventTail(pool, listener, cfg.EventPoll, cfg.GapWait, cfg.Database.Listen, log)
	defer server.Background(ctx, func(ctx context.Context) { _ = tail.Run(ctx) })()
	authn, err := auth.New(pool, auth.DefaultPolicy, cfg.Auth, log)
	if err != nil {
		return err
	}
	srv := server.New(cfg.Server, log, grpc.ChainUnaryInterceptor(authn.Unary()), grpc.ChainStreamInterceptor(authn.Stream()))
	srv.Metrics().MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "canopy_events_healed_total",
		Help: "Events delivered to watchers by reading the event log because their notification did not come (all of them without LISTEN).",
	}, func() float64 { return float64(tail.Healed()) }))
	canopyv1.RegisterStatusServiceServer(srv.GRPC(), statusapi.New(pool, listener, log, ctx.Done(), cfg.GapWait))
	srv.AddGateway(canopyv1.RegisterStatusServiceHandlerFromEndpoint)
	if err := srv.Listen(); err != nil {
		return err
	}
	// Server-Sent Events relay our own gRPC watch streams, like the gateway.
	self, err := grpc.NewClient(srv.GRPCAddr(), srv.SelfDialOptions()...)
	if err != nil {
		return fmt.Errorf("dial own gRPC port: %w", err)
	}
	defer self.Close()
	watch := sse.Wrap(canopyv1.NewStatusServiceClient(self))
	srv.HandleBeforeGateway("/v1/images/", watch)
	srv.HandleBeforeGateway("/v1/images:watch", watch)
	err = srv.ServeWithListener(ctx, listener, ready)
	log.Info("stopped")
	return err
}
