package scale

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"

	agentv1 "github.com/mcplane/mcp/api/agent/v1"
	"github.com/mcplane/mcp/runtime/agentclient"
)

// simulatedInstance is an agentclient.Agent with no process behind it: it holds its knobs
// in memory, applies every knob update it gets and acknowledges it, and records when each
// decision arrived. Its register and heartbeat messages carry the same fields, with
// plausible values, as the runtime agent's, so the control plane does the same work per
// message as with real services.
type simulatedInstance struct {
	service, id string
	n           int // the instance's number, 0 to Instances-1
	pid         int32
	arrivals    *arrivals

	mu       sync.Mutex
	knobs    knobValues
	sources  knobSources
	decision string
}

// knobValues and knobSources are the instance's knobs as plain values: the protobuf
// messages must not be copied.
type knobValues struct {
	gogc        int32
	memoryLimit int64
	gomaxprocs  int32
}

type knobSources struct{ gogc, memoryLimit, gomaxprocs string }

var (
	startKnobs   = knobValues{gogc: 100, memoryLimit: math.MaxInt64, gomaxprocs: 2}
	startSources = knobSources{gogc: "go-default", memoryLimit: "go-default", gomaxprocs: "cgroup"}
)

var _ agentclient.Agent = (*simulatedInstance)(nil)

const simulatedMemoryLimit = 512 << 20

func newSimulatedInstance(service string, i int, a *arrivals) *simulatedInstance {
	return &simulatedInstance{
		service:  service,
		id:       fmt.Sprintf("%s-%05d", service, i),
		n:        i,
		pid:      int32(1000 + i),
		arrivals: a,
		knobs:    startKnobs,
		sources:  startSources,
	}
}

// Register describes the instance as the runtime agent would a pod with a 512 MiB, 2-core
// container.
func (s *simulatedInstance) Register() *agentv1.Register {
	return &agentv1.Register{
		ProtocolVersion: agentv1.ProtocolVersion_PROTOCOL_VERSION_1,
		Service:         s.service,
		InstanceId:      s.id,
		Pod:             s.id,
		Namespace:       "bench",
		Node:            "bench-node",
		Hostname:        s.id,
		Pid:             s.pid,
		GoVersion:       runtime.Version(),
		AgentVersion:    "bench-scale",
		Limits:          s.limits(),
		Knobs:           s.knobState(),
		Runtime:         s.runtimeSummary(0),
		Labels:          map[string]string{"version": "v1", "zone": "bench"},
	}
}

// Heartbeat reports a runtime summary that moves a little every time, as a live process's
// does.
func (s *simulatedInstance) Heartbeat(seq uint64) *agentv1.Heartbeat {
	return &agentv1.Heartbeat{
		Seq:     seq,
		Runtime: s.runtimeSummary(seq),
		Knobs:   s.knobState(),
		Limits:  s.limits(),
		Usage: &agentv1.ContainerUsage{MemoryBytes: 96<<20 + int64(seq%64)<<10, CpuSeconds: float64(seq) * 0.8,
			CpuPeriods: seq * 100, CpuThrottledPeriods: seq / 10},
	}
}

// Apply takes every update and acknowledges it. The arrival is timed first thing: Apply
// runs on the session's receive goroutine as soon as the message is decoded.
func (s *simulatedInstance) Apply(u *agentv1.KnobUpdate) *agentv1.KnobAck {
	now := time.Now()
	s.mu.Lock()
	first := u.GetDecisionId() != s.decision
	switch {
	case u.GetReset_():
		s.knobs, s.sources = startKnobs, startSources
	default:
		if u.Gogc != nil {
			s.knobs.gogc, s.sources.gogc = u.GetGogc(), "control-plane"
		}
		if u.MemoryLimitBytes != nil {
			s.knobs.memoryLimit, s.sources.memoryLimit = u.GetMemoryLimitBytes(), "control-plane"
		}
		if u.MemoryLimitRatio != nil {
			s.knobs.memoryLimit = int64(u.GetMemoryLimitRatio() * simulatedMemoryLimit)
			s.sources.memoryLimit = "control-plane"
		}
		if u.Gomaxprocs != nil {
			s.knobs.gomaxprocs, s.sources.gomaxprocs = u.GetGomaxprocs(), "control-plane"
		}
	}
	s.decision = u.GetDecisionId()
	s.mu.Unlock()
	// A decision pushed again (the knob set in force, after a reconnect) is not a new
	// arrival.
	if first {
		s.arrivals.arrived(s.n, u.GetDecisionId(), now)
	}
	return &agentv1.KnobAck{DecisionId: u.GetDecisionId(), Applied: true, Knobs: s.knobState()}
}

func (s *simulatedInstance) knobState() *agentv1.KnobState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &agentv1.KnobState{
		Values:     &agentv1.Knobs{Gogc: s.knobs.gogc, MemoryLimitBytes: s.knobs.memoryLimit, Gomaxprocs: s.knobs.gomaxprocs},
		Sources:    &agentv1.KnobSources{Gogc: s.sources.gogc, MemoryLimit: s.sources.memoryLimit, Gomaxprocs: s.sources.gomaxprocs},
		DecisionId: s.decision,
		Guard:      &agentv1.GuardState{},
	}
}

func (s *simulatedInstance) limits() *agentv1.ContainerLimits {
	return &agentv1.ContainerLimits{MemoryBytes: simulatedMemoryLimit, CpuCores: 2}
}

func (s *simulatedInstance) runtimeSummary(seq uint64) *agentv1.RuntimeSummary {
	wobble := int64(seq%16) << 20
	return &agentv1.RuntimeSummary{
		LiveHeapBytes: 64<<20 + wobble, HeapGoalBytes: 128<<20 + 2*wobble, HeapAllocBytes: 80<<20 + wobble,
		TotalMemoryBytes: 110<<20 + wobble, GcCycles: seq * 3, GcCpuSeconds: float64(seq) * 0.02,
		TotalCpuSeconds: float64(seq) * 0.8, Goroutines: 40 + int64(seq%8),
	}
}
