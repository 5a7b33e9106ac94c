package pipeline

import (
	_ "embed"
	"fmt"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

// agentExport is one OTLP metrics export of the real MCP agent (runtime.Start with the HTTP
// middleware serving requests), captured by TestAgentExportIsCurrent -update: the Go
// runtime, process and container metrics, the agent's own, and the HTTP server histogram.
//
//go:embed testdata/agent_metrics.json
var agentExport []byte

// agentTemplate parses agentExport: one ResourceMetrics.
func agentTemplate() (pmetric.Metrics, error) {
	md, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(agentExport)
	if err != nil {
		return md, fmt.Errorf("parse testdata/agent_metrics.json: %w", err)
	}
	if md.ResourceMetrics().Len() != 1 {
		return md, fmt.Errorf("testdata/agent_metrics.json has %d resources, want one export of one agent", md.ResourceMetrics().Len())
	}
	return md, nil
}

// exportInterval is the agents' default metric export interval: consecutive exports of an
// instance are this far apart in their timestamps.
const exportInterval = 10 * time.Second

// metricsSource makes the requests of a fleet of agents: request i is export i/instances
// of instance i%instances, so every instance's exports arrive in order with timestamps
// exportInterval apart and cumulative values growing at a steady rate, as the tuner's store
// expects from a live agent (a repeated or older timestamp would be skipped cheaply and
// flatter the mcpsignals exporter). Safe for concurrent use; each sender has its own scratch.
type metricsSource struct {
	tmpl      pmetric.Metrics
	instances int
	services  int
	base      time.Time
	next      atomic.Uint64
	points    int
}

func newMetricsSource(tmpl pmetric.Metrics, instances, services int, base time.Time) *metricsSource {
	return &metricsSource{tmpl: tmpl, instances: instances, services: services, base: base, points: tmpl.DataPointCount()}
}

// metricsScratch is one sender's reusable request.
type metricsScratch struct{ md pmetric.Metrics }

func (s *metricsSource) scratch() *metricsScratch { return &metricsScratch{md: pmetric.NewMetrics()} }

// request returns the body of the next export and its number of data points.
func (s *metricsSource) request(sc *metricsScratch) ([]byte, int, error) {
	i := s.next.Add(1) - 1
	inst := int(i % uint64(s.instances))
	n := int64(i / uint64(s.instances))
	s.tmpl.CopyTo(sc.md)
	rm := sc.md.ResourceMetrics().At(0)
	s.identify(rm, inst)
	start := pcommon.NewTimestampFromTime(s.base)
	ts := pcommon.NewTimestampFromTime(s.base.Add(time.Duration(n+1) * exportInterval))
	grow := float64(n + 1)
	for _, sm := range rm.ScopeMetrics().All() {
		for _, m := range sm.Metrics().All() {
			advance(m, start, ts, grow)
		}
	}
	body, err := pmetricotlp.NewExportRequestFromMetrics(sc.md).MarshalProto()
	return body, s.points, err
}

// identify gives rm the resource attributes of instance inst.
func (s *metricsSource) identify(rm pmetric.ResourceMetrics, inst int) {
	svc, id := instanceName(inst, s.services)
	attrs := rm.Resource().Attributes()
	attrs.PutStr("service.name", svc)
	attrs.PutStr("service.instance.id", id)
	attrs.PutStr("host.name", fmt.Sprintf("node-%02d", inst%40))
	attrs.PutInt("process.pid", int64(1000+inst))
}

// instanceName names instance i of a fleet of services: svc-007 / svc-007-0042.
func instanceName(i, services int) (service, instance string) {
	service = fmt.Sprintf("svc-%03d", i%services)
	return service, fmt.Sprintf("%s-%04d", service, i/services)
}

// advance moves one metric of the template to export n: every point at time ts;
// cumulative sums and histograms started at start and grown n+1 times their template
// value (a steady rate); gauges and up-down sums as captured.
func advance(m pmetric.Metric, start, ts pcommon.Timestamp, grow float64) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		for _, dp := range m.Gauge().DataPoints().All() {
			dp.SetTimestamp(ts)
		}
	case pmetric.MetricTypeSum:
		sum := m.Sum()
		cumulative := sum.IsMonotonic() && sum.AggregationTemporality() == pmetric.AggregationTemporalityCumulative
		for _, dp := range sum.DataPoints().All() {
			dp.SetTimestamp(ts)
			if !cumulative {
				continue
			}
			dp.SetStartTimestamp(start)
			if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
				dp.SetIntValue(int64(float64(dp.IntValue()) * grow))
			} else {
				dp.SetDoubleValue(dp.DoubleValue() * grow)
			}
		}
	case pmetric.MetricTypeHistogram:
		for _, dp := range m.Histogram().DataPoints().All() {
			dp.SetTimestamp(ts)
			dp.SetStartTimestamp(start)
			counts := dp.BucketCounts()
			for j := range counts.Len() {
				counts.SetAt(j, uint64(float64(counts.At(j))*grow))
			}
			var total uint64
			for _, c := range counts.All() {
				total += c
			}
			dp.SetCount(total)
			dp.SetSum(dp.Sum() * grow)
		}
	}
}
