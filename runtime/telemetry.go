package runtime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/bridges/otelzap"
	otelruntime "go.opentelemetry.io/contrib/instrumentation/runtime"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	lognoop "go.opentelemetry.io/otel/log/noop"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// telemetry owns the agent's OpenTelemetry providers and Prometheus registry.
type telemetry struct {
	meters   metric.MeterProvider
	tracers  trace.TracerProvider
	loggers  otellog.LoggerProvider
	registry *prometheus.Registry
	logger   *zap.Logger
	httpDur  *prometheus.HistogramVec
	http     *httpMetrics
	shutdown func(context.Context) error
}

// otlpTarget says where OTLP goes. When fromEnv is true the exporters read the standard
// OTEL_EXPORTER_OTLP_* variables themselves (endpoint, headers, TLS, timeouts).
type otlpTarget struct {
	protocol string // "grpc" or "http/protobuf"
	endpoint string // host:port (grpc) or URL (http); empty with fromEnv
	insecure bool
	fromEnv  bool
	headers  map[string]string
}

// otlpTarget decides where OTLP goes: WithOTLPEndpoint, then the standard variables, then
// the control plane's host on :4317. ok is false when nothing asks for export.
func (c *config) otlpTarget() (t otlpTarget, ok bool) {
	if strings.EqualFold(c.env("OTEL_SDK_DISABLED"), "true") {
		return t, false
	}
	if c.token != "" {
		t.headers = map[string]string{"authorization": "Bearer " + c.token}
	}
	switch {
	case c.otlpEndpoint != "":
		if strings.Contains(c.otlpEndpoint, "://") {
			t.protocol, t.endpoint = "http/protobuf", c.otlpEndpoint
			t.insecure = strings.HasPrefix(c.otlpEndpoint, "http://")
		} else {
			t.protocol, t.endpoint, t.insecure = "grpc", c.otlpEndpoint, true
		}
		return t, true
	case c.env("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || c.env("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") != "" ||
		c.env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" || c.env("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT") != "":
		t.protocol, t.fromEnv = c.env("OTEL_EXPORTER_OTLP_PROTOCOL"), true
		if t.protocol == "" {
			t.protocol = "http/protobuf" // the OpenTelemetry specification's default
		}
		t.headers = nil // OTEL_EXPORTER_OTLP_HEADERS is the operator's to set
		return t, true
	case c.endpoint != "":
		t.protocol, t.endpoint, t.insecure = "grpc", net.JoinHostPort(c.controlPlaneHost(), DefaultOTLPPort), true
		return t, true
	}
	return t, false
}

// signalEnabled honours OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER / OTEL_LOGS_EXPORTER=none.
func (c *config) signalEnabled(signal string) bool {
	return c.env("OTEL_"+signal+"_EXPORTER") != "none"
}

func startTelemetry(ctx context.Context, a *Agent) (*telemetry, error) {
	c := &a.cfg
	t := &telemetry{
		meters:   metricnoop.NewMeterProvider(),
		tracers:  tracenoop.NewTracerProvider(),
		loggers:  lognoop.NewLoggerProvider(),
		registry: prometheus.NewRegistry(),
		shutdown: func(context.Context) error { return nil },
	}
	var shutdowns []func(context.Context) error
	target, export := c.otlpTarget()
	export = export && c.telemetry
	if export {
		res, err := newResource(ctx, c)
		if err != nil {
			return nil, err
		}
		if c.signalEnabled("METRICS") {
			exp, err := newMetricExporter(ctx, target)
			if err != nil {
				return nil, fmt.Errorf("start OTLP metric exporter: %w", err)
			}
			var readerOpts []sdkmetric.PeriodicReaderOption
			if c.env("OTEL_METRIC_EXPORT_INTERVAL") == "" {
				// The tuner needs fresher signals than the SDK's 60 s default.
				readerOpts = append(readerOpts, sdkmetric.WithInterval(10*time.Second))
			}
			readerOpts = append(readerOpts, sdkmetric.WithProducer(otelruntime.NewProducer()))
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
				sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, readerOpts...)))
			t.meters = mp
			shutdowns = append(shutdowns, mp.Shutdown)
			// runtime/metrics reads are cheap (no stop-the-world), and the default 15 s cache
			// would make every other 10 s export repeat stale counters.
			if err := otelruntime.Start(otelruntime.WithMeterProvider(mp),
				otelruntime.WithMinimumReadMemStatsInterval(time.Millisecond)); err != nil {
				return nil, fmt.Errorf("start OpenTelemetry runtime instrumentation: %w", err)
			}
			if err := registerOTelInstruments(mp, a); err != nil {
				return nil, err
			}
		}
		if c.signalEnabled("TRACES") {
			exp, err := newTraceExporter(ctx, target)
			if err != nil {
				return nil, fmt.Errorf("start OTLP trace exporter: %w", err)
			}
			tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithBatcher(exp)}
			if c.env("OTEL_TRACES_SAMPLER") == "" {
				// Tracing every request costs more than the agent may (a few percent of a
				// small handler's CPU). A sampled parent is always followed.
				tpOpts = append(tpOpts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.traceRatio))))
			}
			tp := sdktrace.NewTracerProvider(tpOpts...)
			t.tracers = tp
			shutdowns = append(shutdowns, tp.Shutdown)
		}
		if c.signalEnabled("LOGS") {
			exp, err := newLogExporter(ctx, target)
			if err != nil {
				return nil, fmt.Errorf("start OTLP log exporter: %w", err)
			}
			lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)))
			t.loggers = lp
			shutdowns = append(shutdowns, lp.Shutdown)
		}
	}
	t.shutdown = func(ctx context.Context) error {
		var errs []error
		for _, s := range shutdowns {
			errs = append(errs, s(ctx))
		}
		return errors.Join(errs...)
	}

	if c.telemetry {
		t.registry.MustRegister(
			collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsAll)),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
			&promCollector{a: a},
		)
		t.httpDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mcp_agent_http_server_request_duration_seconds",
			Help:    "Duration of HTTP requests served through the agent's middleware.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "code"})
		t.registry.MustRegister(t.httpDur)
	}
	t.http = &httpMetrics{
		tracer:     t.tracers.Tracer("github.com/mcplane/mcp/runtime"),
		propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		prom:       t.httpDur,
	}
	var err error
	if t.http.duration, err = t.meters.Meter("github.com/mcplane/mcp/runtime").Float64Histogram("http.server.request.duration",
		metric.WithUnit("s"), metric.WithDescription("Duration of HTTP server requests."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)); err != nil {
		return nil, fmt.Errorf("create the HTTP duration histogram: %w", err)
	}
	t.logger = newServiceLogger(c, t.loggers)
	return t, nil
}

