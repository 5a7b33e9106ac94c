package scale

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/mcplane/mcp/bench/internal/procfs"

	"google.golang.org/grpc"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/controlplane/apiclient"
	"github.com/mcplane/mcp/internal/procs"
	"github.com/mcplane/mcp/runtime/agentclient"

	"github.com/mcplane/mcp/runtime/knob"
)

// benchService is the one service every simulated instance belongs to, so one decision
// goes to all of them.
const benchService = "scale-bench"

// mcpSide is `mcp serve` in its own process and the simulated instances connected to it
// from this one.
type mcpSide struct {
	cfg      Config
	proc     *procs.Proc
	dataDir  string
	base     string // HTTP API URL
	agent    string // agent API host:port
	token    string
	api      *apiclient.Client
	sampler  *sampler
	stop     context.CancelFunc // stops the sampler
	arrivals *arrivals

	clientCtx   context.Context
	stopClients context.CancelFunc
	instances   []*simulatedInstance
	clients     []*agentclient.Client
}

// startMCP runs `mcp serve` with its own data directory, free ports, warn-level logs and
// the benchmark's heartbeat interval, and waits until it is ready.
func startMCP(ctx context.Context, cfg Config, bin string) (_ *mcpSide, err error) {
	m := &mcpSide{cfg: cfg, arrivals: newArrivals()}
	defer func() {
		if err != nil {
			m.close()
		}
	}()
	if m.dataDir, err = os.MkdirTemp("", "mcp-bench-scale-"); err != nil {
		return nil, fmt.Errorf("create the data directory of mcp serve: %w", err)
	}
	httpAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	if m.agent, err = freePort(); err != nil {
		return nil, err
	}
	if m.token, err = randomToken(); err != nil {
		return nil, err
	}
	// gone_after must stay above suspect_after (3) heartbeats.
	gone := max(60*time.Second, 6*cfg.Heartbeat)
	cmd := exec.Command(bin, "serve", "--http-addr", httpAddr, "--agent-addr", m.agent,
		"--data-dir", filepath.Join(m.dataDir, "data"), "--token", m.token, "--log-level", "warn",
		"--heartbeat-interval", cfg.Heartbeat.String(), "--gone-after", gone.String())
	// The embedded collector (when this mcp has one) listens on free ports too; it gets no
	// telemetry here, but its cost is part of what a real mcp serve carries. Older builds
	// ignore these variables.
	for _, key := range []string{"MCP_OTLP_GRPC_ADDR", "MCP_OTLP_HTTP_ADDR", "MCP_PROFILE_ADDR"} {
		addr, err := freePort()
		if err != nil {
			return nil, err
		}
		cmd.Env = append(cmd.Environ(), key+"="+addr)
	}
	cmd.Env = append(cmd.Environ(), cfg.ServeEnv...)
	m.proc = procs.Prepare("mcp serve", cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start mcp serve: %w", err)
	}
	m.proc.Watch()
	m.base = "http://" + httpAddr
	if err := procs.WaitHTTP(ctx, m.proc, m.base+"/readyz", 30*time.Second); err != nil {
		return nil, fmt.Errorf("wait for mcp serve: %w", err)
	}
	if m.api, err = apiclient.New(m.base, m.token); err != nil {
		return nil, err
	}
	var sctx context.Context
	sctx, m.stop = context.WithCancel(context.Background())
	m.sampler = newSampler(cmd.Process.Pid, 100*time.Millisecond)
	go m.sampler.run(sctx)
	m.clientCtx, m.stopClients = context.WithCancel(context.Background())
	return m, nil
}

func (m *mcpSide) pid() int { return m.proc.Cmd.Process.Pid }

// dialOptions are the simulated agents' gRPC buffers: small, as the control plane's own,
// because 10,000 connections in one process with gRPC's 32 KiB defaults cost more memory
// than the benchmark should.
func dialOptions(size int) []grpc.DialOption {
	return []grpc.DialOption{grpc.WithReadBufferSize(size), grpc.WithWriteBufferSize(size), grpc.WithSharedWriteBuffer(true)}
}

