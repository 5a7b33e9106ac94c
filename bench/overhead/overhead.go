// Package overhead measures what the MCP agent costs a service: CPU per request of
// demoapp with the agent (OTLP export and Prometheus scrapes; then continuous profiling
// too) against demoapp without it, at the same fixed request rate, in interleaved and
// repeated runs. It is the harness behind `mcp bench overhead`.
//
// Each run starts a fresh demoapp process, loads it open-loop (internal/loadgen) through a
// warm-up and then a measured window, and reads the process's CPU time from
// /proc/<pid>/stat at both ends of the window. Telemetry goes to sinks in this process: the
// collector's real OTLP gRPC receiver and a Pyroscope-protocol ingest endpoint, both
// dropping what they count, so exporting costs demoapp what it costs in production.
//
// Variants run one after the other within a round, or with Config.Parallel all at once,
// each with its own demoapp, load and sinks, so that other work on a shared machine
// disturbs them alike.
package overhead

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mcplane/mcp/bench/internal/procfs"

	"github.com/mcplane/mcp/internal/loadgen"
)

// demoappPackage is built when Config.Demoapp is empty.
const demoappPackage = "github.com/mcplane/mcp/cmd/demoapp"

// Run runs the benchmark. It fails on invalid configuration and on anything that makes
// the figures meaningless (demoapp failing to start, CPU time unreadable); problems that
// only weaken them (errors, dropped requests, a busy machine) are Report.Warnings.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	say := func(format string, args ...any) { fmt.Fprintf(progress, format+"\n", args...) }

	dir, err := os.MkdirTemp("", "mcp-bench-overhead-")
	if err != nil {
		return nil, fmt.Errorf("create work directory: %w", err)
	}
	keepDir := false
	defer func() {
		if !keepDir {
			_ = os.RemoveAll(dir)
		}
	}()

	bin := cfg.Demoapp
	if bin == "" {
		say("building demoapp")
		if bin, err = buildDemoapp(ctx, dir); err != nil {
			return nil, err
		}
	}
	rep := &Report{
		Started: time.Now(),
		Config: ReportConfig{
			Rate: cfg.Rate, Duration: cfg.Duration.String(), Warmup: cfg.Warmup.String(), Rounds: cfg.Rounds,
			Parallel:    cfg.Parallel,
			LiveHeapMiB: cfg.LiveHeapMiB, GarbageKiB: cfg.GarbageKiB, CPUMicros: cfg.CPUMicros,
			ScrapeInterval: cfg.ScrapeInterval.String(), AgentEnv: cfg.AgentEnv,
		},
		Machine: Machine{CPUs: runtime.NumCPU(), CPUModel: procfs.CPUModel(), OS: runtime.GOOS, Arch: runtime.GOARCH, GoVersion: runtime.Version()},
	}
	logPath := func(round int, v Variant) string {
		return filepath.Join(dir, fmt.Sprintf("demoapp-round%d-%s.log", round, strings.ReplaceAll(string(v), "+", "-")))
	}
	report := func(round int, res RunResult) {
		say("round %d/%d: %s: %d requests, %.1f µs CPU/request, p99 %.2fms, machine %.0f%% busy",
			round, cfg.Rounds, res.Variant, res.Requests, res.CPUMicrosPerRequest, res.P99Millis, res.MachineBusyPercent)
		rep.Runs = append(rep.Runs, res)
	}
	for round := 1; round <= cfg.Rounds; round++ {
		order := roundOrder(round)
		if cfg.Parallel {
			say("round %d/%d: %s at once: %g req/s each, %v warm-up, %v measured", round, cfg.Rounds, strings.Join(variantNames(order), ", "), cfg.Rate, cfg.Warmup, cfg.Duration)
			results, err := runRound(ctx, cfg, bin, order, func(v Variant) string { return logPath(round, v) })
			if err != nil {
				keepDir = true
				return nil, fmt.Errorf("round %d (demoapp logs in %s): %w", round, dir, err)
			}
			for i, res := range results {
				res.Round, res.Order = round, i+1
				report(round, res)
			}
			continue
		}
		for i, v := range order {
			say("round %d/%d: %s: %g req/s, %v warm-up, %v measured", round, cfg.Rounds, v, cfg.Rate, cfg.Warmup, cfg.Duration)
			results, err := runRound(ctx, cfg, bin, []Variant{v}, func(v Variant) string { return logPath(round, v) })
			if err != nil {
				keepDir = true
				return nil, fmt.Errorf("round %d, %s (demoapp log: %s): %w", round, v, logPath(round, v), err)
			}
			results[0].Round, results[0].Order = round, i+1
			report(round, results[0])
		}
	}
	rep.Finished = time.Now()
	rep.Summary = summarize(rep.Runs)
	rep.TargetsMet = true
	for _, sm := range rep.Summary {
		rep.TargetsMet = rep.TargetsMet && sm.TargetMet
	}
	rep.Warnings = warnings(rep.Runs)
	return rep, nil
}

