// Package apiv1 holds the JSON types of MCP's HTTP API (/api/v1): instances, services and
// decisions, shared by the control plane, the tuner, the store and clients. The knobs in
// them are the knob package's types.
package apiv1

import (
	"time"

	"github.com/mcplane/mcp/runtime/knob"
)

// Health is an instance's health as the registry sees it.
type Health string

const (
	// HealthHealthy: heartbeats arrive on time.
	HealthHealthy Health = "healthy"
	// HealthSuspect: several heartbeats were missed, or the session broke.
	HealthSuspect Health = "suspect"
	// HealthGone: nothing heard for the TTL; the instance is about to be removed.
	HealthGone Health = "gone"
)

// Limits are an instance's container limits (0: none).
type Limits struct {
	MemoryBytes int64   `json:"memory_bytes"`
	CPUCores    float64 `json:"cpu_cores"`
	Error       string  `json:"error,omitempty"`
}

// RuntimeSummary is the small runtime snapshot agents send with heartbeats.
type RuntimeSummary struct {
	LiveHeapBytes   int64   `json:"live_heap_bytes"`
	HeapGoalBytes   int64   `json:"heap_goal_bytes"`
	HeapAllocBytes  int64   `json:"heap_alloc_bytes"`
	TotalMemory     int64   `json:"total_memory_bytes"`
	GCCycles        uint64  `json:"gc_cycles"`
	GCCPUSeconds    float64 `json:"gc_cpu_seconds"`
	TotalCPUSeconds float64 `json:"total_cpu_seconds"`
	Goroutines      int64   `json:"goroutines"`
}

// Usage is what the instance's cgroup has counted.
type Usage struct {
	MemoryBytes         int64   `json:"memory_bytes"`
	CPUSeconds          float64 `json:"cpu_seconds"`
	CPUPeriods          uint64  `json:"cpu_periods"`
	CPUThrottledPeriods uint64  `json:"cpu_throttled_periods"`
	CPUThrottledSeconds float64 `json:"cpu_throttled_seconds"`
	OOMKills            uint64  `json:"oom_kills"`
}

// Guard is the agent's emergency memory guard.
type Guard struct {
	Active      bool   `json:"active"`
	GOGC        int    `json:"gogc,omitempty"`
	Activations uint64 `json:"activations"`
}

// Instance is one running process with an agent.
type Instance struct {
	ID            string            `json:"id"`
	Service       string            `json:"service"`
	Pod           string            `json:"pod,omitempty"`
	Namespace     string            `json:"namespace,omitempty"`
	Node          string            `json:"node,omitempty"`
	Hostname      string            `json:"hostname,omitempty"`
	PID           int               `json:"pid,omitempty"`
	GoVersion     string            `json:"go_version"`
	AgentVersion  string            `json:"agent_version,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	Health        Health            `json:"health"`
	Connected     bool              `json:"connected"`
	Replica       string            `json:"replica,omitempty"` // the control plane replica holding its session
	RegisteredAt  time.Time         `json:"registered_at"`
	LastHeartbeat time.Time         `json:"last_heartbeat"`
	Limits        Limits            `json:"limits"`
	Knobs         knob.Values       `json:"knobs"`
	Sources       knob.Sources      `json:"sources"`
	DecisionID    string            `json:"decision_id,omitempty"`
	Guard         Guard             `json:"guard"`
	Runtime       RuntimeSummary    `json:"runtime"`
	Usage         *Usage            `json:"usage,omitempty"`
}

// Service summarises a service's instances.
type Service struct {
	Name      string         `json:"name"`
	Instances int            `json:"instances"`
	Health    map[Health]int `json:"health"`
	// Desired is the knob change in force for the service from its decisions.
	Desired    *knob.Change `json:"desired,omitempty"`
	DecisionID string       `json:"decision_id,omitempty"`
}

// InstanceList is the answer to GET /api/v1/instances; Index increases with every change,
// for long-polling (?index=N&wait=30s) and watching.
type InstanceList struct {
	Index     uint64     `json:"index"`
	Instances []Instance `json:"instances"`
}

// ServiceList is the answer to GET /api/v1/services.
type ServiceList struct {
	Index    uint64    `json:"index"`
	Services []Service `json:"services"`
}
