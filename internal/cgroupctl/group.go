package cgroupctl

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// ErrNotWritable means cgroups cannot be created here: not Linux, not root (and no cgroup
// delegated to this user), a read-only cgroup filesystem, or the controllers a Group needs
// are not available. Tests skip with it; benchmarks refuse with it.
var ErrNotWritable = errors.New("cgroups cannot be created here")

// Limits are the limits of a Group. Zero means no limit.
type Limits struct {
	// MemoryBytes is the memory limit in bytes. The group never swaps: like a Kubernetes
	// container, reaching the limit means reclaim and then the OOM killer.
	MemoryBytes int64
	// CPUCores is the CPU limit in cores (0.5 is 50 ms of CPU time every 100 ms period).
	CPUCores float64
}

// cfsPeriod is the CFS period of a Group's CPU limit, in microseconds: the kernel's default
// and what container runtimes use.
const cfsPeriod = 100_000

func (l Limits) validate() error {
	if l.MemoryBytes < 0 {
		return fmt.Errorf("memory limit %d bytes is negative: want 0 (no limit) or more", l.MemoryBytes)
	}
	_, err := cfsQuota(l.CPUCores)
	return err
}

// cfsQuota converts cores to a CFS quota in microseconds per cfsPeriod; -1 is no limit.
func cfsQuota(cores float64) (int64, error) {
	switch {
	case math.IsNaN(cores) || math.IsInf(cores, 0) || cores < 0 || cores > 1e6:
		return 0, fmt.Errorf("CPU limit %v cores is invalid: want 0 (no limit) or a positive number of cores", cores)
	case cores == 0:
		return -1, nil
	}
	q := int64(math.Round(cores * cfsPeriod))
	if q < 1000 {
		return 0, fmt.Errorf("CPU limit %v cores is below the kernel's minimum of 0.01 cores (1 ms per 100 ms period)", cores)
	}
	return q, nil
}

// validateName checks that name can be a cgroup directory name.
func validateName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00\n") {
		return fmt.Errorf("cgroup name %q is invalid: want a non-empty directory name without '/'", name)
	}
	return nil
}
