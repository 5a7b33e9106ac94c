package tuning

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcplane/mcp/internal/cgroupctl"
	"github.com/mcplane/mcp/internal/loadgen"
	"github.com/mcplane/mcp/internal/procs"
)

// Config is one benchmark invocation.
type Config struct {
	// Profiles to run (names); empty: all.
	Profiles []string
	// Quick is the short form: one round, short windows, a small oracle sweep (under 3
	// minutes for one profile).
	Quick bool
	// Rounds interleave the contenders this many times.
	Rounds int
	// Warmup runs the load before measuring; Measure is the measured window.
	Warmup, Measure time.Duration
	// Sweep is the static GOGC values tried for oracle-static.
	Sweep []int
	// Progress receives progress lines.
	Progress io.Writer
	// Sample is how often each run's knobs and GC CPU are sampled for the plot.
	Sample time.Duration
}

// DefaultConfig is the full run.
func DefaultConfig() Config {
	return Config{Rounds: 2, Warmup: 30 * time.Second, Measure: 90 * time.Second,
		Sweep: []int{50, 100, 200, 400, 800, 1600}, Sample: 2 * time.Second}
}

// QuickConfig is the short run.
func QuickConfig() Config {
	return Config{Quick: true, Rounds: 1, Warmup: 12 * time.Second, Measure: 20 * time.Second,
		Sweep: []int{100, 400, 1600}, Sample: time.Second}
}

// Measurement is one contender's figures on one profile.
type Measurement struct {
	Name                    string  `json:"name"`
	CPUSecondsPer1kRequests float64 `json:"cpu_seconds_per_1k_requests"`
	GCCPUFraction           float64 `json:"gc_cpu_fraction"`
	P50ms                   float64 `json:"p50_ms"`
	P99ms                   float64 `json:"p99_ms"`
	P999ms                  float64 `json:"p999_ms"`
	PeakMemoryBytes         int64   `json:"peak_memory_bytes"`
	OOMKills                uint64  `json:"oom_kills"`
	ThrottledSeconds        float64 `json:"throttled_seconds"`
	Requests                uint64  `json:"requests"`
	Errors                  uint64  `json:"errors"`
	Settings                string  `json:"settings"`
}

// ProfileResult is one profile's figures.
type ProfileResult struct {
	Profile     string        `json:"profile"`
	Rate        float64       `json:"rate_per_second"`
	Contenders  []Measurement `json:"contenders"`
	OracleSweep []Measurement `json:"oracle_sweep,omitempty"`
	// Series holds each contender's knobs and GC CPU over time (for the phased plot).
	Series map[string][]Point `json:"-"`
}

// Point is one sample of a run's knobs and GC.
type Point struct {
	T          float64 // seconds since the run started
	GOGC       float64
	MemLimit   float64 // bytes; NaN: none
	GCFraction float64
	LiveHeap   float64
}

// runner holds what every run shares.
type runner struct {
	cfg  Config
	demo string
	mcp  string
	dir  string
	log  func(format string, args ...any)
}