// roundOrder rotates the variants by round, so that each takes every position once in
// len(Variants) rounds and a trend in the machine's speed does not favour one of them.
func roundOrder(round int) []Variant {
	n := len(Variants)
	out := make([]Variant, n)
	for i := range out {
		out[i] = Variants[(i+round-1)%n]
	}
	return out
}

func buildDemoapp(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "demoapp")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, demoappPackage)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build demoapp (go build %s; run inside the mcp module, or pass --demoapp): %w\n%s", demoappPackage, err, out)
	}
	return bin, nil
}

// variantEnv is the environment of demoapp for v: the harness's own without any MCP_,
// OTEL_ or DEMOAPP_ settings that would change what is measured, plus v's.
func variantEnv(v Variant, s *sinks, agentEnv []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MCP_") || strings.HasPrefix(kv, "OTEL_") || strings.HasPrefix(kv, "DEMOAPP_") {
			continue
		}
		env = append(env, kv)
	}
	if v == NoAgent {
		return env
	}
	profiling := "off"
	if v == AgentProfiling {
		profiling = s.profileEndpoint
	}
	env = append(env,
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://"+s.otlpEndpoint,
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"MCP_PROFILING="+profiling,
	)
	return append(env, agentEnv...)
}

func variantNames(vs []Variant) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// instance is one running demoapp with its own sinks and scraper.
type instance struct {
	variant     Variant
	base        string // http://127.0.0.1:port
	cmd         *exec.Cmd
	exited      chan error
	sinks       *sinks
	log         *os.File
	scrapes     atomic.Int64
	stopScrape  context.CancelFunc
	scraperDone chan struct{}
}

// startInstance starts demoapp as v and waits until it serves.
func startInstance(ctx context.Context, cfg Config, bin string, v Variant, logPath string) (_ *instance, err error) {
	in := &instance{variant: v}
	defer func() {
		if err != nil {
			in.kill()
		}
	}()
	if in.sinks, err = startSinks(ctx); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	in.base = "http://127.0.0.1:" + port
	args := []string{
		"--addr", "127.0.0.1:" + port, "--service", "demoapp-bench",
		"--live-heap-mib", strconv.Itoa(cfg.LiveHeapMiB),
		"--garbage-kib", strconv.Itoa(cfg.GarbageKiB),
		"--cpu-us", strconv.Itoa(cfg.CPUMicros),
	}
	if v == NoAgent {
		args = append(args, "--no-agent")
	}
	if in.log, err = os.Create(logPath); err != nil {
		return nil, fmt.Errorf("create demoapp log: %w", err)
	}
	in.cmd = exec.Command(bin, args...)
	in.cmd.Env = variantEnv(v, in.sinks, cfg.AgentEnv)
	in.cmd.Stdout, in.cmd.Stderr = in.log, in.log
	if err := in.cmd.Start(); err != nil {
		in.cmd = nil
		return nil, fmt.Errorf("start demoapp: %w", err)
	}
	in.exited = make(chan error, 1)
	go func() { in.exited <- in.cmd.Wait() }()
	if err := waitReady(ctx, in.base+"/healthz", in.exited); err != nil {
		return nil, err
	}
	scrapeCtx, stop := context.WithCancel(ctx)
	in.stopScrape, in.scraperDone = stop, make(chan struct{})
	go func() {
		defer close(in.scraperDone)
		scrape(scrapeCtx, in.base+"/metrics", cfg.ScrapeInterval, &in.scrapes)
	}()
	return in, nil
}

func (in *instance) loadConfig(cfg Config, d time.Duration) loadgen.Config {
	lg := loadgen.DefaultConfig()
	lg.URL, lg.Rate, lg.Duration = in.base+"/work", cfg.Rate, d
	lg.MaxInFlight, lg.Timeout, lg.ProgressInterval = 512, 10*time.Second, 0
	return lg
}

func (in *instance) stopScraping() {
	if in.stopScrape != nil {
		in.stopScrape()
		<-in.scraperDone
		in.stopScrape = nil
	}
}

// stop ends demoapp with SIGTERM, which lets the agent flush its telemetry into the
// sinks, and then closes the sinks.
func (in *instance) stop() error {
	in.stopScraping()
	defer in.kill()
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-in.exited:
		in.cmd = nil
		if err != nil {
			return fmt.Errorf("%s: demoapp exited badly after SIGTERM: %w", in.variant, err)
		}
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("%s: demoapp did not stop within 30s of SIGTERM", in.variant)
	}
}

// kill releases whatever the instance still holds; safe on a partly started instance.
func (in *instance) kill() {
	in.stopScraping()
	if in.cmd != nil {
		_ = in.cmd.Process.Kill()
		<-in.exited
		in.cmd = nil
	}
	if in.sinks != nil {
		_ = in.sinks.close()
	}
	if in.log != nil {
		_ = in.log.Close()
	}
}

