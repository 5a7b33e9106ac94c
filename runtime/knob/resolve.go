package knob

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Limits are what a change is checked against in one process: its container, its heap, its
// CPUs, and the knobs its operator owns.
type Limits struct {
	// ContainerMemory is the container's memory limit in bytes; 0: none.
	ContainerMemory int64
	// LiveHeap is the heap live after the last GC, in bytes.
	LiveHeap int64
	// NumCPU is how many CPUs the process may use.
	NumCPU int
	// Operator marks with SourceOperatorEnv each knob the operator set; automation never
	// changes those.
	Operator Sources
}

// MemoryLimitFloor is the lowest GOMEMLIMIT the process accepts: enough for the live heap
// plus a margin, never below a small absolute floor (scaled down for very small containers).
func (l Limits) MemoryLimitFloor() int64 {
	floor := int64(memoryLimitFloor)
	if l.ContainerMemory > 0 && l.ContainerMemory/2 < floor {
		floor = l.ContainerMemory / 2
	}
	if live := l.LiveHeap + l.LiveHeap/10; live > floor {
		floor = live
	}
	return floor
}

// MemoryLimitCeiling is the highest GOMEMLIMIT the process accepts: MaxMemoryLimitRatio of
// its container's memory limit, NoMemoryLimit without one.
func (l Limits) MemoryLimitCeiling() int64 { return MemoryLimitCeiling(l.ContainerMemory) }

// MemoryLimitCeiling is the highest GOMEMLIMIT allowed under a container memory limit of
// container bytes (0: none).
func MemoryLimitCeiling(container int64) int64 {
	if container <= 0 {
		return NoMemoryLimit
	}
	return int64(float64(container) * MaxMemoryLimitRatio)
}

// RatioBytes is GOMEMLIMIT as a ratio of a container memory limit, in bytes.
func RatioBytes(ratio float64, container int64) int64 { return int64(ratio * float64(container)) }

// RejectedError is returned when a change is refused; nothing was changed. Reason is the
// message a person reads, e.g. "GOGC set by operator".
type RejectedError struct {
	Reason string
}

func (e *RejectedError) Error() string { return "knob update rejected: " + e.Reason }

// ErrRejected matches every *RejectedError with errors.Is.
var ErrRejected = errors.New("knob update rejected")

// Is makes errors.Is(err, ErrRejected) true for a RejectedError.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }

// Resolve checks c against the knobs in effect and a process's limits, and returns the
// knobs it asks for. It changes nothing; the caller applies the result. Every problem found
// is reported in one *RejectedError, not just the first. A Reset is the caller's to resolve.
func Resolve(cur Values, c Change, l Limits) (Values, error) {
	next := cur
	var problems []string
	owned := func(name string, s Source) bool {
		if s == SourceOperatorEnv {
			problems = append(problems, name+" set by operator")
			return true
		}
		return false
	}

	if c.MemoryLimit != nil && c.MemoryLimitRatio != nil {
		problems = append(problems, "memory limit given both in bytes and as a ratio; give one")
	}
	if (c.MemoryLimit != nil || c.MemoryLimitRatio != nil) && !owned("GOMEMLIMIT", l.Operator.MemoryLimit) {
		want := int64(0)
		ok := true
		if c.MemoryLimitRatio != nil {
			r := *c.MemoryLimitRatio
			switch {
			case l.ContainerMemory <= 0:
				problems = append(problems, "GOMEMLIMIT as a ratio needs a container memory limit, and this instance has none")
				ok = false
			case !validRatio(r):
				problems = append(problems, fmt.Sprintf("GOMEMLIMIT ratio %v is outside (0, %v]", r, MaxMemoryLimitRatio))
				ok = false
			default:
				want = RatioBytes(r, l.ContainerMemory)
			}
		} else if c.MemoryLimit != nil {
			want = *c.MemoryLimit
		}
		if ok {
			floor, ceiling := l.MemoryLimitFloor(), l.MemoryLimitCeiling()
			switch {
			case want == NoMemoryLimit && l.ContainerMemory <= 0:
				next.MemoryLimit = NoMemoryLimit
			case want < floor:
				problems = append(problems, fmt.Sprintf("GOMEMLIMIT %s is below the floor of %s (live heap %s)",
					FormatBytes(want), FormatBytes(floor), FormatBytes(l.LiveHeap)))
			case want > ceiling:
				problems = append(problems, fmt.Sprintf("GOMEMLIMIT %s is above %v × the container memory limit of %s (%s)",
					FormatBytes(want), MaxMemoryLimitRatio, FormatBytes(l.ContainerMemory), FormatBytes(ceiling)))
			default:
				next.MemoryLimit = want
			}
		}
	}
	if c.GOGC != nil && !owned("GOGC", l.Operator.GOGC) {
		g := *c.GOGC
		switch {
		case g == GOGCOff:
			// Checked below, once the memory limit this change leaves in force is known.
			next.GOGC = g
		case g < MinGOGC || g > MaxGOGC:
			problems = append(problems, fmt.Sprintf("GOGC %d is outside [%d, %d]", g, MinGOGC, MaxGOGC))
		default:
			next.GOGC = g
		}
	}
	touchesGC := c.GOGC != nil || c.MemoryLimit != nil || c.MemoryLimitRatio != nil
	if touchesGC && next.GOGC == GOGCOff && next.MemoryLimit == NoMemoryLimit {
		problems = append(problems, "GOGC off needs a memory limit in force, and none would be")
	}
	if c.GOMAXPROCS != nil && !owned("GOMAXPROCS", l.Operator.GOMAXPROCS) {
		p := *c.GOMAXPROCS
		switch {
		case p == 0:
			next.GOMAXPROCS = 0 // Go's default; the caller resolves it.
		case p < 1 || p > l.NumCPU:
			problems = append(problems, fmt.Sprintf("GOMAXPROCS %d is outside [1, %d]", p, l.NumCPU))
		default:
			next.GOMAXPROCS = p
		}
	}
	if len(problems) > 0 {
		return cur, &RejectedError{Reason: strings.Join(problems, "; ")}
	}
	return next, nil
}

// finite reports whether v is a usable number.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