// Run runs the benchmark. It needs root (or a delegated cgroup): without writable cgroups it
// refuses with the reason.
func Run(ctx context.Context, cfg Config) ([]ProfileResult, error) {
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	r := &runner{cfg: cfg, log: func(format string, args ...any) {
		fmt.Fprintf(cfg.Progress, time.Now().Format("15:04:05")+" "+format+"\n", args...)
	}}
	// Probe cgroups first: the benchmark means nothing without real limits.
	probe, err := cgroupctl.Create("mcp-bench-probe", cgroupctl.Limits{MemoryBytes: 64 << 20, CPUCores: 1})
	if err != nil {
		return nil, fmt.Errorf("mcp bench tuning runs each contender in its own cgroup, and cgroups cannot be created here: %w (run as root)", err)
	}
	probe.Close()
	profiles := Profiles
	if len(cfg.Profiles) > 0 {
		profiles = nil
		for _, name := range cfg.Profiles {
			p, err := ProfileByName(name)
			if err != nil {
				return nil, err
			}
			profiles = append(profiles, p)
		}
	}
	r.log("building demoapp and mcp")
	if r.demo, err = procs.Build("./cmd/demoapp"); err != nil {
		return nil, err
	}
	if r.mcp, err = procs.Build("./cmd/mcp"); err != nil {
		return nil, err
	}
	if r.dir, err = os.MkdirTemp("", "mcp-bench-tuning-"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(r.dir)
	var out []ProfileResult
	for _, p := range profiles {
		res, err := r.profile(ctx, p)
		if err != nil {
			return out, fmt.Errorf("profile %s: %w", p.Name, err)
		}
		out = append(out, res)
	}
	return out, nil
}

// setting is how one contender runs demoapp.
type setting struct {
	name   string
	gogc   int // oracle-static's static GOGC
	label  string
	withMC bool // mcp serve and the agent
}

func (r *runner) profile(ctx context.Context, p Profile) (ProfileResult, error) {
	res := ProfileResult{Profile: p.Name, Series: map[string][]Point{}}
	r.log("profile %s: %s (limit %d MiB, %.1f CPU)", p.Name, p.Description, p.MemoryLimit>>20, p.CPUQuota)
	rate, err := r.calibrate(ctx, p)
	if err != nil {
		return res, err
	}
	res.Rate = rate
	r.log("profile %s: load %.0f req/s (%.0f%% of the CPU quota under Go defaults)", p.Name, rate, 100*p.CPUShare)

	// oracle-static: hindsight's best static GOGC, from short runs of each candidate.
	best, bestCPU := 100, math.Inf(1)
	sweepMeasure := r.cfg.Measure / 2
	if r.cfg.Quick {
		sweepMeasure = r.cfg.Measure / 2
	}
	for _, g := range r.cfg.Sweep {
		r.log("profile %s: oracle sweep GOGC=%d", p.Name, g)
		m, _, err := r.run(ctx, p, setting{name: fmt.Sprintf("GOGC=%d", g), gogc: g}, rate, r.cfg.Warmup/2, sweepMeasure)
		if err != nil {
			return res, err
		}
		res.OracleSweep = append(res.OracleSweep, m)
		if m.OOMKills == 0 && m.CPUSecondsPer1kRequests < bestCPU {
			best, bestCPU = g, m.CPUSecondsPer1kRequests
		}
	}
	r.log("profile %s: oracle-static is GOGC=%d", p.Name, best)

	settings := map[string]setting{
		"default":           {name: "default", label: "GOGC=100"},
		"automemlimit":      {name: "automemlimit", label: "automemlimit ratio 0.9"},
		"gogc-off-memlimit": {name: "gogc-off-memlimit", label: fmt.Sprintf("GOGC=off GOMEMLIMIT=%dMiB", int64(0.9*float64(p.MemoryLimit))>>20)},
		"uber-gogctuner":    {name: "uber-gogctuner", label: "re-implementation: GOGC from live heap vs 70% of the limit"},
		"oracle-static":     {name: "oracle-static", gogc: best, label: fmt.Sprintf("GOGC=%d (best of %v)", best, r.cfg.Sweep)},
		"mcp":               {name: "mcp", withMC: true, label: "mcp serve + agent + tuner (apply)"},
	}
	runs := map[string][]Measurement{}
	for round := range r.cfg.Rounds {
		// Interleaved: each round starts with a different contender.
		order := append([]string(nil), Contenders...)
		shift := round % len(order)
		order = append(order[shift:], order[:shift]...)
		for _, name := range order {
			r.log("profile %s: round %d/%d: %s", p.Name, round+1, r.cfg.Rounds, name)
			m, series, err := r.run(ctx, p, settings[name], rate, r.cfg.Warmup, r.cfg.Measure)
			if err != nil {
				return res, fmt.Errorf("%s: %w", name, err)
			}
			runs[name] = append(runs[name], m)
			if round == 0 {
				res.Series[name] = series
			}
			r.log("profile %s: %s: %.3f CPU-s/1k req, GC %.1f%%, p99 %.1fms, peak %d MiB, OOM kills %d",
				p.Name, name, m.CPUSecondsPer1kRequests, 100*m.GCCPUFraction, m.P99ms, m.PeakMemoryBytes>>20, m.OOMKills)
		}
	}
	for _, name := range Contenders {
		m := combine(runs[name])
		m.Name, m.Settings = name, settings[name].label
		res.Contenders = append(res.Contenders, m)
	}
	return res, nil
}

// combine merges rounds: medians of the rates, sums of counts, the worst peak.
func combine(ms []Measurement) Measurement {
	med := func(f func(Measurement) float64) float64 {
		vals := make([]float64, len(ms))
		for i, m := range ms {
			vals[i] = f(m)
		}
		sort.Float64s(vals)
		n := len(vals)
		if n%2 == 1 {
			return vals[n/2]
		}
		return (vals[n/2-1] + vals[n/2]) / 2
	}
	var out Measurement
	out.CPUSecondsPer1kRequests = med(func(m Measurement) float64 { return m.CPUSecondsPer1kRequests })
	out.GCCPUFraction = med(func(m Measurement) float64 { return m.GCCPUFraction })
	out.P50ms = med(func(m Measurement) float64 { return m.P50ms })
	out.P99ms = med(func(m Measurement) float64 { return m.P99ms })
	out.P999ms = med(func(m Measurement) float64 { return m.P999ms })
	for _, m := range ms {
		out.PeakMemoryBytes = max(out.PeakMemoryBytes, m.PeakMemoryBytes)
		out.OOMKills += m.OOMKills
		out.ThrottledSeconds += m.ThrottledSeconds
		out.Requests += m.Requests
		out.Errors += m.Errors
	}
	return out
}

// calibrate finds the arrival rate at which Go's defaults use CPUShare of the quota.
func (r *runner) calibrate(ctx context.Context, p Profile) (float64, error) {
	probeRate := 50.0
	m, _, err := r.run(ctx, p, setting{name: "calibration"}, probeRate, 3*time.Second, 6*time.Second)
	if err != nil {
		return 0, fmt.Errorf("calibrate: %w", err)
	}
	perReq := m.CPUSecondsPer1kRequests / 1000
	if perReq <= 0 {
		return 0, errors.New("calibrate: no CPU measured")
	}
	return math.Round(p.CPUShare * p.CPUQuota / perReq), nil
}

// run measures one contender: demoapp in a fresh cgroup (restarted in it after an OOM kill,
// as a kubelet would), warm-up load, then the measured window.
func (r *runner) run(ctx context.Context, p Profile, s setting, rate float64, warmup, measure time.Duration) (Measurement, []Point, error) {
	m := Measurement{Name: s.name}
	cg, err := cgroupctl.Create("mcp-bench", cgroupctl.Limits{MemoryBytes: p.MemoryLimit, CPUCores: p.CPUQuota})
	if err != nil {
		return m, nil, err
	}
	defer cg.Close()
	runDir, err := os.MkdirTemp(r.dir, s.name+"-")
	if err != nil {
		return m, nil, err
	}
	demoAddr := freeAddr()
	args := []string{"--addr", demoAddr, "--live-heap-mib", strconv.Itoa(p.LiveHeapMiB),
		"--garbage-kib", strconv.Itoa(p.GarbageKiB), "--cpu-us", strconv.Itoa(p.CPUMicros)}
	if len(p.Phases) > 0 {
		// One cycle of the phases spans the measured window; the warm-up runs the first phase.
		args = append(args, "--phases", fmt.Sprintf("%s;%s", (warmup).Round(time.Second), p.phases(measure)), "--phases-repeat")
	}
	env := append(os.Environ(), "GOTRACEBACK=none")
	switch {
	case s.withMC:
		mcp, agentAddr, otlpAddr, stop, err := r.startMCP(ctx, runDir)
		if err != nil {
			return m, nil, err
		}
		defer stop()
		_ = mcp
		env = append(env, "MCP_ENDPOINT="+agentAddr, "OTEL_EXPORTER_OTLP_ENDPOINT=http://"+otlpAddr,
			"OTEL_EXPORTER_OTLP_PROTOCOL=grpc", "OTEL_METRIC_EXPORT_INTERVAL=2000", "OTEL_TRACES_EXPORTER=none", "OTEL_LOGS_EXPORTER=none")
	case s.name == "automemlimit":
		args = append(args, "--no-agent", "--gc-mode", "automemlimit")
	case s.name == "uber-gogctuner":
		args = append(args, "--no-agent", "--gc-mode", "gogctuner")
	case s.name == "gogc-off-memlimit":
		args = append(args, "--no-agent")
		env = append(env, "GOGC=off", fmt.Sprintf("GOMEMLIMIT=%d", int64(0.9*float64(p.MemoryLimit))))
	case s.gogc > 0:
		args = append(args, "--no-agent")
		env = append(env, fmt.Sprintf("GOGC=%d", s.gogc))
	default:
		args = append(args, "--no-agent")
	}
	sup := &supervisor{cg: cg, bin: r.demo, args: args, env: env, addr: demoAddr, dir: runDir}
	if err := sup.start(); err != nil {
		return m, nil, err
	}
	defer sup.stop()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go sup.watch(runCtx)

	url := "http://" + demoAddr + "/work"
	lc := loadgen.DefaultConfig()
	lc.URL, lc.Rate, lc.MaxInFlight, lc.Timeout = url, rate, 256, 5*time.Second
	start := time.Now()
	sampler := &metricSampler{url: "http://" + demoAddr + "/metrics", start: start}
	go sampler.loop(runCtx, r.cfg.Sample)
	if warmup > 0 {
		lc.Duration = warmup
		if _, err := loadgen.Run(runCtx, lc, nil); err != nil {
			return m, nil, fmt.Errorf("warm-up load: %w", err)
		}
	}
	before, err := cg.Stats()
	if err != nil {
		return m, nil, err
	}
	gcBefore := sampler.cumulative()
	lc.Duration = measure
	res, err := loadgen.Run(runCtx, lc, nil)
	if err != nil {
		return m, nil, fmt.Errorf("load: %w", err)
	}
	after, err := cg.Stats()
	if err != nil {
		return m, nil, err
	}
	sampler.scrape() // the last counters
	gcAfter := sampler.cumulative()
	cancel()
	finished := res.Requests - res.Errors
	if finished > 0 {
		m.CPUSecondsPer1kRequests = (after.CPUUsageSeconds - before.CPUUsageSeconds) / float64(finished) * 1000
	}
	if used := gcAfter.used - gcBefore.used; used > 0 {
		m.GCCPUFraction = (gcAfter.gc - gcBefore.gc) / used
	}
	m.P50ms = res.Latency.Quantile(0.5).Seconds() * 1000
	m.P99ms = res.Latency.Quantile(0.99).Seconds() * 1000
	m.P999ms = res.Latency.Quantile(0.999).Seconds() * 1000
	m.PeakMemoryBytes = after.MemoryPeakBytes
	m.OOMKills = after.OOMKills
	m.ThrottledSeconds = after.CPUThrottledSeconds - before.CPUThrottledSeconds
	m.Requests, m.Errors = res.Requests, res.Errors+res.Dropped
	return m, sampler.points(), nil
}

func freeAddr() string {
	l, err := netListen()
	if err != nil {
		return "127.0.0.1:0"
	}
	defer l.Close()
	return l.Addr().String()
}

// startMCP runs mcp serve with a fast tuner and an apply-mode policy for demoapp.
func (r *runner) startMCP(ctx context.Context, dir string) (*procs.Proc, string, string, func(), error) {
	httpAddr, agentAddr, otlpAddr, otlpHTTP, profAddr := freeAddr(), freeAddr(), freeAddr(), freeAddr(), freeAddr()
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(benchPolicy), 0o644); err != nil {
		return nil, "", "", nil, err
	}
	config := filepath.Join(dir, "mcp.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(benchConfig, httpAddr, agentAddr, filepath.Join(dir, "data"), policy,
		otlpAddr, otlpHTTP, profAddr)), 0o644); err != nil {
		return nil, "", "", nil, err
	}
	cmd := exec.CommandContext(ctx, r.mcp, "serve", "--config", config)
	p := procs.Prepare("mcp serve", cmd)
	if err := cmd.Start(); err != nil {
		return nil, "", "", nil, err
	}
	p.Watch()
	if err := procs.WaitHTTP(ctx, p, "http://"+httpAddr+"/readyz", 30*time.Second); err != nil {
		p.Kill()
		return nil, "", "", nil, err
	}
	return p, agentAddr, otlpAddr, func() {
		// The decisions the tuner made are kept with the run's output for inspection.
		if out, err := procs.Get("http://" + httpAddr + "/api/v1/decisions?limit=100"); err == nil {
			_ = os.WriteFile(filepath.Join(dir, "decisions.json"), []byte(out), 0o644)
		}
		_ = p.Stop(5 * time.Second)
	}, nil
}

