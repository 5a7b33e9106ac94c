package cgroups

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixtures is where the fixture trees live: testdata/cgroups/<kind>/<case>/{proc,sys}/...,
// each named in the tables below by "<kind>/<case>".
const fixtures = "testdata/cgroups"

// failure is an expected error: it must match is (when set) with errors.Is and contain msg.
type failure struct {
	is  error
	msg string
}

func (f failure) check(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got no error, want %v %q", what, f.is, f.msg)
		return
	}
	if f.is != nil && !errors.Is(err, f.is) {
		t.Errorf("%s: got error %q, want one matching %v", what, err, f.is)
	}
	if !strings.Contains(err.Error(), f.msg) {
		t.Errorf("%s: got error %q, want it to contain %q", what, err, f.msg)
	}
}

var (
	noLimit  = &failure{is: ErrNoLimit}
	noCgroup = &failure{is: ErrNoCgroup}
)

func fail(msg string) *failure { return &failure{msg: msg} }

// limitCases are the expected limits for each fixture. A nil error field means the value
// must be read without error.
var limitCases = []struct {
	name       string
	pid        int
	memory     int64
	memoryErr  *failure
	cpu        float64
	cpuErr     *failure
	version    Version
	versionErr *failure
}{
	{name: "v1/limit", memory: 512 << 20, cpu: 2, version: V1},
	{name: "v1/hierarchical", memory: 256 << 20, cpuErr: noLimit, version: V1},
	{name: "v1/nested", memory: 1 << 30, cpu: 1.5, version: V1},
	{name: "v1/no-limit", memoryErr: noLimit, cpuErr: noLimit, version: V1},
	{name: "v1/cpu-quota", memoryErr: noLimit, cpu: 0.25, version: V1},
	{name: "v1/escaped", memory: 128 << 20, cpu: 3, version: V1},
	{name: "v1/missing-files", memoryErr: noLimit, cpuErr: noLimit, version: V1},
	{name: "v1/no-memory-mount", memoryErr: &failure{is: ErrNoCgroup, msg: "no memory cgroup is mounted"}, cpu: 0.75, version: V1},

	{name: "v2/limit", memory: 1 << 30, cpu: 1.5, version: V2},
	{name: "v2/parent-limit", memory: 256 << 20, cpu: 0.5, version: V2},
	{name: "v2/nested", memory: 512 << 20, cpu: 0.25, version: V2},
	{name: "v2/cgroupns", memory: 2 << 30, cpuErr: noLimit, version: V2},
	{name: "v2/no-limit", memoryErr: noLimit, cpuErr: noLimit, version: V2},
	{name: "v2/pid", pid: 4242, memory: 768 << 20, cpu: 4, version: V2},

	{name: "hybrid/systemd", memory: 768 << 20, cpu: 1, version: V1},
	{name: "hybrid/memory-v2", memory: 256 << 20, cpu: 0.5, version: V2},

	{
		name:      "malformed/garbage-number",
		memoryErr: fail(`sys/fs/cgroup/memory/system.slice/app.service/memory.limit_in_bytes: "abc" is not a number`),
		cpu:       1, version: V1,
	},
	{
		name:      "malformed/hierarchical-garbage",
		memoryErr: fail(`memory.stat: hierarchical_memory_limit: "lots" is not a number`),
		cpu:       1, version: V1,
	},
	{
		name:      "malformed/empty-file",
		memoryErr: fail(`sys/fs/cgroup/system.slice/app.service/memory.max: file is empty`),
		cpu:       1, version: V2,
	},
	{
		name:      "malformed/negative-memory-max",
		memoryErr: fail(`memory.max: "-1" is negative`),
		cpu:       1, version: V2,
	},
	{
		name:   "malformed/bad-cpu-max",
		memory: 512 << 20, version: V2,
		cpuErr: fail(`cpu.max: want "<quota|max> <period>", got "100000"`),
	},
	{
		name:   "malformed/cpu-max-garbage",
		memory: 512 << 20, version: V2,
		cpuErr: fail(`cpu.max: quota: "fast" is not a number`),
	},
	{
		name:   "malformed/v2-zero-period",
		memory: 512 << 20, version: V2,
		cpuErr: fail(`cpu.max: period is 0`),
	},
	{
		name:   "malformed/zero-period",
		memory: 512 << 20, version: V1,
		cpuErr: fail(`app.service/cpu.cfs_period_us: period is 0`),
	},
	{
		name:   "malformed/negative-quota",
		memory: 512 << 20, version: V1,
		cpuErr: fail(`cpu.cfs_quota_us: quota -5 is invalid`),
	},
	{
		name:   "malformed/missing-period",
		memory: 512 << 20, version: V1,
		cpuErr: fail(`cpu.cfs_period_us: missing next to a quota of 100000us`),
	},
	{
		name:       "malformed/bad-mountinfo-line",
		memoryErr:  fail(`proc/self/mountinfo: line 9: want at least 10 fields, got 6`),
		cpuErr:     fail(`proc/self/mountinfo: line 9`),
		versionErr: fail(`proc/self/mountinfo: line 9`),
	},
	{
		name:       "malformed/mountinfo-no-separator",
		memoryErr:  fail(`proc/self/mountinfo: line 7: no " - " separator`),
		cpuErr:     fail(`proc/self/mountinfo: line 7`),
		versionErr: fail(`proc/self/mountinfo: line 7`),
	},
	{
		name:       "malformed/bad-proc-cgroup",
		memoryErr:  fail(`proc/self/cgroup: line 2: want "hierarchy-ID:controllers:path", got "not a cgroup line"`),
		cpuErr:     fail(`proc/self/cgroup: line 2`),
		versionErr: fail(`proc/self/cgroup: line 2`),
	},
	{name: "malformed/bad-cpu-stat", memory: 512 << 20, cpu: 1, version: V2},

	{name: "missing/no-proc-cgroup", memoryErr: noCgroup, cpuErr: noCgroup, versionErr: noCgroup},
	{
		name:       "missing/no-cgroup-mounts",
		memoryErr:  &failure{is: ErrNoCgroup, msg: "no memory cgroup is mounted"},
		cpuErr:     &failure{is: ErrNoCgroup, msg: "no cpu cgroup is mounted"},
		versionErr: noCgroup,
	},
	{
		name:       "missing/outside-mount",
		memoryErr:  &failure{is: ErrNoCgroup, msg: "memory cgroup /docker/other is outside every mount of its hierarchy"},
		cpuErr:     &failure{is: ErrNoCgroup, msg: "cpu cgroup /docker/other is outside every mount"},
		versionErr: noCgroup,
	},
	{
		name:       "missing/outside-namespace",
		memoryErr:  &failure{is: ErrNoCgroup, msg: "cgroup /../../system.slice/other.service is outside every cgroup2 mount"},
		cpuErr:     noCgroup,
		versionErr: noCgroup,
	},
}