func newResource(ctx context.Context, c *config) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{
		semconv.ServiceName(c.serviceName),
		semconv.ServiceInstanceID(c.instanceID),
	}
	if v := c.env("POD_NAME"); v != "" {
		attrs = append(attrs, semconv.K8SPodName(v))
	}
	if v := c.env("POD_NAMESPACE"); v != "" {
		attrs = append(attrs, semconv.K8SNamespaceName(v))
	}
	res, err := resource.New(ctx,
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
		resource.WithProcessPID(),
		resource.WithHost(),
		resource.WithAttributes(attrs...), // last, so the agent's identity wins
	)
	if err != nil && res == nil {
		return nil, fmt.Errorf("build OpenTelemetry resource: %w", err)
	}
	return res, nil // a partial resource (say, no host name) is still usable
}

func newMetricExporter(ctx context.Context, t otlpTarget) (sdkmetric.Exporter, error) {
	if t.protocol == "grpc" {
		var opts []otlpmetricgrpc.Option
		if !t.fromEnv {
			opts = append(opts, otlpmetricgrpc.WithEndpoint(t.endpoint))
			if t.insecure {
				opts = append(opts, otlpmetricgrpc.WithInsecure())
			}
			if t.headers != nil {
				opts = append(opts, otlpmetricgrpc.WithHeaders(t.headers))
			}
		}
		return otlpmetricgrpc.New(ctx, opts...)
	}
	var opts []otlpmetrichttp.Option
	if !t.fromEnv {
		opts = append(opts, otlpmetrichttp.WithEndpointURL(strings.TrimSuffix(t.endpoint, "/")+"/v1/metrics"))
		if t.headers != nil {
			opts = append(opts, otlpmetrichttp.WithHeaders(t.headers))
		}
	}
	return otlpmetrichttp.New(ctx, opts...)
}

