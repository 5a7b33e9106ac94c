package signals

import (
	"math"
	"strings"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func obs(sec int, cpuTotal, cpuIdle, cpuGC, alloc float64) Observation {
	start := t0.Add(-time.Hour)
	return Observation{
		Time: t0.Add(time.Duration(sec) * time.Second),
		Gauges: map[string]float64{GaugeGOGC: 100, GaugeLiveHeap: 50 << 20, GaugeHeapGoal: 100 << 20,
			GaugeMemoryLimit: 512 << 20, GaugeCPULimit: 2},
		Counters: map[string]Cumulative{
			CounterCPUTotal: {cpuTotal, start}, CounterCPUIdle: {cpuIdle, start}, CounterCPUGC: {cpuGC, start},
			CounterAllocated: {alloc, start}, CounterPeriods: {float64(sec) * 10, start}, CounterThrottledPeriods: {float64(sec), start},
		},
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestComputeRatesAndFractions(t *testing.T) {
	// 10 s: 2 Ps → 20 s available, 10 s idle → 10 s used, 2 s of it GC.
	s := compute(obs(0, 100, 50, 10, 0), obs(10, 120, 60, 12, 1e9))
	if !near(s.GCCPUFraction, 0.2) || !near(s.RuntimeCPUCores, 1) || !near(s.GCCPUCores, 0.2) {
		t.Errorf("GC CPU = %v of %v cores (%v), want 0.2 of 1", s.GCCPUFraction, s.RuntimeCPUCores, s.GCCPUCores)
	}
	if !near(s.CPUCores, 1) {
		t.Errorf("CPU cores without a cgroup figure = %v, want the runtime's 1", s.CPUCores)
	}
	if !near(s.AllocBytesPerSecond, 1e8) || !near(s.ThrottledFraction, 0.1) {
		t.Errorf("alloc rate %v, throttled %v", s.AllocBytesPerSecond, s.ThrottledFraction)
	}
	if s.GOGC != 100 || s.LiveHeapBytes != 50<<20 || s.MemoryLimitBytes != 512<<20 {
		t.Errorf("gauges = %+v", s)
	}
	if Has(s.RequestsPerSecond) || Has(s.LatencyP99) {
		t.Errorf("request figures without any request data: %v %v", s.RequestsPerSecond, s.LatencyP99)
	}
}

func TestComputeSkipsResetCounters(t *testing.T) {
	prev, cur := obs(0, 100, 50, 10, 5e9), obs(10, 120, 60, 12, 1e9)
	if s := compute(prev, cur); Has(s.AllocBytesPerSecond) {
		t.Errorf("a counter that went down gave a rate: %v", s.AllocBytesPerSecond)
	}
}

func TestRequestFiguresFromHistogram(t *testing.T) {
	bounds := []float64{0.01, 0.1, 1}
	start := t0.Add(-time.Hour)
	prev, cur := obs(0, 100, 50, 10, 0), obs(10, 120, 60, 12, 1e9)
	prev.Histograms = map[string]Histogram{HistogramHTTPServer: {Bounds: bounds, Counts: []float64{10, 0, 0, 0}, Count: 10, Start: start}}
	// 1000 new requests: 900 under 10 ms, 90 in (10, 100] ms, 10 in (100 ms, 1 s], 5 errors.
	cur.Histograms = map[string]Histogram{HistogramHTTPServer: {Bounds: bounds, Counts: []float64{910, 90, 10, 0}, Count: 1010, Errors: 5, Start: start}}
	s := compute(prev, cur)
	if !near(s.RequestsPerSecond, 100) || !near(s.ErrorRate, 0.005) {
		t.Errorf("rate %v errors %v", s.RequestsPerSecond, s.ErrorRate)
	}
	if p50 := s.LatencyP50; p50 < 0.005 || p50 > 0.006 {
		t.Errorf("p50 = %v, want ~5.6 ms (interpolated in the first bucket)", p50)
	}
	if p99 := s.LatencyP99; !near(p99, 0.1) {
		t.Errorf("p99 = %v, want 0.1 (the 990th of 1000 ends the second bucket)", p99)
	}
	if !near(s.CPUPerRequest, 0.01) {
		t.Errorf("CPU per request = %v, want 1 core / 100 rps", s.CPUPerRequest)
	}
}

func TestQuantile(t *testing.T) {
	h := Histogram{Bounds: []float64{1, 2}, Counts: []float64{0, 10, 10}, Count: 20}
	if q := h.Quantile(0.25); !near(q, 1.5) {
		t.Errorf("q25 = %v", q)
	}
	if q := h.Quantile(0.99); q != 2 {
		t.Errorf("q99 in +Inf bucket = %v, want the last bound", q)
	}
	if q := (Histogram{}).Quantile(0.5); Has(q) {
		t.Errorf("empty histogram quantile = %v", q)
	}
}

func TestStoreWindowsAndBounds(t *testing.T) {
	st, err := NewStore(Config{MaxInstances: 2, MaxSamples: 3, InstanceTTL: time.Minute, Profiles: DefaultProfileConfig()})
	if err != nil {
		t.Fatal(err)
	}
	k := Key{"svc", "a"}
	for i := range 6 {
		st.Observe(k, obs(i*10, 100+float64(i)*20, 50+float64(i)*10, 10+float64(i)*2, float64(i)*1e9))
	}
	w := st.Window(k, time.Time{})
	if len(w) != 3 || !w[0].Time.Before(w[2].Time) {
		t.Fatalf("window = %d samples, want the newest 3 oldest first", len(w))
	}
	if last, _ := st.Latest(k); !last.Time.Equal(t0.Add(50 * time.Second)) {
		t.Errorf("latest at %v", last.Time)
	}
	if got := st.Window(k, t0.Add(45*time.Second)); len(got) != 1 {
		t.Errorf("window since 45s = %d samples", len(got))
	}
	// A third instance evicts the least recently heard of.
	st.Observe(Key{"svc", "b"}, obs(60, 0, 0, 0, 0))
	st.Observe(Key{"svc", "c"}, obs(70, 0, 0, 0, 0))
	if keys := st.Instances(""); len(keys) != 2 || keys[0].Instance != "b" {
		t.Errorf("instances after eviction = %v", keys)
	}
	if stats, n := st.Stats(); stats.Evicted != 1 || n != 2 {
		t.Errorf("stats = %+v, %d", stats, n)
	}
	if n := st.Expire(t0.Add(10 * time.Minute)); n != 2 {
		t.Errorf("expired %d", n)
	}
}

func TestStoreRestartAndSpans(t *testing.T) {
	st, _ := NewStore(DefaultConfig())
	k := Key{"svc", "a"}
	st.Observe(k, obs(0, 100, 50, 10, 0))
	restarted := obs(10, 5, 1, 1, 0)
	for name, c := range restarted.Counters {
		c.Start = t0.Add(5 * time.Second)
		restarted.Counters[name] = c
	}
	if _, ok := st.Observe(k, restarted); ok {
		t.Error("a restart between observations made a sample")
	}
	for i := range 100 {
		isErr := i < 2
		st.ObserveSpan(k, t0, 0.003, isErr)
	}
	next := obs(20, 25, 11, 3, 1e9)
	for name, c := range next.Counters {
		c.Start = t0.Add(5 * time.Second)
		next.Counters[name] = c
	}
	// Spans only count from the first observation that carries their histogram.
	st.Observe(k, next)
	for range 50 {
		st.ObserveSpan(k, t0, 0.2, false)
	}
	last := obs(30, 45, 21, 5, 2e9)
	for name, c := range last.Counters {
		c.Start = t0.Add(5 * time.Second)
		last.Counters[name] = c
	}
	s, ok := st.Observe(k, last)
	if !ok || !near(s.RequestsPerSecond, 5) || s.LatencyP50 < 0.1 || s.LatencyP50 > 0.25 || s.ErrorRate != 0 {
		t.Errorf("span sample = %+v (ok %v)", s, ok)
	}
}

func TestProfilesTopAndGCShare(t *testing.T) {
	st, _ := NewStore(DefaultConfig())
	p := st.Profiles()
	p.Add("svc", "cpu", "nanoseconds", t0, []Stack{
		{Frames: []string{"runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker"}, Value: 30},
		{Frames: []string{"runtime.scanobject", "runtime.gcDrain", "runtime.gcAssistAlloc1", "runtime.mallocgc", "main.handle"}, Value: 10},
		{Frames: []string{"runtime.nextFreeFast", "runtime.mallocgc", "main.handle"}, Value: 10},
		{Frames: []string{"encoding/json.Marshal", "main.handle"}, Value: 50},
	})
	top, ok := p.Top("svc", "cpu", t0.Add(time.Minute), 3)
	if !ok || top.Total != 100 || top.Uploads != 1 {
		t.Fatalf("top = %+v", top)
	}
	if !near(top.GC.Worker, 0.3) || !near(top.GC.Assist, 0.1) || !near(top.GC.Malloc, 0.1) || !near(top.GC.Total, 0.5) {
		t.Errorf("GC share = %+v", top.GC)
	}
	if len(top.Functions) != 3 || top.Functions[0].Name != "encoding/json.Marshal" || top.Functions[1].Name != "runtime.scanobject" {
		t.Errorf("functions = %+v", top.Functions)
	}
	if _, ok := p.Top("svc", "cpu", t0.Add(time.Hour), 3); ok {
		t.Error("an upload outside the window still counted")
	}
	if _, ok := p.Top("nope", "cpu", t0, 3); ok {
		t.Error("unknown service has a top")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	c := Config{Profiles: ProfileConfig{}}
	err := c.Validate()
	for _, key := range []string{"max_instances", "max_samples", "instance_ttl", "profiles.window", "profiles.max_services"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate() = %v, want it to name %s", err, key)
		}
	}
}
