package webui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/internal/e2e"
	"github.com/mcplane/mcp/internal/loadgen"
	"github.com/mcplane/mcp/internal/procs"
)

// TestStatusPageInBrowser runs mcp serve (with its embedded collector) and demoapp with the
// agent as real processes, opens the status page in headless Chromium and checks what a
// person would see: first the empty state, then — without a reload — the instance, a
// decision made through the API with its reason and outcome, the knob it set with its
// source, and charts drawn from the instance's signals, with no error in the console.
//
// A screenshot of the page is kept in the test's temporary directory and, when
// MCP_WEBUI_SCREENSHOT names a file, written there too.
func TestStatusPageInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs binaries and a browser")
	}
	chromium := chromiumPath(t)
	mcp := e2e.MustBuild(t, "./cmd/mcp")
	demo := e2e.MustBuild(t, "./cmd/demoapp")
	ctx := context.Background()
	const token = "webui-token"

	httpAddr, agentAddr, demoAddr := e2e.FreePort(t), e2e.FreePort(t), e2e.FreePort(t)
	otlpGRPC, otlpHTTP, profileAddr := e2e.FreePort(t), e2e.FreePort(t), e2e.FreePort(t)
	server := "http://" + httpAddr
	serve := exec.Command(mcp, "serve", "--http-addr", httpAddr, "--agent-addr", agentAddr,
		"--data-dir", filepath.Join(t.TempDir(), "data"), "--token", token, "--heartbeat-interval", "1s",
		"--tuner-interval", "5s")
	serve.Env = append(serve.Environ(), "MCP_OTLP_GRPC_ADDR="+otlpGRPC, "MCP_OTLP_HTTP_ADDR="+otlpHTTP, "MCP_PROFILE_ADDR="+profileAddr)
	serveProc := e2e.Start(t, "mcp serve", serve)
	if err := procs.WaitHTTP(ctx, serveProc, server+"/readyz", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	// A policy in recommend mode, so the Policies section has something to show; it
	// changes no knob.
	send(t, http.MethodPut, server+"/api/v1/policies/demo", token, `apiVersion: mcp.mcplane.dev/v1alpha1
kind: TuningPolicy
metadata: {name: demo}
spec:
  target: {services: [demoapp]}
  mode: recommend
  knobs:
    gogc: {min: 50, max: 800}
`, http.StatusCreated)

	page := newPage(t, chromium)
	if err := chromedp.Do(page.ctx, chromedp.EmulateViewport(1440, 1000), chromedp.Navigate(server+"/")); err != nil {
		t.Fatalf("open the status page: %v", err)
	}

	// Before any agent connects: the empty state says how to connect one.
	v := page.waitFor(t, "the empty state of the instances table", 10*time.Second, "", func(v pageView) bool {
		return v.InstanceRows == 0 && strings.Contains(v.InstancesEmpty, "No instances registered yet") &&
			strings.Contains(v.InstancesEmpty, "MCP_ENDPOINT=")
	})
	t.Logf("empty state: %q", v.InstancesEmpty)

	app := exec.Command(demo, "--addr", demoAddr, "--live-heap-mib", "16", "--garbage-kib", "128")
	app.Env = append(app.Environ(), "MCP_ENDPOINT="+agentAddr, "MCP_TOKEN="+token,
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://"+otlpGRPC, "OTEL_EXPORTER_OTLP_PROTOCOL=grpc", "OTEL_METRIC_EXPORT_INTERVAL=1000",
		// With the OTLP endpoint given the standard way, its headers are too.
		"OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20"+token)
	appProc := e2e.Start(t, "demoapp", app)
	if err := procs.WaitHTTP(ctx, appProc, "http://"+demoAddr+"/healthz", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	// Load for the request rate and latency charts: bounded in rate and time, and stopped
	// when the test ends.
	loadCtx, stopLoad := context.WithCancel(ctx)
	var loadDone sync.WaitGroup
	t.Cleanup(func() { stopLoad(); loadDone.Wait() })
	loadDone.Go(func() {
		cfg := loadgen.DefaultConfig()
		cfg.URL, cfg.Rate, cfg.Duration, cfg.MaxInFlight = "http://"+demoAddr+"/work", 50, 3*time.Minute, 50
		_, _ = loadgen.Run(loadCtx, cfg, nil)
	})

	var instances apiv1.InstanceList
	for deadline := time.Now().Add(15 * time.Second); len(instances.Instances) != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("demoapp did not register within 15s: %+v", instances)
		}
		time.Sleep(100 * time.Millisecond)
		getJSON(t, server+"/api/v1/instances", &instances)
	}
	id := instances.Instances[0].ID

	// The page learns of the instance by itself (from the watch stream), with no reload,
	// and draws its charts once its telemetry arrives: GOGC is Go's default then.
	page.waitFor(t, "the instance row (demoapp, healthy) and its GOGC chart at 100", 30*time.Second, id, func(v pageView) bool {
		return v.InstanceRows == 1 && v.Instance.Service == "demoapp" && v.Instance.Health == "healthy" &&
			v.Instance.GOGC == "100" && v.Instance.GOGCSource == "go-default" && v.Healthy == "1 healthy" &&
			v.ChartsFor == id && v.Charts["gogc"].Now == "100" && len(v.Charts["gogc"].Points) == 1 && v.Charts["gogc"].Points[0] >= 3
	})

	const reason = "GOGC 100→150 by hand: GC CPU 9% at 16 MiB live heap, memory headroom ample"
	var d apiv1.Decision
	body := send(t, http.MethodPost, server+"/api/v1/decisions", token,
		`{"service":"demoapp","knobs":{"gogc":150},"reason":"`+reason+`"}`, http.StatusCreated)
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}

	v = page.waitFor(t, "GOGC 150 from the control plane, and the decision with its reason and outcome", 20*time.Second, id+" "+d.ID, func(v pageView) bool {
		return v.Instance.GOGC == "150" && v.Instance.GOGCSource == "control-plane" &&
			v.Decision.Reason == reason && v.Decision.Outcome == "applied" && v.Decision.Acks == "1/1 applied" &&
			v.Decision.Knobs == "GOGC 100 → 150" &&
			strings.Contains(v.ServiceKnobs, "150")
	})
	t.Logf("instance row %+v; decision row %+v", v.Instance, v.Decision)

	// Charts: each has a drawn line (a path with length) from at least two samples, and the
	// GOGC chart shows the new value.
	wantCharts := []string{"gc-cpu", "heap", "gogc", "latency", "rps"}
	v = page.waitFor(t, "the instance's charts with drawn lines", 60*time.Second, id+" "+d.ID, func(v pageView) bool {
		if v.ChartsFor != id || v.Charts["gogc"].Now != "150" {
			return false
		}
		for _, c := range wantCharts {
			if ch := v.Charts[c]; !ch.Visible || ch.Width < 100 || len(ch.Points) == 0 || ch.Points[0] < 2 || ch.Length[0] <= 0 {
				return false
			}
		}
		return true
	})
	for _, c := range wantCharts {
		t.Logf("chart %s: now %q, points %v", c, v.Charts[c].Now, v.Charts[c].Points)
	}
	if v.Version == "" || v.Version == "…" {
		t.Errorf("header shows no version: %q", v.Version)
	}
	// The tuner evaluates the policy every 5 s once it has 3 samples.
	v = page.waitFor(t, "the policy with its workload", 30*time.Second, id+" "+d.ID, func(v pageView) bool {
		return strings.Contains(v.Policies, "demo") && strings.Contains(v.Policies, "recommend") && strings.Contains(v.Policies, "demoapp")
	})
	t.Logf("policies: %q", v.Policies)
	if v.Problem != "" {
		t.Errorf("the page shows a problem: %q", v.Problem)
	}
	page.screenshot(t)

	for _, m := range page.console() {
		if m.Type == chromedp.ConsoleWarning {
			t.Logf("console warning: %s (%s)", m.Text, m.URL)
		}
		if m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleError {
			// The signals of an instance are a 404 until its first OTLP export arrives; the
			// page shows the API's message, and the browser logs the status as it does for
			// every failed fetch. Anything else is a fault of the page.
			if m.Source == "network" && strings.Contains(m.URL, "/signals") && strings.Contains(m.Text, "404") {
				continue
			}
			t.Errorf("console %s: %s (%s)", m.Type, m.Text, m.URL)
		}
	}
}

