// Package apiv1 holds the JSON types of MCP's HTTP API (/api/v1): instances, services,
// decisions and knob sets, shared by the control plane, the tuner, the store and clients.
package apiv1

import (
	"fmt"
	"math"
	"strings"
	"time"
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

// Knobs are runtime knob values as an agent reports them.
type Knobs struct {
	GOGC        int   `json:"gogc"`               // -1: off
	MemoryLimit int64 `json:"memory_limit_bytes"` // math.MaxInt64: none
	GOMAXPROCS  int   `json:"gomaxprocs"`
}

// KnobSources say where each knob's value came from (see runtime.Source).
type KnobSources struct {
	GOGC        string `json:"gogc"`
	MemoryLimit string `json:"memory_limit"`
	GOMAXPROCS  string `json:"gomaxprocs"`
}

// NoMemoryLimit is the MemoryLimit meaning none.
const NoMemoryLimit = math.MaxInt64

// KnobSet is a requested change: nil fields are left alone.
type KnobSet struct {
	GOGC             *int     `json:"gogc,omitempty"`
	MemoryLimit      *int64   `json:"memory_limit_bytes,omitempty"`
	MemoryLimitRatio *float64 `json:"memory_limit_ratio,omitempty"`
	GOMAXPROCS       *int     `json:"gomaxprocs,omitempty"`
	// HPATargetUtilization is the HPA's target CPU utilization in percent (Kubernetes only).
	HPATargetUtilization *int `json:"hpa_target_utilization,omitempty"`
	// Reset returns every runtime knob to the agent's start-up values.
	Reset bool `json:"reset,omitempty"`
}

// Bounds every KnobSet must respect; agents enforce the same ones.
const (
	MinGOGC             = 25
	MaxGOGC             = 2000
	MaxMemoryLimitRatio = 0.98
	MinMemoryLimitBytes = 1 << 20
)

// IsEmpty reports whether the set changes nothing.
func (k KnobSet) IsEmpty() bool {
	return k.GOGC == nil && k.MemoryLimit == nil && k.MemoryLimitRatio == nil && k.GOMAXPROCS == nil &&
		k.HPATargetUtilization == nil && !k.Reset
}

// Validate checks the values on their own (an agent also checks them against its
// container). Errors name the JSON field under prefix.
func (k KnobSet) Validate(prefix string) error {
	var problems []string
	add := func(field, format string, args ...any) {
		problems = append(problems, prefix+field+": "+fmt.Sprintf(format, args...))
	}
	if k.IsEmpty() {
		return fmt.Errorf("%sknobs: set at least one of gogc, memory_limit_bytes, memory_limit_ratio, gomaxprocs, hpa_target_utilization or reset", prefix)
	}
	if k.Reset && (k.GOGC != nil || k.MemoryLimit != nil || k.MemoryLimitRatio != nil || k.GOMAXPROCS != nil) {
		add("reset", "cannot be combined with knob values")
	}
	if g := k.GOGC; g != nil && *g != -1 && (*g < MinGOGC || *g > MaxGOGC) {
		add("gogc", "%d is outside [%d, %d] (or -1 for off)", *g, MinGOGC, MaxGOGC)
	}
	if k.MemoryLimit != nil && k.MemoryLimitRatio != nil {
		add("memory_limit_bytes", "give the memory limit in bytes or as memory_limit_ratio, not both")
	}
	if m := k.MemoryLimit; m != nil && *m < MinMemoryLimitBytes {
		add("memory_limit_bytes", "%d is below the minimum of %d", *m, MinMemoryLimitBytes)
	}
	if r := k.MemoryLimitRatio; r != nil && (math.IsNaN(*r) || *r <= 0 || *r > MaxMemoryLimitRatio) {
		add("memory_limit_ratio", "%v is outside (0, %v]", *r, MaxMemoryLimitRatio)
	}
	if p := k.GOMAXPROCS; p != nil && (*p < 0 || *p > 4096) {
		add("gomaxprocs", "%d is outside [0, 4096] (0 means Go's default)", *p)
	}
	if h := k.HPATargetUtilization; h != nil && (*h < 1 || *h > 100) {
		add("hpa_target_utilization", "%d is outside [1, 100]", *h)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// Merge returns k with the fields set in next replacing its own; a Reset in next clears
// everything before it.
func (k KnobSet) Merge(next KnobSet) KnobSet {
	if next.Reset {
		return KnobSet{Reset: true}
	}
	out := k
	out.Reset = false
	if next.GOGC != nil {
		out.GOGC = next.GOGC
	}
	if next.MemoryLimit != nil {
		out.MemoryLimit, out.MemoryLimitRatio = next.MemoryLimit, nil
	}
	if next.MemoryLimitRatio != nil {
		out.MemoryLimitRatio, out.MemoryLimit = next.MemoryLimitRatio, nil
	}
	if next.GOMAXPROCS != nil {
		out.GOMAXPROCS = next.GOMAXPROCS
	}
	if next.HPATargetUtilization != nil {
		out.HPATargetUtilization = next.HPATargetUtilization
	}
	return out
}

// Without returns k with every knob that other sets cleared: what is left of an older,
// narrower decision once a newer, wider one has changed those knobs. A Reset in other
// clears everything.
func (k KnobSet) Without(other KnobSet) KnobSet {
	if other.Reset {
		return KnobSet{}
	}
	out := k
	if other.GOGC != nil {
		out.GOGC = nil
	}
	if other.MemoryLimit != nil || other.MemoryLimitRatio != nil {
		out.MemoryLimit, out.MemoryLimitRatio = nil, nil
	}
	if other.GOMAXPROCS != nil {
		out.GOMAXPROCS = nil
	}
	if other.HPATargetUtilization != nil {
		out.HPATargetUtilization = nil
	}
	return out
}

// String formats the set the way the CLI prints it.
func (k KnobSet) String() string {
	var parts []string
	if k.Reset {
		return "reset"
	}
	if k.GOGC != nil {
		if *k.GOGC == -1 {
			parts = append(parts, "GOGC=off")
		} else {
			parts = append(parts, fmt.Sprintf("GOGC=%d", *k.GOGC))
		}
	}
	if k.MemoryLimit != nil {
		parts = append(parts, "GOMEMLIMIT="+FormatBytes(*k.MemoryLimit))
	}
	if k.MemoryLimitRatio != nil {
		parts = append(parts, fmt.Sprintf("GOMEMLIMIT=%.2f×limit", *k.MemoryLimitRatio))
	}
	if k.GOMAXPROCS != nil {
		if *k.GOMAXPROCS == 0 {
			parts = append(parts, "GOMAXPROCS=default")
		} else {
			parts = append(parts, fmt.Sprintf("GOMAXPROCS=%d", *k.GOMAXPROCS))
		}
	}
	if k.HPATargetUtilization != nil {
		parts = append(parts, fmt.Sprintf("HPA target=%d%%", *k.HPATargetUtilization))
	}
	return strings.Join(parts, " ")
}

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
	Knobs         Knobs             `json:"knobs"`
	Sources       KnobSources       `json:"sources"`
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
	// Desired is the knob set in force for the service from its decisions.
	Desired    *KnobSet `json:"desired,omitempty"`
	DecisionID string   `json:"decision_id,omitempty"`
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

// FormatBytes formats a byte count in binary units, "none" for NoMemoryLimit.
func FormatBytes(b int64) string {
	switch {
	case b == NoMemoryLimit:
		return "none"
	case b >= 1<<30 && b%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", b>>30)
	case b >= 1<<20 && b%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", b>>20)
	case b >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1fKiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%dB", b)
}
