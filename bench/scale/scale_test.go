package scale

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// TestRunTiny runs the whole harness at toy scale — 20 instances, one push, etcd included
// when a cached etcd v3.6 binary exists (make testenv builds one) — so every step of
// `mcp bench scale` runs in `make test`. Its figures mean nothing at this size.
func TestRunTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("builds mcp and runs mcp serve and etcd as processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := DefaultConfig()
	cfg.Instances = 20
	cfg.Heartbeat = 500 * time.Millisecond
	cfg.Settle = 200 * time.Millisecond
	cfg.Idle = time.Second
	cfg.Pushes = 1
	cfg.PushGap = 0
	cfg.ConnectBatch = 8
	if bin, _ := cachedEtcd(ctx); bin != "" {
		cfg.Etcd = bin
	} else {
		// Building etcd takes minutes on 2 cores: too long for a unit test.
		t.Log("no cached etcd v3.6 binary (make testenv builds one): measuring MCP alone")
		cfg.SkipEtcd = true
	}
	var progress bytes.Buffer
	r, err := Run(ctx, cfg, &progress)
	t.Logf("progress:\n%s", progress.String())
	if err != nil {
		t.Fatal(err)
	}

	checkSide := func(s *Side) {
		t.Helper()
		if s.Connections != cfg.Instances {
			t.Errorf("%s: %d receivers connected, want %d", s.Name, s.Connections, cfg.Instances)
		}
		if len(s.Pushes) != cfg.Pushes {
			t.Fatalf("%s: %d pushes reported, want %d", s.Name, len(s.Pushes), cfg.Pushes)
		}
		p := s.Pushes[0]
		if p.Received != cfg.Instances || p.Missing != 0 {
			t.Errorf("%s: push reached %d of %d receivers", s.Name, p.Received, cfg.Instances)
		}
		if !(0 < p.FirstSeconds && p.FirstSeconds <= p.P50Seconds && p.P50Seconds <= p.P99Seconds && p.P99Seconds <= p.MaxSeconds) {
			t.Errorf("%s: latencies out of order: first %v p50 %v p99 %v max %v", s.Name, p.FirstSeconds, p.P50Seconds, p.P99Seconds, p.MaxSeconds)
		}
		if s.RSSBytes == 0 || s.PeakRSSBytes < s.RSSBytes {
			t.Errorf("%s: RSS %d, peak %d", s.Name, s.RSSBytes, s.PeakRSSBytes)
		}
	}
	checkSide(&r.MCP)
	if p := r.MCP.Pushes[0]; p.Acked != cfg.Instances || !strings.HasPrefix(p.Key, "d-") {
		t.Errorf("mcp push: decision %q acknowledged by %d instances, want %d", p.Key, p.Acked, cfg.Instances)
	}
	if r.MCP.Goroutines == 0 || r.MCP.HeapInuseBytes == 0 {
		t.Errorf("mcp serve's runtime figures missing: %+v", r.MCP)
	}
	if !cfg.SkipEtcd {
		if r.Etcd == nil {
			t.Fatal("etcd side missing from the report")
		}
		checkSide(r.Etcd)
		if !strings.HasPrefix(r.EtcdVersion, "3.6.") {
			t.Errorf("etcd version %q, want 3.6.x", r.EtcdVersion)
		}
	}
	wantTargets := 3
	if !cfg.SkipEtcd {
		wantTargets = 4
	}
	if len(r.Targets) != wantTargets {
		t.Errorf("%d targets judged, want %d: %+v", len(r.Targets), wantTargets, r.Targets)
	}

	var table bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("table:\n%s", table.String())
	for _, want := range []string{"push 1: p50 / p99 / max", "median p50 / p99 / max", "MCP idle CPU, heartbeats only"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("the JSON report does not read back: %v", err)
	}
	if back.MCP.P99Seconds != r.MCP.P99Seconds {
		t.Errorf("JSON p99 %v, report %v", back.MCP.P99Seconds, r.MCP.P99Seconds)
	}
}

func TestLatencyQuantiles(t *testing.T) {
	sent := time.Unix(1000, 0)
	var arrived []time.Time
	for i := 100; i >= 1; i-- { // out of order, as receivers report
		arrived = append(arrived, sent.Add(time.Duration(i)*time.Millisecond))
	}
	l := latenciesSince(sent, arrived)
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{.5, 50 * time.Millisecond}, {.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}} {
		if got := l.quantile(c.q); got != c.want {
			t.Errorf("quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if l.min() != time.Millisecond || l.max() != 100*time.Millisecond {
		t.Errorf("min %v max %v", l.min(), l.max())
	}
	if got := median([]float64{3, 1, 2, 10}); got != 2.5 {
		t.Errorf("median = %v, want 2.5", got)
	}
}

func TestHistogramQuantile(t *testing.T) {
	before := "mcp_knob_push_latency_seconds_bucket{le=\"0.1\"} 5\nmcp_knob_push_latency_seconds_bucket{le=\"1\"} 5\nmcp_knob_push_latency_seconds_bucket{le=\"+Inf\"} 5\n"
	after := "mcp_knob_push_latency_seconds_bucket{le=\"0.1\"} 55\nmcp_knob_push_latency_seconds_bucket{le=\"1\"} 105\nmcp_knob_push_latency_seconds_bucket{le=\"+Inf\"} 105\n"
	h := histogramDelta(histogramBuckets(before, "mcp_knob_push_latency_seconds"), histogramBuckets(after, "mcp_knob_push_latency_seconds"))
	// 50 observations up to 0.1 s, 50 more up to 1 s: the median is the first bucket's
	// top, the 99th percentile interpolated in the second.
	if got := histogramQuantile(.5, h); math.Abs(got-0.1) > 1e-9 {
		t.Errorf("p50 = %v, want 0.1", got)
	}
	if got := histogramQuantile(.99, h); math.Abs(got-(0.1+0.9*49/50)) > 1e-9 {
		t.Errorf("p99 = %v, want %v", got, 0.1+0.9*49/50)
	}
	if got := histogramQuantile(.5, nil); !math.IsNaN(got) {
		t.Errorf("quantile of nothing = %v, want NaN", got)
	}
}

func TestSamplerPeak(t *testing.T) {
	s := newSampler(0, time.Second)
	t0 := time.Unix(0, 0)
	// Idle, then one busy second at 1.5 cores, then idle.
	for i, cpu := range []time.Duration{0, 0, 100 * time.Millisecond, 1600 * time.Millisecond, 1700 * time.Millisecond} {
		s.samples = append(s.samples, cpuSample{at: t0.Add(time.Duration(i) * time.Second), cpu: cpu})
	}
	if got := s.peak(t0, t0.Add(10*time.Second), time.Second); math.Abs(got-1.5) > 1e-9 {
		t.Errorf("peak = %v, want 1.5", got)
	}
}

func TestValidateNamesFlags(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Instances = 0
	cfg.Idle = 0
	cfg.ServeEnv = []string{"NOEQUALS"}
	err := cfg.Validate()
	for _, flag := range []string{"--instances", "--idle", "--serve-env"} {
		if err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("Validate() = %v, want it to name %s", err, flag)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
	if err := DefaultConfig().Quick().Validate(); err != nil {
		t.Errorf("quick defaults invalid: %v", err)
	}
}
