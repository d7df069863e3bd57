package server

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/canopyag/canopy/platform/notify"
)

// ServeWithListener runs the server and the process's LISTEN connection
// together until ctx ends. The service reports SERVING, and ready is
// called with the bound addresses, only once the first LISTEN is in place:
// before that, a watcher or claimer could miss a notification.
func (s *Server) ServeWithListener(ctx context.Context, l *notify.Listener, ready func(grpcAddr, httpAddr string)) error {
	s.registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "canopy_notifications_received_total",
			Help: "NOTIFY messages received on the LISTEN connection.",
		}, func() float64 { return float64(l.Received()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "canopy_listen_reconnects_total",
			Help: "Times the LISTEN connection was lost and re-established (each heals the gap by a re-read).",
		}, func() float64 { return float64(l.Reconnects()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "canopy_listen_connected",
			Help: "1 while the LISTEN connection is up; 0 means waiters fall back to polling.",
		}, func() float64 {
			if l.Connected() {
				return 1
			}
			return 0
		}),
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return l.Run(gctx) })
	g.Go(func() error {
		defer cancel() // if serving fails, stop the listener too
		return s.Serve(gctx)
	})
	g.Go(func() error {
		select {
		case <-l.Ready():
		case <-gctx.Done():
			return nil
		}
		s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		if ready != nil {
			ready(s.GRPCAddr(), s.HTTPAddr())
		}
		return nil
	})
	return g.Wait()
}
