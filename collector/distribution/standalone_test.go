package distribution_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	otelruntime "go.opentelemetry.io/contrib/instrumentation/runtime"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"

	"github.com/mcplane/mcp/collector/distribution"
)

// TestExampleConfigValidates is `mcp collector --config deploy/collector/collector.yaml
// --validate`: the example loads, resolves its ${env:...} defaults and validates against the
// distribution's factories, with the variables unset and set.
func TestExampleConfigValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"defaults", nil},
		{"env", map[string]string{
			"OTLP_FORWARD_ENDPOINT": "tempo.observability:4317", "OTLP_FORWARD_INSECURE": "false",
			"MCP_COLLECTOR_QUEUE_DIR": t.TempDir(), "MCP_COLLECTOR_MEMORY_LIMIT_MIB": "1024",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"OTLP_FORWARD_ENDPOINT", "OTLP_FORWARD_INSECURE", "MCP_COLLECTOR_QUEUE_DIR", "MCP_COLLECTOR_MEMORY_LIMIT_MIB"} {
				if v, ok := tc.env[k]; ok {
					t.Setenv(k, v)
				} else {
					t.Setenv(k, "")
					os.Unsetenv(k) // t.Setenv restores it afterwards
				}
			}
			if err := distribution.EnableProfiles(); err != nil {
				t.Fatal(err)
			}
			col, err := otelcol.NewCollector(distribution.Settings([]string{exampleConfig}, nil))
			if err != nil {
				t.Fatal(err)
			}
			if err := col.DryRun(context.Background()); err != nil {
				t.Fatalf("example configuration is invalid: %v", err)
			}
		})
	}
}

// TestExampleConfigRejectsBadEnv checks that a bad value from the environment is reported
// by the configuration, not at run time.
func TestExampleConfigRejectsBadEnv(t *testing.T) {
	t.Setenv("MCP_COLLECTOR_MEMORY_LIMIT_MIB", "lots")
	if err := distribution.EnableProfiles(); err != nil {
		t.Fatal(err)
	}
	col, err := otelcol.NewCollector(distribution.Settings([]string{exampleConfig}, nil))
	if err != nil {
		t.Fatal(err)
	}
	err = col.DryRun(context.Background())
	if err == nil || !strings.Contains(err.Error(), "limit_mib") {
		t.Fatalf("DryRun with limit_mib 'lots' = %v, want an error naming limit_mib", err)
	}
}

// exampleOn runs the example configuration with its ports moved to free loopback ports (by
// yaml: URIs merged over it, as a user's override file would be), its queue in a temporary
// directory and otlp/backend pointed at forwardTo.
type exampleAddrs struct {
	grpc, http, pyroscope, prometheus string
}

func exampleURIs(t *testing.T, a exampleAddrs, queueDir, forwardTo string) []string {
	t.Helper()
	t.Setenv("MCP_COLLECTOR_QUEUE_DIR", queueDir)
	t.Setenv("OTLP_FORWARD_ENDPOINT", forwardTo)
	return []string{
		exampleConfig,
		"yaml:receivers::otlp::protocols::grpc::endpoint: " + a.grpc,
		"yaml:receivers::otlp::protocols::http::endpoint: " + a.http,
		"yaml:receivers::pyroscope::endpoint: " + a.pyroscope,
		"yaml:exporters::prometheus::endpoint: " + a.prometheus,
		// The collector's own metrics would need port 8888.
		"yaml:service::telemetry::metrics::level: none",
		"yaml:service::telemetry::logs::level: error",
	}
}

func newExampleAddrs(t *testing.T) exampleAddrs {
	return exampleAddrs{grpc: freeAddr(t), http: freeAddr(t), pyroscope: freeAddr(t), prometheus: freeAddr(t)}
}

// TestExampleMetricsReachPrometheus runs the example as a real collector, sends the Go
// runtime metrics of this process with the OpenTelemetry SDK's OTLP/HTTP exporter and the
// runtime instrumentation MCP agents use, and reads them back from the Prometheus exporter's
// scrape endpoint with the labels dashboards select on.
func TestExampleMetricsReachPrometheus(t *testing.T) {
	a := newExampleAddrs(t)
	backend := freeAddr(t)
	forwarded := new(consumertest.MetricsSink)
	startBackend(t, backend, forwarded)
	startCollector(t, exampleURIs(t, a, t.TempDir(), backend)...)

	ctx := context.Background()
	exp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(a.http), otlpmetrichttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(semconv.ServiceName("checkout"), semconv.ServiceInstanceID("checkout-7f9c-1"),
		semconv.K8SNamespaceName("shop"), semconv.HostName("node-1"))
	reader := sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Hour))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)
	if err := otelruntime.Start(otelruntime.WithMeterProvider(mp)); err != nil {
		t.Fatal(err)
	}
	if err := mp.ForceFlush(ctx); err != nil {
		t.Fatalf("export to the example collector: %v", err)
	}

	// The batch processor holds data for up to its 1 s timeout.
	var families map[string]*dto.MetricFamily
	deadline := time.Now().Add(15 * time.Second)
	for {
		families = scrape(t, "http://"+a.prometheus+"/metrics")
		if families["go_config_gogc_percent"] != nil && families["go_memory_used_bytes"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runtime metrics not on the Prometheus endpoint within 15s; families: %v", names(families))
		}
		time.Sleep(100 * time.Millisecond)
	}
	gogc := families["go_config_gogc_percent"]
	if len(gogc.Metric) != 1 {
		t.Fatalf("go_config_gogc_percent has %d series, want 1", len(gogc.Metric))
	}
	labels := map[string]string{}
	for _, l := range gogc.Metric[0].Label {
		labels[l.GetName()] = l.GetValue()
	}
	want := map[string]string{
		"job": "checkout", "instance": "checkout-7f9c-1", // always, from service.name/instance.id
		"service_name": "checkout", "service_instance_id": "checkout-7f9c-1", "k8s_namespace_name": "shop", // resource_constant_labels
	}
	for k, v := range want {
		if labels[k] != v {
			t.Errorf("go_config_gogc_percent label %s = %q, want %q (labels %v)", k, labels[k], v, labels)
		}
	}
	if _, ok := labels["host_name"]; ok {
		t.Errorf("host.name became a label, but the example includes only service and Kubernetes attributes: %v", labels)
	}
	if v := value(gogc.Metric[0]); v != 100 {
		t.Errorf("go_config_gogc_percent = %v, want 100 (GOGC is unset in tests)", v)
	}
	// go.memory.used is split by go.memory.type; the attribute stays a label.
	used := families["go_memory_used_bytes"]
	types := map[string]bool{}
	for _, m := range used.Metric {
		for _, l := range m.Label {
			if l.GetName() == "go_memory_type" {
				types[l.GetValue()] = true
			}
		}
	}
	if !types["stack"] || !types["other"] {
		t.Errorf("go_memory_used_bytes go_memory_type values = %v, want stack and other", types)
	}
	// otlp/backend forwarded the same export.
	for forwarded.DataPointCount() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("otlp/backend forwarded nothing within 15s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return families
}

