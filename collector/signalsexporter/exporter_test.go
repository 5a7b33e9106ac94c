package signalsexporter

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/grafana/pyroscope-go"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/collector/receiver/xreceiver"

	"github.com/mcplane/mcp/collector/pyroscopereceiver"
	mcpruntime "github.com/mcplane/mcp/runtime"
	"github.com/mcplane/mcp/tuner/signals"
)

func newTestStore(t testing.TB) *signals.Store {
	st, err := signals.NewStore(signals.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestAgentTelemetryBecomesSignals runs the real MCP agent (OTel SDK OTLP exporters) into
// the collector's real OTLP receiver and this exporter, and checks the signal window.
func TestAgentTelemetryBecomesSignals(t *testing.T) {
	st := newTestStore(t)
	f := NewFactory(WithStore(st))
	ecfg := f.CreateDefaultConfig()
	set := exportertest.NewNopSettings(componentType)
	me, err := f.CreateMetrics(context.Background(), set, ecfg)
	if err != nil {
		t.Fatal(err)
	}
	te, err := f.CreateTraces(context.Background(), set, ecfg)
	if err != nil {
		t.Fatal(err)
	}
	host := componenttest.NewNopHost()
	for _, c := range []component.Component{me, te} {
		if err := c.Start(context.Background(), host); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Shutdown(context.Background()) })
	}
	addr := freeAddr(t)
	rf := otlpreceiver.NewFactory()
	rcfg := rf.CreateDefaultConfig().(*otlpreceiver.Config)
	rcfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = addr
	rcfg.Protocols.HTTP = configoptional.None[otlpreceiver.HTTPConfig]()
	rset := receivertest.NewNopSettings(component.MustNewType("otlp"))
	mr, err := rf.CreateMetrics(context.Background(), rset, rcfg, me)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := rf.CreateTraces(context.Background(), rset, rcfg, te)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []receiver.Metrics{mr} {
		if err := r.Start(context.Background(), host); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	}
	if err := tr.Start(context.Background(), host); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })

	t.Setenv("OTEL_METRIC_EXPORT_INTERVAL", "250")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
	agent, err := mcpruntime.Start(context.Background(), mcpruntime.WithServiceName("sigtest"), mcpruntime.WithInstanceID("sig-1"),
		mcpruntime.WithOTLPEndpoint(addr),
		mcpruntime.WithLimitProvider(mcpruntime.FixedLimits(mcpruntime.ContainerLimits{MemoryBytes: 1 << 30, CPUCores: 2})))
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Stop()
	defer agent.Reset()
	srv := httptest.NewServer(agent.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		garbage := make([]map[string]string, 0, 64)
		for i := range 64 {
			garbage = append(garbage, map[string]string{"k": strings.Repeat("x", i)})
		}
		b, _ := json.Marshal(garbage)
		if r.URL.Query().Get("fail") != "" {
			w.WriteHeader(http.StatusInternalServerError)
		}
		_, _ = w.Write(b)
	})))
	defer srv.Close()
	k := signals.Key{Service: "sigtest", Instance: "sig-1"}
	deadline := time.Now().Add(20 * time.Second)
	var s signals.Sample
	for i := 0; ; i++ {
		path := "/"
		if i%10 == 0 {
			path = "/?fail=1"
		}
		resp, err := http.Get(srv.URL + path)
		if err == nil {
			resp.Body.Close()
		}
		if i%50 == 0 {
			runtime.GC()
		}
		var ok bool
		s, ok = st.Latest(k)
		if ok && signals.Has(s.RequestsPerSecond) && s.RequestsPerSecond > 0 && signals.Has(s.GCCPUFraction) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no complete sample within 20s; latest %+v", s)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if s.GOGC != 100 || s.MemoryLimitBytes != 1<<30 || s.CPULimitCores != 2 || s.GOMEMLIMIT != float64(agent.State().Knobs.MemoryLimit) {
		t.Errorf("knobs and limits = GOGC %v, limit %v, cpu %v, GOMEMLIMIT %v", s.GOGC, s.MemoryLimitBytes, s.CPULimitCores, s.GOMEMLIMIT)
	}
	if !(s.LiveHeapBytes > 0) || !(s.HeapGoalBytes > 0) || !(s.AllocBytesPerSecond > 0) || !(s.GCCPUFraction >= 0) {
		t.Errorf("runtime figures = live %v goal %v alloc/s %v gc %v", s.LiveHeapBytes, s.HeapGoalBytes, s.AllocBytesPerSecond, s.GCCPUFraction)
	}
	if !(s.LatencyP99 > 0) || !(s.ErrorRate > 0.02 && s.ErrorRate < 0.3) || !(s.CPUPerRequest > 0) {
		t.Errorf("request figures = p99 %v errors %v cpu/req %v", s.LatencyP99, s.ErrorRate, s.CPUPerRequest)
	}
	stats, n := st.Stats()
	if n != 1 || stats.Points["metrics"] == 0 {
		t.Errorf("stats = %+v, %d instances", stats, n)
	}
}

