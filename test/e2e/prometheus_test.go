package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcplane/mcp/alerts"
	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/dashboards"
	"github.com/mcplane/mcp/internal/cgroupctl"
	"github.com/mcplane/mcp/internal/e2e"
	"github.com/mcplane/mcp/internal/loadgen"
	"github.com/mcplane/mcp/internal/procs"
)

// noDataHere lists the dashboard queries (file/panel/refId) that cannot return data in this
// test, each with the reason. Every other query must. An entry whose query returns data
// fails the test, so the list only shrinks.
var noDataHere = map[string]string{
	"tuner-decisions.json/HPA target utilization/A": "mcp_tuner_knob_value{knob=\"hpa_target\"} comes from the " +
		"HPA advisor, which runs only in a cluster (mcp serve --kube, a TuningPolicy with spec.target.hpaName and " +
		"an HPA to read); there is no Kubernetes here",
	"control-plane.json/Profile uploads rejected/A": "mcp_pyroscope_rejected_requests is the pyroscope " +
		"receiver's counter in the collector's own telemetry: a standalone mcp collector exports it on :8888 " +
		"(deploy/collector/collector.yaml), but mcp serve runs its embedded collector with its own metrics " +
		"off, so it is on no /metrics here (the test sends a rejected upload to prove it)",
}

// cgroupStats are the metrics the agent reads from its cgroup's statistics; without a real
// cgroup (see doc.go) queries on them may return nothing.
var cgroupStats = []string{
	"mcp_agent_container_cpu_usage_seconds_total", "mcp_agent_container_cpu_throttled_seconds_total",
	"mcp_agent_container_cpu_throttled_periods_total", "mcp_agent_container_cpu_periods_total",
	"mcp_agent_container_memory_usage_bytes", "mcp_agent_container_oom_kills_total",
}

// policies tunes demoapp in observe mode (decisions recorded, nothing changed) and checkout
// in apply mode (decisions pushed to its agent). Both ask for 20% memory headroom, so the
// tuner proposes GOMEMLIMIT at 80% of the limit instead of the agent's default 90%: a
// decision for each within seconds of their first signals.
const policies = `apiVersion: mcp.mcplane.dev/v1alpha1
kind: TuningPolicy
metadata:
  name: demoapp-observe
spec:
  target:
    services: [demoapp]
  mode: observe
  objectives:
    memoryHeadroomPercent: 20
  knobs:
    gogc: {min: 50, max: 800}
    gomemlimit: {min: 70, max: 90}
---
apiVersion: mcp.mcplane.dev/v1alpha1
kind: TuningPolicy
metadata:
  name: checkout-apply
spec:
  target:
    services: [checkout]
  mode: apply
  objectives:
    memoryHeadroomPercent: 20
  knobs:
    gomemlimit: {min: 70, max: 90}
`

const (
	nearLimitAlert = "MCPGoLiveHeapNearMemoryLimit"
	// nearLimitFrom is where the scenario first sets the live heap, as a share of the memory
	// limit: above the warning (0.80) and at the agent's guard (0.85), below the critical
	// alert (0.90). It then grows it in steps until the guard engages.
	nearLimitFrom  = 0.85
	scrapeInterval = 2 * time.Second
)

