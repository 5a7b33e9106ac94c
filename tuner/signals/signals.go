// Package signals turns the telemetry agents send — cumulative runtime and container
// counters, gauges, HTTP server histograms and server spans — into bounded per-instance
// time windows of the figures the tuner decides on: GC CPU, live heap and goal, allocation
// rate, knobs in effect, CPU against quota, throttling, request rate, latency and errors.
// The collector writes into a Store; the tuner and the HTTP API read from it in-process.
package signals

import (
	"math"
	"time"
)

// Key identifies an instance: service.name and service.instance.id of its telemetry.
type Key struct {
	Service  string `json:"service"`
	Instance string `json:"instance"`
}

// Sample is one interval of an instance's signals, computed from two consecutive
// observations. Rates are per second over the interval; NaN means "not reported".
type Sample struct {
	Time     time.Time     `json:"time"`
	Interval time.Duration `json:"interval_ns"`

	// GCCPUFraction is GC CPU time over the CPU time the Go runtime used (total − idle).
	GCCPUFraction float64 `json:"gc_cpu_fraction"`
	// GCCPUCores is GC CPU time per second of wall time.
	GCCPUCores float64 `json:"gc_cpu_cores"`
	// GCAssistFraction is the mark-assist part of GCCPUFraction (CPU taken from goroutines).
	GCAssistFraction float64 `json:"gc_assist_fraction"`
	// RuntimeCPUCores is the CPU the Go runtime estimates it used (total − idle classes).
	RuntimeCPUCores float64 `json:"runtime_cpu_cores"`
	// CPUCores is the process's measured CPU use (process.cpu.time), else the container's
	// (cgroup), else RuntimeCPUCores.
	CPUCores float64 `json:"cpu_cores"`
	// ContainerCPUCores is the container's cgroup CPU use (every process in it).
	ContainerCPUCores float64 `json:"container_cpu_cores"`
	// GCCyclesPerSecond is the GC frequency.
	GCCyclesPerSecond float64 `json:"gc_cycles_per_second"`

	LiveHeapBytes        float64 `json:"live_heap_bytes"`
	HeapGoalBytes        float64 `json:"heap_goal_bytes"`
	AllocBytesPerSecond  float64 `json:"alloc_bytes_per_second"`
	RuntimeMemoryBytes   float64 `json:"runtime_memory_bytes"`   // go.memory.used
	ContainerMemoryBytes float64 `json:"container_memory_bytes"` // cgroup usage

	MemoryLimitBytes float64 `json:"memory_limit_bytes"` // container limit
	CPULimitCores    float64 `json:"cpu_limit_cores"`    // container limit
	// ThrottledFraction is the share of CFS periods in which the container was throttled.
	ThrottledFraction float64 `json:"throttled_fraction"`

	GOGC        float64 `json:"gogc"`
	GOMEMLIMIT  float64 `json:"gomemlimit_bytes"`
	GOMAXPROCS  float64 `json:"gomaxprocs"`
	GuardActive float64 `json:"memory_guard_active"`

	RequestsPerSecond float64 `json:"requests_per_second"`
	LatencyP50        float64 `json:"latency_p50_seconds"`
	LatencyP99        float64 `json:"latency_p99_seconds"`
	ErrorRate         float64 `json:"error_rate"` // 5xx or error-status spans over requests
	// CPUPerRequest is CPUCores / RequestsPerSecond: CPU seconds per request.
	CPUPerRequest float64 `json:"cpu_seconds_per_request"`
}

func nan() float64 { return math.NaN() }

// emptySample has every figure "not reported".
func emptySample(t time.Time, d time.Duration) Sample {
	n := nan()
	return Sample{Time: t, Interval: d,
		GCCPUFraction: n, GCCPUCores: n, GCAssistFraction: n, RuntimeCPUCores: n, CPUCores: n, ContainerCPUCores: n, GCCyclesPerSecond: n,
		LiveHeapBytes: n, HeapGoalBytes: n, AllocBytesPerSecond: n, RuntimeMemoryBytes: n, ContainerMemoryBytes: n,
		MemoryLimitBytes: n, CPULimitCores: n, ThrottledFraction: n,
		GOGC: n, GOMEMLIMIT: n, GOMAXPROCS: n, GuardActive: n,
		RequestsPerSecond: n, LatencyP50: n, LatencyP99: n, ErrorRate: n, CPUPerRequest: n}
}