func newTraceExporter(ctx context.Context, t otlpTarget) (sdktrace.SpanExporter, error) {
	if t.protocol == "grpc" {
		var opts []otlptracegrpc.Option
		if !t.fromEnv {
			opts = append(opts, otlptracegrpc.WithEndpoint(t.endpoint))
			if t.insecure {
				opts = append(opts, otlptracegrpc.WithInsecure())
			}
			if t.headers != nil {
				opts = append(opts, otlptracegrpc.WithHeaders(t.headers))
			}
		}
		return otlptracegrpc.New(ctx, opts...)
	}
	var opts []otlptracehttp.Option
	if !t.fromEnv {
		opts = append(opts, otlptracehttp.WithEndpointURL(strings.TrimSuffix(t.endpoint, "/")+"/v1/traces"))
		if t.headers != nil {
			opts = append(opts, otlptracehttp.WithHeaders(t.headers))
		}
	}
	return otlptracehttp.New(ctx, opts...)
}

func newLogExporter(ctx context.Context, t otlpTarget) (sdklog.Exporter, error) {
	if t.protocol == "grpc" {
		var opts []otlploggrpc.Option
		if !t.fromEnv {
			opts = append(opts, otlploggrpc.WithEndpoint(t.endpoint))
			if t.insecure {
				opts = append(opts, otlploggrpc.WithInsecure())
			}
			if t.headers != nil {
				opts = append(opts, otlploggrpc.WithHeaders(t.headers))
			}
		}
		return otlploggrpc.New(ctx, opts...)
	}
	var opts []otlploghttp.Option
	if !t.fromEnv {
		opts = append(opts, otlploghttp.WithEndpointURL(strings.TrimSuffix(t.endpoint, "/")+"/v1/logs"))
		if t.headers != nil {
			opts = append(opts, otlploghttp.WithHeaders(t.headers))
		}
	}
	return otlploghttp.New(ctx, opts...)
}

