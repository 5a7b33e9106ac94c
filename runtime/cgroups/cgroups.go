// Package cgroups reads the memory and CPU limits a container runtime put on a process, the
// usage counted against them, and creates child cgroups for tests, benchmarks and the demo.
//
// Limits and usage are read from cgroup v1, cgroup v2 and hybrid hierarchies: each controller
// is read from the hierarchy it is actually mounted in, found through /proc/<pid>/cgroup and
// /proc/<pid>/mountinfo. A limit set on an ancestor cgroup bounds its descendants, so limits
// are the tightest one between the process's cgroup and the top of the mount it can see.
//
// "No limit" is not a failure: it is reported as ErrNoLimit, and "no cgroups here" (not Linux,
// or no cgroup filesystem mounted) as ErrNoCgroup. Every other error names the file and what
// was wrong with it.
package cgroups

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
)

// ErrNoLimit means no limit is set: the "no data" answer, not a failure.
var ErrNoLimit = errors.New("no cgroup limit set")

// ErrNoCgroup means the process is not in a cgroup hierarchy this package can read: not Linux,
// no cgroup filesystem mounted, or the process's cgroup is outside the mounts it can see.
var ErrNoCgroup = errors.New("no readable cgroup")

// Version is a cgroup hierarchy version.
type Version int

// The cgroup versions. A hybrid system mounts both; see Reader.Version.
const (
	V1 Version = 1
	V2 Version = 2
)

func (v Version) String() string {
	switch v {
	case V1:
		return "v1"
	case V2:
		return "v2"
	}
	return "Version(" + strconv.Itoa(int(v)) + ")"
}

// Stats is what the kernel has counted against a cgroup. Counters the kernel does not provide
// (memory.peak before Linux 5.19, throttling without the cpu controller, ...) are zero.
type Stats struct {
	// MemoryUsageBytes is the memory charged now: v1 memory.usage_in_bytes, v2 memory.current.
	MemoryUsageBytes int64
	// MemoryPeakBytes is the most memory ever charged: v1 memory.max_usage_in_bytes,
	// v2 memory.peak.
	MemoryPeakBytes int64
	// CPUUsageSeconds is the CPU time used: v1 cpuacct.usage, v2 cpu.stat usage_usec.
	CPUUsageSeconds float64
	// CPUPeriods is the number of CFS enforcement periods that have elapsed with runnable
	// tasks (cpu.stat nr_periods).
	CPUPeriods uint64
	// CPUThrottledPeriods is how many of those periods the group was throttled in
	// (cpu.stat nr_throttled).
	CPUThrottledPeriods uint64
	// CPUThrottledSeconds is the total time the group was throttled: v1 cpu.stat
	// throttled_time, v2 cpu.stat throttled_usec.
	CPUThrottledSeconds float64
	// OOMKills is the number of processes the OOM killer killed because of this cgroup's
	// limit: `oom_kill` in v1 memory.oom_control, v2 memory.events.
	OOMKills uint64
}

// Reader reads limits and usage for one process. Every call reads the files again, so a
// limit resized in place is seen at the next call. A Reader is safe for concurrent use.
type Reader struct {
	root string // prefix for /proc and /sys paths
	pid  int    // 0 = the calling process

	// fixed, when set, is the layout to read instead of the one found through /proc; it is
	// how a Group reads its own limits and usage.
	fixed *Layout
}

// Option configures a Reader.
type Option func(*Reader)

// NewReader returns a Reader for the calling process on this machine, or as configured.
func NewReader(opts ...Option) *Reader {
	r := &Reader{root: defaultRoot}
	for _, o := range opts {
		o(r)
	}
	return r
}

// WithRoot reads every /proc and /sys path under dir; tests point it at a fixture tree. Off
// Linux a Reader without a root reports ErrNoCgroup. Default: "/" on Linux.
func WithRoot(dir string) Option {
	return func(r *Reader) { r.root = dir }
}

// WithLayout reads the controllers of l instead of finding the process's own: how a cgroup
// this process created reads its limits and usage.
func WithLayout(l Layout) Option {
	return func(r *Reader) { r.fixed = &l }
}

