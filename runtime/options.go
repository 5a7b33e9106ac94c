package runtime

import (
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/mcplane/mcp/runtime/knob"
)

// Option configures the agent at Start.
type Option func(*config)

type config struct {
	logger        *zap.Logger
	serviceName   string
	instanceID    string
	endpoint      string // control plane agent API, host:port
	token         string
	otlpEndpoint  string // host:port for OTLP gRPC, or a URL for OTLP/HTTP
	profiling     string // "", "off", "on" or a URL
	memLimitRatio float64
	cpuRequest    float64 // cores; 0: not given
	limits        LimitProvider
	limitRefresh  time.Duration
	guardFraction float64
	guardEnabled  bool
	telemetry     bool
	stdout        io.Writer
	lookupEnv     func(string) (string, bool)
	clock         Clock
	tls           *tls.Config
	traceRatio    float64
}

// WithLogger sets the logger the agent reports its own actions to.
// Default: a no-op logger; the agent is silent.
func WithLogger(l *zap.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithServiceName names the service in telemetry, profiles and the control plane.
// Default: OTEL_SERVICE_NAME, else service.name in OTEL_RESOURCE_ATTRIBUTES, else the
// executable's name.
func WithServiceName(name string) Option { return func(c *config) { c.serviceName = name } }

// WithInstanceID names this process among the service's instances.
// Default: service.instance.id in OTEL_RESOURCE_ATTRIBUTES, else "<hostname>-<pid>".
func WithInstanceID(id string) Option { return func(c *config) { c.instanceID = id } }

// WithEndpoint sets the control plane's agent API address (host:port). OTLP telemetry and
// profiles default to the same host on ports 4317 and 4040.
// Default: MCP_ENDPOINT; empty means no control plane session.
func WithEndpoint(hostport string) Option { return func(c *config) { c.endpoint = hostport } }

// WithToken sets the bearer token presented to the control plane and to MCP's collector.
// Default: MCP_TOKEN.
func WithToken(token string) Option { return func(c *config) { c.token = token } }

// WithOTLPEndpoint sends OTLP traces, metrics and logs to host:port over gRPC, or to an
// http(s):// URL over OTLP/HTTP.
// Default: the standard OTEL_EXPORTER_OTLP_* variables; else the control plane's host on
// :4317 when an endpoint is set; else no OTLP export.
func WithOTLPEndpoint(endpoint string) Option { return func(c *config) { c.otlpEndpoint = endpoint } }

// WithProfiling turns continuous profiling on: "on" sends to the control plane's host on
// :4040; a URL sends to that Pyroscope-protocol endpoint; "off" or "" turns it off.
// Default: MCP_PROFILING, else off.
func WithProfiling(target string) Option { return func(c *config) { c.profiling = target } }

// WithMemoryLimitRatio sets GOMEMLIMIT to this fraction of the container memory limit, in
// (0, 0.98].
// Default: MCP_MEMLIMIT_RATIO, else 0.9.
func WithMemoryLimitRatio(r float64) Option { return func(c *config) { c.memLimitRatio = r } }

// WithCPURequest sets GOMAXPROCS from the container's CPU request, in cores, when there is
// no CPU limit. Go's own default only looks at limits; a service with a request and no limit
// otherwise runs with as many Ps as the node has CPUs.
// Default: MCP_CPU_REQUEST ("500m" or "2"), else off.
//
// Limits can also be stated where no cgroup sets them: MCP_MEMORY_LIMIT ("512MiB") and
// MCP_CPU_LIMIT ("1.5"); they replace cgroup detection.
func WithCPURequest(cores float64) Option { return func(c *config) { c.cpuRequest = cores } }

// WithLimitProvider replaces the cgroup reader that finds the container's limits.
// Default: CgroupLimits().
func WithLimitProvider(p LimitProvider) Option { return func(c *config) { c.limits = p } }

// WithLimitRefresh sets how often the container limits are re-read, so that a container
// resized in place is followed.
// Default: 10s.
func WithLimitRefresh(d time.Duration) Option { return func(c *config) { c.limitRefresh = d } }

// WithMemoryGuard sets the fraction of the memory limit the live heap may reach before the
// emergency guard lowers GOGC; 0 turns the guard off.
// Default: 0.85.
func WithMemoryGuard(fraction float64) Option {
	return func(c *config) {
		c.guardFraction = fraction
		c.guardEnabled = fraction > 0
	}
}

// WithTelemetry turns the agent's OTLP export (metrics, traces, logs) and the Prometheus
// handler's agent metrics on or off.
// Default: on (OTLP export still needs an endpoint; OTEL_SDK_DISABLED=true turns it off).
func WithTelemetry(on bool) Option { return func(c *config) { c.telemetry = on } }

// WithTraceSampleRatio sets the share of requests traced when no parent decided, in [0, 1].
// Default: 0.1; OTEL_TRACES_SAMPLER, when set, decides instead.
func WithTraceSampleRatio(r float64) Option { return func(c *config) { c.traceRatio = r } }

// WithClock replaces the wall clock, for tests.
// Default: the system clock.
func WithClock(clk Clock) Option { return func(c *config) { c.clock = clk } }

// WithTLS secures the control plane session with TLS (add a client certificate for mTLS).
// Default: MCP_TLS_CA, MCP_TLS_CERT and MCP_TLS_KEY (PEM files); plaintext when unset.
func WithTLS(cfg *tls.Config) Option { return func(c *config) { c.tls = cfg } }

// withStdout replaces the service logger's standard output, for tests.
func withStdout(w io.Writer) Option { return func(c *config) { c.stdout = w } }

// withEnv replaces os.LookupEnv, for tests.
func withEnv(lookup func(string) (string, bool)) Option {
	return func(c *config) { c.lookupEnv = lookup }
}

const (
	defaultMemLimitRatio = 0.9
	defaultLimitRefresh  = 10 * time.Second
	defaultGuardFraction = 0.85
	// DefaultOTLPPort, DefaultProfilePort and DefaultAgentPort are MCP's standard ports.
	DefaultOTLPPort    = "4317"
	DefaultProfilePort = "4040"
	DefaultAgentPort   = "50051"
)

func defaultConfig() config {
	return config{
		logger:        zap.NewNop(),
		limitRefresh:  defaultLimitRefresh,
		guardFraction: defaultGuardFraction,
		guardEnabled:  true,
		telemetry:     true,
		traceRatio:    0.1,
		stdout:        os.Stdout,
		lookupEnv:     os.LookupEnv,
		clock:         systemClock{},
	}
}

// newConfig applies the environment first and options second, so options win; then fills
// defaults and validates. Errors name the variable or option to fix.
func newConfig(opts []Option) (config, error) {
	// A first pass only finds the environment lookup (tests replace it).
	probe := defaultConfig()
	for _, o := range opts {
		o(&probe)
	}
	c := defaultConfig()
	c.lookupEnv = probe.lookupEnv
	if err := c.applyEnv(); err != nil {
		return c, err
	}
	for _, o := range opts {
		o(&c)
	}
	if c.serviceName == "" {
		c.serviceName = defaultServiceName()
	}
	if c.instanceID == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "localhost"
		}
		c.instanceID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if c.memLimitRatio == 0 {
		c.memLimitRatio = defaultMemLimitRatio
	}
	if c.limits == nil {
		c.limits = CgroupLimits()
	}
	return c, c.validate()
}