// connect starts cfg.Instances simulated agents, each with the real agent client, in
// batches, each batch registered before the next starts, then waits until the server
// lists them all healthy.
func (m *mcpSide) connect(ctx context.Context, progress *progress) (Side, error) {
	side := Side{Name: "mcp serve"}
	u0, err := readUsage(m.pid())
	if err != nil {
		return side, err
	}
	opts := dialOptions(m.cfg.ClientBufferBytes)
	n := m.cfg.Instances
	for start := 0; start < n; start += m.cfg.ConnectBatch {
		end := min(start+m.cfg.ConnectBatch, n)
		for i := start; i < end; i++ {
			inst := newSimulatedInstance(benchService, i, m.arrivals)
			c := agentclient.New(agentclient.Config{Endpoint: m.agent, Token: m.token, DialOptions: opts,
				HeartbeatInterval: m.cfg.Heartbeat}, inst)
			m.instances = append(m.instances, inst)
			m.clients = append(m.clients, c)
			go c.Run(m.clientCtx)
		}
		if err := waitFor(ctx, 60*time.Second, func() bool {
			for _, c := range m.clients[start:end] {
				if !c.Connected() {
					return false
				}
			}
			return true
		}); err != nil {
			return side, fmt.Errorf("mcp: sessions %d-%d not all registered: %w%s", start, end-1, err, m.exitNote())
		}
		progress.printf("mcp: %d/%d sessions up", end, n)
	}
	if err := waitFor(ctx, 2*m.cfg.Heartbeat+30*time.Second, func() bool {
		l, err := m.api.Services(ctx)
		if err != nil {
			return false
		}
		for _, s := range l.Services {
			if s.Name == benchService {
				return s.Health[apiv1.HealthHealthy] == n
			}
		}
		return false
	}); err != nil {
		return side, fmt.Errorf("mcp: waiting for %d instances listed healthy: %w%s", n, err, m.exitNote())
	}
	u1, err := readUsage(m.pid())
	if err != nil {
		return side, err
	}
	side.Connections = m.connected()
	side.ConnectSeconds = u1.at.Sub(u0.at).Seconds()
	side.ConnectPeakRSSBytes = u1.mem.Peak
	side.ConnectCPUCores = u1.since(u0)
	side.ConnectPeakCPUCores = max(side.ConnectCPUCores, m.sampler.peak(u0.at, u1.at, time.Second))
	progress.printf("mcp: %d instances listed healthy after %.1f s (mean %.2f cores, busiest second %.2f)",
		n, side.ConnectSeconds, side.ConnectCPUCores, side.ConnectPeakCPUCores)
	return side, nil
}

func (m *mcpSide) connected() int {
	n := 0
	for _, c := range m.clients {
		if c.Connected() {
			n++
		}
	}
	return n
}

// reconnects counts sessions registered beyond the first of each client.
func (m *mcpSide) reconnects() int {
	n := 0
	for _, c := range m.clients {
		if s := int(c.Sessions()); s > 1 {
			n += s - 1
		}
	}
	return n
}

