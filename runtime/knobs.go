package runtime

import (
	"errors"
	"fmt"
	"math"
	goruntime "runtime"
	"strings"
)

// GOGCOff is the GOGC value that turns the proportional collector off (GOGC=off). It is only
// accepted while a memory limit is in force, so the heap cannot grow without bound.
const GOGCOff = -1

// NoMemoryLimit is the GOMEMLIMIT value meaning "no soft memory limit", Go's default.
const NoMemoryLimit = math.MaxInt64

// Bounds every knob change must stay within.
const (
	MinGOGC = 25
	MaxGOGC = 2000
	// MaxMemoryLimitRatio is the highest GOMEMLIMIT allowed, as a fraction of the container's
	// memory limit: the rest is left for non-heap memory and the kernel.
	MaxMemoryLimitRatio = 0.98
	// minMemoryLimitFloor is the lowest GOMEMLIMIT ever accepted, whatever the container.
	minMemoryLimitFloor = 32 << 20
)

// Knobs are the runtime settings the agent manages. They change while the process runs;
// everything else about the agent is fixed at Start.
type Knobs struct {
	// GOGC is the GC target percentage; GOGCOff means off.
	GOGC int `json:"gogc"`
	// MemoryLimit is GOMEMLIMIT in bytes; NoMemoryLimit means none.
	MemoryLimit int64 `json:"memory_limit_bytes"`
	// GOMAXPROCS is the number of Ps.
	GOMAXPROCS int `json:"gomaxprocs"`
}