func names(families map[string]*dto.MetricFamily) []string {
	var out []string
	for name := range families {
		out = append(out, name)
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return -1
}

// TestExampleQueueSurvivesBackendOutage checks "nothing acknowledged is lost" for the
// example's persistent queue: metrics the collector accepted while its backend was down are
// still there after the collector restarted, and reach the backend once it is up.
func TestExampleQueueSurvivesBackendOutage(t *testing.T) {
	backend := freeAddr(t) // nothing listens here until the collector restarted
	queueDir := t.TempDir()
	a := newExampleAddrs(t)
	uris := exampleURIs(t, a, queueDir, backend)
	first := startCollector(t, uris...)

	const exports = 5
	exportSequences(t, a.grpc, exports)
	// Stopping flushes the batch processor into otlp/backend, whose queue keeps on disk what
	// it could not send. (It logs "Exporting failed. Dropping data." for the request it was
	// retrying; the persistent queue keeps that one too.)
	if err := first.shutdown(); err != nil {
		t.Fatal(err)
	}

	sink := new(consumertest.MetricsSink)
	startBackend(t, backend, sink)
	// Nothing else could send these: the backend sees them only through the restarted
	// collector's queue.
	time.Sleep(200 * time.Millisecond)
	if n := sink.DataPointCount(); n != 0 {
		t.Fatalf("backend received %d points before the collector restarted", n)
	}
	startCollector(t, uris...)
	waitForSequences(t, sink, exports, "after the restart")
}

// exportSequences sends n exports of sequenceMetrics (0..n-1) to the collector's OTLP/gRPC
// receiver at addr with the SDK exporter. Each export is one request the collector
// acknowledges: Export returns nil only then.
func exportSequences(t *testing.T, addr string, n int) {
	t.Helper()
	ctx := context.Background()
	exp, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(addr), otlpmetricgrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(ctx)
	for seq := range n {
		if err := exp.Export(ctx, sequenceMetrics(seq)); err != nil {
			t.Fatalf("export %d: %v", seq, err)
		}
	}
}

// waitForSequences waits up to 30 s for sink to hold sequences 0..n-1; when says when,
// for the failure message.
func waitForSequences(t *testing.T, sink *consumertest.MetricsSink, n int, when string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := sequences(sink.AllMetrics())
		if len(got) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s, the backend received sequences %v within 30s, want 0..%d", when, got, n-1)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sequenceMetrics is one export of a gauge tagged with its sequence number.
func sequenceMetrics(seq int) *metricdata.ResourceMetrics {
	now := time.Now()
	return &metricdata.ResourceMetrics{
		Resource: resource.NewSchemaless(semconv.ServiceName("queued"), semconv.ServiceInstanceID("queued-1")),
		ScopeMetrics: []metricdata.ScopeMetrics{{
			Metrics: []metricdata.Metrics{{
				Name: "mcp.test.sequence",
				Data: metricdata.Gauge[int64]{DataPoints: []metricdata.DataPoint[int64]{{
					Attributes: attribute.NewSet(attribute.Int("seq", seq)),
					Time:       now, Value: int64(seq),
				}}},
			}},
		}},
	}
}

func sequences(all []pmetric.Metrics) map[int64]bool {
	got := map[int64]bool{}
	for _, md := range all {
		for _, rm := range md.ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					if m.Name() != "mcp.test.sequence" {
						continue
					}
					for _, dp := range m.Gauge().DataPoints().All() {
						got[dp.IntValue()] = true
					}
				}
			}
		}
	}
	return got
}

// startBackend runs a real OTLP gRPC receiver on addr that hands metrics to sink.
func startBackend(t *testing.T, addr string, sink *consumertest.MetricsSink) {
	t.Helper()
	f := otlpreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*otlpreceiver.Config)
	cfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = addr
	cfg.Protocols.HTTP = configoptional.None[otlpreceiver.HTTPConfig]()
	r, err := f.CreateMetrics(context.Background(), receivertest.NewNopSettings(component.MustNewType("otlp")), cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
}
