package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// newTestServer serves demoapp's routes without the agent, as --no-agent does.
func newTestServer(t *testing.T, w Workload) (*httptest.Server, *app) {
	t.Helper()
	e, err := newEngine(w)
	if err != nil {
		t.Fatal(err)
	}
	a := &app{eng: e, log: zap.NewNop()}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsAll)))
	if err := a.registerMetrics(reg); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.routes(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), func(h http.Handler) http.Handler { return h }))
	t.Cleanup(srv.Close)
	return srv, a
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestHandlers(t *testing.T) {
	srv, _ := newTestServer(t, Workload{LiveHeapMiB: 1, GarbageKiB: 16, CPUMicros: 10})

	code, body := do(t, "GET", srv.URL+"/work", "")
	var resp orderResponse
	if code != 200 || json.Unmarshal([]byte(body), &resp) != nil || len(resp.Lines) == 0 {
		t.Errorf("GET /work = %d %.200s, want 200 and an order response", code, body)
	}
	order := `{"order_id":"o-1","customer":"cust-1","currency":"EUR","items":[{"sku":"X-1","name":"kettle","category":"kitchen","quantity":2,"price":3.5}]}`
	if code, body := do(t, "POST", srv.URL+"/work", order); code != 200 || !strings.Contains(body, `"total":8.12`) {
		t.Errorf("POST /work = %d %.200s, want 200 with total 8.12", code, body)
	}
	if code, body := do(t, "POST", srv.URL+"/work", `{"order_id": 5}`); code != 400 || !strings.Contains(body, "invalid order JSON") {
		t.Errorf("POST /work with a bad order = %d %s, want 400", code, body)
	}
	if code, _ := do(t, "DELETE", srv.URL+"/work", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /work = %d, want 405", code)
	}
	if code, body := do(t, "GET", srv.URL+"/healthz", ""); code != 200 || body != "ok" {
		t.Errorf("GET /healthz = %d %q, want 200 ok", code, body)
	}

	code, body = do(t, "GET", srv.URL+"/config", "")
	var cfg configView
	if code != 200 || json.Unmarshal([]byte(body), &cfg) != nil || cfg.Workload != (Workload{LiveHeapMiB: 1, GarbageKiB: 16, CPUMicros: 10}) || cfg.RequestsServed != 2 {
		t.Errorf("GET /config = %d %s, want the workload and 2 requests served", code, body)
	}
	code, body = do(t, "PUT", srv.URL+"/config", `{"live_heap_mib": 3, "cpu_us": 0}`)
	cfg = configView{}
	if code != 200 || json.Unmarshal([]byte(body), &cfg) != nil || cfg.Workload != (Workload{LiveHeapMiB: 3, GarbageKiB: 16}) {
		t.Errorf("PUT /config = %d %s, want 200 and the new workload", code, body)
	}
	if cfg.LiveHeapEstimateBytes < 2<<20 || cfg.LiveHeapEstimateBytes > 4<<20 {
		t.Errorf("live heap estimate after PUT = %d bytes, want about 3 MiB", cfg.LiveHeapEstimateBytes)
	}

	code, body = do(t, "GET", srv.URL+"/metrics", "")
	for _, want := range []string{"go_gc_gogc_percent", "go_gc_gomemlimit_bytes", "demoapp_workload_live_heap_bytes 3.145728e+06", "demoapp_work_requests_total 2"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET /metrics = %d, missing %q", code, want)
		}
	}
}

func TestPutConfigValidation(t *testing.T) {
	srv, a := newTestServer(t, Workload{LiveHeapMiB: 1, GarbageKiB: 16, CPUMicros: 10})
	for body, want := range map[string]string{
		``:                                  "empty body",
		`{"live_heap_mib": 5`:               "invalid JSON",
		`{"live_heap_mib": -5}`:             "live_heap_mib: -5 is out of range",
		`{"garbage_kib": -1}`:               "garbage_kib: -1 is out of range",
		`{"cpu_us": -1}`:                    "cpu_us: -1 is out of range",
		`{"live_heap_mib": 9999999}`:        "live_heap_mib: 9999999 is out of range",
		`{"cpu_us": "fast"}`:                "cpu_us: got a JSON string, want a whole number",
		`{"garbage_kib": 1.5}`:              "garbage_kib: got a JSON number 1.5",
		`{"live": 5}`:                       `unknown field \"live\": want live_heap_mib`,
		`[1]`:                               "got a JSON array",
		`{}`:                                "no setting given",
		`{"cpu_us": 1} {"cpu_us": 2}`:       "data after the JSON object",
		`{"garbage_kib": 32, "cpu_us": -1}`: "cpu_us",
	} {
		code, got := do(t, "PUT", srv.URL+"/config", body)
		if code != 400 || !strings.Contains(got, want) {
			t.Errorf("PUT /config %s = %d %s, want 400 mentioning %q", body, code, got, want)
		}
	}
	if w := a.eng.Workload(); w != (Workload{LiveHeapMiB: 1, GarbageKiB: 16, CPUMicros: 10}) {
		t.Errorf("rejected PUTs changed the workload to %+v", w)
	}
}

