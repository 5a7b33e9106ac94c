package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/controlplane/cptest"
	"github.com/mcplane/mcp/controlplane/httpapi"
)

// FuzzCreateDecision posts arbitrary bodies to POST /api/v1/decisions: the answer is
// always a 201 or a 4xx with the API's error body, never a 5xx or a panic.
func FuzzCreateDecision(f *testing.F) {
	for _, s := range []string{
		`{"service":"demoapp","knobs":{"gogc":150}}`,
		`{"service":"demoapp","knobs":{"memory_limit_ratio":1e308}}`,
		`{"service":"","knobs":{"gogc":-1,"reset":true}}`,
		`{"service":"demoapp","knobs":{"gomaxprocs":2147483647}}`,
		`{"service":"demoapp","instance":"demo-1","knobs":{"memory_limit_bytes":9223372036854775807}}`,
		`[]`, `null`, `{"knobs":null}`, `{"service":"demoapp","mode":"observe","knobs":{"hpa_target_utilization":50}}`,
	} {
		f.Add(s)
	}
	p := cptest.Start(f, cptest.Config())
	p.Connect(f, &cptest.FakeAgent{Service: "demoapp", ID: "demo-1", GOGCValue: 100, Container: 256 << 20}, "")
	cptest.Eventually(f, "agent registered", func() bool { _, ok := p.Core.Registry().Instance("demo-1"); return ok })
	api := httpapi.New(httpapi.Options{Core: p.Core})
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/decisions", strings.NewReader(body)))
		switch {
		case rec.Code == http.StatusCreated:
		case rec.Code >= 400 && rec.Code < 500:
			var e apiv1.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("%d without an error body: %q", rec.Code, rec.Body.String())
			}
		default:
			t.Fatalf("body %q: status %d %s", body, rec.Code, rec.Body.String())
		}
	})
}
