// Command demoapp is a reference Go service with a configurable workload — live heap,
// garbage per request and CPU per request — for MCP's demos, benchmarks and end-to-end
// tests. It uses the MCP agent unless started with --no-agent.
//
// Endpoints:
//
//	GET|POST /work   one request of work: an order (POST body, or generated) is decoded,
//	                 priced, recorded in the live data set and answered as JSON
//	GET /config      the workload in effect, as JSON
//	PUT /config      change it live, e.g. {"live_heap_mib": 512}; the live heap grows or
//	                 shrinks before the response
//	GET /metrics     Prometheus metrics (the agent's, or a plain Go collector without it)
//	GET /healthz     200 "ok"
//
// Every flag can also be set by an environment variable; a flag on the command line wins
// over the variable, which wins over the default:
//
//	--addr            DEMOAPP_ADDR            listen address (default :8081)
//	--live-heap-mib   DEMOAPP_LIVE_HEAP_MIB   MiB held live by the data set (default 64)
//	--garbage-kib     DEMOAPP_GARBAGE_KIB     KiB allocated per request (default 64)
//	--cpu-us          DEMOAPP_CPU_US          extra CPU µs per request (default 100)
//	--phases          DEMOAPP_PHASES          workload schedule, e.g. 60s:live=64;60s:live=256
//	--phases-repeat   DEMOAPP_PHASES_REPEAT   repeat the schedule (default: run it once)
//	--no-agent        DEMOAPP_NO_AGENT        run without the MCP agent (overhead baseline)
//	--gc-mode         DEMOAPP_GC_MODE         with --no-agent: default, automemlimit or gogctuner
//	--service         (none: see below)       service name (default demoapp)
//
// The service name is --service when given; otherwise OTEL_SERVICE_NAME or service.name in
// OTEL_RESOURCE_ATTRIBUTES when set (the agent reads those itself); otherwise "demoapp".
// The agent reads its own settings (MCP_ENDPOINT, MCP_PROFILING, OTEL_*) from the
// environment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	mcpruntime "github.com/mcplane/mcp/runtime"
)

func main() {
	opts, err := parseOptions(os.Args[1:], os.LookupEnv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demoapp:", err)
		os.Exit(2)
	}
	log := newLogger(os.Stdout)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts, log); err != nil {
		log.Error("demoapp failed", zap.Error(err))
		_ = log.Sync()
		os.Exit(1)
	}
}

// options is demoapp's configuration after flags, environment and defaults.
type options struct {
	addr         string
	workload     Workload
	phases       []Phase
	phasesRepeat bool
	noAgent      bool
	// gcMode is a GC setting other than Go's defaults, for benchmark contenders
	// (--no-agent only): automemlimit or gogctuner.
	gcMode string
	// service is the name to give the agent; "" lets the agent take it from the
	// OpenTelemetry environment.
	service string
	// listener, when set, is used instead of listening on addr (tests).
	listener net.Listener
}

// envFor maps each flag to its environment variable.
var envFor = map[string]string{
	"addr":          "DEMOAPP_ADDR",
	"live-heap-mib": "DEMOAPP_LIVE_HEAP_MIB",
	"garbage-kib":   "DEMOAPP_GARBAGE_KIB",
	"cpu-us":        "DEMOAPP_CPU_US",
	"phases":        "DEMOAPP_PHASES",
	"phases-repeat": "DEMOAPP_PHASES_REPEAT",
	"no-agent":      "DEMOAPP_NO_AGENT",
	"gc-mode":       "DEMOAPP_GC_MODE",
}

