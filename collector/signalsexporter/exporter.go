package signalsexporter

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/mcplane/mcp/tuner/signals"
)

// signalsExporter converts telemetry into the store's observations, spans and profiles.
type signalsExporter struct {
	cfg   *Config
	store *signals.Store

	mu sync.Mutex
	// deltas accumulates delta-temporality sums into cumulative values, per instance and
	// counter, so that agents exporting deltas are understood too.
	deltas map[signals.Key]map[string]signals.Cumulative
}

func newExporter(cfg *Config, st *signals.Store) *signalsExporter {
	return &signalsExporter{cfg: cfg, store: st, deltas: map[signals.Key]map[string]signals.Cumulative{}}
}

// counters maps the cumulative sums the store understands; mcp.go.cpu.time is split by
// its go.cpu.class attribute.
var counters = map[string]bool{
	signals.CounterAllocated: true, signals.CounterGCCycles: true, signals.CounterContainerCPU: true, signals.CounterProcessCPU: true,
	signals.CounterPeriods: true, signals.CounterThrottledPeriods: true,
}

var gauges = map[string]bool{
	signals.GaugeGOGC: true, signals.GaugeGOMEMLIMIT: true, signals.GaugeGOMAXPROCS: true, signals.GaugeHeapGoal: true,
	signals.GaugeRuntimeMemory: true, signals.GaugeLiveHeap: true, signals.GaugeMemoryLimit: true, signals.GaugeCPULimit: true,
	signals.GaugeContainerMemory: true, signals.GaugeGuardActive: true,
}

const cpuTimeMetric = "mcp.go.cpu.time"

func (e *signalsExporter) key(res pcommon.Resource) (signals.Key, bool) {
	attrs := res.Attributes()
	svc, ok := attrs.Get("service.name")
	if !ok || svc.Str() == "" {
		return signals.Key{}, false
	}
	k := signals.Key{Service: svc.Str()}
	if v, ok := attrs.Get(e.cfg.InstanceAttribute); ok {
		k.Instance = v.AsString()
	}
	if k.Instance == "" {
		if v, ok := attrs.Get("host.name"); ok {
			k.Instance = v.AsString()
		} else {
			k.Instance = k.Service
		}
	}
	return k, true
}

func (e *signalsExporter) consumeMetrics(_ context.Context, md pmetric.Metrics) error {
	e.store.Count("metrics", md.DataPointCount())
	for _, rm := range md.ResourceMetrics().All() {
		k, ok := e.key(rm.Resource())
		if !ok {
			e.store.Drop("no_service_name", dataPoints(rm))
			continue
		}
		o := e.observation(k, rm)
		if o.Time.IsZero() {
			continue
		}
		e.store.Observe(k, o)
	}
	return nil
}

func dataPoints(rm pmetric.ResourceMetrics) int {
	n := 0
	for _, sm := range rm.ScopeMetrics().All() {
		for _, m := range sm.Metrics().All() {
			switch m.Type() {
			case pmetric.MetricTypeGauge:
				n += m.Gauge().DataPoints().Len()
			case pmetric.MetricTypeSum:
				n += m.Sum().DataPoints().Len()
			case pmetric.MetricTypeHistogram:
				n += m.Histogram().DataPoints().Len()
			}
		}
	}
	return n
}

func number(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}

