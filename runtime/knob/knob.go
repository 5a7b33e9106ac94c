// Package knob is the one home of the Go runtime knobs MCP tunes — GOGC, GOMEMLIMIT and
// GOMAXPROCS — as they cross the system from the tuner through the store and the agent
// protocol into a running process: their values and where each came from ([Values],
// [Sources]), a requested change ([Change]), the bounds every change must respect and the
// check against one process ([Resolve]), and how sizes are written and read ([FormatBytes],
// [ParseBytes], [ParseMemoryLimit]).
//
// Every other package converts to and from these types at its own boundary, in one place:
// the agent protocol on each side of the wire, the TuningPolicy status in the Kubernetes
// controller. Nothing else restates a bound or a format.
package knob

import (
	"fmt"
	"math"
	"strings"
)

// GOGCOff is the GOGC value that turns the proportional collector off (GOGC=off). It is only
// accepted while a memory limit is in force, so the heap cannot grow without bound.
const GOGCOff = -1

// NoMemoryLimit is the GOMEMLIMIT value meaning "no soft memory limit", Go's default.
const NoMemoryLimit = math.MaxInt64

// Bounds every change must stay within, whatever the process.
const (
	// MinGOGC and MaxGOGC bound GOGC (GOGCOff aside).
	MinGOGC = 25
	MaxGOGC = 2000
	// MaxMemoryLimitRatio is the highest GOMEMLIMIT allowed, as a fraction of the container's
	// memory limit: the rest is left for non-heap memory and the kernel.
	MaxMemoryLimitRatio = 0.98
	// MinMemoryLimit is the lowest GOMEMLIMIT a change may name at all; a process also
	// refuses one below its live heap (see [Limits.MemoryLimitFloor]).
	MinMemoryLimit = 1 << 20
	// MaxGOMAXPROCS bounds GOMAXPROCS before a process checks it against its CPUs.
	MaxGOMAXPROCS = 4096
	// memoryLimitFloor is the lowest GOMEMLIMIT a process accepts, whatever its container
	// (scaled down for very small containers).
	memoryLimitFloor = 32 << 20
)

// Values are the knobs in effect in a process.
type Values struct {
	// GOGC is the GC target percentage; GOGCOff means off.
	GOGC int `json:"gogc"`
	// MemoryLimit is GOMEMLIMIT in bytes; NoMemoryLimit means none.
	MemoryLimit int64 `json:"memory_limit_bytes"`
	// GOMAXPROCS is the number of Ps; 0 in a desired set means Go's own default.
	GOMAXPROCS int `json:"gomaxprocs"`
}

func (v Values) String() string {
	return fmt.Sprintf("GOGC=%s GOMEMLIMIT=%s GOMAXPROCS=%d", FormatGOGC(v.GOGC), FormatBytes(v.MemoryLimit), v.GOMAXPROCS)
}

// Source says where a knob's current value came from.
type Source string

// Sources, from the weakest claim to the strongest.
const (
	// SourceGoDefault: the Go runtime's own default (for GOMAXPROCS, Go's container-aware one).
	SourceGoDefault Source = "go-default"
	// SourceCgroup: derived from the container's cgroup limit (GOMEMLIMIT = ratio × limit).
	SourceCgroup Source = "cgroup"
	// SourceCPURequest: GOMAXPROCS from the container's CPU request (MCP_CPU_REQUEST).
	SourceCPURequest Source = "cpu-request"
	// SourceControlPlane: set live by the MCP control plane (a decision).
	SourceControlPlane Source = "control-plane"
	// SourceEmergencyGuard: GOGC lowered by the agent's local memory guard.
	SourceEmergencyGuard Source = "emergency-guard"
	// SourceOperatorEnv: set by the operator in the environment; automation never changes it.
	SourceOperatorEnv Source = "operator-env"
)

// Sources records the Source of each knob.
type Sources struct {
	GOGC        Source `json:"gogc"`
	MemoryLimit Source `json:"memory_limit"`
	GOMAXPROCS  Source `json:"gomaxprocs"`
}

// Names are the knobs' names as metric labels and reasons write them.
const (
	NameGOGC       = "gogc"
	NameGOMEMLIMIT = "gomemlimit"
	NameGOMAXPROCS = "gomaxprocs"
)

// ByName lists the sources by knob name (NameGOGC, NameGOMEMLIMIT, NameGOMAXPROCS).
func (s Sources) ByName() map[string]Source {
	return map[string]Source{NameGOGC: s.GOGC, NameGOMEMLIMIT: s.MemoryLimit, NameGOMAXPROCS: s.GOMAXPROCS}
}

// Change is a requested change to a process's knobs: nil fields are left as they are. It is
// applied whole or not at all.
type Change struct {
	// GOGC: a value in [MinGOGC, MaxGOGC], or GOGCOff when a memory limit is in force.
	GOGC *int `json:"gogc,omitempty"`
	// MemoryLimit: GOMEMLIMIT in bytes. Exclusive with MemoryLimitRatio.
	MemoryLimit *int64 `json:"memory_limit_bytes,omitempty"`
	// MemoryLimitRatio: GOMEMLIMIT as a fraction of each process's container memory limit,
	// in (0, MaxMemoryLimitRatio]. Exclusive with MemoryLimit.
	MemoryLimitRatio *float64 `json:"memory_limit_ratio,omitempty"`
	// GOMAXPROCS: a value in [1, NumCPU], or 0 to return to Go's container-aware default.
	GOMAXPROCS *int `json:"gomaxprocs,omitempty"`
	// Reset returns every knob to the process's start-up values; it cannot be combined with
	// the fields above.
	Reset bool `json:"reset,omitempty"`
}