func (c *config) env(key string) string {
	v, _ := c.lookupEnv(key)
	return strings.TrimSpace(v)
}

func (c *config) applyEnv() error {
	c.serviceName = c.env("OTEL_SERVICE_NAME")
	attrs := parseResourceAttributes(c.env("OTEL_RESOURCE_ATTRIBUTES"))
	if c.serviceName == "" {
		c.serviceName = attrs["service.name"]
	}
	c.instanceID = attrs["service.instance.id"]
	c.endpoint = c.env("MCP_ENDPOINT")
	c.token = c.env("MCP_TOKEN")
	c.profiling = c.env("MCP_PROFILING")
	if v := c.env("MCP_MEMLIMIT_RATIO"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(r) {
			return fmt.Errorf("MCP_MEMLIMIT_RATIO=%q: want a number in (0, %v], e.g. 0.9", v, knob.MaxMemoryLimitRatio)
		}
		c.memLimitRatio = r
	}
	// MCP_MEMORY_LIMIT / MCP_CPU_LIMIT state the limits when no cgroup does (a VM, a
	// laptop, the demo without root): the agent then behaves as in such a container.
	var fixed ContainerLimits
	if v := c.env("MCP_MEMORY_LIMIT"); v != "" {
		b, err := knob.ParseBytes(v)
		if err != nil {
			return fmt.Errorf("MCP_MEMORY_LIMIT=%q: %w", v, err)
		}
		fixed.MemoryBytes = b
	}
	if v := c.env("MCP_CPU_LIMIT"); v != "" {
		cores, err := knob.ParseCPU(v)
		if err != nil {
			return fmt.Errorf("MCP_CPU_LIMIT=%q: %w", v, err)
		}
		fixed.CPUCores = cores
	}
	if fixed != (ContainerLimits{}) {
		c.limits = FixedLimits(fixed)
	}
	if v := c.env("MCP_CPU_REQUEST"); v != "" {
		cores, err := knob.ParseCPU(v)
		if err != nil {
			return fmt.Errorf("MCP_CPU_REQUEST=%q: %w", v, err)
		}
		c.cpuRequest = cores
	}
	return nil
}