// parseOptions reads flags, then fills each flag not on the command line from its
// environment variable. Errors name the flag or variable to fix.
func parseOptions(args []string, lookupEnv func(string) (string, bool), usageOut io.Writer) (options, error) {
	def := DefaultWorkload()
	var o options
	var phases string
	fs := flag.NewFlagSet("demoapp", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	fs.StringVar(&o.addr, "addr", ":8081", "listen address")
	fs.IntVar(&o.workload.LiveHeapMiB, "live-heap-mib", def.LiveHeapMiB, "MiB held live by the in-memory data set")
	fs.IntVar(&o.workload.GarbageKiB, "garbage-kib", def.GarbageKiB, "approximate KiB allocated per /work request")
	fs.IntVar(&o.workload.CPUMicros, "cpu-us", def.CPUMicros, "approximate CPU µs of extra computation per /work request")
	fs.StringVar(&phases, "phases", "", "workload schedule: DURATION[:live=MiB,garbage=KiB,cpu=µs];... e.g. 60s:live=64,garbage=256;60s:live=200")
	fs.BoolVar(&o.phasesRepeat, "phases-repeat", false, "repeat the --phases schedule instead of staying in its last phase")
	fs.BoolVar(&o.noAgent, "no-agent", false, "run without the MCP agent, as the baseline for overhead measurements")
	fs.StringVar(&o.gcMode, "gc-mode", gcModeDefault, "with --no-agent: default, automemlimit (the automemlimit module, ratio 0.9) or gogctuner (a re-implementation of Uber's GOGC tuner)")
	serviceDefault := "demoapp"
	fs.StringVar(&o.service, "service", serviceDefault, "service name (default: OTEL_SERVICE_NAME when set, else demoapp)")
	for name, env := range envFor {
		f := fs.Lookup(name)
		f.Usage += " (env " + env + ")"
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q: demoapp takes only flags", fs.Arg(0))
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	for name, env := range envFor {
		v, ok := lookupEnv(env)
		if !ok || onCommandLine[name] || strings.TrimSpace(v) == "" {
			continue
		}
		if err := fs.Set(name, strings.TrimSpace(v)); err != nil {
			return o, fmt.Errorf("%s=%q: %w", env, v, err)
		}
	}
	if !onCommandLine["service"] && otelServiceNameSet(lookupEnv) {
		o.service = ""
	}
	if err := o.workload.Validate(); err != nil {
		return o, fmt.Errorf("workload flags: %w", err)
	}
	switch o.gcMode {
	case gcModeDefault, gcModeAutomemlimit, gcModeGOGCTuner:
	default:
		return o, fmt.Errorf("--gc-mode %q: want default, automemlimit or gogctuner", o.gcMode)
	}
	if o.gcMode != gcModeDefault && !o.noAgent {
		return o, fmt.Errorf("--gc-mode %s needs --no-agent: the MCP agent manages GOGC and GOMEMLIMIT itself", o.gcMode)
	}
	if phases != "" {
		var err error
		if o.phases, err = ParsePhases(phases); err != nil {
			return o, fmt.Errorf("--phases: %w", err)
		}
	}
	return o, nil
}

// otelServiceNameSet reports whether the OpenTelemetry environment names the service.
func otelServiceNameSet(lookupEnv func(string) (string, bool)) bool {
	if v, _ := lookupEnv("OTEL_SERVICE_NAME"); strings.TrimSpace(v) != "" {
		return true
	}
	attrs, _ := lookupEnv("OTEL_RESOURCE_ATTRIBUTES")
	for _, kv := range strings.Split(attrs, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.TrimSpace(k) == "service.name" && strings.TrimSpace(v) != "" {
			return true
		}
	}
	return false
}

// newLogger logs JSON lines to out, in the agent's service logger's format.
func newLogger(out io.Writer) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "time"
	enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(zapcore.AddSync(out)), zapcore.InfoLevel))
}