// benchConfig is mcp serve's configuration for the benchmark: the tuner evaluates every
// 2 s over 12 s of 2 s samples, so it can act within a benchmark's minutes.
const benchConfig = `http_addr: %q
agent_addr: %q
data_dir: %q
policy_file: %q
log:
  level: warn
agents:
  heartbeat_interval: 2s
  gone_after: 30s
tuner:
  enabled: true
  interval: 2s
  window: 12s
  settle: 3s
  min_gain: 0.02
  min_samples: 3
  ceiling_for: 10m
collector:
  enabled: true
  otlp_grpc_addr: %q
  otlp_http_addr: %q
  profile_addr: %q
`

// benchPolicy tunes GOGC and GOMEMLIMIT with MCP's default safety rules, faster: a short
// cooldown and watch window, so the benchmark sees the tuner converge. Rollback on p99 is
// looser than the default (this machine's latency is noisy at the 12 s windows used here).
const benchPolicy = `apiVersion: mcp.mcplane.dev/v1alpha1
kind: TuningPolicy
metadata:
  name: bench
spec:
  target:
    services: [demoapp]
  mode: apply
  objectives:
    memoryHeadroomPercent: 10
  knobs:
    gogc: {min: 25, max: 2000}
    gomemlimit: {min: 50, max: 92}
  changeBudget:
    maxStepPercent: 300
    cooldown: 6s
    maxChangesPerHour: 120
  rollback:
    window: 10s
    latencyP99IncreasePercent: 100
    cpuPerRequestIncreasePercent: 10
    gcCPUIncreasePercent: 50
`

