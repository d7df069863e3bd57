// Package server runs a service's gRPC API, its REST gateway and the
// standard health and reflection services, and shuts them down in order.
package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/canopyag/canopy/platform/apierror"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

// Config holds the listen addresses. An empty HTTPAddr disables REST.
type Config struct {
	GRPCAddr      string
	HTTPAddr      string
	ShutdownGrace time.Duration
	// MaxRecvMsgSize bounds one incoming message; upload chunks must fit.
	MaxRecvMsgSize int
	// TLSCertFile and TLSKeyFile (PEM) turn on TLS for gRPC and HTTP alike.
	TLSCertFile string
	TLSKeyFile  string
}

// GatewayRegistrar registers a service's REST handlers on the gateway mux,
// proxying to the gRPC endpoint.
type GatewayRegistrar func(ctx context.Context, mux *runtime.ServeMux, endpoint string, opts []grpc.DialOption) error

// Server is one service's network front.
type Server struct {
	cfg      Config
	log      *slog.Logger
	grpc     *grpc.Server
	health   *health.Server
	gateways []GatewayRegistrar
	extra    map[string]http.Handler
	wrapped  map[string]func(gateway http.Handler) http.Handler
	// drain, if set, runs at shutdown while calls are still served.
	drain func(ctx context.Context)

	grpcLis net.Listener
	httpLis net.Listener

	registry *prometheus.Registry

	tls     *tls.Config
	initErr error
}

// New builds the gRPC server with logging, metrics and panic-recovery
// interceptors, health and reflection. Register services on GRPC() before
// Serve.
func New(cfg Config, log *slog.Logger, opts ...grpc.ServerOption) *Server {
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = 10 * time.Second
	}
	if cfg.MaxRecvMsgSize == 0 {
		cfg.MaxRecvMsgSize = 4 << 20
	}
	tlsCfg, initErr := loadTLS(cfg)
	if tlsCfg != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsCfg)))
	}
	registry := newRegistry()
	metrics := newRPCMetrics(registry)
	opts = append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.MaxRecvMsgSize),
		// Calls are served by long-lived goroutines whose stacks have
		// grown already, instead of a new goroutine per call: at a
		// thousand work-queue calls a second, growing each new stack
		// through the interceptors, pgx and protobuf took 8% of
		// ingest-svc's CPU. When all are busy (long watches and
		// uploads), a call gets a goroutine of its own as before.
		grpc.NumStreamWorkers(uint32(4 * goruntime.GOMAXPROCS(0))),
		grpc.ChainUnaryInterceptor(unaryRequestID(), metrics.unary(), unaryRecover(log), unaryLog(log), unaryStorableText()),
		grpc.ChainStreamInterceptor(streamRequestID(), metrics.stream(), streamRecover(log), streamLog(log), streamStorableText()),
	}, opts...)
	s := &Server{
		cfg:      cfg,
		log:      log,
		grpc:     grpc.NewServer(opts...),
		health:   health.NewServer(),
		extra:    map[string]http.Handler{},
		wrapped:  map[string]func(http.Handler) http.Handler{},
		registry: registry,
		tls:      tlsCfg,
		initErr:  initErr,
	}
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	return s
}

// GRPC is the server to register services on.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Health lets the service mark itself serving once its dependencies are up.
func (s *Server) Health() *health.Server { return s.health }

// AddGateway adds REST handlers for one gRPC service.
func (s *Server) AddGateway(r GatewayRegistrar) { s.gateways = append(s.gateways, r) }

// Handle serves an extra HTTP path (for example /openapi.json) beside the gateway.
func (s *Server) Handle(pattern string, h http.Handler) { s.extra[pattern] = h }

// HandleBeforeGateway serves pattern with the handler wrap returns: it sees
// each request first and passes what it does not handle itself to the
// gateway. For REST forms the generated gateway cannot express, such as a
// raw-body upload or Server-Sent Events.
func (s *Server) HandleBeforeGateway(pattern string, wrap func(gateway http.Handler) http.Handler) {
	s.wrapped[pattern] = wrap
}

// SetDrain sets a step of shutdown that runs after health turns
// NOT_SERVING and before the servers stop taking calls, bounded by the
// grace period (ctx ends with it). ingest-svc uses it to stay reachable
// until the workers that hold leases have reported or released them:
// a graceful stop refuses every new call, even one that gives work back.
func (s *Server) SetDrain(drain func(ctx context.Context)) { s.drain = drain }

// Listen opens the sockets, so callers (and tests using ":0") learn the
// real addresses before serving starts.
func (s *Server) Listen() error {
	if s.initErr != nil {
		return s.initErr
	}
	var err error
	if s.grpcLis, err = net.Listen("tcp", s.cfg.GRPCAddr); err != nil {
		return fmt.Errorf("listen grpc %s: %w", s.cfg.GRPCAddr, err)
	}
	if s.cfg.HTTPAddr != "" {
		if s.httpLis, err = net.Listen("tcp", s.cfg.HTTPAddr); err != nil {
			s.grpcLis.Close()
			return fmt.Errorf("listen http %s: %w", s.cfg.HTTPAddr, err)
		}
		if s.tls != nil {
			s.httpLis = tls.NewListener(s.httpLis, s.tls)
		}
	}
	return nil
}