// registerOTelInstruments adds what the OpenTelemetry runtime instrumentation lacks: GC CPU
// time by class, the live heap, GC cycles, and the container and agent figures.
func registerOTelInstruments(mp metric.MeterProvider, a *Agent) error {
	m := mp.Meter("github.com/mcplane/mcp/runtime")
	var errs []error
	must := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	cpuTime, err := m.Float64ObservableCounter("mcp.go.cpu.time", metric.WithUnit("s"),
		metric.WithDescription("CPU time the Go runtime estimates, by class (runtime/metrics /cpu/classes/...)."))
	must(err)
	live, err := m.Int64ObservableGauge("mcp.go.gc.heap.live", metric.WithUnit("By"),
		metric.WithDescription("Heap memory occupied by live objects, as of the last GC."))
	must(err)
	cycles, err := m.Int64ObservableCounter("mcp.go.gc.cycles", metric.WithUnit("{cycle}"),
		metric.WithDescription("Completed GC cycles."))
	must(err)
	memLimit, err := m.Int64ObservableGauge("mcp.container.memory.limit", metric.WithUnit("By"),
		metric.WithDescription("The container's memory limit."))
	must(err)
	cpuLimit, err := m.Float64ObservableGauge("mcp.container.cpu.limit", metric.WithUnit("{cpu}"),
		metric.WithDescription("The container's CPU limit in cores."))
	must(err)
	memUsage, err := m.Int64ObservableGauge("mcp.container.memory.usage", metric.WithUnit("By"),
		metric.WithDescription("Memory charged to the container's cgroup."))
	must(err)
	cpuUsage, err := m.Float64ObservableCounter("mcp.container.cpu.time", metric.WithUnit("s"),
		metric.WithDescription("CPU time used by the container's cgroup."))
	must(err)
	throttled, err := m.Float64ObservableCounter("mcp.container.cpu.throttled.time", metric.WithUnit("s"),
		metric.WithDescription("Time the container's cgroup was throttled by its CPU quota."))
	must(err)
	periods, err := m.Int64ObservableCounter("mcp.container.cpu.periods", metric.WithUnit("{period}"),
		metric.WithDescription("CFS periods with runnable tasks."))
	must(err)
	throttledPeriods, err := m.Int64ObservableCounter("mcp.container.cpu.throttled.periods", metric.WithUnit("{period}"),
		metric.WithDescription("CFS periods in which the container was throttled."))
	must(err)
	procCPU, err := m.Float64ObservableCounter("process.cpu.time", metric.WithUnit("s"),
		metric.WithDescription("CPU time of this process, by cpu.mode (user, system)."))
	must(err)
	knobSource, err := m.Int64ObservableGauge("mcp.agent.knob.source", metric.WithUnit("1"),
		metric.WithDescription("1 for the source of each knob's current value."))
	must(err)
	guardActive, err := m.Int64ObservableGauge("mcp.agent.memory_guard.active", metric.WithUnit("1"),
		metric.WithDescription("1 while the emergency memory guard holds GOGC down."))
	must(err)
	guardCount, err := m.Int64ObservableCounter("mcp.agent.memory_guard.activations", metric.WithUnit("{activation}"),
		metric.WithDescription("Times the emergency memory guard engaged."))
	must(err)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("create agent instruments: %w", err)
	}
	userMode := metric.WithAttributes(attribute.String("cpu.mode", "user"))
	systemMode := metric.WithAttributes(attribute.String("cpu.mode", "system"))
	classAttrs := make([]metric.ObserveOption, len(cpuClasses))
	for i, c := range cpuClasses {
		classAttrs[i] = metric.WithAttributes(attribute.String("go.cpu.class", c.class))
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		a.sampler.read(func(get func(string) float64) {
			for i, c := range cpuClasses {
				o.ObserveFloat64(cpuTime, get(c.name), classAttrs[i])
			}
			o.ObserveInt64(live, int64(get(mLiveHeap)))
			o.ObserveInt64(cycles, int64(get(mGCCycles)))
		})
		if user, system, err := processCPU(); err == nil {
			o.ObserveFloat64(procCPU, user, userMode)
			o.ObserveFloat64(procCPU, system, systemMode)
		}
		st := a.State()
		if st.Limits.MemoryBytes > 0 {
			o.ObserveInt64(memLimit, st.Limits.MemoryBytes)
		}
		if st.Limits.CPUCores > 0 {
			o.ObserveFloat64(cpuLimit, st.Limits.CPUCores)
		}
		if u, err := a.usage(); err == nil {
			o.ObserveInt64(memUsage, u.MemoryBytes)
			o.ObserveFloat64(cpuUsage, u.CPUSeconds)
			o.ObserveFloat64(throttled, u.CPUThrottledSeconds)
			o.ObserveInt64(periods, int64(u.CPUPeriods))
			o.ObserveInt64(throttledPeriods, int64(u.CPUThrottledPeriods))
		}
		for knob, src := range st.Sources.ByName() {
			o.ObserveInt64(knobSource, 1, metric.WithAttributes(attribute.String("knob", knob), attribute.String("source", string(src))))
		}
		o.ObserveInt64(guardActive, boolInt(st.Guard.Active))
		o.ObserveInt64(guardCount, int64(a.stats.guardActivations.Load()))
		return nil
	}, cpuTime, live, cycles, procCPU, memLimit, cpuLimit, memUsage, cpuUsage, throttled, periods, throttledPeriods, knobSource, guardActive, guardCount)
	if err != nil {
		return fmt.Errorf("register agent instruments: %w", err)
	}
	return nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// promCollector exposes the agent's own metrics to Prometheus; see the package doc.
type promCollector struct{ a *Agent }

var (
	descKnobInfo   = prometheus.NewDesc("mcp_agent_knob_info", "1 for the source of each knob's current value.", []string{"knob", "source"}, nil)
	descMemLimit   = prometheus.NewDesc("mcp_agent_container_memory_limit_bytes", "The container's memory limit.", nil, nil)
	descCPULimit   = prometheus.NewDesc("mcp_agent_container_cpu_limit_cores", "The container's CPU limit in cores.", nil, nil)
	descMemUsage   = prometheus.NewDesc("mcp_agent_container_memory_usage_bytes", "Memory charged to the container's cgroup.", nil, nil)
	descCPUUsage   = prometheus.NewDesc("mcp_agent_container_cpu_usage_seconds_total", "CPU time used by the container's cgroup.", nil, nil)
	descThrottled  = prometheus.NewDesc("mcp_agent_container_cpu_throttled_seconds_total", "Time the container's cgroup was throttled.", nil, nil)
	descThrPeriods = prometheus.NewDesc("mcp_agent_container_cpu_throttled_periods_total", "CFS periods in which the container was throttled.", nil, nil)
	descPeriods    = prometheus.NewDesc("mcp_agent_container_cpu_periods_total", "CFS periods with runnable tasks.", nil, nil)
	descOOMKills   = prometheus.NewDesc("mcp_agent_container_oom_kills_total", "OOM kills in the container's cgroup.", nil, nil)
	descGuard      = prometheus.NewDesc("mcp_agent_memory_guard_active", "1 while the emergency memory guard holds GOGC down.", nil, nil)
	descGuardCount = prometheus.NewDesc("mcp_agent_memory_guard_activations_total", "Times the emergency memory guard engaged.", nil, nil)
	descUpdates    = prometheus.NewDesc("mcp_agent_knob_updates_total", "Knob changes, by result.", []string{"result"}, nil)
	descConnected  = prometheus.NewDesc("mcp_agent_control_plane_connected", "1 while a control plane session is up.", nil, nil)
)

