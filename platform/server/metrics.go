package server

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// rpcMetrics counts calls and their durations by method and code. Each
// Server has its own registry (not the process-wide default), so several
// services can run in one process, as they do in the end-to-end tests.
type rpcMetrics struct {
	handled  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec
}

func newRPCMetrics(reg prometheus.Registerer) *rpcMetrics {
	m := &rpcMetrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "canopy_rpc_handled_total",
			Help: "RPCs completed, by method and gRPC code (REST calls included: the gateway calls gRPC).",
		}, []string{"method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "canopy_rpc_duration_seconds",
			Help: "RPC duration by method; streams last as long as the stream.",
			// From a 1 ms lookup to a minute-long upload or watch.
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}, []string{"method"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "canopy_rpc_in_flight",
			Help: "RPCs running now, by method (open watch streams show here).",
		}, []string{"method"}),
	}
	reg.MustRegister(m.handled, m.duration, m.inFlight)
	return m
}

func (m *rpcMetrics) observe(method string, start time.Time, err error) {
	m.handled.WithLabelValues(method, status.Code(err).String()).Inc()
	m.duration.WithLabelValues(method).Observe(time.Since(start).Seconds())
}

func (m *rpcMetrics) unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if info.FullMethod == healthCheckMethod {
			return handler(ctx, req)
		}
		g := m.inFlight.WithLabelValues(info.FullMethod)
		g.Inc()
		defer g.Dec()
		start := time.Now()
		resp, err := handler(ctx, req)
		m.observe(info.FullMethod, start, err)
		return resp, err
	}
}

func (m *rpcMetrics) stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		g := m.inFlight.WithLabelValues(info.FullMethod)
		g.Inc()
		defer g.Dec()
		start := time.Now()
		err := handler(srv, ss)
		m.observe(info.FullMethod, start, err)
		return err
	}
}

// Metrics is where a service registers its own metrics; they are served
// with the RPC and Go runtime metrics at /metrics.
func (s *Server) Metrics() prometheus.Registerer { return s.registry }

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
}
