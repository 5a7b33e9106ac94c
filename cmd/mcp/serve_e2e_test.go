package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/internal/e2e"
	"github.com/mcplane/mcp/internal/procs"
)

// TestServeWithDemoapp is the control plane's end-to-end test with real processes: mcp
// serve and demoapp with the agent. Heartbeats are shortened (1 s, gone after 6 s) so the
// health transitions take seconds; every other step is as a user runs it.
func TestServeWithDemoapp(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs binaries")
	}
	mcp := e2e.MustBuild(t, "./cmd/mcp")
	demo := e2e.MustBuild(t, "./cmd/demoapp")
	ctx := context.Background()
	dataDir := filepath.Join(t.TempDir(), "data")
	httpAddr, agentAddr, demoAddr := e2e.FreePort(t), e2e.FreePort(t), e2e.FreePort(t)
	server := "http://" + httpAddr
	startServe := func() *procs.Proc {
		p := e2e.Start(t, "mcp serve", exec.Command(mcp, "serve", "--http-addr", httpAddr, "--agent-addr", agentAddr,
			"--data-dir", dataDir, "--token", "e2e-token", "--heartbeat-interval", "1s", "--gone-after", "6s"))
		if err := procs.WaitHTTP(ctx, p, server+"/readyz", 20*time.Second); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cli := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(mcp, append(args, "--server", server, "--token", "e2e-token")...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mcp %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	instances := func() []apiv1.Instance {
		var l apiv1.InstanceList
		if err := json.Unmarshal([]byte(cli("instances", "-o", "json")), &l); err != nil {
			t.Fatal(err)
		}
		return l.Instances
	}
	waitFor := func(what string, within time.Duration, cond func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !cond() {
			if time.Since(start) > within {
				t.Fatalf("%s: not within %v", what, within)
			}
			time.Sleep(100 * time.Millisecond)
		}
		return time.Since(start)
	}
	gogc := func() string {
		body, err := procs.Get("http://" + demoAddr + "/metrics")
		if err != nil {
			return ""
		}
		v, _ := procs.MetricValue(body, "go_gc_gogc_percent")
		return v
	}

	serve := startServe()
	app := exec.Command(demo, "--addr", demoAddr, "--live-heap-mib", "8")
	app.Env = append(app.Environ(), "MCP_ENDPOINT="+agentAddr, "MCP_TOKEN=e2e-token")
	demoProc := e2e.Start(t, "demoapp", app)
	if err := procs.WaitHTTP(ctx, demoProc, "http://"+demoAddr+"/healthz", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	took := waitFor("demoapp listed healthy", 10*time.Second, func() bool {
		l := instances()
		return len(l) == 1 && l[0].Health == apiv1.HealthHealthy
	})
	t.Logf("demoapp healthy after %v", took)
	inst := instances()[0]
	if inst.Service != "demoapp" || inst.Knobs.GOGC != 100 || inst.Sources.GOGC != "go-default" || inst.GoVersion == "" {
		t.Errorf("listed instance = %+v", inst)
	}

	out := cli("knobs", "set", "--service", "demoapp", "--gogc", "150")
	if !strings.Contains(out, "pushed to 1 instances") {
		t.Errorf("knobs set said %q", out)
	}
	took = waitFor("go_gc_gogc_percent 150", 2*time.Second, func() bool { return gogc() == "150" })
	t.Logf("GOGC 150 live after %v", took)

	serve.Kill() // kill -9
	time.Sleep(1500 * time.Millisecond)
	// One scrape can fail on a loaded machine; a knob that changed would stay changed.
	waitFor("GOGC 150 kept after kill -9 of mcp", 5*time.Second, func() bool { return gogc() == "150" })
	if _, err := procs.Get("http://" + demoAddr + "/work"); err != nil {
		t.Errorf("demoapp stopped serving without mcp: %v", err)
	}

	startServe()
	took = waitFor("demoapp registered again", 15*time.Second, func() bool {
		l := instances()
		return len(l) == 1 && l[0].Health == apiv1.HealthHealthy
	})
	t.Logf("re-registered %v after the restart", took)
	// The decision survived the kill; its outcome is settled once the agent confirms it.
	var decisions apiv1.DecisionList
	waitFor("the decision, settled as applied", 5*time.Second, func() bool {
		if err := json.Unmarshal([]byte(cli("decisions", "-o", "json")), &decisions); err != nil {
			t.Fatal(err)
		}
		return len(decisions.Decisions) == 1 && decisions.Decisions[0].Outcome == apiv1.OutcomeApplied
	})
	if d := decisions.Decisions[0]; *d.Knobs.GOGC != 150 || d.Acks.Applied != 1 {
		t.Errorf("decision after restart = %+v", d)
	}
	waitFor("GOGC 150 after the restart", 5*time.Second, func() bool { return gogc() == "150" })

	demoProc.Kill()
	waitFor("demoapp suspect", 10*time.Second, func() bool {
		l := instances()
		return len(l) == 1 && l[0].Health == apiv1.HealthSuspect
	})
	waitFor("demoapp gone", 15*time.Second, func() bool {
		l := instances()
		return len(l) == 1 && l[0].Health == apiv1.HealthGone
	})
}