// WithPID reads the limits of process pid: its /proc/<pid>/cgroup and /proc/<pid>/mountinfo,
// with its mount points resolved in its own mount namespace (through /proc/<pid>/root), so
// a process in a container can be read from the host. Default: the calling process
// (/proc/self).
func WithPID(pid int) Option {
	return func(r *Reader) { r.pid = pid }
}

// MemoryLimit returns the memory limit in bytes, or ErrNoLimit when there is none.
//
// cgroup v1: the smaller of memory.limit_in_bytes and memory.stat hierarchical_memory_limit
// (which accounts for ancestors the process may not see). cgroup v2: the smallest memory.max
// between the process's cgroup and the top of its mount.
func (r *Reader) MemoryLimit() (int64, error) {
	l, err := r.Layout()
	if err != nil {
		return 0, err
	}
	c := l.Memory
	switch c.Version {
	case V1:
		return memoryLimitV1(c.Dir)
	case V2:
		return smallestAncestor(c, limitFile("memory.max", parseV2Max))
	}
	return 0, c.Err
}

// CPUQuota returns the CPU limit in cores (CFS quota / period; 0.5 is half a core), or
// ErrNoLimit when there is none. The smallest quota between the process's cgroup and the top
// of its mount wins: a parent's quota bounds its children.
func (r *Reader) CPUQuota() (float64, error) {
	l, err := r.Layout()
	if err != nil {
		return 0, err
	}
	c := l.CPU
	switch c.Version {
	case V1:
		return smallestAncestor(c, readQuotaV1)
	case V2:
		return smallestAncestor(c, limitFile("cpu.max", parseCPUMax))
	}
	return 0, c.Err
}

// Stats returns the usage counted against the process's cgroups, or ErrNoCgroup when neither
// the memory nor the CPU controller can be found.
func (r *Reader) Stats() (Stats, error) {
	l, err := r.Layout()
	if err != nil {
		return Stats{}, err
	}
	if l.Memory.Version == 0 && l.CPU.Version == 0 && l.CPUAcct.Version == 0 {
		return Stats{}, l.Memory.Err
	}
	var s Stats
	switch l.Memory.Version {
	case V1:
		err = memoryStatsV1(l.Memory.Dir, &s)
	case V2:
		err = memoryStatsV2(l.Memory.Dir, &s)
	}
	if err != nil {
		return Stats{}, fmt.Errorf("read cgroup memory stats: %w", err)
	}
	if l.CPU.Version != 0 {
		if err := cpuStats(l.CPU, &s); err != nil {
			return Stats{}, fmt.Errorf("read cgroup cpu stats: %w", err)
		}
	}
	if l.CPUAcct.Version != 0 {
		if err := cpuUsage(l.CPUAcct, &s); err != nil {
			return Stats{}, fmt.Errorf("read cgroup cpu usage: %w", err)
		}
	}
	return s, nil
}

// Version returns the version of the hierarchy the memory controller is read from (the CPU
// controller's when memory is not available). On a hybrid system where memory is a v1
// controller that is V1, even though a cgroup2 filesystem is mounted too.
func (r *Reader) Version() (Version, error) {
	l, err := r.Layout()
	if err != nil {
		return 0, err
	}
	switch {
	case l.Memory.Version != 0:
		return l.Memory.Version, nil
	case l.CPU.Version != 0:
		return l.CPU.Version, nil
	}
	return 0, l.Memory.Err
}

// Layout finds the directories of the process's memory, cpu and cpuacct cgroups: where a
// cgroup of its own would be created.
func (r *Reader) Layout() (Layout, error) {
	if r.fixed != nil {
		return *r.fixed, nil
	}
	if r.root == "" {
		return Layout{}, fmt.Errorf("%w: cgroups exist only on Linux", ErrNoCgroup)
	}
	proc := filepath.Join(r.root, "proc", "self")
	sys := r.root
	if r.pid != 0 {
		proc = filepath.Join(r.root, "proc", strconv.Itoa(r.pid))
		sys = filepath.Join(proc, "root")
	}
	return readLayout(proc, sys)
}