// Has reports whether v was reported.
func Has(v float64) bool { return !math.IsNaN(v) }

// Observation is what one export from an instance carried: gauges (latest values) and
// cumulative counters, by the names in this package's constants. Observe turns two
// consecutive observations into a Sample.
type Observation struct {
	Time       time.Time
	Gauges     map[string]float64
	Counters   map[string]Cumulative
	Histograms map[string]Histogram // cumulative HTTP server duration histograms, summed over series
}

// Cumulative is a counter with the time it started counting (a new start means a reset).
type Cumulative struct {
	Value float64
	Start time.Time
}

// Histogram is a cumulative explicit-bucket histogram: Counts[i] counts values ≤ Bounds[i]
// (the last bucket is +Inf), with the number of server errors alongside.
type Histogram struct {
	Bounds []float64
	Counts []float64
	Count  float64
	Errors float64
	Start  time.Time
}

// Names of the figures an Observation carries (OpenTelemetry metric names; the CPU classes
// of mcp.go.cpu.time are split by their go.cpu.class attribute).
const (
	GaugeGOGC            = "go.config.gogc"
	GaugeGOMEMLIMIT      = "go.memory.limit"
	GaugeGOMAXPROCS      = "go.processor.limit"
	GaugeHeapGoal        = "go.memory.gc.goal"
	GaugeRuntimeMemory   = "go.memory.used"
	GaugeLiveHeap        = "mcp.go.gc.heap.live"
	GaugeMemoryLimit     = "mcp.container.memory.limit"
	GaugeCPULimit        = "mcp.container.cpu.limit"
	GaugeContainerMemory = "mcp.container.memory.usage"
	GaugeGuardActive     = "mcp.agent.memory_guard.active"

	CounterAllocated        = "go.memory.allocated"
	CounterGCCycles         = "mcp.go.gc.cycles"
	CounterCPUGC            = "mcp.go.cpu.time/gc"
	CounterCPUGCAssist      = "mcp.go.cpu.time/gc.mark.assist"
	CounterCPUTotal         = "mcp.go.cpu.time/total"
	CounterCPUIdle          = "mcp.go.cpu.time/idle"
	CounterContainerCPU     = "mcp.container.cpu.time"
	CounterProcessCPU       = "process.cpu.time"
	CounterPeriods          = "mcp.container.cpu.periods"
	CounterThrottledPeriods = "mcp.container.cpu.throttled.periods"

	HistogramHTTPServer = "http.server.request.duration"
	// HistogramSpans is the histogram the store builds from server spans, used when an
	// instance sends no HTTP server metrics.
	HistogramSpans = "spans"
)

// rate is (cur − prev) / seconds for a counter both observations carry, NaN otherwise or
// when the counter was reset in between.
func rate(prev, cur Observation, name string) float64 {
	p, ok1 := prev.Counters[name]
	c, ok2 := cur.Counters[name]
	secs := cur.Time.Sub(prev.Time).Seconds()
	if !ok1 || !ok2 || secs <= 0 || c.Value < p.Value || !c.Start.Equal(p.Start) {
		return nan()
	}
	return (c.Value - p.Value) / secs
}

func gauge(o Observation, name string) float64 {
	if v, ok := o.Gauges[name]; ok {
		return v
	}
	return nan()
}

