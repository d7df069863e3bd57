package catalog

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// QueueCollector reports images per status, read from the database at each
// scrape, so the figure is the truth rather than a counter that drifts
// across restarts.
type QueueCollector struct {
	q      Querier
	images *prometheus.Desc
	oldest *prometheus.Desc
	up     *prometheus.Desc
}

// NewQueueCollector returns a collector over q.
func NewQueueCollector(q Querier) *QueueCollector {
	return &QueueCollector{
		q:      q,
		images: prometheus.NewDesc("canopy_images", "Images per status.", []string{"status"}, nil),
		oldest: prometheus.NewDesc("canopy_oldest_uploaded_age_seconds", "Age of the oldest image still waiting for analysis.", nil, nil),
		up:     prometheus.NewDesc("canopy_queue_stats_up", "1 if the queue counts could be read at this scrape.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.images
	ch <- c.oldest
	ch <- c.up
}

// Collect implements prometheus.Collector. A database outage shows as
// canopy_queue_stats_up 0, not as a failed scrape, so the other metrics
// still arrive.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := QueueStats(ctx, c.q, AllProjects)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for status, n := range map[string]int64{
		StatusUploaded: st.GetUploaded(), StatusProcessing: st.GetProcessing(),
		StatusCompleted: st.GetCompleted(), StatusFailed: st.GetFailed(),
	} {
		ch <- prometheus.MustNewConstMetric(c.images, prometheus.GaugeValue, float64(n), status)
	}
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, st.GetOldestUploadedAgeSeconds())
}
