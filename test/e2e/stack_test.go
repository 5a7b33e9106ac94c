package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcplane/mcp/internal/cgroupctl"
	"github.com/mcplane/mcp/internal/e2e"
	"github.com/mcplane/mcp/internal/procs"
)

// lookPath finds the first of names on PATH, or skips the test saying how to install it.
func lookPath(t *testing.T, pkg string, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	t.Skipf("needs %s (none of %s on PATH): apt-get install %s, or make deps", pkg, strings.Join(names, ", "), pkg)
	return ""
}

// stack is the processes of one test, stopped gracefully in reverse order by stop.
type stack struct {
	t      *testing.T
	procs  []*procs.Proc
	groups map[*procs.Proc]*cgroupctl.Group
}

// start starts cmd, inside g when g is not nil; it is killed at the end of the test if stop
// did not stop it, and its output is logged if the test failed.
func (s *stack) start(name string, cmd *exec.Cmd, g *cgroupctl.Group) *procs.Proc {
	s.t.Helper()
	if g == nil {
		p := e2e.Start(s.t, name, cmd)
		s.procs = append(s.procs, p)
		return p
	}
	p := procs.Prepare(name, cmd)
	if err := g.Start(cmd); err != nil {
		s.t.Fatalf("start %s in its cgroup: %v", name, err)
	}
	p.Watch()
	if s.groups == nil {
		s.groups = map[*procs.Proc]*cgroupctl.Group{}
	}
	s.groups[p] = g
	s.t.Cleanup(func() {
		p.Kill()
		if s.t.Failed() {
			s.t.Logf("--- output of %s ---\n%s", name, tail(p.Output(), 8000))
		}
	})
	s.procs = append(s.procs, p)
	return p
}

// stop sends every process SIGTERM, the last started first, and reports those that do not
// exit cleanly within timeout.
func (s *stack) stop(timeout time.Duration) {
	s.t.Helper()
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		if done, err := p.Exited(); done {
			s.t.Errorf("%s had exited before the end of the test: %v%s", p.Name, err, s.oomKills(p))
			continue
		}
		if err := p.Stop(timeout); err != nil {
			s.t.Errorf("%s did not shut down cleanly: %v", p.Name, err)
		}
	}
}

// checkAlive fails the test at once if a process has died.
func (s *stack) checkAlive() {
	s.t.Helper()
	for _, p := range s.procs {
		if done, err := p.Exited(); done {
			s.t.Fatalf("%s exited (%v%s):\n%s", p.Name, err, s.oomKills(p), tail(p.Output(), 4000))
		}
	}
}

// oomKills says how many OOM kills p's cgroup has seen, if it has one.
func (s *stack) oomKills(p *procs.Proc) string {
	g := s.groups[p]
	if g == nil {
		return ""
	}
	st, err := g.Stats()
	if err != nil {
		return ""
	}
	return fmt.Sprintf("; OOM kills in its cgroup: %d, peak memory %d MiB", st.OOMKills, st.MemoryPeakBytes>>20)
}

// notification is the body of an Alertmanager webhook (version 4).
type notification struct {
	Receiver string `json:"receiver"`
	Status   string `json:"status"`
	Alerts   []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"alerts"`
	GroupLabels  map[string]string `json:"groupLabels"`
	CommonLabels map[string]string `json:"commonLabels"`
	// Path is the URL path the notification was posted to (not part of the body).
	Path string `json:"-"`
}

// webhook records every notification Alertmanager posts.
type webhook struct {
	*httptest.Server
	mu  sync.Mutex
	got []notification
	bad []string
}

func newWebhook(t *testing.T) *webhook {
	w := &webhook{}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var n notification
		err := json.Unmarshal(b, &n)
		w.mu.Lock()
		if r.Method != http.MethodPost || err != nil {
			w.bad = append(w.bad, fmt.Sprintf("%s %s: %v: %.300s", r.Method, r.URL.Path, err, b))
		} else {
			n.Path = r.URL.Path
			w.got = append(w.got, n)
		}
		w.mu.Unlock()
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *webhook) notifications() ([]notification, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]notification(nil), w.got...), append([]string(nil), w.bad...)
}

// instance is one demoapp process.
type instance struct {
	name, service, job, addr string
	limits                   cgroupctl.Limits
	group                    *cgroupctl.Group // nil: no cgroup, limits stated to the agent
	proc                     *procs.Proc
}

func (i *instance) url(path string) string { return "http://" + i.addr + path }

// metric reads one unlabelled sample from the instance's /metrics.
func (i *instance) metric(name string) (float64, error) {
	body, err := procs.Get(i.url("/metrics"))
	if err != nil {
		return 0, err
	}
	v, ok := procs.MetricValue(body, name)
	if !ok {
		return 0, fmt.Errorf("%s: no %s in /metrics", i.name, name)
	}
	return strconv.ParseFloat(v, 64)
}

// demoConfig is the part of demoapp's GET/PUT /config answer the test reads.
type demoConfig struct {
	LiveHeapMiB           int   `json:"live_heap_mib"`
	LiveHeapEstimateBytes int64 `json:"live_heap_estimate_bytes"`
}

func (i *instance) config(ctx context.Context, patch string) (demoConfig, error) {
	method, body := http.MethodGet, io.Reader(nil)
	if patch != "" {
		method, body = http.MethodPut, strings.NewReader(patch)
	}
	req, err := http.NewRequestWithContext(ctx, method, i.url("/config"), body)
	if err != nil {
		return demoConfig{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return demoConfig{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return demoConfig{}, fmt.Errorf("%s /config: %s: %s", method, resp.Status, b)
	}
	var c demoConfig
	return c, json.Unmarshal(b, &c)
}

// newGroup creates a cgroup with limits, removed at the end of the test; nil (and the
// reason) when cgroups cannot be created here.
func newGroup(t *testing.T, name string, l cgroupctl.Limits) (*cgroupctl.Group, error) {
	g, err := cgroupctl.Create(name, l)
	if errors.Is(err, cgroupctl.ErrNotWritable) {
		return nil, err
	}
	if err != nil {
		t.Fatalf("create cgroup %s: %v", name, err)
	}
	// Registered before the process's cleanup, so it runs after it: the process is killed
	// and reaped first.
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Errorf("remove cgroup %s: %v", name, err)
		}
	})
	return g, nil
}

// otlpBody is an OTLP/HTTP JSON metrics export with one gauge point and the given resource
// attributes.
func otlpBody(attrs map[string]string) string {
	var kv []string
	for k, v := range attrs {
		kv = append(kv, fmt.Sprintf(`{"key":%q,"value":{"stringValue":%q}}`, k, v))
	}
	return fmt.Sprintf(`{"resourceMetrics":[{"resource":{"attributes":[%s]},"scopeMetrics":[{"metrics":[`+
		`{"name":"e2e.probe","gauge":{"dataPoints":[{"asDouble":1,"timeUnixNano":"%d"}]}}]}]}]}`,
		strings.Join(kv, ","), time.Now().UnixNano())
}

func post(url, contentType, body string) (int, string, error) {
	resp, err := http.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func writeFile(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