func (k Knobs) String() string {
	gogc := fmt.Sprint(k.GOGC)
	if k.GOGC == GOGCOff {
		gogc = "off"
	}
	mem := "none"
	if k.MemoryLimit != NoMemoryLimit {
		mem = formatBytes(k.MemoryLimit)
	}
	return fmt.Sprintf("GOGC=%s GOMEMLIMIT=%s GOMAXPROCS=%d", gogc, mem, k.GOMAXPROCS)
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

// KnobSources records the Source of each knob.
type KnobSources struct {
	GOGC        Source `json:"gogc"`
	MemoryLimit Source `json:"memory_limit"`
	GOMAXPROCS  Source `json:"gomaxprocs"`
}

// KnobUpdate is a requested change; nil fields are left as they are. It is applied whole or
// not at all.
type KnobUpdate struct {
	// GOGC: a value in [MinGOGC, MaxGOGC], or GOGCOff when a memory limit is in force.
	GOGC *int
	// MemoryLimit: GOMEMLIMIT in bytes. Exclusive with MemoryLimitRatio.
	MemoryLimit *int64
	// MemoryLimitRatio: GOMEMLIMIT as a fraction of this instance's container memory limit,
	// in (0, MaxMemoryLimitRatio]. Exclusive with MemoryLimit.
	MemoryLimitRatio *float64
	// GOMAXPROCS: a value in [1, NumCPU], or 0 to return to Go's container-aware default.
	GOMAXPROCS *int
	// Source is recorded as the source of every knob this update sets. Default: SourceControlPlane.
	Source Source
	// DecisionID links the change to the control plane decision that asked for it.
	DecisionID string
}

// IsEmpty reports whether the update changes nothing.
func (u KnobUpdate) IsEmpty() bool {
	return u.GOGC == nil && u.MemoryLimit == nil && u.MemoryLimitRatio == nil && u.GOMAXPROCS == nil
}

// RejectedError is returned when a knob update is refused; nothing was changed. Reason is
// the message a person reads, e.g. "GOGC set by operator".
type RejectedError struct {
	Reason string
}

func (e *RejectedError) Error() string { return "knob update rejected: " + e.Reason }

// ErrRejected matches every *RejectedError with errors.Is.
var ErrRejected = errors.New("knob update rejected")

// Is makes errors.Is(err, ErrRejected) true for a RejectedError.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }

func reject(format string, args ...any) error {
	return &RejectedError{Reason: fmt.Sprintf(format, args...)}
}

// bounds are what resolveUpdate checks an update against.
type bounds struct {
	containerMemory int64 // 0: no container memory limit
	liveHeap        int64 // bytes live after the last GC
	numCPU          int
	operator        KnobSources // which knobs the operator owns (SourceOperatorEnv) or not
}

// memoryLimitFloor is the lowest GOMEMLIMIT accepted: enough for the live heap plus a
// margin, never below a small absolute floor (scaled down for very small containers).
func (b bounds) memoryLimitFloor() int64 {
	floor := int64(minMemoryLimitFloor)
	if b.containerMemory > 0 && b.containerMemory/2 < floor {
		floor = b.containerMemory / 2
	}
	if live := b.liveHeap + b.liveHeap/10; live > floor {
		floor = live
	}
	return floor
}

func (b bounds) memoryLimitCeiling() int64 {
	if b.containerMemory <= 0 {
		return NoMemoryLimit
	}
	return int64(float64(b.containerMemory) * MaxMemoryLimitRatio)
}

// resolveUpdate checks u against the current knobs and bounds and returns the knobs it asks
// for. It changes nothing; the caller applies the result. Every problem found is reported,
// not just the first.
func resolveUpdate(cur Knobs, u KnobUpdate, b bounds) (Knobs, error) {
	next := cur
	var problems []string
	owned := func(name string, s Source) bool {
		if s == SourceOperatorEnv {
			problems = append(problems, name+" set by operator")
			return true
		}
		return false
	}

	if u.MemoryLimit != nil && u.MemoryLimitRatio != nil {
		problems = append(problems, "memory limit given both in bytes and as a ratio; give one")
	}
	if (u.MemoryLimit != nil || u.MemoryLimitRatio != nil) && !owned("GOMEMLIMIT", b.operator.MemoryLimit) {
		want := int64(0)
		ok := true
		if u.MemoryLimitRatio != nil {
			r := *u.MemoryLimitRatio
			switch {
			case b.containerMemory <= 0:
				problems = append(problems, "GOMEMLIMIT as a ratio needs a container memory limit, and this instance has none")
				ok = false
			case math.IsNaN(r) || r <= 0 || r > MaxMemoryLimitRatio:
				problems = append(problems, fmt.Sprintf("GOMEMLIMIT ratio %v is outside (0, %v]", r, MaxMemoryLimitRatio))
				ok = false
			default:
				want = int64(r * float64(b.containerMemory))
			}
		} else if u.MemoryLimit != nil {
			want = *u.MemoryLimit
		}
		if ok {
			floor, ceiling := b.memoryLimitFloor(), b.memoryLimitCeiling()
			switch {
			case want == NoMemoryLimit && b.containerMemory <= 0:
				next.MemoryLimit = NoMemoryLimit
			case want < floor:
				problems = append(problems, fmt.Sprintf("GOMEMLIMIT %s is below the floor of %s (live heap %s)",
					formatBytes(want), formatBytes(floor), formatBytes(b.liveHeap)))
			case want > ceiling:
				problems = append(problems, fmt.Sprintf("GOMEMLIMIT %s is above %v × the container memory limit of %s (%s)",
					formatBytes(want), MaxMemoryLimitRatio, formatBytes(b.containerMemory), formatBytes(ceiling)))
			default:
				next.MemoryLimit = want
			}
		}
	}
	if u.GOGC != nil && !owned("GOGC", b.operator.GOGC) {
		g := *u.GOGC
		switch {
		case g == GOGCOff:
			// Checked below, once the memory limit this update leaves in force is known.
			next.GOGC = g
		case g < MinGOGC || g > MaxGOGC:
			problems = append(problems, fmt.Sprintf("GOGC %d is outside [%d, %d]", g, MinGOGC, MaxGOGC))
		default:
			next.GOGC = g
		}
	}
	touchesGC := u.GOGC != nil || u.MemoryLimit != nil || u.MemoryLimitRatio != nil
	if touchesGC && next.GOGC == GOGCOff && next.MemoryLimit == NoMemoryLimit {
		problems = append(problems, "GOGC off needs a memory limit in force, and none would be")
	}
	if u.GOMAXPROCS != nil && !owned("GOMAXPROCS", b.operator.GOMAXPROCS) {
		p := *u.GOMAXPROCS
		switch {
		case p == 0:
			next.GOMAXPROCS = 0 // Go's default; the caller resolves it.
		case p < 1 || p > b.numCPU:
			problems = append(problems, fmt.Sprintf("GOMAXPROCS %d is outside [1, %d]", p, b.numCPU))
		default:
			next.GOMAXPROCS = p
		}
	}
	if len(problems) > 0 {
		return cur, reject("%s", strings.Join(problems, "; "))
	}
	return next, nil
}

func formatBytes(b int64) string {
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

func numCPU() int { return goruntime.NumCPU() }