// run serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, o options, log *zap.Logger) error {
	var agent *mcpruntime.Agent
	metricsReg := prometheus.NewRegistry()
	wrapWork := func(h http.Handler) http.Handler { return h }
	// The agent starts before the data set is built so that GOMEMLIMIT is already set
	// from the container's limit when a large live heap is allocated.
	if err := startGCMode(o.gcMode, log); err != nil {
		return err
	}
	if !o.noAgent {
		agentOpts := []mcpruntime.Option{mcpruntime.WithLogger(log)}
		if o.service != "" {
			agentOpts = append(agentOpts, mcpruntime.WithServiceName(o.service))
		}
		var err error
		if agent, err = mcpruntime.Start(ctx, agentOpts...); err != nil {
			return fmt.Errorf("start MCP agent: %w", err)
		}
		defer func() {
			if err := agent.Stop(); err != nil {
				log.Warn("agent stop", zap.Error(err))
			}
		}()
		log = agent.Logger() // the service's own logs go to OTLP too
		metricsReg = agent.Registry()
		wrapWork = agent.Middleware
	} else {
		// The same collectors the agent serves, so an overhead comparison measures the
		// agent and not the metrics every service has anyway.
		metricsReg.MustRegister(
			collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsAll)),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		)
	}

	start := time.Now()
	eng, err := newEngine(o.workload)
	if err != nil {
		return fmt.Errorf("build workload: %w", err)
	}
	log.Info("live heap built",
		zap.Int("live_heap_mib", o.workload.LiveHeapMiB), zap.Int64("estimate_bytes", eng.liveEstimate()),
		zap.Duration("took", time.Since(start)), zap.Float64("burn_units_per_us", eng.unitsPerMicro))
	a := &app{eng: eng, log: log}
	if err := a.registerMetrics(metricsReg); err != nil {
		return err
	}
	var metrics http.Handler
	if agent != nil {
		metrics = agent.MetricsHandler()
	} else {
		metrics = promhttp.HandlerFor(metricsReg, promhttp.HandlerOpts{Registry: metricsReg})
	}

	ln := o.listener
	if ln == nil {
		if ln, err = net.Listen("tcp", o.addr); err != nil {
			return fmt.Errorf("listen on --addr %s: %w", o.addr, err)
		}
	}
	srv := &http.Server{Handler: a.routes(metrics, wrapWork), ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("demoapp listening",
		zap.String("addr", ln.Addr().String()), zap.Bool("agent", agent != nil),
		zap.Int("live_heap_mib", o.workload.LiveHeapMiB), zap.Int("garbage_kib", o.workload.GarbageKiB),
		zap.Int("cpu_us", o.workload.CPUMicros), zap.Int("phases", len(o.phases)))

	phaseCtx, stopPhases := context.WithCancel(ctx)
	phasesDone := make(chan struct{})
	go func() {
		defer close(phasesDone)
		(&phaseRunner{phases: o.phases, repeat: o.phasesRepeat, apply: a.applyPhase(len(o.phases), o.phasesRepeat)}).run(phaseCtx)
	}()
	defer func() { stopPhases(); <-phasesDone }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("demoapp shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down HTTP server: %w", err)
	}
	log.Info("demoapp stopped", zap.Uint64("requests_served", eng.served.Load()))
	return nil
}

// applyPhase returns the phase runner's apply func: it changes the workload and records
// the phase for GET /config and the demoapp_workload_phase metric.
func (a *app) applyPhase(of int, repeat bool) func(int, Phase) {
	return func(i int, p Phase) {
		a.phase.Store(&phaseStatus{Index: i + 1, Of: of, Spec: p.String(), Since: time.Now(), Repeat: repeat})
		start := time.Now()
		w, err := a.eng.Update(p.Patch)
		if err != nil {
			a.log.Warn("phase not applied", zap.Int("phase", i+1), zap.String("spec", p.String()), zap.Error(err))
			return
		}
		a.log.Info("workload changed",
			zap.String("by", "phase"), zap.Int("phase", i+1), zap.Int("of", of),
			zap.Int("live_heap_mib", w.LiveHeapMiB), zap.Int("garbage_kib", w.GarbageKiB), zap.Int("cpu_us", w.CPUMicros),
			zap.Duration("duration", p.Duration), zap.Duration("resize_took", time.Since(start)))
	}
}
