package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/controlplane/cptest"
	"github.com/mcplane/mcp/controlplane/httpapi"
	"github.com/mcplane/mcp/controlplane/store"
)

type env struct {
	plane *cptest.Plane
	srv   *httptest.Server
	agent *cptest.FakeAgent
}

func setup(t *testing.T) *env {
	t.Helper()
	p := cptest.Start(t, cptest.Config())
	api := httpapi.New(httpapi.Options{Core: p.Core, Token: "tok"})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	a := &cptest.FakeAgent{Service: "demoapp", ID: "demo-1", GOGCValue: 100, Container: 256 << 20}
	p.Connect(t, a, "")
	cptest.Eventually(t, "agent registered", func() bool { _, ok := p.Core.Registry().Instance("demo-1"); return ok })
	return &env{plane: p, srv: srv, agent: a}
}

func (e *env) do(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		var e apiv1.Error
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("%s %s: error body %q is not the API's error JSON", method, path, b)
		}
		return resp.StatusCode, e.Error
	}
	return resp.StatusCode, string(b)
}

func TestCreateDecisionAndRead(t *testing.T) {
	e := setup(t)
	code, body := e.do(t, "POST", "/api/v1/decisions", "tok", `{"service":"demoapp","knobs":{"gogc":150},"reason":"test"}`)
	if code != http.StatusCreated {
		t.Fatalf("POST = %d %s", code, body)
	}
	var d apiv1.Decision
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	cptest.Eventually(t, "GOGC 150 on the agent", func() bool { return e.agent.GOGC() == 150 })
	cptest.Eventually(t, "decision settled", func() bool {
		_, b := e.do(t, "GET", "/api/v1/decisions/"+d.ID, "", "")
		var dd apiv1.DecisionDetail
		_ = json.Unmarshal([]byte(b), &dd)
		return dd.Outcome == apiv1.OutcomeApplied && len(dd.AckList) == 1 && len(dd.Audit) == 3
	})
	code, body = e.do(t, "GET", "/api/v1/decisions?service=demoapp", "", "")
	if code != 200 || !strings.Contains(body, d.ID) {
		t.Errorf("list = %d %s", code, body)
	}
	code, body = e.do(t, "GET", "/api/v1/knobs?service=demoapp", "", "")
	if code != 200 || !strings.Contains(body, `"gogc": 150`) {
		t.Errorf("knobs = %d %s", code, body)
	}
	code, body = e.do(t, "GET", "/api/v1/services", "", "")
	if code != 200 || !strings.Contains(body, `"name": "demoapp"`) || !strings.Contains(body, d.ID) {
		t.Errorf("services = %d %s", code, body)
	}
}

func TestBadInputIsRefusedAndNothingApplied(t *testing.T) {
	e := setup(t)
	tests := []struct {
		name, token, body string
		code              int
		want              string
	}{
		{"no token", "", `{"service":"demoapp","knobs":{"gogc":150}}`, 401, `needs "Authorization: Bearer <token>"`},
		{"wrong token", "nope", `{"service":"demoapp","knobs":{"gogc":150}}`, 401, "wrong bearer token"},
		{"not json", "tok", `{"service":`, 400, "not valid JSON"},
		{"empty body", "tok", ``, 400, "request body is empty"},
		{"unknown field", "tok", `{"service":"demoapp","knobs":{"gogc":150},"colour":"red"}`, 400, `unknown field "colour"`},
		{"wrong type", "tok", `{"service":"demoapp","knobs":{"gogc":"lots"}}`, 400, "knobs.gogc: want a JSON int"},
		{"gogc -5", "tok", `{"service":"demoapp","knobs":{"gogc":-5}}`, 400, "knobs.gogc: -5 is outside [25, 2000]"},
		{"memlimit above container", "tok", `{"service":"demoapp","knobs":{"memory_limit_bytes":1073741824}}`, 400, "above 0.98 × the container memory limit (256MiB)"},
		{"ratio above bound", "tok", `{"service":"demoapp","knobs":{"memory_limit_ratio":1.5}}`, 400, "knobs.memory_limit_ratio: 1.5 is outside (0, 0.98]"},
		{"unknown service", "tok", `{"service":"ghost","knobs":{"gogc":150}}`, 404, `service "ghost" is not known`},
		{"no knobs", "tok", `{"service":"demoapp","knobs":{}}`, 400, "set at least one of"},
		{"two values", "tok", `{"service":"demoapp","knobs":{"gogc":150}}{}`, 400, "more than one JSON value"},
		{"huge body", "tok", `{"service":"` + strings.Repeat("a", 2<<20) + `"}`, 413, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := e.do(t, "POST", "/api/v1/decisions", tt.token, tt.body)
			if code != tt.code || !strings.Contains(body, tt.want) {
				t.Errorf("got %d %s, want %d containing %q", code, body, tt.code, tt.want)
			}
		})
	}
	if ds, _ := e.plane.Store.ListDecisions(context.Background(), store.DecisionFilter{}); len(ds) != 0 {
		t.Errorf("refused requests stored decisions: %v", ds)
	}
	if e.agent.GOGC() != 100 || len(e.agent.Applied()) != 0 {
		t.Errorf("refused requests reached the agent: GOGC %d, %v", e.agent.GOGC(), e.agent.Applied())
	}
	for path, want := range map[string]string{
		"/api/v1/decisions?limit=0":         "limit:",
		"/api/v1/instances?index=x":         "index:",
		"/api/v1/instances?index=1&wait=1h": "wait:",
		"/api/v1/knobs":                     "service: required",
		"/api/v1/decisions/nope":            `decision "nope" does not exist`,
		"/api/v1/instances/nope":            `instance "nope" is not registered`,
		"/api/v1/nothing":                   "no API route",
	} {
		code, body := e.do(t, "GET", path, "", "")
		if want != "" && (code < 400 || !strings.Contains(body, want)) {
			t.Errorf("GET %s = %d %s, want an error containing %q", path, code, body, want)
		}
	}
}