func (c *config) validate() error {
	if c.memLimitRatio <= 0 || c.memLimitRatio > knob.MaxMemoryLimitRatio || math.IsNaN(c.memLimitRatio) {
		return fmt.Errorf("memory limit ratio %v (MCP_MEMLIMIT_RATIO or WithMemoryLimitRatio): want a number in (0, %v]", c.memLimitRatio, knob.MaxMemoryLimitRatio)
	}
	if c.cpuRequest < 0 || math.IsNaN(c.cpuRequest) || math.IsInf(c.cpuRequest, 0) {
		return fmt.Errorf("CPU request %v (MCP_CPU_REQUEST or WithCPURequest): want a positive number of cores", c.cpuRequest)
	}
	if c.traceRatio < 0 || c.traceRatio > 1 || math.IsNaN(c.traceRatio) {
		return fmt.Errorf("trace sample ratio %v (WithTraceSampleRatio): want a number in [0, 1]", c.traceRatio)
	}
	if c.limitRefresh <= 0 {
		return fmt.Errorf("limit refresh %v (WithLimitRefresh): want a positive duration", c.limitRefresh)
	}
	if c.guardEnabled && (c.guardFraction <= 0.1 || c.guardFraction >= 1) {
		return fmt.Errorf("memory guard fraction %v (WithMemoryGuard): want a number in (0.1, 1), or 0 to turn the guard off", c.guardFraction)
	}
	if c.endpoint != "" {
		if _, _, err := net.SplitHostPort(c.endpoint); err != nil {
			return fmt.Errorf("control plane endpoint %q (MCP_ENDPOINT or WithEndpoint): want host:port, e.g. mcp.example:50051", c.endpoint)
		}
	}
	switch p := c.profiling; {
	case p == "", p == "off", p == "on":
		if p == "on" && c.endpoint == "" {
			return fmt.Errorf("MCP_PROFILING=on sends profiles to the control plane's host, but MCP_ENDPOINT is not set: set it, or give MCP_PROFILING a URL")
		}
	default:
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("MCP_PROFILING=%q: want on, off, or an http(s) URL such as http://pyroscope:4040", p)
		}
	}
	if c.otlpEndpoint != "" && !strings.Contains(c.otlpEndpoint, "://") {
		if _, _, err := net.SplitHostPort(c.otlpEndpoint); err != nil {
			return fmt.Errorf("OTLP endpoint %q (WithOTLPEndpoint): want host:port for gRPC or an http(s) URL", c.otlpEndpoint)
		}
	}
	return nil
}

// controlPlaneHost is the host part of the control plane endpoint, or "".
func (c *config) controlPlaneHost() string {
	host, _, err := net.SplitHostPort(c.endpoint)
	if err != nil {
		return ""
	}
	return host
}

// profilingURL is where profiles go, or "" when profiling is off.
func (c *config) profilingURL() string {
	switch c.profiling {
	case "", "off":
		return ""
	case "on":
		return "http://" + net.JoinHostPort(c.controlPlaneHost(), DefaultProfilePort)
	}
	return c.profiling
}

// parseResourceAttributes parses OTEL_RESOURCE_ATTRIBUTES (k=v,k=v, values percent-encoded).
// Malformed pairs are skipped, as the OpenTelemetry SDK does.
func parseResourceAttributes(s string) map[string]string {
	out := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			continue
		}
		if dv, err := url.PathUnescape(strings.TrimSpace(v)); err == nil {
			v = dv
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out
}

func defaultServiceName() string {
	exe, err := os.Executable()
	if err != nil {
		return "unknown_service"
	}
	name := exe[strings.LastIndexAny(exe, `/\`)+1:]
	return strings.TrimSuffix(name, ".exe")
}