// supervisor keeps demoapp running in its cgroup, restarting it after an OOM kill.
type supervisor struct {
	cg       *cgroupctl.Group
	bin      string
	args     []string
	env      []string
	addr     string
	dir      string
	mu       sync.Mutex
	proc     *procs.Proc
	restarts int
}

func (s *supervisor) start() error {
	cmd := exec.Command(s.bin, s.args...)
	cmd.Env = s.env
	p := procs.Prepare("demoapp", cmd)
	if err := s.cg.Start(cmd); err != nil {
		return err
	}
	p.Watch()
	if err := procs.WaitHTTP(context.Background(), p, "http://"+s.addr+"/healthz", 60*time.Second); err != nil {
		p.Kill()
		return err
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return nil
}

func (s *supervisor) watch(ctx context.Context) {
	for {
		s.mu.Lock()
		p := s.proc
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-p.Done():
		}
		if ctx.Err() != nil {
			return
		}
		_ = os.WriteFile(filepath.Join(s.dir, fmt.Sprintf("demoapp-exit-%d.log", s.restarts)), []byte(p.Output()), 0o644)
		s.restarts++
		time.Sleep(time.Second) // kubelet's first restart back-off is 10 s; 1 s keeps the run going
		if err := s.start(); err != nil {
			return
		}
	}
}

