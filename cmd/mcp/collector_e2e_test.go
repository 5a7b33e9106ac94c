package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcplane/mcp/internal/e2e"
	"github.com/mcplane/mcp/internal/procs"
	"github.com/mcplane/mcp/tuner/signals"
)

// TestCollectorSignalsAndProfiles runs mcp serve with its embedded collector and demoapp
// with profiling on, under load, and checks what the tuner would read: within 45 s the
// signal window shows GC CPU, live heap, allocation rate and p99, and the profile summary
// shows the runtime's GC frames and demoapp's own allocation sites. Then it sends the
// collector bad input: a gzip bomb to /ingest and malformed OTLP.
func TestCollectorSignalsAndProfiles(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs binaries")
	}
	mcp := e2e.MustBuild(t, "./cmd/mcp")
	demo := e2e.MustBuild(t, "./cmd/demoapp")
	ctx := context.Background()
	httpAddr, agentAddr, demoAddr := e2e.FreePort(t), e2e.FreePort(t), e2e.FreePort(t)
	otlpGRPC, otlpHTTP, profileAddr := e2e.FreePort(t), e2e.FreePort(t), e2e.FreePort(t)
	server := "http://" + httpAddr
	serve := exec.Command(mcp, "serve", "--http-addr", httpAddr, "--agent-addr", agentAddr,
		"--data-dir", filepath.Join(t.TempDir(), "data"))
	serve.Env = append(serve.Environ(), "MCP_OTLP_GRPC_ADDR="+otlpGRPC, "MCP_OTLP_HTTP_ADDR="+otlpHTTP, "MCP_PROFILE_ADDR="+profileAddr)
	serveProc := e2e.Start(t, "mcp serve", serve)
	if err := procs.WaitHTTP(ctx, serveProc, server+"/readyz", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	app := exec.Command(demo, "--addr", demoAddr, "--live-heap-mib", "32", "--garbage-kib", "256")
	// The agent sends OTLP to the control plane's host on the collector's port; the test's
	// ports are not the defaults, so they are given the standard way.
	app.Env = append(app.Environ(), "MCP_ENDPOINT="+agentAddr, "MCP_PROFILING=http://"+profileAddr,
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://"+otlpGRPC, "OTEL_EXPORTER_OTLP_PROTOCOL=grpc")
	appProc := e2e.Start(t, "demoapp", app)
	if err := procs.WaitHTTP(ctx, appProc, "http://"+demoAddr+"/healthz", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var served atomic.Int64
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	for range 2 {
		go func() {
			for loadCtx.Err() == nil {
				if _, err := procs.Get("http://" + demoAddr + "/work"); err == nil {
					served.Add(1)
				}
			}
		}()
	}

	var inst string
	var sample map[string]any
	deadline := start.Add(45 * time.Second)
	for {
		if inst == "" {
			if body, err := procs.Get(server + "/api/v1/instances?service=demoapp"); err == nil {
				var l struct{ Instances []struct{ ID string } }
				_ = json.Unmarshal([]byte(body), &l)
				if len(l.Instances) == 1 {
					inst = l.Instances[0].ID
				}
			}
		}
		if inst != "" {
			if body, err := procs.Get(server + "/api/v1/instances/" + inst + "/signals?since=1m"); err == nil {
				var v struct{ Samples []map[string]any }
				_ = json.Unmarshal([]byte(body), &v)
				if n := len(v.Samples); n > 0 {
					sample = v.Samples[n-1]
				}
			}
		}
		if complete(sample, "gc_cpu_fraction", "live_heap_bytes", "alloc_bytes_per_second", "latency_p99_seconds") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("signals incomplete after 45s (%d requests served): %v", served.Load(), sample)
		}
		time.Sleep(time.Second)
	}
	t.Logf("signals complete after %v: gc_cpu_fraction %.3f live_heap %.0f alloc/s %.0f p99 %.4fs", time.Since(start).Round(time.Second),
		sample["gc_cpu_fraction"], sample["live_heap_bytes"], sample["alloc_bytes_per_second"], sample["latency_p99_seconds"])
	if live := sample["live_heap_bytes"].(float64); live < 24<<20 || live > 128<<20 {
		t.Errorf("live heap %.0f bytes, want about demoapp's 32 MiB", live)
	}

	var cpuTop, allocTop signals.ProfileTop
	for {
		getJSON(t, server+"/api/v1/services/demoapp/profile/top?type=cpu&n=200", &cpuTop)
		getJSON(t, server+"/api/v1/services/demoapp/profile/top?type=alloc&n=50", &allocTop)
		if cpuTop.GC.Total > 0 && hasFunc(cpuTop, "runtime.") && hasFunc(allocTop, "main.") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("profile summaries incomplete after 45s: cpu %+v alloc %+v", cpuTop, allocTop)
		}
		time.Sleep(time.Second)
	}
	t.Logf("profiles after %v: GC share of CPU samples %.2f (worker %.2f, assist %.2f, malloc %.2f); top alloc site %s",
		time.Since(start).Round(time.Second), cpuTop.GC.Total, cpuTop.GC.Worker, cpuTop.GC.Assist, cpuTop.GC.Malloc, firstFunc(allocTop, "main."))

	// A gzip bomb: 1 GiB of zeros compressed to about 1 MiB.
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for range 1024 {
		_, _ = zw.Write(zeros)
	}
	_ = zw.Close()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("profile", "profile.pprof")
	_, _ = fw.Write(bomb.Bytes())
	_ = mw.Close()
	before := rss(t, serveProc)
	resp, err := http.Post(fmt.Sprintf("http://%s/ingest?name=bomb&from=%d&until=%d", profileAddr, time.Now().Unix()-10, time.Now().Unix()),
		mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Errorf("gzip bomb: %d %s, want a 4xx", resp.StatusCode, msg)
	}
	after := rss(t, serveProc)
	t.Logf("gzip bomb: %d %s; mcp serve RSS %d MiB → %d MiB", resp.StatusCode, strings.TrimSpace(string(msg)), before>>20, after>>20)
	if after-before > 256<<20 {
		t.Errorf("RSS grew by %d MiB on a gzip bomb", (after-before)>>20)
	}

	// Malformed OTLP gets a 400 with the reason.
	resp, err = http.Post("http://"+otlpHTTP+"/v1/metrics", "application/x-protobuf", strings.NewReader("\x0a\xff\xff\xff\xffnot protobuf"))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || len(msg) == 0 {
		t.Errorf("malformed OTLP: %d %q, want 400 with a reason", resp.StatusCode, msg)
	}
	t.Logf("malformed OTLP: %d %q", resp.StatusCode, msg)
}

func complete(s map[string]any, keys ...string) bool {
	if s == nil {
		return false
	}
	for _, k := range keys {
		if _, ok := s[k]; !ok {
			return false
		}
	}
	return true
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	body, err := procs.Get(url)
	if err != nil {
		return // not there yet
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}

func hasFunc(top signals.ProfileTop, prefix string) bool { return firstFunc(top, prefix) != "" }

func firstFunc(top signals.ProfileTop, prefix string) string {
	for _, f := range top.Functions {
		if strings.HasPrefix(f.Name, prefix) {
			return f.Name
		}
	}
	return ""
}

// rss reads a process's resident set size from /proc.
func rss(t *testing.T, p *procs.Proc) int64 {
	t.Helper()
	b, err := exec.Command("ps", "-o", "rss=", "-p", fmt.Sprint(p.Cmd.Process.Pid)).Output()
	if err != nil {
		t.Fatal(err)
	}
	var kb int64
	fmt.Sscan(strings.TrimSpace(string(b)), &kb)
	return kb << 10
}