// IsEmpty reports whether the change changes nothing.
func (c Change) IsEmpty() bool {
	return c.GOGC == nil && c.MemoryLimit == nil && c.MemoryLimitRatio == nil && c.GOMAXPROCS == nil && !c.Reset
}

// Validate checks the values on their own (a process also checks them against itself, with
// Resolve). Every problem is reported, each naming its JSON field under prefix.
func (c Change) Validate(prefix string) error {
	var problems []string
	add := func(field, format string, args ...any) {
		problems = append(problems, prefix+field+": "+fmt.Sprintf(format, args...))
	}
	if c.IsEmpty() {
		return fmt.Errorf("%s: set at least one of gogc, memory_limit_bytes, memory_limit_ratio, gomaxprocs or reset",
			strings.TrimSuffix(prefix, "."))
	}
	if c.Reset && (c.GOGC != nil || c.MemoryLimit != nil || c.MemoryLimitRatio != nil || c.GOMAXPROCS != nil) {
		add("reset", "cannot be combined with knob values")
	}
	if g := c.GOGC; g != nil && *g != GOGCOff && (*g < MinGOGC || *g > MaxGOGC) {
		add("gogc", "%d is outside [%d, %d] (or %d for off)", *g, MinGOGC, MaxGOGC, GOGCOff)
	}
	if c.MemoryLimit != nil && c.MemoryLimitRatio != nil {
		add("memory_limit_bytes", "give the memory limit in bytes or as memory_limit_ratio, not both")
	}
	if m := c.MemoryLimit; m != nil && *m < MinMemoryLimit {
		add("memory_limit_bytes", "%d is below the minimum of %d", *m, MinMemoryLimit)
	}
	if r := c.MemoryLimitRatio; r != nil && !validRatio(*r) {
		add("memory_limit_ratio", "%v is outside (0, %v]", *r, MaxMemoryLimitRatio)
	}
	if p := c.GOMAXPROCS; p != nil && (*p < 0 || *p > MaxGOMAXPROCS) {
		add("gomaxprocs", "%d is outside [0, %d] (0 means Go's default)", *p, MaxGOMAXPROCS)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

func validRatio(r float64) bool { return !math.IsNaN(r) && r > 0 && r <= MaxMemoryLimitRatio }

// Merge returns c with the fields set in next replacing its own; a Reset in next clears
// everything before it.
func (c Change) Merge(next Change) Change {
	if next.Reset {
		return Change{Reset: true}
	}
	out := c
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
	return out
}

// Without returns c with every knob that other sets cleared: what is left of an older,
// narrower change once a newer, wider one has changed those knobs. A Reset in other clears
// everything.
func (c Change) Without(other Change) Change {
	if other.Reset {
		return Change{}
	}
	out := c
	if other.GOGC != nil {
		out.GOGC = nil
	}
	if other.MemoryLimit != nil || other.MemoryLimitRatio != nil {
		out.MemoryLimit, out.MemoryLimitRatio = nil, nil
	}
	if other.GOMAXPROCS != nil {
		out.GOMAXPROCS = nil
	}
	return out
}

// Knobs names the knobs the change sets (NameGOGC, NameGOMEMLIMIT, NameGOMAXPROCS).
func (c Change) Knobs() []string {
	var out []string
	if c.GOGC != nil {
		out = append(out, NameGOGC)
	}
	if c.MemoryLimit != nil || c.MemoryLimitRatio != nil {
		out = append(out, NameGOMEMLIMIT)
	}
	if c.GOMAXPROCS != nil {
		out = append(out, NameGOMAXPROCS)
	}
	return out
}

// String formats the change the way the CLI and the audit trail print it.
func (c Change) String() string {
	if c.Reset {
		return "reset"
	}
	var parts []string
	if c.GOGC != nil {
		parts = append(parts, "GOGC="+FormatGOGC(*c.GOGC))
	}
	if c.MemoryLimit != nil {
		parts = append(parts, "GOMEMLIMIT="+FormatBytes(*c.MemoryLimit))
	}
	if c.MemoryLimitRatio != nil {
		parts = append(parts, "GOMEMLIMIT="+FormatRatio(*c.MemoryLimitRatio)+"×limit")
	}
	if c.GOMAXPROCS != nil {
		if *c.GOMAXPROCS == 0 {
			parts = append(parts, "GOMAXPROCS=default")
		} else {
			parts = append(parts, fmt.Sprintf("GOMAXPROCS=%d", *c.GOMAXPROCS))
		}
	}
	return strings.Join(parts, " ")
}

// Equal reports whether two changes ask for the same values.
func (c Change) Equal(o Change) bool {
	return c.Reset == o.Reset && eq(c.GOGC, o.GOGC) && eq(c.MemoryLimit, o.MemoryLimit) &&
		eq(c.MemoryLimitRatio, o.MemoryLimitRatio) && eq(c.GOMAXPROCS, o.GOMAXPROCS)
}

func eq[T comparable](a, b *T) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// FormatGOGC writes a GOGC value as the GOGC variable does: a number, or "off".
func FormatGOGC(g int) string {
	if g == GOGCOff {
		return "off"
	}
	return fmt.Sprint(g)
}
