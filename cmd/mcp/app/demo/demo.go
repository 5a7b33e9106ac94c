// Package demo is `mcp demo`: the control plane with its embedded collector and tuner in
// apply mode, three demoapp workloads with different profiles (in real cgroups when they
// can be created), load on each, live progress, and a before/after table.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"

	"sync"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/cmd/mcp/app/server"
	"github.com/mcplane/mcp/controlplane/store"
	"github.com/mcplane/mcp/internal/cgroupctl"
	"github.com/mcplane/mcp/internal/loadgen"
	"github.com/mcplane/mcp/internal/procs"
	"github.com/mcplane/mcp/tuner/signals"

	"github.com/mcplane/mcp/runtime/knob"
)

// Config is one demo run.
type Config struct {
	// Duration is how long the workloads run under load.
	Duration time.Duration
	// Keep leaves everything running after the table, until the context ends.
	Keep bool
	// Demoapp is the demoapp binary; empty builds ./cmd/demoapp.
	Demoapp string
	// Out receives the progress and the table.
	Out io.Writer
}

// workload is one demo service.
type workload struct {
	name, profile        string
	live, garbage, cpuUS int
	rate                 float64
	memLimit             int64
	cpuLimit             float64

	addr   string
	group  *cgroupctl.Group
	proc   *procs.Proc
	result loadgen.Result
}

func workloads() []*workload {
	return []*workload{
		{name: "checkout", profile: "allocation-heavy: 24 MiB live, 2 MiB of garbage per request", live: 24, garbage: 2048, rate: 40,
			memLimit: 512 << 20, cpuLimit: 1},
		{name: "catalog", profile: "large heap: 220 MiB live in a 512 MiB container", live: 220, garbage: 256, cpuUS: 200, rate: 40,
			memLimit: 512 << 20, cpuLimit: 1},
		{name: "ledger", profile: "CPU-bound on half a core: Go's GOMAXPROCS is 2", live: 16, garbage: 64, cpuUS: 2000, rate: 15,
			memLimit: 256 << 20, cpuLimit: 0.5},
	}
}

// policy tunes every demo workload in apply mode, faster than production defaults so the
// demo shows the loop within minutes.
const policy = `apiVersion: mcp.mcplane.dev/v1alpha1
kind: TuningPolicy
metadata:
  name: demo
spec:
  target:
    services: [checkout, catalog, ledger]
  mode: apply
  objectives:
    memoryHeadroomPercent: 10
  knobs:
    gogc: {min: 50, max: 1600}
    gomemlimit: {min: 50, max: 92}
    gomaxprocs: {enabled: true}
  changeBudget:
    maxStepPercent: 100
    cooldown: 15s
    maxChangesPerHour: 60
  rollback:
    window: 20s
    latencyP99IncreasePercent: 100
    cpuPerRequestIncreasePercent: 15
    gcCPUIncreasePercent: 50
`