// TestRunWithAgent runs demoapp as main does, with the MCP agent, and shuts it down.
func TestRunWithAgent(t *testing.T) {
	for _, env := range []string{"MCP_ENDPOINT", "MCP_PROFILING", "OTEL_EXPORTER_OTLP_ENDPOINT", "GOMEMLIMIT"} {
		t.Setenv(env, "")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	o := options{workload: Workload{LiveHeapMiB: 2, GarbageKiB: 16, CPUMicros: 10}, service: "demoapp-test", listener: ln}
	var logs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, o, newLogger(&logs)) }()

	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("demoapp did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 3 {
		if code, body := do(t, "GET", url+"/work", ""); code != 200 {
			t.Fatalf("GET /work = %d %s", code, body)
		}
	}
	_, metrics := do(t, "GET", url+"/metrics", "")
	for _, want := range []string{
		`mcp_agent_knob_info{knob="gogc"`,
		`mcp_agent_http_server_request_duration_seconds_count{code="200",method="GET"} 3`, // /work only
		"go_gc_gogc_percent",
		"demoapp_work_requests_total 3",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics with the agent lacks %q", want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
	if !strings.Contains(logs.String(), `"msg":"agent started"`) {
		t.Errorf("the agent's own logs should go to demoapp's logger; got %s", logs.String())
	}
}

func TestParseOptions(t *testing.T) {
	env := func(kv map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
	}
	// Defaults.
	o, err := parseOptions(nil, env(nil), io.Discard)
	if err != nil || o.addr != ":8081" || o.workload != DefaultWorkload() || o.noAgent || o.service != "demoapp" {
		t.Errorf("defaults: %+v, %v", o, err)
	}
	// The environment fills what the command line leaves out; the command line wins.
	o, err = parseOptions([]string{"--garbage-kib=128", "--addr", ":9000"}, env(map[string]string{
		"DEMOAPP_ADDR": ":7000", "DEMOAPP_GARBAGE_KIB": "8", "DEMOAPP_LIVE_HEAP_MIB": "300",
		"DEMOAPP_NO_AGENT": "1", "DEMOAPP_PHASES": "10s:live=5", "DEMOAPP_PHASES_REPEAT": "true",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.addr != ":9000" || o.workload.GarbageKiB != 128 || o.workload.LiveHeapMiB != 300 || !o.noAgent || len(o.phases) != 1 || !o.phasesRepeat {
		t.Errorf("flags over env: %+v", o)
	}
	// Service name: the flag, else the OpenTelemetry environment (left to the agent),
	// else demoapp.
	o, _ = parseOptions([]string{"--service=checkout"}, env(map[string]string{"OTEL_SERVICE_NAME": "otel-name"}), io.Discard)
	if o.service != "checkout" {
		t.Errorf("--service with OTEL_SERVICE_NAME set: service %q, want checkout", o.service)
	}
	for _, kv := range []map[string]string{{"OTEL_SERVICE_NAME": "otel-name"}, {"OTEL_RESOURCE_ATTRIBUTES": "team=a,service.name=cart"}} {
		if o, _ = parseOptions(nil, env(kv), io.Discard); o.service != "" {
			t.Errorf("%v: service %q, want it left to the agent", kv, o.service)
		}
	}

	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, map[string]string{"DEMOAPP_LIVE_HEAP_MIB": "lots"}, `DEMOAPP_LIVE_HEAP_MIB="lots"`},
		{nil, map[string]string{"DEMOAPP_NO_AGENT": "maybe"}, "DEMOAPP_NO_AGENT"},
		{[]string{"--cpu-us=-3"}, nil, "cpu_us: -3 is out of range"},
		{[]string{"--phases=10s:live=x"}, nil, `--phases: phase 1 ("10s:live=x")`},
		{nil, map[string]string{"DEMOAPP_PHASES": "oops"}, "--phases: phase 1"},
		{[]string{"extra"}, nil, `unexpected argument "extra"`},
	} {
		if _, err := parseOptions(tc.args, env(tc.env), io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseOptions(%v, %v) = %v, want an error containing %q", tc.args, tc.env, err, tc.want)
		}
	}
}
