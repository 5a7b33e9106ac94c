package runtime

import (
	"errors"
	"fmt"
	"time"

	"github.com/mcplane/mcp/runtime/cgroups"
)

// ContainerLimits are the resource limits the container runtime put on this process.
type ContainerLimits struct {
	// MemoryBytes is the memory limit; 0 means none.
	MemoryBytes int64 `json:"memory_bytes"`
	// CPUCores is the CPU limit (CFS quota / period); 0 means none.
	CPUCores float64 `json:"cpu_cores"`
}

// ContainerUsage is what the container's cgroup has counted so far.
type ContainerUsage struct {
	MemoryBytes         int64
	CPUSeconds          float64
	CPUPeriods          uint64
	CPUThrottledPeriods uint64
	CPUThrottledSeconds float64
	OOMKills            uint64
}

// LimitProvider reports the container's limits. A limit that is not set is 0, not an error;
// an error means a limit could not be read (a malformed cgroup file, say), and the limits
// returned alongside it are the ones that could.
type LimitProvider func() (ContainerLimits, error)

// UsageProvider reports the container's usage counters; ErrNoUsage when there are none.
type UsageProvider func() (ContainerUsage, error)

// ErrNoUsage means the process's usage is not counted anywhere the agent can read.
var ErrNoUsage = errors.New("no container usage counters")

// CgroupLimits reads limits from the process's cgroups (v1, v2 or hybrid).
func CgroupLimits() LimitProvider { return cgroupLimitsFrom(cgroups.NewReader()) }

func cgroupLimitsFrom(r *cgroups.Reader) LimitProvider {
	return func() (ContainerLimits, error) {
		var l ContainerLimits
		var errs []error
		mem, err := r.MemoryLimit()
		switch {
		case err == nil:
			l.MemoryBytes = mem
		case errors.Is(err, cgroups.ErrNoLimit), errors.Is(err, cgroups.ErrNoCgroup):
		default:
			errs = append(errs, fmt.Errorf("read container memory limit: %w", err))
		}
		cpu, err := r.CPUQuota()
		switch {
		case err == nil:
			l.CPUCores = cpu
		case errors.Is(err, cgroups.ErrNoLimit), errors.Is(err, cgroups.ErrNoCgroup):
		default:
			errs = append(errs, fmt.Errorf("read container CPU limit: %w", err))
		}
		return l, errors.Join(errs...)
	}
}

// cgroupUsage reads the process's cgroup usage counters.
func cgroupUsage() UsageProvider {
	r := cgroups.NewReader()
	return func() (ContainerUsage, error) {
		s, err := r.Stats()
		if errors.Is(err, cgroups.ErrNoCgroup) {
			return ContainerUsage{}, ErrNoUsage
		}
		if err != nil {
			return ContainerUsage{}, fmt.Errorf("read container usage: %w", err)
		}
		return ContainerUsage{
			MemoryBytes:         s.MemoryUsageBytes,
			CPUSeconds:          s.CPUUsageSeconds,
			CPUPeriods:          s.CPUPeriods,
			CPUThrottledPeriods: s.CPUThrottledPeriods,
			CPUThrottledSeconds: s.CPUThrottledSeconds,
			OOMKills:            s.OOMKills,
		}, nil
	}
}

// FixedLimits always reports l: for services that know their limits some other way, and
// for tests.
func FixedLimits(l ContainerLimits) LimitProvider {
	return func() (ContainerLimits, error) { return l, nil }
}

// Clock is the time source the agent uses; tests inject their own.
type Clock interface {
	Now() time.Time
	NewTicker(d time.Duration) Ticker
}

// Ticker is the part of time.Ticker the agent uses.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTicker(d time.Duration) Ticker { return systemTicker{time.NewTicker(d)} }

type systemTicker struct{ t *time.Ticker }

func (t systemTicker) C() <-chan time.Time { return t.t.C }
func (t systemTicker) Stop()               { t.t.Stop() }