func TestLimits(t *testing.T) {
	for _, tc := range limitCases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(WithRoot(filepath.Join(fixtures, tc.name)), WithPID(tc.pid))

			mem, err := r.MemoryLimit()
			if tc.memoryErr != nil {
				tc.memoryErr.check(t, "MemoryLimit", err)
			} else if err != nil || mem != tc.memory {
				t.Errorf("MemoryLimit() = %d, %v; want %d", mem, err, tc.memory)
			}

			cpu, err := r.CPUQuota()
			if tc.cpuErr != nil {
				tc.cpuErr.check(t, "CPUQuota", err)
			} else if err != nil || cpu != tc.cpu {
				t.Errorf("CPUQuota() = %v, %v; want %v", cpu, err, tc.cpu)
			}

			v, err := r.Version()
			if tc.versionErr != nil {
				tc.versionErr.check(t, "Version", err)
			} else if err != nil || v != tc.version {
				t.Errorf("Version() = %v, %v; want %v", v, err, tc.version)
			}
		})
	}
}

var statsCases = []struct {
	name  string
	want  Stats
	error *failure
}{
	{
		name: "v1/limit",
		want: Stats{
			MemoryUsageBytes:    123457536,
			MemoryPeakBytes:     256 << 20,
			CPUUsageSeconds:     42.5,
			CPUPeriods:          1000,
			CPUThrottledPeriods: 25,
			CPUThrottledSeconds: 1.5,
			OOMKills:            2,
		},
	},
	{
		name: "v2/limit",
		want: Stats{
			MemoryUsageBytes:    100 << 20,
			MemoryPeakBytes:     200 << 20,
			CPUUsageSeconds:     12.5,
			CPUPeriods:          500,
			CPUThrottledPeriods: 40,
			CPUThrottledSeconds: 2,
			OOMKills:            1,
		},
	},
	{
		// Linux before 5.19 has no memory.peak.
		name: "v2/no-limit",
		want: Stats{
			MemoryUsageBytes:    100 << 20,
			CPUUsageSeconds:     12.5,
			CPUPeriods:          500,
			CPUThrottledPeriods: 40,
			CPUThrottledSeconds: 2,
			OOMKills:            1,
		},
	},
	{
		// Memory from the unified hierarchy, CPU from v1.
		name: "hybrid/memory-v2",
		want: Stats{
			MemoryUsageBytes:    1 << 20,
			CPUUsageSeconds:     3,
			CPUPeriods:          10,
			CPUThrottledPeriods: 5,
			CPUThrottledSeconds: 0.25,
		},
	},
	{name: "v1/missing-files"},
	{name: "malformed/bad-cpu-stat", error: fail(`app.service/cpu.stat: nr_periods: "many" is not a number`)},
	{name: "malformed/bad-mountinfo-line", error: fail(`proc/self/mountinfo: line 9`)},
	{name: "missing/no-cgroup-mounts", error: noCgroup},
}

func TestStats(t *testing.T) {
	for _, tc := range statsCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewReader(WithRoot(filepath.Join(fixtures, tc.name))).Stats()
			if tc.error != nil {
				tc.error.check(t, "Stats", err)
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Stats() = %+v, %v\nwant %+v", got, err, tc.want)
			}
		})
	}
}

// TestFixturesHaveCases keeps the fixture tree and the tables in step: a fixture nobody
// checks is a test that does not run.
func TestFixturesHaveCases(t *testing.T) {
	named := map[string]bool{}
	for _, tc := range limitCases {
		named[tc.name] = true
	}
	kinds, err := os.ReadDir(fixtures)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range kinds {
		cases, err := os.ReadDir(filepath.Join(fixtures, kind.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			if name := kind.Name() + "/" + c.Name(); !named[name] {
				t.Errorf("fixture %s has no entry in limitCases", name)
			}
		}
	}
	for _, tc := range statsCases {
		if _, err := os.Stat(filepath.Join(fixtures, tc.name)); errors.Is(err, fs.ErrNotExist) {
			t.Errorf("statsCases names %s, which has no fixture", tc.name)
		}
	}
}

func TestVersionString(t *testing.T) {
	for v, want := range map[Version]string{V1: "v1", V2: "v2", 0: "Version(0)"} {
		if got := v.String(); got != want {
			t.Errorf("Version(%d).String() = %q, want %q", int(v), got, want)
		}
	}
}