// observation gathers one ResourceMetrics into an Observation at its newest timestamp.
func (e *signalsExporter) observation(k signals.Key, rm pmetric.ResourceMetrics) signals.Observation {
	o := signals.Observation{Gauges: map[string]float64{}, Counters: map[string]signals.Cumulative{}, Histograms: map[string]signals.Histogram{}}
	latest := func(ts pcommon.Timestamp) {
		if t := ts.AsTime(); t.After(o.Time) {
			o.Time = t
		}
	}
	for _, sm := range rm.ScopeMetrics().All() {
		for _, m := range sm.Metrics().All() {
			name := m.Name()
			switch {
			case gauges[name]:
				// A gauge split by attributes (go.memory.used by go.memory.type) is the sum.
				var pts pmetric.NumberDataPointSlice
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					pts = m.Gauge().DataPoints()
				case pmetric.MetricTypeSum:
					pts = m.Sum().DataPoints()
				default:
					continue
				}
				var sum float64
				for _, dp := range pts.All() {
					sum += number(dp)
					latest(dp.Timestamp())
				}
				if pts.Len() > 0 {
					o.Gauges[name] = sum
				}
			case counters[name] || name == cpuTimeMetric:
				if m.Type() != pmetric.MetricTypeSum {
					continue
				}
				delta := m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityDelta
				// Points split by other attributes (process.cpu.time by cpu.mode) add up.
				sums := map[string]signals.Cumulative{}
				for _, dp := range m.Sum().DataPoints().All() {
					cname := name
					if name == cpuTimeMetric {
						class, ok := dp.Attributes().Get("go.cpu.class")
						if !ok {
							continue
						}
						cname = name + "/" + class.Str()
					}
					c := sums[cname]
					c.Value += number(dp)
					c.Start = dp.StartTimestamp().AsTime()
					sums[cname] = c
					latest(dp.Timestamp())
				}
				for cname, c := range sums {
					if delta {
						c = e.accumulate(k, cname, c.Value)
					}
					o.Counters[cname] = c
				}
			case name == e.cfg.HTTPMetric && m.Type() == pmetric.MetricTypeHistogram:
				if h, ok := e.histogram(k, m.Histogram()); ok {
					o.Histograms[signals.HistogramHTTPServer] = h
					for _, dp := range m.Histogram().DataPoints().All() {
						latest(dp.Timestamp())
					}
				}
			}
		}
	}
	return o
}

// accumulate turns a delta into a running total, started when first seen.
func (e *signalsExporter) accumulate(k signals.Key, name string, delta float64) signals.Cumulative {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.deltas[k]
	if !ok {
		m = map[string]signals.Cumulative{}
		e.deltas[k] = m
	}
	c, ok := m[name]
	if !ok {
		c.Start = time.Unix(0, 0)
	}
	c.Value += delta
	m[name] = c
	return c
}

// histogram sums the HTTP server histogram's series (routes, methods, status codes) into
// one, counting 5xx answers as errors. Series with other bucket bounds are skipped.
func (e *signalsExporter) histogram(k signals.Key, h pmetric.Histogram) (signals.Histogram, bool) {
	var out signals.Histogram
	delta := h.AggregationTemporality() == pmetric.AggregationTemporalityDelta
	for _, dp := range h.DataPoints().All() {
		bounds := dp.ExplicitBounds().AsRaw()
		counts := dp.BucketCounts().AsRaw()
		if len(counts) != len(bounds)+1 {
			continue
		}
		if out.Counts == nil {
			out.Bounds = bounds
			out.Counts = make([]float64, len(counts))
			out.Start = dp.StartTimestamp().AsTime()
		} else if !equal(out.Bounds, bounds) {
			e.store.Drop("histogram_bounds_differ", 1)
			continue
		}
		if st := dp.StartTimestamp().AsTime(); st.Before(out.Start) {
			out.Start = st
		}
		for i, c := range counts {
			out.Counts[i] += float64(c)
		}
		out.Count += float64(dp.Count())
		if isServerError(dp.Attributes()) {
			out.Errors += float64(dp.Count())
		}
	}
	if out.Counts == nil {
		return out, false
	}
	if delta {
		return e.accumulateHistogram(k, out), true
	}
	return out, true
}

