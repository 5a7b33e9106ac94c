package controlplane_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	agentv1 "github.com/mcplane/mcp/api/agent/v1"
	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/controlplane"
	"github.com/mcplane/mcp/controlplane/cptest"
	"github.com/mcplane/mcp/controlplane/store"

	"github.com/mcplane/mcp/runtime/knob"
)

func ptr[T any](v T) *T { return &v }

func TestDecisionPushedAndAcknowledged(t *testing.T) {
	p := cptest.Start(t, cptest.Config())
	a := &cptest.FakeAgent{Service: "svc", ID: "i-1", GOGCValue: 100, Container: 512 << 20}
	b := &cptest.FakeAgent{Service: "svc", ID: "i-2", GOGCValue: 100, Container: 512 << 20, Operator: true}
	p.Connect(t, a, "")
	p.Connect(t, b, "")
	cptest.Eventually(t, "both registered", func() bool { _, l := p.Core.Registry().Instances("svc"); return len(l) == 2 })

	d, err := p.Core.Decide(context.Background(), apiv1.Decision{Service: "svc", Knobs: knob.Change{GOGC: ptr(150)}, Source: "test", Reason: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Acks.Targeted != 2 || d.Outcome != apiv1.OutcomePending {
		t.Errorf("decision = %+v", d)
	}
	cptest.Eventually(t, "GOGC 150 applied", func() bool { return a.GOGC() == 150 })
	cptest.Eventually(t, "outcome settled", func() bool {
		sd, _ := p.Store.GetDecision(context.Background(), d.ID)
		return sd.Outcome == apiv1.OutcomePartial
	})
	acks, _ := p.Store.ListAcks(context.Background(), d.ID)
	if len(acks) != 2 {
		t.Fatalf("acks = %+v", acks)
	}
	for _, ack := range acks {
		if ack.Instance == "i-2" && (ack.Applied || ack.Reason != "GOGC set by operator") {
			t.Errorf("operator-owned instance ack = %+v", ack)
		}
		if ack.Instance == "i-1" && (!ack.Applied || ack.LatencySeconds <= 0) {
			t.Errorf("applied ack = %+v", ack)
		}
	}
	audit, _ := p.Store.ListAudit(context.Background(), d.ID)
	kinds := []string{}
	for _, e := range audit {
		kinds = append(kinds, e.Kind)
	}
	if strings.Join(kinds, ",") != "created,pushed,outcome" {
		t.Errorf("audit kinds = %v", kinds)
	}
}

func TestLateInstanceGetsKnobsInForce(t *testing.T) {
	p := cptest.Start(t, cptest.Config())
	first := &cptest.FakeAgent{Service: "svc", ID: "i-1", GOGCValue: 100}
	p.Connect(t, first, "")
	cptest.Eventually(t, "registered", func() bool { _, l := p.Core.Registry().Instances("svc"); return len(l) == 1 })
	if _, err := p.Core.Decide(context.Background(), apiv1.Decision{Service: "svc", Knobs: knob.Change{GOGC: ptr(300)}, Source: "test"}); err != nil {
		t.Fatal(err)
	}
	late := &cptest.FakeAgent{Service: "svc", ID: "i-2", GOGCValue: 100}
	p.Connect(t, late, "")
	cptest.Eventually(t, "late instance gets GOGC 300", func() bool { return late.GOGC() == 300 })
}

func TestServiceDecisionSupersedesInstanceOverride(t *testing.T) {
	p := cptest.Start(t, cptest.Config())
	a := &cptest.FakeAgent{Service: "svc", ID: "i-1", GOGCValue: 100}
	p.Connect(t, a, "")
	cptest.Eventually(t, "registered", func() bool { _, l := p.Core.Registry().Instances("svc"); return len(l) == 1 })
	ctx := context.Background()
	if _, err := p.Core.Decide(ctx, apiv1.Decision{Service: "svc", Instance: "i-1", Knobs: knob.Change{GOGC: ptr(400), MemoryLimit: ptr[int64](300 << 20)}, Source: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Core.Decide(ctx, apiv1.Decision{Service: "svc", Knobs: knob.Change{GOGC: ptr(120)}, Source: "test"}); err != nil {
		t.Fatal(err)
	}
	cptest.Eventually(t, "service decision applied", func() bool { return a.GOGC() == 120 })
	knobs, _ := p.Core.DesiredFor("svc", "i-1")
	if *knobs.GOGC != 120 || knobs.MemoryLimit == nil || *knobs.MemoryLimit != 300<<20 {
		t.Errorf("knobs in force for i-1 = %s, want GOGC 120 from the service and the instance's memory limit", knobs)
	}
}

func TestDecideRefusesBadInputAndStoresNothing(t *testing.T) {
	p := cptest.Start(t, cptest.Config())
	a := &cptest.FakeAgent{Service: "svc", ID: "i-1", GOGCValue: 100, Container: 512 << 20, Operator: true}
	p.Connect(t, a, "")
	cptest.Eventually(t, "registered", func() bool { _, l := p.Core.Registry().Instances("svc"); return len(l) == 1 })
	tests := []struct {
		name string
		d    apiv1.Decision
		kind controlplane.ErrorKind
		msg  string
	}{
		{"negative gogc", apiv1.Decision{Service: "svc", Knobs: knob.Change{MemoryLimit: ptr[int64](100 << 20), GOGC: ptr(-5)}}, controlplane.KindInvalid, "knobs.gogc: -5 is outside [25, 2000]"},
		{"memlimit above container", apiv1.Decision{Service: "svc", Knobs: knob.Change{MemoryLimit: ptr[int64](1 << 30)}}, controlplane.KindInvalid,
			"knobs.memory_limit_bytes: 1GiB is above 0.98 × the container memory limit (512MiB) of instance i-1"},
		{"unknown service", apiv1.Decision{Service: "nope", Knobs: knob.Change{GOMAXPROCS: ptr(1)}}, controlplane.KindNotFound, `service "nope" is not known`},
		{"unknown instance", apiv1.Decision{Service: "svc", Instance: "i-9", Knobs: knob.Change{GOMAXPROCS: ptr(1)}}, controlplane.KindNotFound, `instance "i-9"`},
		{"operator owns gogc", apiv1.Decision{Service: "svc", Knobs: knob.Change{GOGC: ptr(200)}}, controlplane.KindConflict, "GOGC is set by the operator on every targeted instance"},
		{"empty", apiv1.Decision{Service: "svc"}, controlplane.KindInvalid, "set at least one of"},
		{"bad mode", apiv1.Decision{Service: "svc", Mode: "yolo", Knobs: knob.Change{GOMAXPROCS: ptr(1)}}, controlplane.KindInvalid, `mode: "yolo"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Core.Decide(context.Background(), tt.d)
			var ce *controlplane.Error
			if !errors.As(err, &ce) || ce.Kind != tt.kind || !strings.Contains(ce.Msg, tt.msg) {
				t.Fatalf("Decide = %v, want kind %d containing %q", err, tt.kind, tt.msg)
			}
		})
	}
	if ds, _ := p.Store.ListDecisions(context.Background(), store.DecisionFilter{}); len(ds) != 0 {
		t.Errorf("refused decisions were stored: %v", ds)
	}
	if len(a.Applied()) != 0 {
		t.Errorf("refused decisions reached the agent: %v", a.Applied())
	}
}

func TestObserveModeRecordsWithoutPushing(t *testing.T) {
	p := cptest.Start(t, cptest.Config())
	a := &cptest.FakeAgent{Service: "svc", ID: "i-1", GOGCValue: 100}
	p.Connect(t, a, "")
	cptest.Eventually(t, "registered", func() bool { _, l := p.Core.Registry().Instances("svc"); return len(l) == 1 })
	d, err := p.Core.Decide(context.Background(), apiv1.Decision{Service: "svc", Mode: apiv1.ModeObserve, Knobs: knob.Change{GOGC: ptr(150)}, Source: "test"})
	if err != nil || d.Outcome != apiv1.OutcomeRecorded {
		t.Fatalf("observe decision = %+v, %v", d, err)
	}
	time.Sleep(300 * time.Millisecond)
	if a.GOGC() != 100 {
		t.Errorf("observe mode changed GOGC to %d", a.GOGC())
	}
	if _, ok := p.Core.Desired("svc", ""); ok {
		t.Error("observe mode left a knob set in force")
	}
}

func TestHealthMovesToSuspectThenGone(t *testing.T) {
	p := cptest.Start(t, cptest.Config())
	a := &cptest.FakeAgent{Service: "svc", ID: "i-1", GOGCValue: 100}
	_, disconnect := p.Connect(t, a, "")
	cptest.Eventually(t, "healthy", func() bool { i, ok := p.Core.Registry().Instance("i-1"); return ok && i.Health == apiv1.HealthHealthy })
	disconnect()
	cptest.Eventually(t, "suspect", func() bool { i, _ := p.Core.Registry().Instance("i-1"); return i.Health == apiv1.HealthSuspect })
	cptest.Eventually(t, "gone", func() bool { i, _ := p.Core.Registry().Instance("i-1"); return i.Health == apiv1.HealthGone })
	cptest.Eventually(t, "removed", func() bool { _, ok := p.Core.Registry().Instance("i-1"); return !ok })
}

func TestWrongTokenIsRefused(t *testing.T) {
	cfg := cptest.Config()
	cfg.Token = "s3cret"
	p := cptest.Start(t, cfg)
	conn, err := grpc.NewClient(p.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for token, want := range map[string]string{"": "no bearer token", "wrong": "wrong bearer token"} {
		ctx := context.Background()
		if token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
		}
		stream, err := agentv1.NewAgentServiceClient(conn).Session(ctx)
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), want) {
			t.Errorf("token %q: %v, want Unauthenticated %q", token, err, want)
		}
	}
	a := &cptest.FakeAgent{Service: "svc", ID: "i-1", GOGCValue: 100}
	p.Connect(t, a, "s3cret")
	cptest.Eventually(t, "right token registers", func() bool { _, ok := p.Core.Registry().Instance("i-1"); return ok })
}

func TestMalformedMessagesAreRefused(t *testing.T) {
	p := cptest.Start(t, cptest.Config())
	conn, err := grpc.NewClient(p.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	good := func() *agentv1.Register {
		return &agentv1.Register{ProtocolVersion: agentv1.ProtocolVersion_PROTOCOL_VERSION_1, Service: "svc", InstanceId: "i-1"}
	}
	reg := func(r *agentv1.Register) *agentv1.AgentMessage {
		return &agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Register{Register: r}}
	}
	tests := []struct {
		name string
		msgs []*agentv1.AgentMessage
		code codes.Code
		want string
	}{
		{"heartbeat first", []*agentv1.AgentMessage{{Msg: &agentv1.AgentMessage_Heartbeat{Heartbeat: &agentv1.Heartbeat{}}}}, codes.InvalidArgument, "first message of a session must be a register"},
		{"empty first", []*agentv1.AgentMessage{{}}, codes.InvalidArgument, "must be a register"},
		{"no service", []*agentv1.AgentMessage{reg(&agentv1.Register{ProtocolVersion: 1, InstanceId: "i"})}, codes.InvalidArgument, "register.service"},
		{"bad instance id", []*agentv1.AgentMessage{reg(&agentv1.Register{ProtocolVersion: 1, Service: "s", InstanceId: "has space"})}, codes.InvalidArgument, "register.instance_id"},
		{"old protocol", []*agentv1.AgentMessage{reg(&agentv1.Register{Service: "s", InstanceId: "i"})}, codes.FailedPrecondition, "this control plane speaks version 1"},
		{"future protocol", []*agentv1.AgentMessage{reg(&agentv1.Register{ProtocolVersion: 7, Service: "s", InstanceId: "i"})}, codes.FailedPrecondition, "protocol_version: 7"},
		{"negative limit", []*agentv1.AgentMessage{reg(&agentv1.Register{ProtocolVersion: 1, Service: "s", InstanceId: "i", Limits: &agentv1.ContainerLimits{MemoryBytes: -1}})}, codes.InvalidArgument, "register.limits"},
		{"register twice", []*agentv1.AgentMessage{reg(good()), reg(good())}, codes.InvalidArgument, "register sent twice"},
		{"empty after register", []*agentv1.AgentMessage{reg(good()), {}}, codes.InvalidArgument, "empty or unknown agent message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream, err := agentv1.NewAgentServiceClient(conn).Session(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range tt.msgs {
				if err := stream.Send(m); err != nil {
					break
				}
			}
			for {
				_, err = stream.Recv()
				if err != nil {
					break
				}
			}
			if status.Code(err) != tt.code || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %s containing %q", err, tt.code, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	c := controlplane.DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c.HeartbeatInterval = time.Millisecond
	c.SuspectAfter = 0
	c.PushWorkers = 0
	err := c.Validate()
	for _, key := range []string{"agents.heartbeat_interval", "agents.suspect_after", "agents.push_workers"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate() = %v, want it to name %s", err, key)
		}
	}
}
