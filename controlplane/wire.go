package controlplane

import (
	"time"

	agentv1 "github.com/mcplane/mcp/api/agent/v1"
	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/runtime/knob"
)

// This file is the control plane's side of the wire: every conversion between the agent
// protocol's messages and the control plane's types, and nowhere else. The agent's side is
// runtime/wire.go.

// knobUpdateProto is the push of a decision's knob change.
func knobUpdateProto(decisionID string, c knob.Change) *agentv1.ControlMessage {
	u := &agentv1.KnobUpdate{DecisionId: decisionID, Reset_: c.Reset}
	if c.GOGC != nil {
		v := int32(*c.GOGC)
		u.Gogc = &v
	}
	u.MemoryLimitBytes = c.MemoryLimit
	u.MemoryLimitRatio = c.MemoryLimitRatio
	if c.GOMAXPROCS != nil {
		v := int32(*c.GOMAXPROCS)
		u.Gomaxprocs = &v
	}
	return &agentv1.ControlMessage{Msg: &agentv1.ControlMessage_Knobs{Knobs: u}}
}

// registeredProto answers a Register.
func registeredProto(sessionID string, heartbeat time.Duration) *agentv1.ControlMessage {
	return &agentv1.ControlMessage{Msg: &agentv1.ControlMessage_Registered{Registered: &agentv1.Registered{
		ProtocolVersion:     agentv1.ProtocolVersion_PROTOCOL_VERSION_1,
		SessionId:           sessionID,
		HeartbeatIntervalMs: heartbeat.Milliseconds(),
	}}}
}

func instanceFromRegister(r *agentv1.Register, replica string, now time.Time) apiv1.Instance {
	i := apiv1.Instance{
		ID: r.GetInstanceId(), Service: r.GetService(), Pod: r.GetPod(), Namespace: r.GetNamespace(), Node: r.GetNode(),
		Hostname: r.GetHostname(), PID: int(r.GetPid()), GoVersion: r.GetGoVersion(), AgentVersion: r.GetAgentVersion(),
		Labels: r.GetLabels(), Health: apiv1.HealthHealthy, Connected: true, Replica: replica,
		RegisteredAt: now, LastHeartbeat: now,
	}
	if l := r.GetLimits(); l != nil {
		i.Limits = limitsFromProto(l)
	}
	applyKnobState(&i, r.GetKnobs())
	if rt := r.GetRuntime(); rt != nil {
		i.Runtime = runtimeFromProto(rt)
	}
	return i
}

// applyHeartbeat updates an instance with what a heartbeat reports.
func applyHeartbeat(i *apiv1.Instance, hb *agentv1.Heartbeat) {
	applyKnobState(i, hb.GetKnobs())
	if l := hb.GetLimits(); l != nil {
		i.Limits = limitsFromProto(l)
	}
	if r := hb.GetRuntime(); r != nil {
		i.Runtime = runtimeFromProto(r)
	}
	if u := hb.GetUsage(); u != nil {
		i.Usage = &apiv1.Usage{MemoryBytes: u.GetMemoryBytes(), CPUSeconds: u.GetCpuSeconds(), CPUPeriods: u.GetCpuPeriods(),
			CPUThrottledPeriods: u.GetCpuThrottledPeriods(), CPUThrottledSeconds: u.GetCpuThrottledSeconds(), OOMKills: u.GetOomKills()}
	}
}

func applyKnobState(i *apiv1.Instance, k *agentv1.KnobState) {
	if k == nil {
		return
	}
	if v := k.GetValues(); v != nil {
		i.Knobs = valuesFromProto(v)
	}
	if s := k.GetSources(); s != nil {
		i.Sources = knob.Sources{GOGC: knob.Source(s.GetGogc()), MemoryLimit: knob.Source(s.GetMemoryLimit()),
			GOMAXPROCS: knob.Source(s.GetGomaxprocs())}
	}
	i.DecisionID = k.GetDecisionId()
	if g := k.GetGuard(); g != nil {
		i.Guard = apiv1.Guard{Active: g.GetActive(), GOGC: int(g.GetGogc()), Activations: g.GetActivations()}
	}
}

func valuesFromProto(v *agentv1.Knobs) knob.Values {
	return knob.Values{GOGC: int(v.GetGogc()), MemoryLimit: v.GetMemoryLimitBytes(), GOMAXPROCS: int(v.GetGomaxprocs())}
}

func limitsFromProto(l *agentv1.ContainerLimits) apiv1.Limits {
	return apiv1.Limits{MemoryBytes: l.GetMemoryBytes(), CPUCores: l.GetCpuCores(), Error: l.GetError()}
}

func runtimeFromProto(r *agentv1.RuntimeSummary) apiv1.RuntimeSummary {
	return apiv1.RuntimeSummary{
		LiveHeapBytes: r.GetLiveHeapBytes(), HeapGoalBytes: r.GetHeapGoalBytes(), HeapAllocBytes: r.GetHeapAllocBytes(),
		TotalMemory: r.GetTotalMemoryBytes(), GCCycles: r.GetGcCycles(), GCCPUSeconds: r.GetGcCpuSeconds(),
		TotalCPUSeconds: r.GetTotalCpuSeconds(), Goroutines: r.GetGoroutines(),
	}
}

// ackFromProto is an instance's acknowledgement as the store keeps it.
func ackFromProto(a *agentv1.KnobAck, instance string, now time.Time) apiv1.Ack {
	ack := apiv1.Ack{DecisionID: a.GetDecisionId(), Instance: instance, Applied: a.GetApplied(), Reason: a.GetReason(), At: now}
	if v := a.GetKnobs().GetValues(); v != nil {
		k := valuesFromProto(v)
		ack.Knobs = &k
	}
	return ack
}

// eventFromProto is an agent's event as the registry keeps it.
func eventFromProto(e *agentv1.AgentEvent) apiv1.AuditEvent {
	return apiv1.AuditEvent{Time: time.Unix(0, e.GetTimeUnixNano()).UTC(), Kind: e.GetKind(), Message: e.GetMessage()}
}
