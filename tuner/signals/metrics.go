package signals

import "github.com/prometheus/client_golang/prometheus"

// Collector exposes a Store's counters to Prometheus:
//
//	mcp_signals_points_total{signal}    metric points, spans and profile samples taken in
//	mcp_signals_dropped_total{reason}   what was not used, and why
//	mcp_signals_instances               instances with signal windows
//	mcp_signals_evicted_total           instances evicted to stay within max_instances
//	mcp_profiles_received_total{service} profiles summarised, by service (one per sample type of an upload)
type Collector struct{ s *Store }

// NewCollector returns a Prometheus collector for s.
func NewCollector(s *Store) *Collector { return &Collector{s: s} }

var (
	descPoints    = prometheus.NewDesc("mcp_signals_points_total", "Metric points, spans and profile samples taken into tuner signals.", []string{"signal"}, nil)
	descDropped   = prometheus.NewDesc("mcp_signals_dropped_total", "Telemetry not used for tuner signals, by reason.", []string{"reason"}, nil)
	descInstances = prometheus.NewDesc("mcp_signals_instances", "Instances with signal windows.", nil, nil)
	descEvicted   = prometheus.NewDesc("mcp_signals_evicted_total", "Instances evicted to stay within max_instances.", nil, nil)
	descProfiles  = prometheus.NewDesc("mcp_profiles_received_total", "Profiles summarised, by service (one per sample type of each upload).", []string{"service"}, nil)
)

func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPoints, descDropped, descInstances, descEvicted, descProfiles} {
		ch <- d
	}
}

func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st, n := c.s.Stats()
	for _, sig := range []string{"metrics", "spans", "profiles"} {
		ch <- prometheus.MustNewConstMetric(descPoints, prometheus.CounterValue, float64(st.Points[sig]), sig)
	}
	for reason, v := range st.Dropped {
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(v), reason)
	}
	ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(descEvicted, prometheus.CounterValue, float64(st.Evicted))
	for svc, v := range c.s.profiles.uploadCounts() {
		ch <- prometheus.MustNewConstMetric(descProfiles, prometheus.CounterValue, float64(v), svc)
	}
}