// pageView is what the page shows, as a person reads it: the visible text of the parts
// the test checks (innerText, so hidden elements read as empty).
type pageView struct {
	InstanceRows   int    `json:"instanceRows"`
	InstancesEmpty string `json:"instancesEmpty"`
	Healthy        string `json:"healthy"`
	Version        string `json:"version"`
	Problem        string `json:"problem"`
	ServiceKnobs   string `json:"serviceKnobs"`
	Policies       string `json:"policies"`
	Instance       struct {
		Service    string `json:"service"`
		Health     string `json:"health"`
		GOGC       string `json:"gogc"`
		GOGCSource string `json:"gogcSource"`
	} `json:"instance"`
	Decision struct {
		Reason  string `json:"reason"`
		Outcome string `json:"outcome"`
		Acks    string `json:"acks"`
		Knobs   string `json:"knobs"`
	} `json:"decision"`
	ChartsFor string               `json:"chartsFor"`
	Charts    map[string]chartView `json:"charts"`
}

// chartView is one chart: per drawn series, its number of samples and its drawn length.
type chartView struct {
	Visible bool      `json:"visible"`
	Width   float64   `json:"width"`
	Now     string    `json:"now"`
	Points  []int     `json:"points"`
	Length  []float64 `json:"length"`
}

// viewScript reads a pageView; %s are the JSON-quoted instance and decision ids.
const viewScript = `(() => {
  const instanceID = %s, decisionID = %s;
  const shown = (el) => !!el && el.checkVisibility({visibilityProperty: true, opacityProperty: true});
  const text = (el) => shown(el) ? el.innerText.trim().replace(/\s+/g, ' ') : '';
  const one = (sel, root = document) => root.querySelector(sel);
  const row = one('[data-testid="instance-row"][data-instance-id="' + CSS.escape(instanceID) + '"]');
  const drow = one('[data-testid="decision-row"][data-decision-id="' + CSS.escape(decisionID) + '"]');
  const charts = {};
  for (const fig of document.querySelectorAll('figure[data-testid^="chart-"]')) {
    const paths = [...fig.querySelectorAll('svg path[data-series]')];
    charts[fig.dataset.testid.slice(6)] = {
      visible: shown(fig),
      width: (one('svg', fig) || fig).getBoundingClientRect().width,
      now: text(one('.now', fig)),
      points: paths.map((p) => Number(p.dataset.points)),
      length: paths.map((p) => p.getTotalLength()),
    };
  }
  return {
    instanceRows: document.querySelectorAll('[data-testid="instance-row"]').length,
    instancesEmpty: text(one('[data-testid="instances-empty"]')),
    healthy: text(one('[data-testid="count-healthy"]')),
    version: text(one('[data-testid="version"]')),
    problem: text(one('[data-testid="problem"]')),
    serviceKnobs: text(one('[data-testid="service-row"][data-service="demoapp"] [data-testid="service-knobs"]')),
    policies: text(one('[data-testid="policies-body"]')),
    instance: row ? {
      service: text(one('[data-testid="instance-service"]', row)),
      health: text(one('[data-testid="instance-health"] .badge', row)),
      gogc: text(one('[data-testid="knob-gogc"] .knob-value', row)),
      gogcSource: text(one('[data-testid="source-gogc"]', row)),
    } : {},
    decision: drow ? {
      reason: text(one('[data-testid="decision-reason"]', drow)),
      outcome: text(one('[data-testid="decision-outcome"] .badge', drow)),
      acks: text(one('[data-testid="decision-acks"]', drow)),
      knobs: text(one('[data-testid="decision-knobs"]', drow)),
    } : {},
    chartsFor: (one('[data-testid="charts"]') || {}).dataset?.instanceId || '',
    charts,
  };
})()`

