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

// cpuClasses are the go.cpu.class values of mcp.go.cpu.time the store reads, in a fixed
// order, with their counter names built once rather than per data point; other classes are
// skipped.
var cpuClasses = [...]struct{ class, counter string }{
	{"gc", signals.CounterCPUGC}, {"gc.mark.assist", signals.CounterCPUGCAssist},
	{"total", signals.CounterCPUTotal}, {"idle", signals.CounterCPUIdle},
}

// observation gathers one ResourceMetrics into an Observation at its newest timestamp.
// It runs once per export of every instance, so it allocates only the observation's maps,
// sized for the agent's metric set: loops index the pdata slices (a range-over-func loop
// body is a closure, allocated when the iterator is not inlined) and names are constants.
func (e *signalsExporter) observation(k signals.Key, rm pmetric.ResourceMetrics) signals.Observation {
	o := signals.Observation{Gauges: make(map[string]float64, len(gauges)), Counters: make(map[string]signals.Cumulative, len(counters)+len(cpuClasses))}
	var newest pcommon.Timestamp
	latest := func(ts pcommon.Timestamp) {
		if ts > newest {
			newest = ts
		}
	}
	sms := rm.ScopeMetrics()
	for i := 0; i < sms.Len(); i++ {
		ms := sms.At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
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
				for p := 0; p < pts.Len(); p++ {
					dp := pts.At(p)
					sum += number(dp)
					latest(dp.Timestamp())
				}
				if pts.Len() > 0 {
					o.Gauges[name] = sum
				}
			case counters[name]:
				if m.Type() != pmetric.MetricTypeSum || m.Sum().DataPoints().Len() == 0 {
					continue
				}
				// Points split by other attributes (process.cpu.time by cpu.mode) add up.
				pts := m.Sum().DataPoints()
				var c signals.Cumulative
				for p := 0; p < pts.Len(); p++ {
					dp := pts.At(p)
					c.Value += number(dp)
					c.Start = dp.StartTimestamp().AsTime()
					latest(dp.Timestamp())
				}
				if m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityDelta {
					c = e.accumulate(k, name, c.Value)
				}
				o.Counters[name] = c
			case name == cpuTimeMetric:
				if m.Type() != pmetric.MetricTypeSum {
					continue
				}
				var sums [len(cpuClasses)]signals.Cumulative
				var seen [len(cpuClasses)]bool
				pts := m.Sum().DataPoints()
				for p := 0; p < pts.Len(); p++ {
					dp := pts.At(p)
					class, ok := dp.Attributes().Get("go.cpu.class")
					if !ok {
						continue
					}
					for ci, cc := range cpuClasses {
						if cc.class == class.Str() {
							sums[ci].Value += number(dp)
							sums[ci].Start = dp.StartTimestamp().AsTime()
							seen[ci] = true
							latest(dp.Timestamp())
							break
						}
					}
				}
				delta := m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityDelta
				for ci, cc := range cpuClasses {
					if !seen[ci] {
						continue
					}
					c := sums[ci]
					if delta {
						c = e.accumulate(k, cc.counter, c.Value)
					}
					o.Counters[cc.counter] = c
				}
			case name == e.cfg.HTTPMetric && m.Type() == pmetric.MetricTypeHistogram:
				if h, ok := e.histogram(k, m.Histogram()); ok {
					if o.Histograms == nil {
						o.Histograms = make(map[string]signals.Histogram, 1)
					}
					o.Histograms[signals.HistogramHTTPServer] = h
					pts := m.Histogram().DataPoints()
					for p := 0; p < pts.Len(); p++ {
						latest(pts.At(p).Timestamp())
					}
				}
			}
		}
	}
	if newest != 0 {
		o.Time = newest.AsTime()
	}
	// The OpenTelemetry runtime instrumentation reports GOGC=off as the largest int64.
	if g, ok := o.Gauges[signals.GaugeGOGC]; ok && g > 1e9 {
		o.Gauges[signals.GaugeGOGC] = -1
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
	// The profiles of one upload (a heap profile's four sample types) share the dictionary,
	// so each stack's frames are resolved once and reused; the store does not keep them.
	cache := make([][]string, stacks.Len())
	resolved := make([]bool, stacks.Len())
	frames := func(stackIndex int32) []string {
		if stackIndex < 0 || int(stackIndex) >= stacks.Len() {
			return nil
		}
		if resolved[stackIndex] {
			return cache[stackIndex]
		}
		li := stacks.At(int(stackIndex)).LocationIndices()
		out := make([]string, 0, li.Len())
		for i := 0; i < li.Len(); i++ {
			l := li.At(i)
			if l < 0 || int(l) >= locs.Len() {
				continue
			}
			// Inlined calls are lines of one location, innermost first.
			lines := locs.At(int(l)).Lines()
			for j := 0; j < lines.Len(); j++ {
				fi := lines.At(j).FunctionIndex()
				if fi < 0 || int(fi) >= funcs.Len() {
					continue
				}
				out = append(out, str(funcs.At(int(fi)).NameStrindex()))
			}
		}
		cache[stackIndex], resolved[stackIndex] = out, true
		return out
	}
	rps := pd.ResourceProfiles()
	for r := 0; r < rps.Len(); r++ {
		rp := rps.At(r)
		svc, ok := rp.Resource().Attributes().Get("service.name")
		if !ok || svc.Str() == "" {
			e.store.Drop("no_service_name", 1)
			continue
		}
		sps := rp.ScopeProfiles()
		for i := 0; i < sps.Len(); i++ {
			ps := sps.At(i).Profiles()
			for j := 0; j < ps.Len(); j++ {
				p := ps.At(j)
				typ := profileType(str(p.SampleType().TypeStrindex()))
				if typ == "" {
					continue
				}
				unit := str(p.SampleType().UnitStrindex())
				samples := p.Samples()
				stacksOut := make([]signals.Stack, 0, samples.Len())
				for k := 0; k < samples.Len(); k++ {
					smp := samples.At(k)
					var v int64
					vals := smp.Values()
					for x := 0; x < vals.Len(); x++ {
						v += vals.At(x)
					}
					stacksOut = append(stacksOut, signals.Stack{Frames: frames(smp.StackIndex()), Value: v})
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
