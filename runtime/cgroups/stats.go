package cgroups

import (
	"fmt"
	"path/filepath"
)

// memoryStatsV1 reads a v1 memory cgroup's usage into s.
func memoryStatsV1(dir string, s *Stats) error {
	return readCounters(dir,
		counter{file: "memory.usage_in_bytes", into: bytesInto(&s.MemoryUsageBytes)},
		counter{file: "memory.max_usage_in_bytes", into: bytesInto(&s.MemoryPeakBytes)},
		counter{file: "memory.oom_control", key: "oom_kill", into: countInto(&s.OOMKills)},
	)
}

// memoryStatsV2 reads a v2 cgroup's memory usage into s.
func memoryStatsV2(dir string, s *Stats) error {
	return readCounters(dir,
		counter{file: "memory.current", into: bytesInto(&s.MemoryUsageBytes)},
		counter{file: "memory.peak", into: bytesInto(&s.MemoryPeakBytes)},
		counter{file: "memory.events", key: "oom_kill", into: countInto(&s.OOMKills)},
	)
}

// cpuStats reads a cpu cgroup's CFS throttling counters into s.
func cpuStats(c Controller, s *Stats) error {
	throttled := counter{file: "cpu.stat", key: "throttled_time", into: secondsInto(&s.CPUThrottledSeconds, 1e-9)}
	if c.Version == V2 {
		throttled = counter{file: "cpu.stat", key: "throttled_usec", into: secondsInto(&s.CPUThrottledSeconds, 1e-6)}
	}
	return readCounters(c.Dir,
		counter{file: "cpu.stat", key: "nr_periods", into: countInto(&s.CPUPeriods)},
		counter{file: "cpu.stat", key: "nr_throttled", into: countInto(&s.CPUThrottledPeriods)},
		throttled,
	)
}

// cpuUsage reads the CPU time a cgroup used into s: v1 cpuacct.usage, v2 cpu.stat usage_usec.
func cpuUsage(c Controller, s *Stats) error {
	if c.Version == V2 {
		return readCounters(c.Dir, counter{file: "cpu.stat", key: "usage_usec", into: secondsInto(&s.CPUUsageSeconds, 1e-6)})
	}
	return readCounters(c.Dir, counter{file: "cpuacct.usage", into: secondsInto(&s.CPUUsageSeconds, 1e-9)})
}

// counter is one usage counter: a one-value file, or the key of a flat keyed file.
type counter struct {
	file string
	key  string // "" for a one-value file
	into func(uint64)
}

// readCounters reads counters from a cgroup directory. A missing file or key leaves its
// counter at zero: older kernels lack some (memory.peak, oom_kill), and a v2 cgroup without
// the cpu controller has no throttling counters.
func readCounters(dir string, counters ...counter) error {
	files := map[string]string{}
	for _, c := range counters {
		p := filepath.Join(dir, c.file)
		content, seen := files[p]
		if !seen {
			s, ok, err := readValue(p)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			files[p], content = s, s
		}
		v, what := content, ""
		if c.key != "" {
			var ok bool
			if v, ok = keyed(content, c.key); !ok {
				continue
			}
			what = c.key + ": "
		}
		n, err := parseCounter(v)
		if err != nil {
			return fmt.Errorf("parse %s: %s%w", p, what, err)
		}
		c.into(n)
	}
	return nil
}

func countInto(dst *uint64) func(uint64) { return func(n uint64) { *dst = n } }

func bytesInto(dst *int64) func(uint64) {
	return func(n uint64) { *dst = int64(min(n, 1<<63-1)) }
}

func secondsInto(dst *float64, unit float64) func(uint64) {
	return func(n uint64) { *dst = float64(n) * unit }
}
