package pipeline

import (
	"context"
	"flag"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	mcpruntime "github.com/mcplane/mcp/runtime"
	"github.com/mcplane/mcp/tuner/signals"
)

var update = flag.Bool("update", false, "rewrite testdata/agent_metrics.json from the real agent")

// TestAgentExportIsCurrent runs the real MCP agent into the collector's real OTLP receiver
// and checks that the benchmark's captured export has the metrics the agent sends today;
// with -update it replaces the capture.
func TestAgentExportIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the agent for a few seconds")
	}
	captured := captureAgentExport(t)
	if *update {
		b, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(captured)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/agent_metrics.json", b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote testdata/agent_metrics.json: %d metrics, %d points", len(metricNames(captured)), captured.DataPointCount())
		return
	}
	tmpl, err := agentTemplate()
	if err != nil {
		t.Fatal(err)
	}
	// Container metrics need a readable cgroup, so an agent off Linux sends fewer metrics than
	// the capture (made on Linux); any other difference means the capture is stale.
	has, sent := metricNames(tmpl), metricNames(captured)
	const stale = "testdata/agent_metrics.json is stale; run go test ./bench/pipeline -run TestAgentExportIsCurrent -update"
	for _, name := range sent {
		if !slices.Contains(has, name) {
			t.Errorf("the agent sends %s, which the capture lacks: %s", name, stale)
		}
	}
	for _, name := range has {
		if !slices.Contains(sent, name) && !strings.HasPrefix(name, "mcp.container.") {
			t.Errorf("the capture has %s, which the agent no longer sends: %s", name, stale)
		}
	}
}

func metricNames(md pmetric.Metrics) []string {
	var out []string
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				out = append(out, m.Name())
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// captureAgentExport returns one complete export of the agent: the first that carries the
// HTTP server histogram and the tuner's runtime counters, after the agent served requests.
func captureAgentExport(t *testing.T) pmetric.Metrics {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	f := otlpreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*otlpreceiver.Config)
	cfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = addr
	cfg.Protocols.HTTP = configoptional.None[otlpreceiver.HTTPConfig]()
	sink := new(consumertest.MetricsSink)
	r, err := f.CreateMetrics(context.Background(), receivertest.NewNopSettings(component.MustNewType("otlp")), cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown(context.Background())

	t.Setenv("OTEL_METRIC_EXPORT_INTERVAL", "300")
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	t.Setenv("OTEL_LOGS_EXPORTER", "none")
	agent, err := mcpruntime.Start(context.Background(), mcpruntime.WithServiceName("checkout"), mcpruntime.WithInstanceID("checkout-0"),
		mcpruntime.WithOTLPEndpoint(addr),
		mcpruntime.WithLimitProvider(mcpruntime.FixedLimits(mcpruntime.ContainerLimits{MemoryBytes: 1 << 30, CPUCores: 2})))
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Stop()
	defer agent.Reset()
	srv := httptest.NewServer(agent.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("fail") != "" {
			w.WriteHeader(http.StatusInternalServerError)
		}
		_, _ = w.Write(make([]byte, 512))
	})))
	defer srv.Close()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		path := "/"
		if i%20 == 0 {
			path = "/?fail=1"
		}
		if resp, err := http.Get(srv.URL + path); err == nil {
			resp.Body.Close()
		}
		all := sink.AllMetrics()
		if n := len(all); n >= 3 {
			last := all[n-1]
			names := metricNames(last)
			if slices.Contains(names, signals.HistogramHTTPServer) && slices.Contains(names, "mcp.go.cpu.time") {
				return normalize(last)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no complete agent export within 20s (%d exports)", len(sink.AllMetrics()))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// normalize keeps one resource and replaces this machine's identity (host name, pid) with
// neutral values; the benchmark sets them per simulated instance anyway.
func normalize(md pmetric.Metrics) pmetric.Metrics {
	out := pmetric.NewMetrics()
	md.ResourceMetrics().At(0).CopyTo(out.ResourceMetrics().AppendEmpty())
	attrs := out.ResourceMetrics().At(0).Resource().Attributes()
	attrs.PutStr("host.name", "node-00")
	attrs.PutInt("process.pid", 1000)
	return out
}