// TestDeltaTemporality feeds delta sums and histograms, as an SDK configured for delta
// temporality sends them.
func TestDeltaTemporality(t *testing.T) {
	st := newTestStore(t)
	e, _ := NewFactory(WithStore(st)).CreateMetrics(context.Background(), exportertest.NewNopSettings(componentType), createDefaultConfig())
	t0 := time.Unix(1_700_000_000, 0)
	send := func(sec int, gc, total, idle float64, bucket0, bucket1 uint64, status int64) {
		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", "delta")
		rm.Resource().Attributes().PutStr("service.instance.id", "d-1")
		sm := rm.ScopeMetrics().AppendEmpty()
		m := sm.Metrics().AppendEmpty()
		m.SetName(cpuTimeMetric)
		sum := m.SetEmptySum()
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		ts := pcommon.NewTimestampFromTime(t0.Add(time.Duration(sec) * time.Second))
		for class, v := range map[string]float64{"gc": gc, "total": total, "idle": idle} {
			dp := sum.DataPoints().AppendEmpty()
			dp.Attributes().PutStr("go.cpu.class", class)
			dp.SetDoubleValue(v)
			dp.SetTimestamp(ts)
		}
		h := sm.Metrics().AppendEmpty()
		h.SetName(signals.HistogramHTTPServer)
		hist := h.SetEmptyHistogram()
		hist.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		dp := hist.DataPoints().AppendEmpty()
		dp.ExplicitBounds().FromRaw([]float64{0.1})
		dp.BucketCounts().FromRaw([]uint64{bucket0, bucket1})
		dp.SetCount(bucket0 + bucket1)
		dp.Attributes().PutInt("http.response.status_code", status)
		dp.SetTimestamp(ts)
		if err := e.ConsumeMetrics(context.Background(), md); err != nil {
			t.Fatal(err)
		}
	}
	send(0, 1, 20, 10, 10, 0, 200)
	send(10, 2, 20, 10, 90, 10, 503)
	s, ok := st.Latest(signals.Key{Service: "delta", Instance: "d-1"})
	if !ok || s.GCCPUFraction != 0.2 || s.RequestsPerSecond != 10 || s.ErrorRate != 1 {
		t.Errorf("sample from deltas = %+v (ok %v)", s, ok)
	}
}

func TestMissingServiceNameIsDropped(t *testing.T) {
	st := newTestStore(t)
	e, _ := NewFactory(WithStore(st)).CreateMetrics(context.Background(), exportertest.NewNopSettings(componentType), createDefaultConfig())
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName(signals.GaugeGOGC)
	m.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(100)
	_ = e.ConsumeMetrics(context.Background(), md)
	stats, n := st.Stats()
	if n != 0 || stats.Dropped["no_service_name"] != 1 {
		t.Errorf("stats = %+v, %d instances", stats, n)
	}
}

// TestPyroscopeProfilesBecomeSummaries sends profiles with the real pyroscope-go client
// through the pyroscope receiver into this exporter and reads the service's top.
func TestPyroscopeProfilesBecomeSummaries(t *testing.T) {
	st := newTestStore(t)
	f := NewFactory(WithStore(st))
	pe, err := f.(xexporterFactory).CreateProfiles(context.Background(), exportertest.NewNopSettings(componentType), f.CreateDefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	rf := pyroscopereceiver.NewFactory()
	rcfg := rf.CreateDefaultConfig()
	setEndpoint(t, rcfg, addr)
	pr, err := rf.(xreceiver.Factory).CreateProfiles(context.Background(), receivertest.NewNopSettings(rf.Type()), rcfg, pe)
	if err != nil {
		t.Fatal(err)
	}
	if err := pr.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	defer pr.Shutdown(context.Background())
	prof, err := pyroscope.Start(pyroscope.Config{
		ApplicationName: "proftest", ServerAddress: "http://" + addr, UploadRate: time.Second, DisableGCRuns: true,
		ProfileTypes: []pyroscope.ProfileType{pyroscope.ProfileCPU, pyroscope.ProfileAllocSpace, pyroscope.ProfileAllocObjects},
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		churnAllocations()
		cpuTop, okCPU := st.Profiles().Top("proftest", "cpu", time.Now(), 1000)
		allocTop, okAlloc := st.Profiles().Top("proftest", "alloc_space", time.Now(), 1000)
		if okCPU && okAlloc && hasFunction(cpuTop, "churnAllocations") && hasFunction(allocTop, "churnAllocations") && cpuTop.GC.Total > 0 {
			break
		}
		if time.Now().After(deadline) {
			_ = prof.Stop()
			t.Fatalf("profiles not summarised within 30s: cpu %+v alloc %+v", cpuTop, allocTop)
		}
	}
	_ = prof.Stop()
}

var churnSink [][]byte

//go:noinline
func churnAllocations() {
	for range 2000 {
		m := map[string][]byte{}
		for j := range 16 {
			m[strings.Repeat("k", j)] = make([]byte, 64+j)
		}
		b, _ := json.Marshal(m)
		churnSink = append(churnSink[:0], b)
	}
}

func hasFunction(top signals.ProfileTop, substr string) bool {
	for _, f := range top.Functions {
		if strings.Contains(f.Name, substr) {
			return true
		}
	}
	return false
}