func (e *signalsExporter) accumulateHistogram(k signals.Key, d signals.Histogram) signals.Histogram {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.deltas[k]
	if !ok {
		m = map[string]signals.Cumulative{}
		e.deltas[k] = m
	}
	// The running histogram is kept as one cumulative per bucket plus count and errors.
	d.Start = time.Unix(0, 0)
	for i := range d.Counts {
		name := "hist/" + strconv.Itoa(i)
		c := m[name]
		c.Value += d.Counts[i]
		m[name] = c
		d.Counts[i] = c.Value
	}
	for name, v := range map[string]*float64{"hist/count": &d.Count, "hist/errors": &d.Errors} {
		c := m[name]
		c.Value += *v
		m[name] = c
		*v = c.Value
	}
	return d
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func isServerError(attrs pcommon.Map) bool {
	for _, key := range []string{"http.response.status_code", "http.status_code"} {
		if v, ok := attrs.Get(key); ok {
			code := v.Int()
			if v.Type() == pcommon.ValueTypeStr {
				code, _ = strconv.ParseInt(v.Str(), 10, 64)
			}
			return code >= 500
		}
	}
	return false
}

func (e *signalsExporter) consumeTraces(_ context.Context, td ptrace.Traces) error {
	e.store.Count("spans", td.SpanCount())
	for _, rs := range td.ResourceSpans().All() {
		k, ok := e.key(rs.Resource())
		if !ok {
			n := 0
			for _, ss := range rs.ScopeSpans().All() {
				n += ss.Spans().Len()
			}
			e.store.Drop("no_service_name", n)
			continue
		}
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				if e.cfg.ServerSpansOnly && sp.Kind() != ptrace.SpanKindServer {
					continue
				}
				if !e.cfg.ServerSpansOnly && !sp.ParentSpanID().IsEmpty() {
					continue
				}
				start, end := sp.StartTimestamp().AsTime(), sp.EndTimestamp().AsTime()
				if end.Before(start) {
					e.store.Drop("span_ends_before_start", 1)
					continue
				}
				isErr := sp.Status().Code() == ptrace.StatusCodeError || isServerError(sp.Attributes())
				e.store.ObserveSpan(k, start, end.Sub(start).Seconds(), isErr)
			}
		}
	}
	return nil
}

func (e *signalsExporter) consumeProfiles(_ context.Context, pd pprofile.Profiles) error {
	dict := pd.Dictionary()
	strs := dict.StringTable()
	str := func(i int32) string {
		if i < 0 || int(i) >= strs.Len() {
			return ""
		}
		return strs.At(int(i))
	}
	funcs, locs, stacks := dict.FunctionTable(), dict.LocationTable(), dict.StackTable()
	frames := func(stackIndex int32) []string {
		if stackIndex < 0 || int(stackIndex) >= stacks.Len() {
			return nil
		}
		var out []string
		for _, li := range stacks.At(int(stackIndex)).LocationIndices().All() {
			if li < 0 || int(li) >= locs.Len() {
				continue
			}
			// Inlined calls are lines of one location, innermost first.
			for _, line := range locs.At(int(li)).Lines().All() {
				fi := line.FunctionIndex()
				if fi < 0 || int(fi) >= funcs.Len() {
					continue
				}
				out = append(out, str(funcs.At(int(fi)).NameStrindex()))
			}
		}
		return out
	}
	for _, rp := range pd.ResourceProfiles().All() {
		svc, ok := rp.Resource().Attributes().Get("service.name")
		if !ok || svc.Str() == "" {
			e.store.Drop("no_service_name", 1)
			continue
		}
		for _, sp := range rp.ScopeProfiles().All() {
			for _, p := range sp.Profiles().All() {
				typ := profileType(str(p.SampleType().TypeStrindex()))
				if typ == "" {
					continue
				}
				unit := str(p.SampleType().UnitStrindex())
				stacksOut := make([]signals.Stack, 0, p.Samples().Len())
				for _, s := range p.Samples().All() {
					var v int64
					for _, x := range s.Values().All() {
						v += x
					}
					stacksOut = append(stacksOut, signals.Stack{Frames: frames(s.StackIndex()), Value: v})
				}
				e.store.Count("profiles", len(stacksOut))
				at := p.Time().AsTime()
				if at.IsZero() || at.Unix() <= 0 {
					at = time.Now()
				}
				e.store.Profiles().Add(svc.Str(), typ, unit, at, stacksOut)
			}
		}
	}
	return nil
}

// profileType maps a pprof sample type to the summaries' type names: CPU time is "cpu";
// the heap's types keep their pprof names; sample counts are skipped (cpu has the time).
func profileType(pprofType string) string {
	switch t := strings.ToLower(pprofType); t {
	case "cpu", "alloc_space", "alloc_objects", "inuse_space", "inuse_objects":
		return t
	}
	return ""
}
