package runtime

import (
	"errors"

	agentv1 "github.com/mcplane/mcp/api/agent/v1"
	"github.com/mcplane/mcp/runtime/knob"
)

// This file is the agent's side of the wire: every conversion between the agent's types and
// the agent protocol's messages, and nowhere else. The control plane's side is
// controlplane/wire.go.

// changeFromProto reads a pushed knob update as the change it asks for.
func changeFromProto(u *agentv1.KnobUpdate) knob.Change {
	if u.GetReset_() {
		return knob.Change{Reset: true}
	}
	var c knob.Change
	if u.Gogc != nil {
		v := int(u.GetGogc())
		c.GOGC = &v
	}
	if u.MemoryLimitBytes != nil {
		v := u.GetMemoryLimitBytes()
		c.MemoryLimit = &v
	}
	if u.MemoryLimitRatio != nil {
		v := u.GetMemoryLimitRatio()
		c.MemoryLimitRatio = &v
	}
	if u.Gomaxprocs != nil {
		v := int(u.GetGomaxprocs())
		c.GOMAXPROCS = &v
	}
	return c
}

// ackProto answers a knob update with the state after it, and why it was refused if it was.
func ackProto(decisionID string, st State, err error) *agentv1.KnobAck {
	ack := &agentv1.KnobAck{DecisionId: decisionID, Applied: err == nil, Knobs: knobStateProto(st)}
	if err != nil {
		var rej *knob.RejectedError
		if errors.As(err, &rej) {
			ack.Reason = rej.Reason
		} else {
			ack.Reason = err.Error()
		}
	}
	return ack
}

// identity is what Register says about the process besides its state.
type identity struct {
	pod, namespace, node, hostname string
	pid                            int
	agentVersion                   string
	labels                         map[string]string
}

func registerProto(st State, r RuntimeSummary, id identity) *agentv1.Register {
	return &agentv1.Register{
		ProtocolVersion: agentv1.ProtocolVersion_PROTOCOL_VERSION_1,
		Service:         st.Service,
		InstanceId:      st.Instance,
		Pod:             id.pod,
		Namespace:       id.namespace,
		Node:            id.node,
		Hostname:        id.hostname,
		Pid:             int32(id.pid),
		GoVersion:       st.GoVersion,
		AgentVersion:    id.agentVersion,
		Limits:          limitsProto(st),
		Knobs:           knobStateProto(st),
		Runtime:         runtimeProto(r),
		Labels:          id.labels,
	}
}

func heartbeatProto(seq uint64, st State, r RuntimeSummary, u ContainerUsage, hasUsage bool) *agentv1.Heartbeat {
	hb := &agentv1.Heartbeat{Seq: seq, Runtime: runtimeProto(r), Knobs: knobStateProto(st), Limits: limitsProto(st)}
	if hasUsage {
		hb.Usage = &agentv1.ContainerUsage{
			MemoryBytes: u.MemoryBytes, CpuSeconds: u.CPUSeconds, CpuPeriods: u.CPUPeriods,
			CpuThrottledPeriods: u.CPUThrottledPeriods, CpuThrottledSeconds: u.CPUThrottledSeconds, OomKills: u.OOMKills,
		}
	}
	return hb
}

func knobStateProto(st State) *agentv1.KnobState {
	return &agentv1.KnobState{
		Values:     &agentv1.Knobs{Gogc: int32(st.Knobs.GOGC), MemoryLimitBytes: st.Knobs.MemoryLimit, Gomaxprocs: int32(st.Knobs.GOMAXPROCS)},
		Sources:    &agentv1.KnobSources{Gogc: string(st.Sources.GOGC), MemoryLimit: string(st.Sources.MemoryLimit), Gomaxprocs: string(st.Sources.GOMAXPROCS)},
		DecisionId: st.DecisionID,
		Guard:      &agentv1.GuardState{Active: st.Guard.Active, Gogc: int32(st.Guard.GOGC), Activations: st.Guard.Activations},
	}
}

func limitsProto(st State) *agentv1.ContainerLimits {
	return &agentv1.ContainerLimits{MemoryBytes: st.Limits.MemoryBytes, CpuCores: st.Limits.CPUCores, Error: st.LimitError}
}

func runtimeProto(r RuntimeSummary) *agentv1.RuntimeSummary {
	return &agentv1.RuntimeSummary{
		LiveHeapBytes: r.LiveHeapBytes, HeapGoalBytes: r.HeapGoalBytes, HeapAllocBytes: r.HeapAllocBytes,
		TotalMemoryBytes: r.TotalMemory, GcCycles: r.GCCycles, GcCpuSeconds: r.GCCPUSeconds,
		TotalCpuSeconds: r.TotalCPUSeconds, Goroutines: r.Goroutines,
	}
}

func eventProto(e Event) *agentv1.AgentEvent {
	return &agentv1.AgentEvent{
		Kind: e.Kind, Message: e.Message, TimeUnixNano: e.Time.UnixNano(),
		LiveHeapBytes: e.LiveHeap, LimitBytes: e.Limit, Gogc: int32(e.GOGC),
	}
}
