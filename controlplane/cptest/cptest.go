// Package cptest runs a control plane core on loopback with fake agents, for tests of the
// packages built on the core. Nothing here is a real agent: FakeAgent is named for what it is.
package cptest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	agentv1 "github.com/mcplane/mcp/api/agent/v1"
	"github.com/mcplane/mcp/controlplane"
	"github.com/mcplane/mcp/controlplane/store"
	"github.com/mcplane/mcp/runtime/agentclient"

	"github.com/mcplane/mcp/runtime/knob"
)

// FakeAgent is a fake instance for the agent client: knobs in memory, with the same
// bounds a real agent applies to GOGC and the container memory limit.
type FakeAgent struct {
	mu         sync.Mutex
	Service    string
	ID         string
	GOGCValue  int32
	MemLimit   int64
	Container  int64
	Operator   bool // GOGC set by the operator
	decisionID string
	applied    []*agentv1.KnobUpdate
}

func (f *FakeAgent) state() *agentv1.KnobState {
	src := knob.SourceGoDefault
	if f.Operator {
		src = knob.SourceOperatorEnv
	} else if f.decisionID != "" {
		src = knob.SourceControlPlane
	}
	return &agentv1.KnobState{
		Values:     &agentv1.Knobs{Gogc: f.GOGCValue, MemoryLimitBytes: f.MemLimit, Gomaxprocs: 2},
		Sources:    &agentv1.KnobSources{Gogc: string(src), MemoryLimit: string(knob.SourceCgroup), Gomaxprocs: string(knob.SourceGoDefault)},
		DecisionId: f.decisionID,
	}
}

func (f *FakeAgent) Register() *agentv1.Register {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &agentv1.Register{ProtocolVersion: agentv1.ProtocolVersion_PROTOCOL_VERSION_1, Service: f.Service,
		InstanceId: f.ID, GoVersion: "go1.26.8", Limits: &agentv1.ContainerLimits{MemoryBytes: f.Container}, Knobs: f.state()}
}

func (f *FakeAgent) Heartbeat(seq uint64) *agentv1.Heartbeat {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &agentv1.Heartbeat{Seq: seq, Knobs: f.state(), Limits: &agentv1.ContainerLimits{MemoryBytes: f.Container}}
}

func (f *FakeAgent) Apply(u *agentv1.KnobUpdate) *agentv1.KnobAck {
	f.mu.Lock()
	defer f.mu.Unlock()
	ack := &agentv1.KnobAck{DecisionId: u.GetDecisionId()}
	if u.Gogc != nil && f.Operator {
		ack.Reason = "GOGC set by operator"
		ack.Knobs = f.state()
		return ack
	}
	if u.Gogc != nil {
		f.GOGCValue = u.GetGogc()
	}
	if u.MemoryLimitBytes != nil {
		f.MemLimit = u.GetMemoryLimitBytes()
	}
	f.decisionID = u.GetDecisionId()
	f.applied = append(f.applied, u)
	ack.Applied = true
	ack.Knobs = f.state()
	return ack
}

// Applied returns the updates the agent applied.
func (f *FakeAgent) Applied() []*agentv1.KnobUpdate {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*agentv1.KnobUpdate(nil), f.applied...)
}

// GOGC is the agent's current GOGC.
func (f *FakeAgent) GOGC() int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.GOGCValue
}

// Plane is a core serving gRPC on loopback.
type Plane struct {
	Core  *controlplane.Core
	Addr  string
	Store store.Store
}

// Start runs a core with an in-memory store.
func Start(t testing.TB, cfg controlplane.Config) *Plane {
	t.Helper()
	st := store.NewMemory()
	core, err := controlplane.New(cfg, st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go core.Run(ctx)
	addr := Serve(t, core)
	t.Cleanup(func() {
		cancel()
		<-core.Flushed()
	})
	return &Plane{Core: core, Addr: addr, Store: st}
}

// Serve serves a core's agent API on loopback until the test ends and returns its address.
func Serve(t testing.TB, core *controlplane.Core) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(core.GRPCServerOptions()...)
	core.Register(srv)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// Config is a configuration with short intervals, for tests.
func Config() controlplane.Config {
	cfg := controlplane.DefaultConfig()
	cfg.HeartbeatInterval = 200 * time.Millisecond
	cfg.GoneAfter = 2 * time.Second
	cfg.RemoveAfter = time.Second
	cfg.AckTimeout = 2 * time.Second
	return cfg
}

// Connect runs the real agent client for a; the returned func disconnects it.
func (p *Plane) Connect(t testing.TB, a agentclient.Agent, token string) (*agentclient.Client, context.CancelFunc) {
	t.Helper()
	return connect(t, p.Addr, a, token)
}

// Connect runs the real agent client for a against a core's address (see Serve).
func Connect(t testing.TB, addr string, a agentclient.Agent) (*agentclient.Client, context.CancelFunc) {
	t.Helper()
	return connect(t, addr, a, "")
}

func connect(t testing.TB, addr string, a agentclient.Agent, token string) (*agentclient.Client, context.CancelFunc) {
	c := agentclient.New(agentclient.Config{Endpoint: addr, Token: token, MinBackoff: 50 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond}, a)
	ctx, cancel := context.WithCancel(context.Background())
	go c.Run(ctx)
	t.Cleanup(func() {
		cancel()
		<-c.Done()
	})
	return c, cancel
}

// Eventually polls cond for up to 10 s.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