func TestInstancesLongPollAndWatch(t *testing.T) {
	e := setup(t)
	code, body := e.do(t, "GET", "/api/v1/instances?service=demoapp", "", "")
	var list apiv1.InstanceList
	if err := json.Unmarshal([]byte(body), &list); err != nil || code != 200 || len(list.Instances) != 1 {
		t.Fatalf("instances = %d %s", code, body)
	}
	inst := list.Instances[0]
	if inst.Health != apiv1.HealthHealthy || inst.Limits.MemoryBytes != 256<<20 || inst.Knobs.GOGC != 100 {
		t.Errorf("instance = %+v", inst)
	}

	// A long poll returns when the registry changes.
	done := make(chan apiv1.InstanceList, 1)
	go func() {
		_, b := e.do(t, "GET", "/api/v1/instances?index="+itoa(list.Index)+"&wait=20s", "", "")
		var l apiv1.InstanceList
		_ = json.Unmarshal([]byte(b), &l)
		done <- l
	}()
	// And a watcher sees the change as a server-sent event.
	resp, err := http.Get(e.srv.URL + "/api/v1/watch?service=demoapp")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- d
			}
		}
	}()
	<-events // the current list
	time.Sleep(100 * time.Millisecond)
	late := &cptest.FakeAgent{Service: "demoapp", ID: "demo-2", GOGCValue: 100}
	e.plane.Connect(t, late, "")
	select {
	case l := <-done:
		if l.Index <= list.Index || len(l.Instances) != 2 {
			t.Errorf("long poll answered %+v", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long poll did not return on a change")
	}
	select {
	case d := <-events:
		if !strings.Contains(d, "demo-2") {
			t.Errorf("watch event = %s", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch sent no event on a change")
	}
}

func itoa(u uint64) string { b, _ := json.Marshal(u); return string(b) }

func TestProbes(t *testing.T) {
	e := setup(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _ := e.do(t, "GET", p, "", ""); code != 200 {
			t.Errorf("%s = %d", p, code)
		}
	}
}

func TestPprofNeedsFlagAndToken(t *testing.T) {
	e := setup(t)
	// Off by default: the path is not served at all.
	req, _ := http.NewRequest("GET", e.srv.URL+"/debug/pprof/", nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("pprof off: GET /debug/pprof/ = %d, want 404", resp.StatusCode)
	}

	api := httpapi.New(httpapi.Options{Core: e.plane.Core, Token: "tok", Pprof: true})
	srv := httptest.NewServer(api)
	defer srv.Close()
	on := &env{plane: e.plane, srv: srv}
	if code, msg := on.do(t, "GET", "/debug/pprof/heap", "", ""); code != http.StatusUnauthorized || !strings.Contains(msg, "reads profiles") {
		t.Errorf("pprof without token = %d %q, want 401 naming profiles", code, msg)
	}
	if code, _ := on.do(t, "GET", "/debug/pprof/goroutine?debug=1", "nope", ""); code != http.StatusUnauthorized {
		t.Errorf("pprof with a wrong token = %d, want 401", code)
	}
	code, body := on.do(t, "GET", "/debug/pprof/goroutine?debug=1", "tok", "")
	if code != http.StatusOK || !strings.Contains(body, "goroutine profile:") {
		t.Errorf("pprof goroutine profile = %d %.80q", code, body)
	}
}
