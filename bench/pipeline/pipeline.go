// Package pipeline measures the collector's throughput on one core — metric points/s and
// profiles/s — with and without MCP's components (the pyroscope receiver and the mcpsignals
// exporter), side by side in one run; `mcp bench pipeline` runs it.
//
// Each pipeline runs in a collector process of its own, built from the distribution's
// factories, in a cgroup with a quota of one core (so Go sets GOMAXPROCS to 1 there, as in a
// one-core container). The load comes from this process, on the machine's other cores:
// senders replay a fleet of agents as fast as the collector answers. A process and a cgroup,
// rather than GOMAXPROCS(1) in this process, keep the load generator's own CPU out of the
// measured core and cap the collector's GC and system threads too; the cgroup's CPU counter
// says how much of its core the collector used.
package pipeline

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/mcplane/mcp/internal/version"
)

// Run measures every variant in every round and summarises.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	rep := &Report{Started: time.Now(), Config: reportConfig(cfg), Machine: machine()}
	fmt.Fprintf(progress, "preparing payloads: the agent's metrics export for %d instances of %d services; profiling %v of busy work\n",
		cfg.Instances, cfg.Services, cfg.ProfileCapture)
	tmpl, err := agentTemplate()
	if err != nil {
		return nil, err
	}
	profiles, err := newProfilesSource(ctx, cfg.ProfileCapture, cfg.Instances, cfg.Services)
	if err != nil {
		return nil, err
	}
	rep.Payload = Payload{MetricPointsPerExport: tmpl.DataPointCount(), CPUProfileSamples: profiles.samples[0], HeapProfileSamples: profiles.samples[1],
		CPUUploadBytes: len(profiles.uploads[0].body), HeapUploadBytes: len(profiles.uploads[1].body),
		CPUOTLPBytes: len(profiles.otlp[0][0]), HeapOTLPBytes: len(profiles.otlp[1][0])}
	fmt.Fprintf(progress, "payloads: %d points per metrics export; CPU profile %d samples (%d B upload, %d B OTLP), heap profile %d samples (%d B upload, %d B OTLP)\n",
		rep.Payload.MetricPointsPerExport, rep.Payload.CPUProfileSamples, rep.Payload.CPUUploadBytes, rep.Payload.CPUOTLPBytes,
		rep.Payload.HeapProfileSamples, rep.Payload.HeapUploadBytes, rep.Payload.HeapOTLPBytes)
	variants := make([]Variant, len(cfg.Variants))
	for i, v := range cfg.Variants {
		v.Pipeline = describe(v)
		variants[i] = v
	}
	total := cfg.Rounds * len(variants)
	for round := 1; round <= cfg.Rounds; round++ {
		order := make([]Variant, len(variants))
		copy(order, variants)
		if round%2 == 0 { // every other round backwards, so no variant always runs first
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		for pos, v := range order {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			res, err := runOne(ctx, cfg, v, round, tmpl, profiles)
			if err != nil {
				return nil, fmt.Errorf("round %d, %s: %w", round, v.Name, err)
			}
			res.Round, res.Order = round, pos+1
			rep.Runs = append(rep.Runs, res)
			fmt.Fprintf(progress, "[%d/%d] round %d %-24s %10.0f %s/s  %.2f cores (load %.2f)  %8.0f %s per CPU-s  refused %d%s\n",
				len(rep.Runs), total, round, v.Name, res.PerSecond, unit(v.Workload), res.CPUCores, res.LoaderCPUCores, res.PerCPUSecond, unit(v.Workload), res.Refused, storeNote(res))
		}
	}
	rep.Finished = time.Now()
	rep.summarize(variants)
	return rep, nil
}

func unit(w Workload) string {
	if w == Metrics {
		return "points"
	}
	return "profiles"
}

func storeNote(r RunResult) string {
	if r.Store == nil {
		return ""
	}
	return fmt.Sprintf("  store: %d points, %d instances, %d profiles, %d services", r.Store.MetricPoints, r.Store.Instances, r.Store.ProfileUploads, r.Store.Services)
}

