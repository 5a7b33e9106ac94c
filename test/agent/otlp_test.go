package agent_test

import (
	"context"
	"net"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"

	"github.com/mcplane/mcp/runtime"
)

// The agent's OTLP export, received by the collector's real OTLP receiver (the agent module
// cannot depend on the collector, so this test lives here).

// startOTLPReceiver runs the collector's real OTLP gRPC receiver into a sink.
func startOTLPReceiver(t *testing.T) (string, *consumertest.MetricsSink, *consumertest.LogsSink) {
	t.Helper()
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
	set := receivertest.NewNopSettings(component.MustNewType("otlp"))
	metrics, logs := new(consumertest.MetricsSink), new(consumertest.LogsSink)
	mr, err := f.CreateMetrics(context.Background(), set, cfg, metrics)
	if err != nil {
		t.Fatal(err)
	}
	lr, err := f.CreateLogs(context.Background(), set, cfg, logs)
	if err != nil {
		t.Fatal(err)
	}
	if err := mr.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	if err := lr.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = mr.Shutdown(context.Background())
		_ = lr.Shutdown(context.Background())
	})
	return addr, metrics, logs
}

// TestOTLPExportToCollector exports through the real OTel SDK exporters into the real
// collector OTLP receiver and checks the runtime metrics the tuner needs arrive.
func TestOTLPExportToCollector(t *testing.T) {
	addr, metrics, logs := startOTLPReceiver(t)
	for _, k := range []string{"OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER", "MCP_ENDPOINT"} {
		t.Setenv(k, "")
	}
	a, err := runtime.Start(context.Background(), runtime.WithOTLPEndpoint(addr), runtime.WithServiceName("otlp-test"),
		runtime.WithInstanceID("test-1"),
		runtime.WithLimitProvider(runtime.FixedLimits(runtime.ContainerLimits{MemoryBytes: 512 * mib, CPUCores: 1.5})))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	a.Logger().Info("hello", zap.Int("n", 1))
	// Stop flushes everything the SDK holds.
	if err := a.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	got := map[string]pmetric.Metric{}
	var serviceName, instanceID string
	for _, md := range metrics.AllMetrics() {
		for _, rm := range md.ResourceMetrics().All() {
			if v, ok := rm.Resource().Attributes().Get("service.name"); ok {
				serviceName = v.Str()
			}
			if v, ok := rm.Resource().Attributes().Get("service.instance.id"); ok {
				instanceID = v.Str()
			}
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					got[m.Name()] = m
				}
			}
		}
	}
	if serviceName != "otlp-test" || instanceID != "test-1" {
		t.Errorf("resource service.name/instance.id = %q/%q", serviceName, instanceID)
	}
	for _, name := range []string{"go.config.gogc", "go.memory.limit", "go.processor.limit", "go.memory.gc.goal",
		"mcp.go.cpu.time", "mcp.go.gc.heap.live", "mcp.go.gc.cycles", "mcp.container.memory.limit", "mcp.container.cpu.limit", "mcp.agent.knob.source"} {
		if _, ok := got[name]; !ok {
			t.Errorf("metric %s not received; got %d metrics", name, len(got))
		}
	}
	if m, ok := got["mcp.go.cpu.time"]; ok {
		classes := map[string]bool{}
		for _, dp := range m.Sum().DataPoints().All() {
			if v, ok := dp.Attributes().Get("go.cpu.class"); ok {
				classes[v.Str()] = true
			}
		}
		for _, c := range []string{"gc", "gc.mark.assist", "total", "user"} {
			if !classes[c] {
				t.Errorf("mcp.go.cpu.time lacks class %q (has %v)", c, classes)
			}
		}
	}
	if m, ok := got["go.memory.limit"]; ok {
		if v := m.Sum().DataPoints().At(0).IntValue(); v != ratioOf(0.9, 512*mib) {
			t.Errorf("go.memory.limit = %d, want 0.9 × 512MiB", v)
		}
	}
	if m, ok := got["mcp.container.cpu.limit"]; ok {
		if v := m.Gauge().DataPoints().At(0).DoubleValue(); v != 1.5 {
			t.Errorf("mcp.container.cpu.limit = %v, want 1.5", v)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for logs.LogRecordCount() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if logs.LogRecordCount() == 0 {
		t.Errorf("the service log line did not reach the collector")
	}
}