// Run runs the demo.
func Run(ctx context.Context, cfg Config) error {
	out := cfg.Out
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	dir, err := os.MkdirTemp("", "mcp-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	say("MCP demo: the control plane, three services with the agent, load, and the tuner in apply mode, for %v.", cfg.Duration)

	demoapp := cfg.Demoapp
	if demoapp == "" {
		say("building demoapp …")
		if demoapp, err = procs.Build("./cmd/demoapp"); err != nil {
			return fmt.Errorf("build demoapp (give --demoapp PATH to use a built one): %w", err)
		}
	}

	// mcp serve, in this process: the standard ports when free, others when not.
	scfg := server.DefaultConfig()
	scfg.DataDir = filepath.Join(dir, "data")
	scfg.PolicyFile = filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(scfg.PolicyFile, []byte(policy), 0o644); err != nil {
		return err
	}
	scfg.Agents.HeartbeatInterval = 2 * time.Second
	scfg.Agents.GoneAfter = 30 * time.Second
	scfg.Tuner.Interval, scfg.Tuner.Window, scfg.Tuner.Settle, scfg.Tuner.MinSamples = 3*time.Second, 15*time.Second, 4*time.Second, 3
	moved := false
	for _, a := range []*string{&scfg.HTTPAddr, &scfg.AgentAddr, &scfg.Collector.OTLPGRPCAddr, &scfg.Collector.OTLPHTTPAddr, &scfg.Collector.ProfileAddr} {
		if !free(*a) {
			*a, moved = freeAddr(), true
		}
	}
	if moved {
		say("some of MCP's standard ports are in use here; the demo uses others (below).")
	}
	logPath := filepath.Join(os.TempDir(), "mcp-demo.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	log := zap.New(zapJSON(logFile))
	srv, err := server.New(scfg, log)
	if err != nil {
		return err
	}
	srvCtx, stopSrv := context.WithCancel(context.Background())
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Run(srvCtx) }()
	defer func() {
		stopSrv()
		<-srvDone
	}()
	base := "http://" + hostport(srv.HTTPAddr())
	if err := procs.WaitHTTP(ctx, nil, base+"/readyz", 30*time.Second); err != nil {
		return fmt.Errorf("mcp serve did not get ready: %w", err)
	}
	say("control plane up: %s (logs in %s)", base, logPath)

	// The workloads, each in its own cgroup when this machine allows it.
	ws := workloads()
	limitsReal := true
	for _, w := range ws {
		w.addr = freeAddr()
		env := append(os.Environ(),
			"MCP_ENDPOINT="+hostport(srv.AgentAddr()),
			"OTEL_EXPORTER_OTLP_ENDPOINT=http://"+hostport(scfg.Collector.OTLPGRPCAddr), "OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
			"OTEL_METRIC_EXPORT_INTERVAL=2000", "OTEL_LOGS_EXPORTER=none",
			"MCP_PROFILING=http://"+hostport(scfg.Collector.ProfileAddr))
		cmd := exec.Command(demoapp, "--service", w.name, "--addr", w.addr, "--live-heap-mib", strconv.Itoa(w.live),
			"--garbage-kib", strconv.Itoa(w.garbage), "--cpu-us", strconv.Itoa(w.cpuUS))
		if limitsReal {
			g, err := cgroupctl.Create("mcp-demo-"+w.name, cgroupctl.Limits{MemoryBytes: w.memLimit, CPUCores: w.cpuLimit})
			switch {
			case errors.Is(err, cgroupctl.ErrNotWritable):
				limitsReal = false
				say("cgroups cannot be created here (%v):\n  limits are simulated with MCP_MEMORY_LIMIT and MCP_CPU_LIMIT, which the agent treats as a container's;\n  nothing enforces them (no OOM kill, no CPU throttling). Run as root for real limits.", err)
			case err != nil:
				return err
			default:
				w.group = g
				defer g.Close()
			}
		}
		if w.group == nil {
			env = append(env, fmt.Sprintf("MCP_MEMORY_LIMIT=%d", w.memLimit), fmt.Sprintf("MCP_CPU_LIMIT=%g", w.cpuLimit))
		}
		cmd.Env = env
		w.proc = procs.Prepare(w.name, cmd)
		if w.group != nil {
			err = w.group.Start(cmd)
		} else {
			err = cmd.Start()
		}
		if err != nil {
			return fmt.Errorf("start %s: %w", w.name, err)
		}
		w.proc.Watch()
		defer func(p *procs.Proc) { _ = p.Stop(5 * time.Second) }(w.proc)
		if err := procs.WaitHTTP(ctx, w.proc, "http://"+w.addr+"/healthz", 60*time.Second); err != nil {
			return err
		}
		where := "in its own cgroup"
		if w.group == nil {
			where = "limits simulated"
		}
		say("  %-8s %s; %d MiB, %.1f CPU (%s); %.0f req/s", w.name, w.profile, w.memLimit>>20, w.cpuLimit, where, w.rate)
	}

	say("\nwhere to look while it runs:\n  status page   %s/\n  metrics       %s/metrics\n  decisions     mcp decisions --server %s   (or %s/api/v1/decisions)\n  dashboards    dashboards/*.json — import into Grafana with a Prometheus scraping %s/metrics and the services\n",
		base, base, base, base, base)

	start := time.Now()
	loadCtx, stopLoad := context.WithTimeout(ctx, cfg.Duration)
	defer stopLoad()
	var wg sync.WaitGroup
	for _, w := range ws {
		lc := loadgen.DefaultConfig()
		lc.URL, lc.Rate, lc.Duration, lc.MaxInFlight, lc.Timeout = "http://"+w.addr+"/work", w.rate, cfg.Duration, 64, 5*time.Second
		wg.Go(func() {
			res, err := loadgen.Run(loadCtx, lc, nil)
			if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				w.result = res
			}
		})
	}
	progress := time.NewTicker(10 * time.Second)
	defer progress.Stop()
	say("%-8s %-8s %7s %9s %9s %6s %11s %11s %9s", "time", "service", "GC CPU", "live MiB", "CPU ms/req", "p99 ms", "GOGC", "GOMEMLIMIT", "GOMAXPROCS")
loop:
	for {
		select {
		case <-loadCtx.Done():
			break loop
		case <-progress.C:
			for _, w := range ws {
				s, ok := latest(srv.Signals(), w.name)
				if !ok {
					say("%-8s %-6s waiting for the first signals", time.Since(start).Round(time.Second), w.name)
					continue
				}
				say("%-8s %-8s %7s %9.0f %9.2f %6.1f %11s %11s %9.0f", time.Since(start).Round(time.Second), w.name,
					percent(s.GCCPUFraction), s.LiveHeapBytes/(1<<20), 1000*s.CPUPerRequest, 1000*s.LatencyP99, gogcString(s.GOGC),
					bytesString(s.GOMEMLIMIT), s.GOMAXPROCS)
			}
		}
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	summary(out, srv, ws, start)
	if cfg.Keep {
		say("\neverything keeps running; the status page is %s/ — Ctrl-C to stop.", base)
		<-ctx.Done()
	}
	return nil
}

// summary prints the before/after table: the first 20 s of each service's signals, before
// the tuner acted, against the last 45 s.
func summary(out io.Writer, srv *server.Server, ws []*workload, start time.Time) {
	fmt.Fprintln(out, "\nbefore (until the tuner's first decision) and after (the last 45 s):")
	t := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(t, "service\t\tGC CPU\tCPU ms/req\tp99 ms\tlive MiB\tGOGC\tGOMEMLIMIT\tGOMAXPROCS\trequests\terrors\t")
	now := time.Now()
	for _, w := range ws {
		keys := srv.Signals().Instances(w.name)
		var all []signals.Sample
		for _, k := range keys {
			all = append(all, srv.Signals().Window(k, start)...)
		}
		sort.Slice(all, func(i, j int) bool { return all[i].Time.Before(all[j].Time) })
		if len(all) == 0 {
			fmt.Fprintf(t, "%s\t\tno signals\t\t\t\t\t\t\t\t\t\n", w.name)
			continue
		}
		// Before: until the tuner's first decision for the service (at most the first 30 s).
		first := all[0].Time
		cut := first.Add(30 * time.Second)
		if d, ok := firstDecision(srv, w.name); ok && d.Before(cut) {
			cut = d
		}
		before := between(all, first, cut)
		after := between(all, now.Add(-45*time.Second), now)
		for _, row := range []struct {
			label string
			s     []signals.Sample
		}{{"before", before}, {"after", after}} {
			m := meanSample(row.s)
			req, errs := "", ""
			if row.label == "after" {
				req, errs = strconv.FormatUint(w.result.Requests, 10), strconv.FormatUint(w.result.Errors+w.result.Dropped, 10)
			}
			fmt.Fprintf(t, "%s\t%s\t%s\t%.2f\t%.1f\t%.0f\t%s\t%s\t%.0f\t%s\t%s\t\n", w.name, row.label, percent(m.GCCPUFraction),
				1000*m.CPUPerRequest, 1000*m.LatencyP99, m.LiveHeapBytes/(1<<20), gogcString(m.GOGC), bytesString(m.GOMEMLIMIT),
				m.GOMAXPROCS, req, errs)
		}
	}
	t.Flush()
	ds, err := srv.Core().Store().ListDecisions(context.Background(), store.DecisionFilter{Limit: 1000})
	if err == nil {
		n := map[apiv1.Outcome]int{}
		for _, d := range ds {
			n[d.Outcome]++
		}
		fmt.Fprintf(out, "\n%d decisions: %d kept, %d rolled back, %d applied and being watched; the newest:\n", len(ds),
			n[apiv1.OutcomeKept], n[apiv1.OutcomeRolledBack], n[apiv1.OutcomeApplied]+n[apiv1.OutcomePending])
		for i, d := range ds {
			if i == 6 {
				break
			}
			fmt.Fprintf(out, "  %s  %-8s %-24s %-11s %s\n", d.CreatedAt.Local().Format("15:04:05"), d.Service, d.Knobs, d.Outcome, d.Reason)
		}
	}
}

func between(s []signals.Sample, from, to time.Time) []signals.Sample {
	var out []signals.Sample
	for _, x := range s {
		if !x.Time.Before(from) && !x.Time.After(to) {
			out = append(out, x)
		}
	}
	return out
}

// meanSample averages the reported figures of samples.
func meanSample(ss []signals.Sample) signals.Sample {
	avg := func(f func(signals.Sample) float64) float64 {
		var sum float64
		n := 0
		for _, s := range ss {
			if v := f(s); signals.Has(v) && !math.IsInf(v, 0) {
				sum += v
				n++
			}
		}
		if n == 0 {
			return math.NaN()
		}
		return sum / float64(n)
	}
	return signals.Sample{
		GCCPUFraction: ratio(ss, func(s signals.Sample) float64 { return s.GCCPUCores }, func(s signals.Sample) float64 { return s.RuntimeCPUCores }),
		CPUPerRequest: avg(func(s signals.Sample) float64 { return s.CPUPerRequest }),
		LatencyP99:    avg(func(s signals.Sample) float64 { return s.LatencyP99 }),
		LiveHeapBytes: avg(func(s signals.Sample) float64 { return s.LiveHeapBytes }),
		GOGC:          last(ss, func(s signals.Sample) float64 { return s.GOGC }),
		GOMEMLIMIT:    last(ss, func(s signals.Sample) float64 { return s.GOMEMLIMIT }),
		GOMAXPROCS:    last(ss, func(s signals.Sample) float64 { return s.GOMAXPROCS }),
	}
}

func last(ss []signals.Sample, f func(signals.Sample) float64) float64 {
	for i := len(ss) - 1; i >= 0; i-- {
		if v := f(ss[i]); signals.Has(v) {
			return v
		}
	}
	return math.NaN()
}

// latest is a service's newest sample (of its first instance).
func latest(st *signals.Store, service string) (signals.Sample, bool) {
	for _, k := range st.Instances(service) {
		if s, ok := st.Latest(k); ok {
			return s, true
		}
	}
	return signals.Sample{}, false
}

// percent shows a fraction; a sample without a GC cycle has none ("-").
func percent(f float64) string {
	if math.IsNaN(f) {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*f)
}

func gogcString(g float64) string {
	switch {
	case math.IsNaN(g):
		return "-"
	case g < 0:
		return "off"
	}
	return strconv.Itoa(int(g))
}

func bytesString(b float64) string {
	if math.IsNaN(b) || b >= math.MaxInt64/2 {
		return "none"
	}
	return knob.FormatBytes(int64(b))
}

func free(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer l.Close()
	return l.Addr().String()
}

// hostport turns a listen address (":8080", "[::]:8080") into one to dial.
func hostport(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// ratio is Σnum/Σden over the samples where both are reported.
func ratio(ss []signals.Sample, num, den func(signals.Sample) float64) float64 {
	var n, d float64
	for _, s := range ss {
		if a, b := num(s), den(s); signals.Has(a) && signals.Has(b) {
			n += a
			d += b
		}
	}
	if d <= 0 {
		return math.NaN()
	}
	return n / d
}

// firstDecision is when the tuner first decided for a service.
func firstDecision(srv *server.Server, service string) (time.Time, bool) {
	ds, err := srv.Core().Store().ListDecisions(context.Background(), store.DecisionFilter{Service: service, Limit: 1000})
	if err != nil || len(ds) == 0 {
		return time.Time{}, false
	}
	return ds[len(ds)-1].CreatedAt, true
}