// GRPCAddr is the bound gRPC address (after Listen).
func (s *Server) GRPCAddr() string { return s.grpcLis.Addr().String() }

// HTTPAddr is the bound HTTP address, or "" when REST is off.
func (s *Server) HTTPAddr() string {
	if s.httpLis == nil {
		return ""
	}
	return s.httpLis.Addr().String()
}

// Serve runs until ctx ends, then shuts down: health goes NOT_SERVING so
// load balancers stop sending, HTTP stops, and gRPC drains for up to the
// grace period before in-flight calls are cut.
func (s *Server) Serve(ctx context.Context) error {
	if s.grpcLis == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	errc := make(chan error, 2)
	go func() { errc <- s.grpc.Serve(s.grpcLis) }()

	var httpSrv *http.Server
	if s.httpLis != nil {
		// The gateway dials our own gRPC port, so REST calls pass through the
		// same interceptors as gRPC ones and streaming works unchanged.
		mux := runtime.NewServeMux(
			runtime.WithIncomingHeaderMatcher(gatewayHeaderIn),
			runtime.WithOutgoingHeaderMatcher(gatewayHeaderOut),
		)
		dial := s.SelfDialOptions()
		// The gateway's connections to our gRPC port close when this
		// context ends: only after the HTTP server has shut down, so a REST
		// stream open at shutdown ends with the service's own answer
		// (Unavailable: resume with after_seq), not with "the client
		// connection is closing".
		gwCtx, closeGateway := context.WithCancel(context.WithoutCancel(ctx))
		defer closeGateway()
		for _, g := range s.gateways {
			if err := g(gwCtx, mux, s.GRPCAddr(), dial); err != nil {
				s.grpc.Stop()
				return fmt.Errorf("register gateway: %w", err)
			}
		}
		root := http.NewServeMux()
		for p, h := range s.extra {
			root.Handle(p, h)
		}
		for p, wrap := range s.wrapped {
			h := wrap(mux)
			root.Handle(p, h)
			// ServeMux redirects the bare path of a subtree pattern
			// ("/v1/images" for "/v1/images/"), and there the gateway has
			// another route (ListImages): serve it too, so the wrapper
			// passes it to the gateway unchanged.
			if bare := strings.TrimSuffix(p, "/"); bare != p && bare != "" && s.wrapped[bare] == nil && s.extra[bare] == nil {
				root.Handle(bare, h)
			}
		}
		root.HandleFunc("/healthz", s.healthz)
		root.Handle("/metrics", s.metricsHandler())
		root.Handle("/", mux)
		httpSrv = &http.Server{Handler: root, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- httpSrv.Serve(s.httpLis) }()
	}
	s.log.InfoContext(ctx, "serving", "grpc_addr", s.GRPCAddr(), "http_addr", s.HTTPAddr())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.health.Shutdown()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	if s.drain != nil && serveErr == nil {
		s.drain(shutdownCtx)
	}
	if httpSrv != nil {
		// Streaming REST calls (watch) never end by themselves; cut them
		// after the grace period like gRPC streams.
		if err := httpSrv.Shutdown(shutdownCtx); err != nil {
			httpSrv.Close()
		}
	}
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-shutdownCtx.Done():
		s.log.Warn("grace period over, cutting remaining calls", "grace", s.cfg.ShutdownGrace)
		s.grpc.Stop()
		<-stopped
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) && !errors.Is(serveErr, grpc.ErrServerStopped) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	return nil
}

// healthz answers 200 while the service reports SERVING, for HTTP-only probes.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	resp, err := s.health.Check(r.Context(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		http.Error(w, "not serving", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

func loadTLS(cfg Config) (*tls.Config, error) {
	if cfg.TLSCertFile == "" && cfg.TLSKeyFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", cfg.TLSCertFile, cfg.TLSKeyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}, nil
}

// TLS reports whether the server speaks TLS.
func (s *Server) TLS() bool { return s.tls != nil }

// SelfDialOptions are the dial options for calls from this process to its
// own gRPC port (the REST gateway and handlers that relay to gRPC). With
// TLS on, the peer must present exactly our own certificate: pinning it
// needs no CA file and cannot be fooled by another certificate.
func (s *Server) SelfDialOptions() []grpc.DialOption {
	// What the gateway and REST uploads pass on comes from HTTP requests:
	// a string that is not UTF-8 must come back as a 400 naming its field.
	text := apierror.TextCheckDialOptions()
	if s.tls == nil {
		return append(text, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	own := s.tls.Certificates[0].Certificate[0]
	return append(text, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification is done below, against our own certificate.
		InsecureSkipVerify: true, //nolint:gosec // pinned by VerifyPeerCertificate
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], own) {
				return errors.New("self-dial reached a server that is not this one")
			}
			return nil
		},
	})))
}