// compute derives a Sample from two consecutive observations of one instance.
func compute(prev, cur Observation) Sample {
	d := cur.Time.Sub(prev.Time)
	s := emptySample(cur.Time, d)
	s.GOGC = gauge(cur, GaugeGOGC)
	s.GOMEMLIMIT = gauge(cur, GaugeGOMEMLIMIT)
	s.GOMAXPROCS = gauge(cur, GaugeGOMAXPROCS)
	s.HeapGoalBytes = gauge(cur, GaugeHeapGoal)
	s.RuntimeMemoryBytes = gauge(cur, GaugeRuntimeMemory)
	s.LiveHeapBytes = gauge(cur, GaugeLiveHeap)
	s.MemoryLimitBytes = gauge(cur, GaugeMemoryLimit)
	s.CPULimitCores = gauge(cur, GaugeCPULimit)
	s.ContainerMemoryBytes = gauge(cur, GaugeContainerMemory)
	s.GuardActive = gauge(cur, GaugeGuardActive)

	s.AllocBytesPerSecond = rate(prev, cur, CounterAllocated)
	s.GCCyclesPerSecond = rate(prev, cur, CounterGCCycles)
	gc := rate(prev, cur, CounterCPUGC)
	assist := rate(prev, cur, CounterCPUGCAssist)
	used := rate(prev, cur, CounterCPUTotal) - rate(prev, cur, CounterCPUIdle)
	s.GCCPUCores = gc
	s.RuntimeCPUCores = used
	if used > 0 {
		s.GCCPUFraction = clamp01(gc / used)
		s.GCAssistFraction = clamp01(assist / used)
	}
	s.ContainerCPUCores = rate(prev, cur, CounterContainerCPU)
	s.CPUCores = rate(prev, cur, CounterProcessCPU)
	if !Has(s.CPUCores) {
		s.CPUCores = s.ContainerCPUCores
	}
	if !Has(s.CPUCores) {
		s.CPUCores = used
	}
	if periods := rate(prev, cur, CounterPeriods); periods > 0 {
		s.ThrottledFraction = clamp01(rate(prev, cur, CounterThrottledPeriods) / periods)
	} else if Has(periods) {
		s.ThrottledFraction = 0
	}

	h, ok := histDelta(prev, cur, HistogramHTTPServer)
	if !ok {
		h, ok = histDelta(prev, cur, HistogramSpans)
	}
	if ok && d > 0 {
		s.RequestsPerSecond = h.Count / d.Seconds()
		if h.Count > 0 {
			s.LatencyP50 = h.Quantile(0.5)
			s.LatencyP99 = h.Quantile(0.99)
			s.ErrorRate = h.Errors / h.Count
		}
		if s.RequestsPerSecond > 0 && Has(s.CPUCores) {
			s.CPUPerRequest = s.CPUCores / s.RequestsPerSecond
		}
	}
	return s
}

func clamp01(v float64) float64 {
	if math.IsNaN(v) {
		return v
	}
	return math.Max(0, math.Min(1, v))
}

// histDelta is the histogram of what happened between two cumulative observations.
func histDelta(prev, cur Observation, name string) (Histogram, bool) {
	c, ok := cur.Histograms[name]
	if !ok {
		return Histogram{}, false
	}
	p, ok := prev.Histograms[name]
	if !ok || !p.Start.Equal(c.Start) || !sameBounds(p.Bounds, c.Bounds) || c.Count < p.Count {
		return Histogram{}, false
	}
	out := Histogram{Bounds: c.Bounds, Counts: make([]float64, len(c.Counts)), Count: c.Count - p.Count, Errors: c.Errors - p.Errors}
	for i := range c.Counts {
		out.Counts[i] = c.Counts[i] - p.Counts[i]
	}
	return out, true
}

func sameBounds(a, b []float64) bool {
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

// Quantile estimates the q-quantile by linear interpolation inside the bucket it falls in
// (as Prometheus's histogram_quantile does); values in the +Inf bucket report the last
// finite bound.
func (h Histogram) Quantile(q float64) float64 {
	if h.Count <= 0 || len(h.Counts) == 0 {
		return nan()
	}
	rank := q * h.Count
	var cum float64
	for i, c := range h.Counts {
		if cum+c >= rank && c > 0 {
			if i >= len(h.Bounds) {
				if len(h.Bounds) == 0 {
					return nan()
				}
				return h.Bounds[len(h.Bounds)-1]
			}
			lo := 0.0
			if i > 0 {
				lo = h.Bounds[i-1]
			}
			return lo + (h.Bounds[i]-lo)*(rank-cum)/c
		}
		cum += c
	}
	if len(h.Bounds) > 0 {
		return h.Bounds[len(h.Bounds)-1]
	}
	return nan()
}