// runRound starts demoapp once for each of vs, loads them all at the same time through
// a warm-up and the measured window, and stops them. With one variant it is one run of
// the sequential mode.
func runRound(ctx context.Context, cfg Config, bin string, vs []Variant, logPath func(Variant) string) ([]RunResult, error) {
	var ins []*instance
	defer func() {
		for _, in := range ins {
			in.kill()
		}
	}()
	for _, v := range vs {
		in, err := startInstance(ctx, cfg, bin, v, logPath(v))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v, err)
		}
		ins = append(ins, in)
	}
	loadAll := func(d time.Duration) ([]loadgen.Result, error) {
		out := make([]loadgen.Result, len(ins))
		errs := make([]error, len(ins))
		var wg sync.WaitGroup
		for i, in := range ins {
			wg.Go(func() { out[i], errs[i] = loadgen.Run(ctx, in.loadConfig(cfg, d), nil) })
		}
		wg.Wait()
		return out, errors.Join(errs...)
	}
	if cfg.Warmup > 0 {
		if _, err := loadAll(cfg.Warmup); err != nil {
			return nil, fmt.Errorf("warm up: %w", err)
		}
	}

	cpu0 := make([]time.Duration, len(ins))
	for i, in := range ins {
		var err error
		if cpu0[i], err = procfs.ProcessCPU(in.cmd.Process.Pid); err != nil {
			return nil, err
		}
	}
	self0, err := procfs.ProcessCPU(os.Getpid())
	if err != nil {
		return nil, err
	}
	m0, err := procfs.Machine()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	loads, err := loadAll(cfg.Duration)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	cpu1 := make([]time.Duration, len(ins))
	for i, in := range ins {
		if cpu1[i], err = procfs.ProcessCPU(in.cmd.Process.Pid); err != nil {
			return nil, err
		}
	}
	self1, _ := procfs.ProcessCPU(os.Getpid())
	m1, _ := procfs.Machine()
	window := time.Since(start)

	results := make([]RunResult, len(ins))
	for i, in := range ins {
		if err := in.stop(); err != nil {
			return nil, err
		}
		load := loads[i]
		res := RunResult{
			Variant:  in.variant,
			Requests: load.Requests, Errors: load.Errors, Dropped: load.Dropped,
			CPUSeconds:         (cpu1[i] - cpu0[i]).Seconds(),
			WindowSeconds:      window.Seconds(),
			HarnessCPUSeconds:  (self1 - self0).Seconds(),
			P50Millis:          millis(load.Latency.Quantile(0.5)),
			P99Millis:          millis(load.Latency.Quantile(0.99)),
			P999Millis:         millis(load.Latency.Quantile(0.999)),
			MaxSendDelayMillis: millis(load.MaxSendDelay),
			Scrapes:            int(in.scrapes.Load()),
			Received:           in.sinks.counts(),
			latency:            load.Latency,
		}
		if load.Requests > 0 {
			res.CPUMicrosPerRequest = res.CPUSeconds * 1e6 / float64(load.Requests)
		}
		if m1.Total > m0.Total {
			res.MachineBusyPercent = 100 * float64(m1.Busy-m0.Busy) / float64(m1.Total-m0.Total)
		}
		results[i] = res
	}
	return results, nil
}

// waitReady polls url until it answers 200, demoapp exits, or a minute passes (building a
// large live heap takes a while).
func waitReady(ctx context.Context, url string, exited <-chan error) error {
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demoapp not ready at %s after 1m: %v", url, err)
		}
		select {
		case err := <-exited:
			if err == nil {
				err = errors.New("exit status 0")
			}
			return fmt.Errorf("demoapp exited before it was ready: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// scrape fetches url every interval, from the start, as Prometheus would, until ctx ends.
func scrape(ctx context.Context, url string, interval time.Duration, n *atomic.Int64) {
	client := &http.Client{Timeout: 10 * time.Second}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				n.Add(1)
			}
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// warnings lists what weakens the figures without invalidating them.
func warnings(runs []RunResult) []string {
	var out []string
	for _, r := range runs {
		name := fmt.Sprintf("round %d %s", r.Round, r.Variant)
		if r.Errors > 0 || r.Dropped > 0 {
			out = append(out, fmt.Sprintf("%s: %d errors and %d dropped requests: demoapp could not keep up with --rate", name, r.Errors, r.Dropped))
		}
		if r.MaxSendDelayMillis > 50 {
			out = append(out, fmt.Sprintf("%s: the load generator sent up to %.0fms late: the harness was starved of CPU", name, r.MaxSendDelayMillis))
		}
		if r.MachineBusyPercent > 85 {
			out = append(out, fmt.Sprintf("%s: the machine was %.0f%% busy: lower --rate, or stop what else runs", name, r.MachineBusyPercent))
		}
		if r.Variant != NoAgent && (r.Received.Spans == 0 || r.Received.MetricPoints == 0) {
			out = append(out, fmt.Sprintf("%s: the agent exported %d spans and %d metric points: the run did not measure OTLP export", name, r.Received.Spans, r.Received.MetricPoints))
		}
		if r.Variant == AgentProfiling && r.Received.ProfileUploads == 0 {
			out = append(out, fmt.Sprintf("%s: no profile was uploaded: the run did not measure profiling", name))
		}
		if r.Scrapes == 0 {
			out = append(out, fmt.Sprintf("%s: /metrics was never scraped", name))
		}
	}
	return out
}