func (p *promCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descKnobInfo, descMemLimit, descCPULimit, descMemUsage, descCPUUsage,
		descThrottled, descThrPeriods, descPeriods, descOOMKills, descGuard, descGuardCount, descUpdates, descConnected} {
		ch <- d
	}
}

func (p *promCollector) Collect(ch chan<- prometheus.Metric) {
	a := p.a
	st := a.State()
	for knob, src := range st.Sources.ByName() {
		ch <- prometheus.MustNewConstMetric(descKnobInfo, prometheus.GaugeValue, 1, knob, string(src))
	}
	if st.Limits.MemoryBytes > 0 {
		ch <- prometheus.MustNewConstMetric(descMemLimit, prometheus.GaugeValue, float64(st.Limits.MemoryBytes))
	}
	if st.Limits.CPUCores > 0 {
		ch <- prometheus.MustNewConstMetric(descCPULimit, prometheus.GaugeValue, st.Limits.CPUCores)
	}
	if u, err := a.usage(); err == nil {
		ch <- prometheus.MustNewConstMetric(descMemUsage, prometheus.GaugeValue, float64(u.MemoryBytes))
		ch <- prometheus.MustNewConstMetric(descCPUUsage, prometheus.CounterValue, u.CPUSeconds)
		ch <- prometheus.MustNewConstMetric(descThrottled, prometheus.CounterValue, u.CPUThrottledSeconds)
		ch <- prometheus.MustNewConstMetric(descThrPeriods, prometheus.CounterValue, float64(u.CPUThrottledPeriods))
		ch <- prometheus.MustNewConstMetric(descPeriods, prometheus.CounterValue, float64(u.CPUPeriods))
		ch <- prometheus.MustNewConstMetric(descOOMKills, prometheus.CounterValue, float64(u.OOMKills))
	}
	ch <- prometheus.MustNewConstMetric(descGuard, prometheus.GaugeValue, float64(boolInt(st.Guard.Active)))
	ch <- prometheus.MustNewConstMetric(descGuardCount, prometheus.CounterValue, float64(a.stats.guardActivations.Load()))
	ch <- prometheus.MustNewConstMetric(descUpdates, prometheus.CounterValue, float64(a.stats.applied.Load()), "applied")
	ch <- prometheus.MustNewConstMetric(descUpdates, prometheus.CounterValue, float64(a.stats.rejected.Load()), "rejected")
	ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, float64(boolInt(a.sess != nil && a.sess.connected())))
}

// MetricsHandler serves the Prometheus metrics described in the package doc.
func (a *Agent) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(a.tel.registry, promhttp.HandlerOpts{Registry: a.tel.registry})
}

// Registry is the Prometheus registry behind MetricsHandler; register the service's own
// collectors on it to serve them from the same endpoint.
func (a *Agent) Registry() *prometheus.Registry { return a.tel.registry }