// runOne runs one variant: a fresh collector process, warm-up, the measured window, stop.
func runOne(ctx context.Context, cfg Config, v Variant, round int, tmpl pmetric.Metrics, profiles *profilesSource) (RunResult, error) {
	res := RunResult{Variant: v.Name, Workload: v.Workload}
	addrs, err := freeAddrs(3)
	if err != nil {
		return res, err
	}
	dir, err := os.MkdirTemp("", "mcp-bench-pipeline-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	config, err := collectorConfig(v, addrs[0], [2]string{addrs[1], addrs[2]}, dir)
	if err != nil {
		return res, err
	}
	var profile string
	if cfg.CPUProfileDir != "" {
		profile = filepath.Join(cfg.CPUProfileDir, fmt.Sprintf("%s-r%d.pprof", strings.ReplaceAll(v.Name, "/", "-"), round))
	}
	c, err := startChild(ctx, cfg.Command, dir, config, cfg.CollectorMemoryMiB, profile)
	if err != nil {
		return res, err
	}
	stopped := false
	defer func() {
		if !stopped {
			c.kill()
		}
	}()
	res.GOMAXPROCS = c.ready.GOMAXPROCS

	var newRequest func() requestFunc
	switch {
	case v.Workload == Metrics:
		src, err := newFastMetrics(newMetricsSource(tmpl, cfg.Instances, cfg.Services, time.Now().Add(-time.Hour)))
		if err != nil {
			return res, err
		}
		url := "http://" + addrs[0] + "/v1/metrics"
		newRequest = func() requestFunc {
			return func() (string, string, []byte, int, error) {
				// A new body each time: the transport may still hold the last one.
				body, n := src.request(nil)
				return url, "application/x-protobuf", body, n, nil
			}
		}
	case v.receiver == "otlp":
		url := "http://" + addrs[0] + "/v1development/profiles"
		newRequest = func() requestFunc {
			return func() (string, string, []byte, int, error) {
				return url, "application/x-protobuf", profiles.otlpRequest(), 1, nil
			}
		}
	default:
		base := "http://" + addrs[0] + "/ingest?"
		newRequest = func() requestFunc {
			return func() (string, string, []byte, int, error) {
				q, ct, body := profiles.pyroscopeRequest()
				return base + q, ct, body, 1, nil
			}
		}
	}
	load := startLoader(ctx, cfg.Senders, newRequest)
	defer load.stop()
	if err := sleep(ctx, cfg.Warmup); err != nil {
		return res, err
	}
	c0, s0, l0, t0 := load.snapshot(), mustStats(c), processCPUSeconds(), time.Now()
	if err := sleep(ctx, cfg.Duration); err != nil {
		return res, err
	}
	c1, s1, l1, t1 := load.snapshot(), mustStats(c), processCPUSeconds(), time.Now()
	load.stop()
	window := t1.Sub(t0).Seconds()
	d := c1.sub(c0)
	res.Items, res.Requests, res.Refused, res.Errors = d.Items, d.Requests, d.Refused, d.Errors
	res.WindowSeconds = window
	res.PerSecond = float64(d.Items) / window
	res.CPUSeconds = s1.CPUUsageSeconds - s0.CPUUsageSeconds
	res.CPUCores = res.CPUSeconds / window
	res.LoaderCPUCores = (l1 - l0) / window
	if res.CPUSeconds > 0 {
		res.PerCPUSecond = float64(d.Items) / res.CPUSeconds
	}
	if periods := s1.CPUPeriods - s0.CPUPeriods; periods > 0 {
		res.ThrottledFraction = float64(s1.CPUThrottledPeriods-s0.CPUThrottledPeriods) / float64(periods)
	}
	res.MemoryPeakBytes = s1.MemoryPeakBytes
	if d.Refused > 0 {
		res.LastRefusal = strings.TrimSpace(load.refusal())
	}
	stopped = true
	final, err := c.stop()
	if err != nil {
		return res, err
	}
	if slices.Contains(v.exporters, "mcpsignals") {
		res.Store = &StoreCounts{MetricPoints: final.MetricPoints, ProfileUploads: final.ProfileUploads, Instances: final.Instances, Services: final.Services}
	}
	return res, nil
}

func mustStats(c *child) statsView {
	s, err := c.stats()
	if err != nil {
		return statsView{}
	}
	return statsView{CPUUsageSeconds: s.CPUUsageSeconds, CPUPeriods: s.CPUPeriods, CPUThrottledPeriods: s.CPUThrottledPeriods, MemoryPeakBytes: s.MemoryPeakBytes}
}

// statsView is the part of the cgroup's counters a run reports.
type statsView struct {
	CPUUsageSeconds                 float64
	CPUPeriods, CPUThrottledPeriods uint64
	MemoryPeakBytes                 int64
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func freeAddrs(n int) ([]string, error) {
	var out []string
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

func machine() Machine {
	m := Machine{CPUs: goruntime.NumCPU(), OS: goruntime.GOOS, Arch: goruntime.GOARCH, GoVersion: goruntime.Version(), MCPVersion: version.Get().Version}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = cpuModel(string(b))
	}
	return m
}
