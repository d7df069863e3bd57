package worker

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/canopyag/canopy/analysis-svc/internal/analyze"
)

// Values of canopy_analysis_duration_seconds' result label.
const (
	resultCompleted = "completed"
	resultFailed    = "failed"
	resultReleased  = "released"
)

// metrics are the pool's Prometheus metrics. A nil *metrics (a pool whose
// RegisterMetrics was never called) records nothing.
type metrics struct {
	duration   *prometheus.HistogramVec
	index      *prometheus.HistogramVec
	decode     prometheus.Histogram
	megapixels prometheus.Counter
	busy       prometheus.Gauge
}

// RegisterMetrics creates the pool's metrics and registers them on reg
// (a server's own registry: several pools may run in one process, so
// never the global default). Call it before Run; without it the pool
// records no metrics.
//
//   - canopy_analysis_duration_seconds{result}: one image from claim to
//     report; result is "completed" (CompleteWork sent), "failed" (the
//     analysis failed, or its lease was lost) or "released" (cut off by
//     shutdown and handed back).
//   - canopy_analysis_index_seconds{index}: one index of a completed
//     analysis: computing it, its statistics, and writing its GeoTIFF and
//     colour map.
//   - canopy_analysis_decode_seconds: opening and decoding a capture's
//     files (completed analyses).
//   - canopy_analysis_megapixels_total: pixels (width x height, not bands)
//     of completed analyses, in millions.
//   - canopy_worker_busy: analyses running now.
func (p *Pool) RegisterMetrics(reg prometheus.Registerer) {
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "canopy_analysis_duration_seconds",
			Help: "Time to analyse one image, from claim to report, by result (completed, failed, released).",
			// 50 ms to about 7 minutes.
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}, []string{"result"}),
		index: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "canopy_analysis_index_seconds",
			Help: "Time to compute one index with its statistics, GeoTIFF and colour map, by index.",
			// 1 ms to about 33 s.
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"index"}),
		decode: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "canopy_analysis_decode_seconds",
			Help:    "Time to open and decode one capture's files.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		megapixels: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "canopy_analysis_megapixels_total",
			Help: "Image pixels (width x height) analysed by completed analyses, in millions.",
		}),
		busy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "canopy_worker_busy",
			Help: "Analyses running now.",
		}),
	}
	reg.MustRegister(m.duration, m.index, m.decode, m.megapixels, m.busy)
	p.metrics = m
}

func (m *metrics) start() {
	if m != nil {
		m.busy.Inc()
	}
}

// finish records one image's end; res is nil unless it completed.
func (m *metrics) finish(result string, seconds float64, res *analyze.Result) {
	if m == nil {
		return
	}
	m.busy.Dec()
	m.duration.WithLabelValues(result).Observe(seconds)
	if res == nil {
		return
	}
	m.decode.Observe(res.DecodeTime.Seconds())
	m.megapixels.Add(float64(res.Width) * float64(res.Height) / 1e6)
	for _, ix := range res.Indices {
		if ix.Available {
			m.index.WithLabelValues(ix.Name).Observe(ix.Duration.Seconds())
		}
	}
}