// page is a browser tab with the console messages it logged.
type page struct {
	ctx context.Context

	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

func newPage(t *testing.T, chromium string) *page {
	// These flags are what headless Chromium needs in a container with no network:
	// without the background-networking ones it stalls on requests that cannot succeed.
	// chromedp gives it a fresh --user-data-dir and removes it afterwards.
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1440, 1000))
	ctx, cancelTab := chromedp.NewContext(actx)
	// Bounds every browser step, so a hung browser fails the test instead of stalling it.
	ctx, cancelTimeout := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	p := &page{ctx: ctx}
	msgs := chromedp.Console(ctx) // subscribes now, so nothing the page logs is missed
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.msgs = append(p.msgs, m)
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *page) console() []chromedp.ConsoleMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), p.msgs...)
}

// view reads what the page shows about an instance and a decision (ids: "INSTANCE
// DECISION", either may be missing).
func (p *page) view(ids string) (pageView, error) {
	instance, decision, _ := strings.Cut(ids, " ")
	qi, _ := json.Marshal(instance)
	qd, _ := json.Marshal(decision)
	return chromedp.Run(p.ctx, chromedp.Evaluate[pageView](fmt.Sprintf(viewScript, qi, qd)))
}

// waitFor polls the page until cond holds, as a person watching it would; on timeout it
// fails with what the page showed last and keeps a screenshot.
func (p *page) waitFor(t *testing.T, what string, within time.Duration, ids string, cond func(pageView) bool) pageView {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v, err := p.view(ids)
		if err == nil && cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			p.screenshot(t)
			shown, _ := json.MarshalIndent(v, "", "  ")
			t.Fatalf("the page did not show %s within %v (error %v); it showed:\n%s", what, within, err, shown)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// screenshot keeps a PNG of the whole page in the test's temporary directory, and at
// $MCP_WEBUI_SCREENSHOT when that is set.
func (p *page) screenshot(t *testing.T) {
	t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	paths := []string{filepath.Join(t.TempDir(), "status-page.png")}
	if extra := os.Getenv("MCP_WEBUI_SCREENSHOT"); extra != "" {
		paths = append(paths, extra)
	}
	for _, path := range paths {
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Errorf("save screenshot: %v", err)
			continue
		}
		t.Logf("screenshot: %s", path)
	}
}

// chromiumPath finds the browser: $MCP_CHROMIUM, else chromium on the PATH. The test is
// skipped without one.
func chromiumPath(t *testing.T) string {
	if p := os.Getenv("MCP_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium is not installed: apt-get install chromium (make test installs it through hack/deps.sh), or set MCP_CHROMIUM to a Chrome or Chromium binary")
	return ""
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	body, err := procs.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// send makes a write request with the bearer token and checks its status.
func send(t *testing.T, method, url, token, body string, want int) []byte {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %s, want %d: %s", method, url, resp.Status, want, buf.String())
	}
	return buf.Bytes()
}