// TestDashboardsAndAlerts runs mcp serve, three demoapp instances with the agent (in cgroups,
// under load), a real Prometheus scraping them all with MCP's rules loaded (alerts' for:
// divided by forScale), and a real Alertmanager with MCP's routing whose webhooks point at
// the test. Then:
//
//   - every query of every dashboard returns data, except the reasoned noDataHere list, and
//     every dashboard variable finds values;
//   - every alerting and recording rule evaluates without error;
//   - demoapp-0's live heap is pushed (PUT /config) past 85% of its memory limit, where the
//     agent's emergency guard engages, which fires MCPGoLiveHeapNearMemoryLimit (warning,
//     above 80%) in Prometheus and reaches the webhook of the receiver alertmanager.yml
//     routes it to, with the alert's name, severity, job and instance;
//   - demoapp (observe mode) has tuner decisions recorded and no knob pushed; checkout (apply
//     mode) has its decision applied by its agent;
//   - every process shuts down cleanly.
func TestDashboardsAndAlerts(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs mcp, demoapp, Prometheus and Alertmanager")
	}
	promBin := lookPath(t, "prometheus", "prometheus")
	amBin := lookPath(t, "prometheus-alertmanager", "alertmanager", "prometheus-alertmanager")
	amtool := lookPath(t, "prometheus-alertmanager", "amtool")
	mcpBin := e2e.MustBuild(t, "./cmd/mcp")
	demoBin := e2e.MustBuild(t, "./cmd/demoapp")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	st := &stack{t: t}
	begin := time.Now()

	// The processes and their addresses. demoapp: two instances of the observed service (one
	// of them profiled, one pushed to its memory limit later) and one of the applied one,
	// each in its own cgroup like a container. The one pushed to its limit gets 512 MiB: its
	// memory is about 12% above its live heap, so at 86% live it holds some 96% of the limit,
	// and at 256 MiB that margin was too thin for the OOM killer; and two cores, so that once
	// GC-bound (GC takes up to half of GOMAXPROCS) it still answers scrapes in time.
	httpAddr, agentAddr := e2e.FreePort(t), e2e.FreePort(t)
	otlpGRPC, otlpHTTP, profileAddr := e2e.FreePort(t), e2e.FreePort(t), e2e.FreePort(t)
	promAddr, amAddr := e2e.FreePort(t), e2e.FreePort(t)
	insts := []*instance{
		{name: "demoapp-0", service: "demoapp", job: "demoapp", limits: cgroupctl.Limits{MemoryBytes: 512 << 20, CPUCores: 2}},
		{name: "demoapp-1", service: "demoapp", job: "demoapp", limits: cgroupctl.Limits{MemoryBytes: 512 << 20, CPUCores: 1}},
		{name: "checkout-0", service: "checkout", job: "checkout", limits: cgroupctl.Limits{MemoryBytes: 256 << 20, CPUCores: 0.5}},
	}
	nearLimit, profiled := insts[0], insts[1]
	jobs := []scrapeJob{{name: "mcp", targets: []string{httpAddr}}}
	for _, in := range insts {
		in.addr = e2e.FreePort(t)
		if i := slices.IndexFunc(jobs, func(j scrapeJob) bool { return j.name == in.job }); i >= 0 {
			jobs[i].targets = append(jobs[i].targets, in.addr)
		} else {
			jobs = append(jobs, scrapeJob{name: in.job, targets: []string{in.addr}})
		}
	}

	// Alertmanager: MCP's routing, webhooks to the test, one-second waits.
	hook := newWebhook(t)
	amCfg, hooked, err := alertmanagerConfigFor(alerts.AlertmanagerConfig(), hook.URL, time.Second)
	if err != nil {
		t.Fatalf("rewrite alertmanager.yml: %v", err)
	}
	amFile := writeFile(t, filepath.Join(dir, "alertmanager.yml"), amCfg)
	origAM := writeFile(t, filepath.Join(dir, "alertmanager-as-shipped.yml"), alerts.AlertmanagerConfig())
	amProc := st.start("alertmanager", exec.Command(amBin, "--config.file="+amFile, "--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address="+amAddr, "--cluster.listen-address="), nil)

	// Prometheus, up before what it scrapes (as in production: a counter that moved before
	// the first scrape never shows a rate), with the rules loaded and for: scaled down.
	ruleDir := filepath.Join(dir, "rules")
	if err := os.Mkdir(ruleDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ruleFiles, err := writeScaledRules(ruleDir)
	if err != nil {
		t.Fatal(err)
	}
	promCfg, err := prometheusConfig(scrapeInterval, time.Second, ruleFiles, amAddr, jobs)
	if err != nil {
		t.Fatal(err)
	}
	promProc := st.start("prometheus", exec.Command(promBin, "--config.file="+writeFile(t, filepath.Join(dir, "prometheus.yml"), promCfg),
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address="+promAddr), nil)
	for p, url := range map[*procs.Proc]string{promProc: "http://" + promAddr + "/-/ready", amProc: "http://" + amAddr + "/-/ready"} {
		if err := procs.WaitHTTP(ctx, p, url, 60*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	prom := promAPI{base: "http://" + promAddr}
	promStart := time.Now()

	// mcp serve with the policies, a fast tuner and one-second heartbeats.
	serve := exec.Command(mcpBin, "serve", "--http-addr", httpAddr, "--agent-addr", agentAddr, "--data-dir", filepath.Join(dir, "mcp"),
		"--policy-file", writeFile(t, filepath.Join(dir, "policies.yaml"), []byte(policies)),
		"--tuner-interval", "2s", "--heartbeat-interval", "1s")
	serve.Env = append(os.Environ(), "MCP_OTLP_GRPC_ADDR="+otlpGRPC, "MCP_OTLP_HTTP_ADDR="+otlpHTTP, "MCP_PROFILE_ADDR="+profileAddr)
	serveProc := st.start("mcp serve", serve, nil)
	if err := procs.WaitHTTP(ctx, serveProc, "http://"+httpAddr+"/readyz", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); value1(ctx, prom, `up{job="mcp"}`) != 1; time.Sleep(200 * time.Millisecond) {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("Prometheus has not scraped mcp serve at %s within 30s", httpAddr)
		}
	}

	// The demoapp instances with the agent. MCP_E2E_NO_CGROUPS=1 tries the fallback for
	// machines without cgroups where they would work.
	var noCgroups error
	if os.Getenv("MCP_E2E_NO_CGROUPS") == "1" {
		noCgroups = errors.New("MCP_E2E_NO_CGROUPS=1")
		t.Logf("no cgroups (%v): the limits are stated to the agents and panels on cgroup statistics are exempt", noCgroups)
	}
	for _, in := range insts {
		// The instance pushed to its limit starts at 70% of it: the rest of its growth is a
		// quick resize in the scenario.
		mib := int64(32)
		if in == nearLimit {
			mib = int64(0.70*float64(in.limits.MemoryBytes)) >> 20
		}
		cmd := exec.Command(demoBin, "--addr", in.addr, "--service", in.service, "--live-heap-mib", fmt.Sprint(mib))
		cmd.Env = append(os.Environ(), "MCP_ENDPOINT="+agentAddr,
			"OTEL_EXPORTER_OTLP_ENDPOINT=http://"+otlpGRPC, "OTEL_EXPORTER_OTLP_PROTOCOL=grpc", "OTEL_METRIC_EXPORT_INTERVAL=1000")
		if in == profiled {
			cmd.Env = append(cmd.Env, "MCP_PROFILING=http://"+profileAddr)
		}
		if noCgroups == nil {
			in.group, noCgroups = newGroup(t, "mcp-e2e-"+in.name, in.limits)
			if noCgroups != nil {
				t.Logf("no cgroups here, so the limits are stated to the agents and panels on cgroup statistics are exempt: %v", noCgroups)
			}
		}
		if in.group == nil {
			cmd.Env = append(cmd.Env, fmt.Sprintf("MCP_MEMORY_LIMIT=%d", in.limits.MemoryBytes), fmt.Sprintf("MCP_CPU_LIMIT=%g", in.limits.CPUCores))
		}
		in.proc = st.start(in.name, cmd, in.group)
	}
	for _, in := range insts {
		if err := procs.WaitHTTP(ctx, in.proc, in.url("/healthz"), 60*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("all processes up after %v (cgroups: %v)", time.Since(begin).Round(time.Millisecond), noCgroups == nil)

	// Modest load on every instance, from now to the end of the test.
	loadCtx, stopLoad := context.WithCancel(ctx)
	var loadWG sync.WaitGroup
	loadResults := make([]loadgen.Result, len(insts))
	for i, in := range insts {
		cfg := loadgen.DefaultConfig()
		cfg.URL, cfg.Rate, cfg.Duration, cfg.MaxInFlight, cfg.Timeout, cfg.ProgressInterval = in.url("/work"), 20, 10*time.Minute, 64, 5*time.Second, 0
		loadWG.Add(1)
		go func() {
			defer loadWG.Done()
			loadResults[i], _ = loadgen.Run(loadCtx, cfg, nil)
		}()
	}
	defer func() { stopLoad(); loadWG.Wait() }()

	// Clients that get things wrong, so that the panels counting them have something to
	// count: an OTLP export without service.name (dropped by the signals pipeline) and a
	// profile upload in a format the receiver refuses.
	if code, body, err := post("http://"+otlpHTTP+"/v1/metrics", "application/json", otlpBody(nil)); err != nil || code != 200 {
		t.Errorf("OTLP export without service.name: %d %s %v, want it accepted (and dropped from the signals)", code, body, err)
	}
	if code, body, err := post(fmt.Sprintf("http://%s/ingest?name=e2e&from=%d&until=%d", profileAddr, time.Now().Unix()-10, time.Now().Unix()),
		"application/octet-stream", "not a profile"); err != nil || code < 400 || code >= 500 {
		t.Errorf("bad profile upload: %d %s %v, want a 4xx", code, body, err)
	}

	// The scenario: demoapp-0's live heap towards its memory limit, tuning kept in observe
	// mode. The agent's emergency guard engages past 85%.
	ratio := pushTowardsLimit(ctx, t, st, nearLimit, nearLimitFrom, 0.005, 0.885)
	pushed := time.Now()
	t.Logf("%s: live heap at %.1f%% of its memory limit, %v after start", nearLimit.name, 100*ratio, pushed.Sub(begin).Round(time.Second))

	// Wait for every dashboard query to return data, the alert to fire and reach the
	// webhook, and the tuner to have acted on both services.
	queries, err := dashboards.Queries()
	if err != nil {
		t.Fatal(err)
	}
	type check struct {
		q       dashboards.Query
		key     string
		done    bool
		lastErr error
		took    time.Duration // from Prometheus's start to the first data
	}
	var checks []*check
	for _, q := range queries {
		checks = append(checks, &check{q: q, key: q.File + "/" + q.Panel + "/" + q.RefID})
	}
	run := func(q dashboards.Query) ([]series, error) {
		now := time.Now()
		if q.Instant {
			return prom.query(ctx, q.PromQL(), now)
		}
		return prom.queryRange(ctx, q.PromQL(), promStart, now, scrapeInterval)
	}
	alertSel := fmt.Sprintf(`ALERTS{alertname=%q,alertstate="firing",job=%q,instance=%q}`, nearLimitAlert, nearLimit.job, nearLimit.addr)
	var (
		firing   []series
		firedAt  time.Time
		notified *notification
		hookAt   time.Time
	)
	deadline := time.Now().Add(150 * time.Second)
	for {
		st.checkAlive()
		pending := 0
		for _, c := range checks {
			if c.done || noDataHere[c.key] != "" {
				continue
			}
			optional := noCgroups != nil && mentions(c.q.Expr, cgroupStats)
			res, err := run(c.q)
			var pe *promError
			switch {
			case errors.As(err, &pe):
				t.Errorf("%s: Prometheus refuses the query: %v\n%s", c.key, err, c.q.PromQL())
				c.done = true
			case samples(res) > 0:
				c.done, c.took = true, time.Since(promStart)
			default:
				c.lastErr = err
				if !optional {
					pending++
				}
			}
		}
		if firing == nil {
			if res, err := prom.queryRange(ctx, alertSel, pushed, time.Now(), time.Second); err == nil && len(res) > 0 {
				firing, firedAt = res, time.Now()
				t.Logf("%s firing in Prometheus %v after the push", nearLimitAlert, firedAt.Sub(pushed).Round(time.Second))
			}
		}
		if notified == nil {
			got, _ := hook.notifications()
			for i := range got {
				if n := &got[i]; n.Status == "firing" && n.CommonLabels["alertname"] == nearLimitAlert {
					notified, hookAt = n, time.Now()
					t.Logf("%s reached the webhook %v after the push: receiver %s", nearLimitAlert, hookAt.Sub(pushed).Round(time.Second), n.Receiver)
					break
				}
			}
		}
		// As an operator watching the tuner would (and as the status page does), read the
		// decisions; the store operations and their latency panels count these reads too.
		observed := len(decisionsFor(t, "http://"+httpAddr, "demoapp"))
		applied := value1(ctx, prom, `sum(mcp_agent_knob_updates_total{job="checkout",result="applied"})`)
		if pending == 0 && firing != nil && notified != nil && observed > 0 && applied > 0 {
			t.Logf("every dashboard query has data, %v after Prometheus started", time.Since(promStart).Round(time.Second))
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("after %v: %d dashboard queries without data, alert firing %v, notified %v, demoapp decisions %d, checkout knob updates applied %v",
				time.Since(promStart).Round(time.Second), pending, firing != nil, notified != nil, observed, applied)
			break
		}
		time.Sleep(2 * time.Second)
	}

	slowest := slices.Clone(checks)
	sort.Slice(slowest, func(i, j int) bool { return slowest[i].took > slowest[j].took })
	for _, c := range slowest[:5] {
		t.Logf("data after %v: %s", c.took.Round(time.Second), c.key)
	}

	// Every query has data, or is on the list with its reason (and still has none).
	var missing []string
	for _, c := range checks {
		switch reason := noDataHere[c.key]; {
		case reason != "":
			res, err := run(c.q)
			if err == nil && samples(res) > 0 {
				t.Errorf("%s returns data now: take it off noDataHere (%s)", c.key, reason)
			} else {
				t.Logf("no data expected from %s: %s", c.key, reason)
			}
		case !c.done && noCgroups != nil && mentions(c.q.Expr, cgroupStats):
			t.Logf("no data from %s without a cgroup: %s", c.key, c.q.PromQL())
		case !c.done:
			missing = append(missing, fmt.Sprintf("%s (last error %v):\n    %s", c.key, c.lastErr, c.q.PromQL()))
		}
	}
	for key := range noDataHere {
		if !slices.ContainsFunc(checks, func(c *check) bool { return c.key == key }) {
			t.Errorf("noDataHere names %s, which no dashboard has", key)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d dashboard queries returned no data:\n  %s", len(missing), len(checks), strings.Join(missing, "\n  "))
	}
	checkVariables(ctx, t, prom, promStart)
	checkRules(ctx, t, prom)

	// The alert: firing in Prometheus for demoapp-0, and delivered through MCP's routing.
	if r, err := prom.query(ctx, fmt.Sprintf(`instance:go_gc_heap_live_to_limit:ratio{instance=%q}`, nearLimit.addr), time.Now()); err == nil && len(r) == 1 {
		t.Logf("%s: live heap / memory limit in Prometheus: %.3f", nearLimit.name, r[0].Values[0])
	}
	switch {
	case firing == nil:
		t.Errorf("%s never fired in Prometheus for %s", nearLimitAlert, nearLimit.addr)
	case notified == nil:
		t.Errorf("%s fired in Prometheus but never reached the webhook", nearLimitAlert)
	default:
		checkNotification(t, amtool, origAM, hooked, notified, nearLimit)
	}
	if _, bad := hook.notifications(); len(bad) > 0 {
		t.Errorf("the webhook got requests that are not Alertmanager notifications:\n%s", strings.Join(bad, "\n"))
	}

	// Scrapes that failed mark a target's series stale, which restarts an alert's for:.
	if r, err := prom.query(ctx, `count_over_time(up[10m]) - sum_over_time(up[10m])`, time.Now()); err == nil {
		for _, s := range r {
			if s.Values[0] > 0 {
				t.Logf("%s %s: %.0f failed scrapes", s.Labels["job"], s.Labels["instance"], s.Values[0])
			}
		}
	}
	if r, err := prom.query(ctx, `max_over_time(scrape_duration_seconds[10m])`, time.Now()); err == nil {
		for _, s := range r {
			t.Logf("%s %s: slowest scrape %.3fs", s.Labels["job"], s.Labels["instance"], s.Values[0])
		}
	}

	// Observe mode records and changes nothing; apply mode changes.
	checkTuning(ctx, t, prom, "http://"+httpAddr)

	stopLoad()
	loadWG.Wait()
	for i, in := range insts {
		r := loadResults[i]
		t.Logf("%s: %d requests at %.0f/s, %d errors, %d dropped, p99 %v", in.name, r.Requests, r.Rate(), r.Errors, r.Dropped, r.Latency.Quantile(0.99))
	}
	st.stop(15 * time.Second)
	t.Logf("whole test: %v", time.Since(begin).Round(time.Second))
}

// pushTowardsLimit grows the instance's live heap until the agent's emergency memory guard
// engages (at 85% of the memory limit by default): first to from × the limit, then by step
// at a time, so that it never passes the guard's threshold by more than a step and stays
// clear of the OOM killer (the process's memory is about 12% above its live heap). It fails
// if the live heap reaches most × the limit first, and returns the live heap's share of the
// limit.
func pushTowardsLimit(ctx context.Context, t *testing.T, st *stack, in *instance, from, step, most float64) float64 {
	t.Helper()
	metric := func(name string) float64 {
		t.Helper()
		v, err := in.metric(name)
		if err != nil {
			st.checkAlive()
			t.Fatal(err)
		}
		return v
	}
	limit := metric("mcp_agent_container_memory_limit_bytes")
	want := from
	for {
		cfg, err := in.config(ctx, "")
		if err != nil {
			st.checkAlive()
			t.Fatal(err)
		}
		// The data set's estimate is a little below the live heap the runtime measures, so
		// sizing by the estimate errs on the low side.
		perMiB := float64(cfg.LiveHeapEstimateBytes) / float64(cfg.LiveHeapMiB)
		mib := int(math.Round(want * limit / perMiB))
		cycles := metric("go_gc_cycles_total_gc_cycles_total")
		if _, err := in.config(ctx, fmt.Sprintf(`{"live_heap_mib": %d}`, mib)); err != nil {
			st.checkAlive()
			t.Fatal(err)
		}
		// The GC measures the live heap (and the guard looks at it) at the end of a cycle:
		// wait for two cycles after the resize.
		for start := time.Now(); metric("go_gc_cycles_total_gc_cycles_total") < cycles+2; time.Sleep(200 * time.Millisecond) {
			if time.Since(start) > 30*time.Second {
				t.Fatalf("%s: no GC cycle within 30s of resizing the live heap to %d MiB", in.name, mib)
			}
		}
		ratio := metric("go_gc_heap_live_bytes") / limit
		t.Logf("%s: live heap %d MiB asked, %.1f%% of the memory limit measured", in.name, mib, 100*ratio)
		switch {
		case metric("mcp_agent_memory_guard_active") == 1:
			return ratio
		case ratio+step > most:
			t.Fatalf("%s: live heap at %.1f%% of the memory limit and the memory guard has not engaged", in.name, 100*ratio)
		}
		want = math.Max(want, ratio) + step
	}
}

// checkNotification checks the webhook's notification of the near-limit alert: the receiver
// is the one alertmanager.yml as shipped routes the alert to, posted to that receiver's
// webhook, and the alert carries its name, severity, job and instance.
func checkNotification(t *testing.T, amtool, shipped string, hooked []string, n *notification, in *instance) {
	t.Helper()
	if len(n.Alerts) != 1 {
		t.Errorf("notification holds %d alerts, want 1: %+v", len(n.Alerts), n)
		return
	}
	a := n.Alerts[0]
	var labels []string
	for k, v := range a.Labels {
		labels = append(labels, k+"="+v)
	}
	sort.Strings(labels)
	want, err := routeOf(amtool, shipped, labels)
	if err != nil {
		t.Fatal(err)
	}
	if n.Receiver != want || n.Path != "/"+want || !slices.Contains(hooked, want) {
		t.Errorf("notification for %v went to receiver %q at %s; alertmanager.yml routes it to %q", labels, n.Receiver, n.Path, want)
	}
	for k, v := range map[string]string{"alertname": nearLimitAlert, "severity": "warning", "job": in.job, "instance": in.addr} {
		if a.Labels[k] != v {
			t.Errorf("notified alert has %s=%q, want %q (labels %v)", k, a.Labels[k], v, a.Labels)
		}
	}
	if a.Status != "firing" || a.Annotations["runbook_url"] != alerts.RunbookBase+nearLimitAlert+".md" || a.Annotations["description"] == "" {
		t.Errorf("notified alert: status %q, annotations %v", a.Status, a.Annotations)
	}
	t.Logf("notification: receiver %s, labels %v, %q", n.Receiver, labels, a.Annotations["description"])
}

// noRecordHere lists the recording rule groups whose rules record nothing in this test, with
// the reason; every other recording rule must record at least one series.
var noRecordHere = map[string]string{}

// checkRules checks that Prometheus loaded every rule of alerts/rules, evaluated each without
// error, and that every recording rule records series (except noRecordHere).
func checkRules(ctx context.Context, t *testing.T, prom promAPI) {
	t.Helper()
	want, err := alerts.Rules()
	if err != nil {
		t.Fatal(err)
	}
	groups, err := prom.rules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range groups {
		for _, r := range g.Rules {
			n++
			if r.Health != "ok" {
				t.Errorf("rule %s (group %s): health %q %s", r.Name, g.Name, r.Health, r.LastError)
			}
		}
	}
	if n != len(want) {
		t.Errorf("Prometheus loaded %d rules, alerts/rules has %d", n, len(want))
	}
	for _, r := range want {
		if r.Record == "" {
			continue
		}
		got := value1(ctx, prom, "count("+r.Record+")")
		switch reason := noRecordHere[r.Group]; {
		case reason != "" && got > 0:
			t.Errorf("recording rule %s records %v series now: take group %s off noRecordHere (%s)", r.Record, got, r.Group, reason)
		case reason == "" && !(got > 0):
			t.Errorf("recording rule %s (group %s) recorded no series:\n%s", r.Record, r.Group, r.Expr)
		}
	}
	for g, reason := range noRecordHere {
		t.Logf("no series expected from the recording rules of %s: %s", g, reason)
	}
}

var labelValues = regexp.MustCompile(`^label_values\((?:(.*),\s*)?(\w+)\)$`)

// checkVariables checks that every dashboard variable backed by a label_values query finds
// values, as Grafana asks Prometheus for them.
func checkVariables(ctx context.Context, t *testing.T, prom promAPI, since time.Time) {
	t.Helper()
	for file, b := range dashboards.Files() {
		var d struct {
			Templating struct {
				List []struct {
					Name       string `json:"name"`
					Type       string `json:"type"`
					Definition string `json:"definition"`
				} `json:"list"`
			} `json:"templating"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			m := labelValues.FindStringSubmatch(dashboards.Substitute(v.Definition, dashboards.Variables))
			if m == nil {
				t.Errorf("%s: variable %s: %q is not label_values(...)", file, v.Name, v.Definition)
				continue
			}
			selector := m[1]
			if selector == "" {
				selector = `{` + m[2] + `!=""}`
			}
			vals, err := prom.labelValues(ctx, m[2], selector, since, time.Now())
			if err != nil || len(vals) == 0 {
				t.Errorf("%s: variable %s (%s) finds no values: %v", file, v.Name, v.Definition, err)
			}
		}
	}
}

// checkTuning checks the two modes: demoapp (observe) has decisions recorded and none
// applied by its agents; checkout (apply) has had one applied.
func checkTuning(ctx context.Context, t *testing.T, prom promAPI, server string) {
	t.Helper()
	ds := decisionsFor(t, server, "demoapp")
	if len(ds) == 0 {
		t.Errorf("no decision recorded for demoapp in observe mode")
	}
	for _, d := range ds {
		if d.Mode != apiv1.ModeObserve {
			t.Errorf("demoapp decision %s in mode %s, its policy says observe", d.ID, d.Mode)
		}
	}
	if len(ds) > 0 {
		t.Logf("demoapp, observe mode: %d decisions recorded, the last: %s (%s)", len(ds), ds[0].Knobs, ds[0].Reason)
	}
	if v := value1(ctx, prom, `sum(mcp_agent_knob_updates_total{job="demoapp",result="applied"})`); v != 0 {
		t.Errorf("demoapp's agents applied %v knob updates; observe mode changes nothing", v)
	}
	if v := value1(ctx, prom, `sum(mcp_agent_knob_updates_total{job="checkout",result="applied"})`); !(v > 0) {
		t.Errorf("checkout's agent applied %v knob updates; apply mode should have changed GOMEMLIMIT", v)
	}
}

// decisionsFor lists a service's decisions through mcp serve's HTTP API.
func decisionsFor(t *testing.T, server, service string) []apiv1.Decision {
	t.Helper()
	body, err := procs.Get(server + "/api/v1/decisions?service=" + service)
	if err != nil {
		t.Fatal(err)
	}
	var l apiv1.DecisionList
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatalf("GET /api/v1/decisions: %v\n%s", err, body)
	}
	return l.Decisions
}

// value1 is the single value of an instant query, NaN when there is none.
func value1(ctx context.Context, prom promAPI, expr string) float64 {
	res, err := prom.query(ctx, expr, time.Now())
	if err != nil || len(res) != 1 || len(res[0].Values) != 1 {
		return math.NaN()
	}
	return res[0].Values[0]
}

func mentions(expr string, metrics []string) bool {
	for _, m := range metrics {
		if strings.Contains(expr, m) {
			return true
		}
	}
	return false
}