func (s *supervisor) stop() {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p != nil {
		_ = p.Stop(5 * time.Second)
	}
}

// metricSampler scrapes demoapp's /metrics: GC CPU (accumulated across restarts) and the
// knobs over time.
type metricSampler struct {
	url   string
	start time.Time
	mu    sync.Mutex
	last  gcCounters
	acc   gcCounters
	pts   []Point
}

type gcCounters struct{ gc, used float64 }

func (m *metricSampler) loop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		m.scrape()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *metricSampler) scrape() {
	resp, err := http.Get(m.url)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	vals := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, name := range []string{"go_cpu_classes_gc_total_cpu_seconds_total", "go_cpu_classes_total_cpu_seconds_total",
			"go_cpu_classes_idle_cpu_seconds_total", "go_gc_gogc_percent", "go_gc_gomemlimit_bytes", "go_gc_heap_live_bytes"} {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
				vals[name] = f
			}
		}
	}
	cur := gcCounters{gc: vals["go_cpu_classes_gc_total_cpu_seconds_total"],
		used: vals["go_cpu_classes_total_cpu_seconds_total"] - vals["go_cpu_classes_idle_cpu_seconds_total"]}
	m.mu.Lock()
	defer m.mu.Unlock()
	prevFrac := 0.0
	if cur.used >= m.last.used && cur.gc >= m.last.gc {
		dgc, dused := cur.gc-m.last.gc, cur.used-m.last.used
		m.acc.gc += dgc
		m.acc.used += dused
		if dused > 0 {
			prevFrac = dgc / dused
		}
	} // else: demoapp restarted; its counters began again
	m.last = cur
	mem := vals["go_gc_gomemlimit_bytes"]
	if mem >= math.MaxInt64/2 {
		mem = math.NaN()
	}
	gogc := vals["go_gc_gogc_percent"]
	if gogc > 1e15 { // GOGC=off is reported as -1 in a uint64
		gogc = -1
	}
	m.pts = append(m.pts, Point{T: time.Since(m.start).Seconds(), GOGC: gogc, MemLimit: mem, GCFraction: prevFrac,
		LiveHeap: vals["go_gc_heap_live_bytes"]})
}

func (m *metricSampler) cumulative() gcCounters {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.acc
}

func (m *metricSampler) points() []Point {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Point(nil), m.pts...)
}
