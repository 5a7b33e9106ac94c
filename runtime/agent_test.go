package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mcplane/mcp/runtime/cgroups"

	"github.com/mcplane/mcp/runtime/knob"
)

const mib = 1 << 20

func ptr[T any](v T) *T { return &v }

// keepRuntimeKnobs restores the process-wide knobs a test changes.
func keepRuntimeKnobs(t *testing.T) {
	t.Helper()
	t.Cleanup(debugKnobs())
}

// debugKnobs saves the process-wide knobs and returns a func that restores them.
func debugKnobs() func() {
	gogc := debug.SetGCPercent(-1)
	debug.SetGCPercent(gogc)
	ml := debug.SetMemoryLimit(-1)
	return func() {
		debug.SetGCPercent(gogc)
		debug.SetMemoryLimit(ml)
		goruntime.SetDefaultGOMAXPROCS()
	}
}

func envMap(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

func startTestAgent(t *testing.T, env map[string]string, opts ...Option) *Agent {
	t.Helper()
	keepRuntimeKnobs(t)
	base := []Option{withEnv(envMap(env)), WithServiceName("test"), WithInstanceID("test-1"), withStdout(io.Discard)}
	a, err := Start(context.Background(), append(base, opts...)...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := a.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return a
}

func TestStartSetsMemoryLimitFromContainer(t *testing.T) {
	a := startTestAgent(t, nil, WithLimitProvider(FixedLimits(ContainerLimits{MemoryBytes: 256 * mib})))
	st := a.State()
	want := ratioOf(0.9, 256*mib)
	if st.Knobs.MemoryLimit != want || debug.SetMemoryLimit(-1) != want {
		t.Errorf("GOMEMLIMIT = %d (runtime %d), want 0.9 × 256MiB = %d", st.Knobs.MemoryLimit, debug.SetMemoryLimit(-1), want)
	}
	if st.Sources.MemoryLimit != knob.SourceCgroup || st.Sources.GOGC != knob.SourceGoDefault || st.Sources.GOMAXPROCS != knob.SourceGoDefault {
		t.Errorf("sources = %+v, want cgroup memory limit and Go defaults", st.Sources)
	}
	body := scrape(t, a)
	if !strings.Contains(body, "go_gc_gomemlimit_bytes 2.4159191e+08") {
		t.Errorf("/metrics lacks go_gc_gomemlimit_bytes = %d:\n%s", want, grepLines(body, "gomemlimit"))
	}
	for _, m := range []string{"go_gc_gogc_percent 100", "go_sched_gomaxprocs_threads", "go_cpu_classes_gc_total_cpu_seconds_total",
		`mcp_agent_knob_info{knob="gomemlimit",source="cgroup"} 1`, "mcp_agent_container_memory_limit_bytes 2.68435456e+08"} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
}

func TestMemoryLimitRatioFromEnv(t *testing.T) {
	a := startTestAgent(t, map[string]string{"MCP_MEMLIMIT_RATIO": "0.5"},
		WithLimitProvider(FixedLimits(ContainerLimits{MemoryBytes: 256 * mib})))
	if got := a.State().Knobs.MemoryLimit; got != 128*mib {
		t.Errorf("GOMEMLIMIT = %d, want 0.5 × 256MiB", got)
	}
}

func TestOperatorEnvWins(t *testing.T) {
	keepRuntimeKnobs(t)
	// The Go runtime applied the operator's GOMEMLIMIT and GOGC at start-up; here the test
	// plays that part.
	debug.SetMemoryLimit(100 * mib)
	debug.SetGCPercent(300)
	a := startTestAgent(t, map[string]string{"GOMEMLIMIT": "100MiB", "GOGC": "300"},
		WithLimitProvider(FixedLimits(ContainerLimits{MemoryBytes: 256 * mib})))
	st := a.State()
	if st.Knobs.MemoryLimit != 100*mib || st.Sources.MemoryLimit != knob.SourceOperatorEnv {
		t.Errorf("GOMEMLIMIT = %d from %s, want the operator's 100MiB", st.Knobs.MemoryLimit, st.Sources.MemoryLimit)
	}
	if st.Knobs.GOGC != 300 || st.Sources.GOGC != knob.SourceOperatorEnv {
		t.Errorf("GOGC = %d from %s, want the operator's 300", st.Knobs.GOGC, st.Sources.GOGC)
	}
	_, err := a.SetKnobs(knob.Change{GOGC: ptr(150)}, "d1")
	var rej *knob.RejectedError
	if !errors.As(err, &rej) || rej.Reason != "GOGC set by operator" {
		t.Fatalf("SetKnobs(GOGC=150) = %v, want rejection \"GOGC set by operator\"", err)
	}
	if g := debug.SetGCPercent(-1); g != 300 {
		t.Errorf("GOGC after a rejected update = %d, want 300", g)
	}
	debug.SetGCPercent(300)
}

func TestSetKnobsAppliesLiveAndAllOrNothing(t *testing.T) {
	a := startTestAgent(t, nil, WithLimitProvider(FixedLimits(ContainerLimits{MemoryBytes: 512 * mib})))
	st, err := a.SetKnobs(knob.Change{GOGC: ptr(150), GOMAXPROCS: ptr(1)}, "dec-1")
	if err != nil {
		t.Fatalf("SetKnobs: %v", err)
	}
	if debug.SetGCPercent(150) != 150 || goruntime.GOMAXPROCS(0) != 1 {
		t.Errorf("runtime not changed: GOGC/GOMAXPROCS = %d/%d", st.Knobs.GOGC, goruntime.GOMAXPROCS(0))
	}
	if st.Sources.GOGC != knob.SourceControlPlane || st.DecisionID != "dec-1" {
		t.Errorf("state = %+v, want control-plane source and decision dec-1", st)
	}
	before := a.State().Knobs
	_, err = a.SetKnobs(knob.Change{GOGC: ptr(400), MemoryLimit: ptr[int64](2048 * mib)}, "dec-2")
	if !errors.Is(err, knob.ErrRejected) {
		t.Fatalf("SetKnobs with GOMEMLIMIT above the container = %v, want a rejection", err)
	}
	if after := a.State().Knobs; after != before {
		t.Errorf("a rejected update changed knobs: %v → %v", before, after)
	}
	if _, err := a.SetKnobs(knob.Change{}, ""); !errors.Is(err, knob.ErrRejected) {
		t.Errorf("empty update = %v, want a rejection", err)
	}
	st = a.Reset()
	if st.Knobs.GOGC != 100 || st.Sources.GOGC != knob.SourceGoDefault || st.Sources.GOMAXPROCS != knob.SourceGoDefault {
		t.Errorf("after Reset: %v", st)
	}
	if goruntime.GOMAXPROCS(0) != defaultGOMAXPROCS(t) {
		t.Errorf("GOMAXPROCS after Reset = %d, want Go's default %d", goruntime.GOMAXPROCS(0), defaultGOMAXPROCS(t))
	}
}

func defaultGOMAXPROCS(t *testing.T) int {
	t.Helper()
	cur := goruntime.GOMAXPROCS(0)
	goruntime.SetDefaultGOMAXPROCS()
	d := goruntime.GOMAXPROCS(0)
	goruntime.GOMAXPROCS(cur)
	return d
}

func TestCPURequestMode(t *testing.T) {
	if goruntime.NumCPU() < 2 {
		t.Skip("needs at least 2 CPUs to tell the request from the default")
	}
	a := startTestAgent(t, map[string]string{"MCP_CPU_REQUEST": "500m"}, WithLimitProvider(FixedLimits(ContainerLimits{})))
	st := a.State()
	if st.Knobs.GOMAXPROCS != 1 || st.Sources.GOMAXPROCS != knob.SourceCPURequest {
		t.Errorf("GOMAXPROCS = %d from %s, want 1 from cpu-request", st.Knobs.GOMAXPROCS, st.Sources.GOMAXPROCS)
	}
}

func TestCPURequestIgnoredUnderLimit(t *testing.T) {
	a := startTestAgent(t, map[string]string{"MCP_CPU_REQUEST": "1"}, WithLimitProvider(FixedLimits(ContainerLimits{CPUCores: 2})))
	if src := a.State().Sources.GOMAXPROCS; src != knob.SourceGoDefault {
		t.Errorf("GOMAXPROCS source = %s, want go-default (a CPU limit is set)", src)
	}
}

// fakeClock is a test clock whose tickers fire only when told to.
type fakeClock struct {
	mu      sync.Mutex
	tickers []chan time.Time
}

func (c *fakeClock) Now() time.Time { return time.Unix(1_700_000_000, 0) }

func (c *fakeClock) NewTicker(time.Duration) Ticker {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time)
	c.tickers = append(c.tickers, ch)
	return fakeTicker{ch}
}

// tick fires every ticker, waiting for the agent's loop to have created its ticker first.
func (c *fakeClock) tick() {
	for {
		c.mu.Lock()
		n := len(c.tickers)
		c.mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range c.tickers {
		ch <- c.Now()
	}
}

type fakeTicker struct{ ch chan time.Time }

func (t fakeTicker) C() <-chan time.Time { return t.ch }
func (t fakeTicker) Stop()               {}

func TestLimitsFollowResize(t *testing.T) {
	var limit atomic.Int64
	limit.Store(256 * mib)
	clk := &fakeClock{}
	a := startTestAgent(t, nil, WithClock(clk), WithLimitProvider(func() (ContainerLimits, error) {
		return ContainerLimits{MemoryBytes: limit.Load()}, nil
	}))
	limit.Store(512 * mib)
	clk.tick()
	clk.tick() // the second tick is taken only after the first refresh finished
	if got := a.State().Knobs.MemoryLimit; got != ratioOf(0.9, 512*mib) {
		t.Errorf("GOMEMLIMIT after resize = %d, want 0.9 × 512MiB", got)
	}
	limit.Store(0)
	clk.tick()
	clk.tick()
	st := a.State()
	if st.Knobs.MemoryLimit != knob.NoMemoryLimit || st.Sources.MemoryLimit != knob.SourceGoDefault {
		t.Errorf("after the limit went away: %v", st)
	}
}

func TestMalformedCgroupGivesLogLineAndNoLimit(t *testing.T) {
	root := t.TempDir()
	write := func(path, content string) {
		t.Helper()
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("proc/self/cgroup", "0::/app\n")
	write("proc/self/mountinfo", "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw\n")
	write("sys/fs/cgroup/app/memory.max", "lots\n")
	write("sys/fs/cgroup/app/cpu.max", "max 100000\n")
	core, logs := observer.New(zap.WarnLevel)
	a := startTestAgent(t, nil, WithLogger(zap.New(core)),
		WithLimitProvider(cgroupLimitsFrom(cgroups.NewReader(cgroups.WithRoot(root)))))
	st := a.State()
	if st.Limits.MemoryBytes != 0 || st.Sources.MemoryLimit != knob.SourceGoDefault {
		t.Errorf("limits = %+v, GOMEMLIMIT from %s; want no limit", st.Limits, st.Sources.MemoryLimit)
	}
	if !strings.Contains(st.LimitError, "memory.max") {
		t.Errorf("LimitError = %q, want it to name memory.max", st.LimitError)
	}
	entries := logs.FilterMessage("container limits unreadable; treating them as not set").All()
	if len(entries) != 1 {
		t.Fatalf("got %d warnings, want 1: %v", len(entries), logs.All())
	}
	if msg := entries[0].ContextMap()["error"]; !strings.Contains(msg.(string), "lots") {
		t.Errorf("warning error = %q, want it to quote the bad value", msg)
	}
}

func TestMemoryGuardEngagesAndReleases(t *testing.T) {
	keepRuntimeKnobs(t)
	debug.SetGCPercent(100)
	var events []Event
	var mu sync.Mutex
	a := startTestAgent(t, nil,
		WithMemoryLimitRatio(0.98),
		WithLimitProvider(FixedLimits(ContainerLimits{MemoryBytes: 100 * mib})))
	a.Subscribe(func(e Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	})
	for range 88 { // 88 MiB of live heap: above 0.85 × 100 MiB
		guardBallast = append(guardBallast, make([]byte, mib))
	}
	waitFor(t, "guard to engage", func() bool {
		goruntime.GC()
		return a.State().Guard.Active
	})
	st := a.State()
	if st.Sources.GOGC != knob.SourceEmergencyGuard || st.Knobs.GOGC >= 100 || st.Knobs.GOGC != st.Guard.GOGC {
		t.Errorf("while engaged: %v guard %+v", st, st.Guard)
	}
	// The control plane may still change GOGC; the guard keeps holding it down.
	if _, err := a.SetKnobs(knob.Change{GOGC: ptr(200)}, ""); err != nil {
		t.Fatal(err)
	}
	if g := a.State().Knobs.GOGC; g >= 100 {
		t.Errorf("GOGC while guarded after a control plane change = %d, want the guard's value", g)
	}
	guardBallast = nil
	waitFor(t, "guard to release", func() bool {
		goruntime.GC()
		return !a.State().Guard.Active
	})
	st = a.State()
	if st.Knobs.GOGC != 200 || st.Sources.GOGC != knob.SourceControlPlane {
		t.Errorf("after release: %v, want the control plane's GOGC 200 back", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 2 || events[0].Kind != "memory-guard-engaged" || events[1].Kind != "memory-guard-released" {
		t.Fatalf("events = %+v", events)
	}
	if !strings.Contains(events[0].Message, "of the 100MiB memory limit") {
		t.Errorf("engage message = %q", events[0].Message)
	}
	if body := scrape(t, a); !strings.Contains(body, "mcp_agent_memory_guard_activations_total 1") {
		t.Errorf("/metrics lacks the activation:\n%s", grepLines(body, "guard"))
	}
}

// guardBallast is package-level so the compiler cannot decide it is dead early.
var guardBallast [][]byte

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOnlyOneAgentPerProcess(t *testing.T) {
	startTestAgent(t, nil, WithLimitProvider(FixedLimits(ContainerLimits{})))
	_, err := Start(context.Background(), withEnv(envMap(nil)), WithLimitProvider(FixedLimits(ContainerLimits{})))
	if err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second Start = %v, want an error", err)
	}
}

func TestInvalidConfiguration(t *testing.T) {
	tests := []struct {
		env     map[string]string
		opts    []Option
		wantErr string
	}{
		{env: map[string]string{"MCP_MEMLIMIT_RATIO": "lots"}, wantErr: `MCP_MEMLIMIT_RATIO="lots"`},
		{env: map[string]string{"MCP_MEMLIMIT_RATIO": "1.5"}, wantErr: "MCP_MEMLIMIT_RATIO"},
		{env: map[string]string{"MCP_CPU_REQUEST": "-2"}, wantErr: `MCP_CPU_REQUEST="-2"`},
		{env: map[string]string{"MCP_ENDPOINT": "no-port"}, wantErr: "MCP_ENDPOINT"},
		{env: map[string]string{"MCP_PROFILING": "on"}, wantErr: "MCP_ENDPOINT is not set"},
		{env: map[string]string{"MCP_PROFILING": "ftp://x"}, wantErr: `MCP_PROFILING="ftp://x"`},
		{opts: []Option{WithMemoryGuard(1.5)}, wantErr: "WithMemoryGuard"},
		{opts: []Option{WithLimitRefresh(-time.Second)}, wantErr: "WithLimitRefresh"},
	}
	for _, tt := range tests {
		_, err := Start(context.Background(), append([]Option{withEnv(envMap(tt.env))}, tt.opts...)...)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Start(env %v) = %v, want an error containing %q", tt.env, err, tt.wantErr)
		}
	}
}

func TestStatedLimits(t *testing.T) {
	a := startTestAgent(t, map[string]string{"MCP_MEMORY_LIMIT": "512Mi", "MCP_CPU_LIMIT": "1500m"})
	st := a.State()
	if st.Limits.MemoryBytes != 512*mib || st.Limits.CPUCores != 1.5 || st.Knobs.MemoryLimit != ratioOf(0.9, 512*mib) {
		t.Errorf("state with stated limits = %v %+v", st, st.Limits)
	}
	for _, env := range []map[string]string{{"MCP_MEMORY_LIMIT": "lots"}, {"MCP_CPU_LIMIT": "-1"}} {
		if _, err := Start(context.Background(), withEnv(envMap(env))); err == nil {
			t.Errorf("Start(%v) accepted a bad limit", env)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"512MiB": 512 * mib, "1Gi": 1 << 30, "536870912": 512 * mib, "1.5GiB": 3 << 29, "2G": 2e9} {
		if got, err := knob.ParseBytes(in); err != nil || got != want {
			t.Errorf("knob.ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1Gi", "lots"} {
		if _, err := knob.ParseBytes(in); err == nil {
			t.Errorf("knob.ParseBytes(%q) succeeded", in)
		}
	}
}

func TestParseCPU(t *testing.T) {
	for in, want := range map[string]float64{"2": 2, "0.5": 0.5, "500m": 0.5, " 1500m ": 1.5} {
		if got, err := knob.ParseCPU(in); err != nil || got != want {
			t.Errorf("knob.ParseCPU(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "m", "-1", "0", "two", "NaN", "Inf"} {
		if _, err := knob.ParseCPU(in); err == nil {
			t.Errorf("knob.ParseCPU(%q) succeeded", in)
		}
	}
}

func TestServiceIdentityFromEnv(t *testing.T) {
	c, err := newConfig([]Option{withEnv(envMap(map[string]string{
		"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs,service.instance.id=pod-7%2Fa",
	}))})
	if err != nil {
		t.Fatal(err)
	}
	if c.serviceName != "from-attrs" || c.instanceID != "pod-7/a" {
		t.Errorf("identity = %q/%q", c.serviceName, c.instanceID)
	}
	c, _ = newConfig([]Option{withEnv(envMap(map[string]string{"OTEL_SERVICE_NAME": "env"})), WithServiceName("option")})
	if c.serviceName != "option" {
		t.Errorf("service name = %q, want the option to win over the environment", c.serviceName)
	}
}

func TestMiddlewareAndLogger(t *testing.T) {
	var out bytes.Buffer
	keepRuntimeKnobs(t)
	a, err := Start(context.Background(), withEnv(envMap(nil)), withStdout(&out), WithServiceName("svc"),
		WithLimitProvider(FixedLimits(ContainerLimits{})))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	var traceID string
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		traceID = trace.SpanContextFromContext(r.Context()).TraceID().String()
		a.Logger().Info("handled", zap.Any("ctx", r.Context()))
		w.WriteHeader(http.StatusTeapot)
	}))
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if traceID != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace id in handler = %q, want the incoming traceparent's", traceID)
	}
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", out.String(), err)
	}
	if line["msg"] != "handled" || line["trace_id"] != traceID || line["service"] != "svc" || line["ctx"] != nil {
		t.Errorf("log line = %v, want msg, service and trace_id and no raw ctx", line)
	}
	if body := scrape(t, a); !strings.Contains(body, `mcp_agent_http_server_request_duration_seconds_count{code="418",method="GET"} 1`) {
		t.Errorf("/metrics lacks the request:\n%s", grepLines(body, "http_server"))
	}
}

func scrape(t *testing.T, a *Agent) string {
	t.Helper()
	rec := httptest.NewRecorder()
	a.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics status %d", rec.Code)
	}
	return rec.Body.String()
}

func grepLines(body, substr string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func ratioOf(r float64, b int64) int64 { return int64(r * float64(b)) }