// Middleware wraps an HTTP handler with tracing (W3C trace context in, a server span for
// sampled requests, exported over OTLP) and request metrics (OTLP
// http.server.request.duration and the Prometheus
// mcp_agent_http_server_request_duration_seconds histogram), which give the tuner its
// request rate, latency and error rate. It is written for the hot path: attribute sets and
// Prometheus observers are built once per method and status, unsampled requests cost no
// span, so it adds well under a microsecond to a request.
func (a *Agent) Middleware(next http.Handler) http.Handler {
	m := a.tel.http
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx := m.propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := m.tracer.Start(ctx, spanName(r), trace.WithSpanKind(trace.SpanKindServer))
		if span.IsRecording() {
			span.SetAttributes(semconv.HTTPRequestMethodKey.String(r.Method), semconv.URLPath(r.URL.Path))
		}
		rw := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rw, r.WithContext(ctx))
		elapsed := time.Since(start).Seconds()
		if span.IsRecording() {
			span.SetAttributes(semconv.HTTPResponseStatusCode(rw.code))
			if rw.code >= 500 {
				span.SetStatus(codes.Error, http.StatusText(rw.code))
			}
		}
		span.End()
		k := m.key(r.Method, rw.code)
		m.duration.Record(ctx, elapsed, k.attrs)
		if k.prom != nil {
			k.prom.Observe(elapsed)
		}
	})
}

func spanName(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return r.Method
}

// httpMetrics holds what the middleware records through, built once.
type httpMetrics struct {
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	duration   metric.Float64Histogram
	prom       *prometheus.HistogramVec // nil with telemetry off
	keys       sync.Map                 // methodCode → *httpKey
}

type methodCode struct {
	method string
	code   int
}

type httpKey struct {
	attrs metric.MeasurementOption
	prom  prometheus.Observer
}

// knownMethods bounds the method label, as the HTTP semantic conventions do.
var knownMethods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true,
	"CONNECT": true, "OPTIONS": true, "TRACE": true, "PATCH": true}

func (m *httpMetrics) key(method string, code int) *httpKey {
	if !knownMethods[method] {
		method = "_OTHER"
	}
	mc := methodCode{method, code}
	if k, ok := m.keys.Load(mc); ok {
		return k.(*httpKey)
	}
	k := &httpKey{attrs: metric.WithAttributeSet(attribute.NewSet(
		semconv.HTTPRequestMethodKey.String(method), semconv.HTTPResponseStatusCode(code)))}
	if m.prom != nil {
		k.prom = m.prom.WithLabelValues(method, strconv.Itoa(code))
	}
	actual, _ := m.keys.LoadOrStore(mc, k)
	return actual.(*httpKey)
}

type statusRecorder struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.code, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// MeterProvider is the OpenTelemetry meter provider the agent exports through (a no-op one
// when OTLP export is off): the service may create its own instruments on it.
func (a *Agent) MeterProvider() metric.MeterProvider { return a.tel.meters }

// TracerProvider is the OpenTelemetry tracer provider the agent exports through.
func (a *Agent) TracerProvider() trace.TracerProvider { return a.tel.tracers }

// Logger returns a logger for the service: JSON lines on stdout, teed to OTLP logs through
// the otelzap bridge. Pass the request context as a field (zap.Any("ctx", ctx)) and both
// outputs carry the trace and span ids.
func (a *Agent) Logger() *zap.Logger { return a.tel.logger }

func newServiceLogger(c *config, lp otellog.LoggerProvider) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "time"
	enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	stdout := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(zapcore.AddSync(c.stdout)), zapcore.InfoLevel)
	otel := otelzap.NewCore("github.com/mcplane/mcp/runtime", otelzap.WithLoggerProvider(lp))
	return zap.New(zapcore.NewTee(traceIDCore{stdout}, otel)).With(
		zap.String("service", c.serviceName), zap.String("instance", c.instanceID))
}

// traceIDCore replaces a context.Context field with the trace_id and span_id of the span it
// carries, so the JSON lines on stdout can be joined with traces.
type traceIDCore struct{ zapcore.Core }

func (c traceIDCore) With(fields []zapcore.Field) zapcore.Core {
	return traceIDCore{c.Core.With(traceFields(fields))}
}

func (c traceIDCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c traceIDCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	return c.Core.Write(e, traceFields(fields))
}

func traceFields(fields []zapcore.Field) []zapcore.Field {
	for i, f := range fields {
		ctx, ok := f.Interface.(context.Context)
		if !ok {
			continue
		}
		out := append(append([]zapcore.Field{}, fields[:i]...), fields[i+1:]...)
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			out = append(out, zap.String("trace_id", sc.TraceID().String()), zap.String("span_id", sc.SpanID().String()))
		}
		return traceFields(out)
	}
	return fields
}