// push sends one decision (GOGC gogc for the whole service) and measures its fan-out:
// each instance's arrival time minus the time the POST was sent, then waits for the
// decision to settle so the acknowledgements' cost is counted too.
func (m *mcpSide) push(ctx context.Context, gogc int) (Push, error) {
	var p Push
	before, err := procs.Get(m.base + "/metrics")
	if err != nil {
		return p, fmt.Errorf("mcp: scrape /metrics: %w", err)
	}
	u0, err := readUsage(m.pid())
	if err != nil {
		return p, err
	}
	self0, err := procfs.ProcessCPU(os.Getpid())
	if err != nil {
		return p, err
	}
	sent := time.Now()
	d, err := m.api.Decide(ctx, apiv1.DecisionRequest{Service: benchService, Knobs: knob.Change{GOGC: &gogc},
		Reason: "mcp bench scale: one decision to every instance"})
	returned := time.Now()
	if err != nil {
		return p, fmt.Errorf("mcp: POST /api/v1/decisions: %w%s", err, m.exitNote())
	}
	p.Key = d.ID
	p.ReturnedSeconds = returned.Sub(sent).Seconds()
	arrived := m.arrivals.wait(ctx, d.ID, len(m.instances), m.cfg.PushTimeout)
	l := latenciesSince(sent, arrived)
	p.Received, p.Missing = len(l), len(m.instances)-len(l)
	p.P50Seconds, p.P99Seconds, p.MaxSeconds = l.quantile(.5).Seconds(), l.quantile(.99).Seconds(), l.max().Seconds()
	p.FirstSeconds = l.min().Seconds()
	// Settled: every acknowledgement is in and written, or the control plane's ack timeout
	// passed.
	var settled apiv1.Decision
	_ = waitFor(ctx, m.cfg.PushTimeout, func() bool {
		ds, err := m.api.Decisions(ctx, benchService, "", 1)
		if err != nil || len(ds.Decisions) == 0 || ds.Decisions[0].ID != d.ID {
			return false
		}
		settled = ds.Decisions[0]
		return settled.Outcome != apiv1.OutcomePending
	})
	// The CPU window is at least a second, so the busiest second is one the push is in.
	if err := sleep(ctx, time.Until(u0.at.Add(time.Second))); err != nil {
		return p, err
	}
	u1, err := readUsage(m.pid())
	if err != nil {
		return p, err
	}
	p.Acked = settled.Acks.Applied
	p.CPUSeconds = (u1.cpu - u0.cpu).Seconds()
	if self1, err := procfs.ProcessCPU(os.Getpid()); err == nil {
		p.ClientCPUSeconds = (self1 - self0).Seconds()
	}
	p.MachineCores = u1.machineSince(u0)
	p.PeakCPUCores = max(u1.since(u0), m.sampler.peak(u0.at, u1.at, time.Second))
	if after, err := procs.Get(m.base + "/metrics"); err == nil {
		h := histogramDelta(histogramBuckets(before, "mcp_knob_push_latency_seconds"),
			histogramBuckets(after, "mcp_knob_push_latency_seconds"))
		p.AckP50Seconds, p.AckP99Seconds = finite(histogramQuantile(.5, h)), finite(histogramQuantile(.99, h))
		// One decision is created per push, so the sum's growth is its store time.
		const created = `mcp_store_operation_duration_seconds_sum{op="create_decision"}`
		p.DurableSeconds = metricValue(after, created) - metricValue(before, created)
	}
	return p, nil
}

// runtimeMemory reads the server's goroutines, heap and stacks from its /metrics.
func (m *mcpSide) runtimeMemory(side *Side) {
	body, err := procs.Get(m.base + "/metrics")
	if err != nil {
		return
	}
	side.Goroutines = int(metricValue(body, "go_goroutines"))
	side.HeapInuseBytes = uint64(metricValue(body, "go_memstats_heap_inuse_bytes"))
	side.StackInuseBytes = uint64(metricValue(body, "go_memstats_stack_inuse_bytes"))
}

// usage is the server's CPU and memory now.
func (m *mcpSide) usage() (usage, error) { return readUsage(m.pid()) }

// exitNote explains a failure by the server having exited, with its last output.
func (m *mcpSide) exitNote() string {
	if m.proc == nil {
		return ""
	}
	if done, err := m.proc.Exited(); done {
		out := m.proc.Output()
		if len(out) > 4000 {
			out = "…" + out[len(out)-4000:]
		}
		return fmt.Sprintf(" (mcp serve exited: %v)\n%s", err, out)
	}
	return ""
}

// close stops the simulated agents, then the server, and removes its data.
func (m *mcpSide) close() {
	if m.stopClients != nil {
		m.stopClients()
		deadline := time.After(30 * time.Second)
	wait:
		for _, c := range m.clients {
			select {
			case <-c.Done():
			case <-deadline:
				break wait
			}
		}
	}
	if m.stop != nil {
		m.stop()
	}
	if m.proc != nil && m.proc.Cmd.Process != nil {
		_ = m.proc.Stop(10 * time.Second)
	}
	if m.dataDir != "" {
		_ = os.RemoveAll(m.dataDir)
	}
}

func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// freePort returns a loopback address with a port that was free a moment ago.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func randomToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make a token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// waitFor polls cond every 100 ms until it holds, timeout passes or ctx ends.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}
