// Package tuning is `mcp bench tuning`: the benchmark that shows whether MCP's tuner beats
// the static settings teams use today. Every contender runs demoapp in its own real cgroup
// with the same memory limit and CPU quota, under the same open-loop load (constant arrival
// rate, latency measured from the intended send time), interleaved and repeated. CPU per
// request comes from the cgroup's CPU accounting; peak memory, OOM kills and throttling
// from the cgroup too; GC CPU from the process's runtime/metrics.
//
// Contenders:
//
//	default             Go's defaults (GOGC 100, no GOMEMLIMIT)
//	automemlimit        github.com/KimMachineGun/automemlimit, ratio 0.9 (the module itself)
//	gogc-off-memlimit   GOGC=off with GOMEMLIMIT at 90% of the limit
//	uber-gogctuner      a re-implementation of Uber's published GOGC tuner: GOGC from the
//	                    live heap against 70% of the limit, recomputed every GC cycle
//	oracle-static       the best static GOGC for the profile, found by a sweep (hindsight)
//	mcp                 mcp serve + the agent + the tuner in apply mode
package tuning

import (
	"fmt"
	"time"
)

// Profile is a workload shape and the container it runs in.
type Profile struct {
	Name        string
	Description string
	MemoryLimit int64   // bytes
	CPUQuota    float64 // cores
	// CPUShare is the share of the quota the default contender should use: the load's
	// rate is calibrated to it, so every contender has headroom and none saturates.
	CPUShare float64
	// Demo is demoapp's workload: flags without the leading dashes' values.
	LiveHeapMiB int
	GarbageKiB  int
	CPUMicros   int
	// Phases, when set, is demoapp's --phases schedule (repeated), with durations scaled to
	// the run's length by PhaseFraction of the measurement window each.
	Phases []PhaseSpec
}

// PhaseSpec is one phase of a phased profile.
type PhaseSpec struct {
	Fraction   float64 // of the cycle
	LiveMiB    int
	GarbageKiB int
}

// phases renders the --phases flag for a cycle of the given length.
func (p Profile) phases(cycle time.Duration) string {
	s := ""
	for i, ph := range p.Phases {
		if i > 0 {
			s += ";"
		}
		d := time.Duration(ph.Fraction * float64(cycle)).Round(time.Second)
		s += fmt.Sprintf("%s:live=%d,garbage=%d", d, ph.LiveMiB, ph.GarbageKiB)
	}
	return s
}

// Profiles are the benchmark's workloads, in a 512 MiB, 1-core container.
var Profiles = []Profile{
	{
		Name:        "alloc-heavy",
		Description: "steady; small live heap (24 MiB), high garbage rate (2 MiB per request)",
		MemoryLimit: 512 << 20, CPUQuota: 1, CPUShare: 0.6,
		LiveHeapMiB: 24, GarbageKiB: 2048, CPUMicros: 0,
	},
	{
		Name:        "large-heap",
		Description: "steady; live heap near half the limit (230 MiB), 512 KiB of garbage per request",
		MemoryLimit: 512 << 20, CPUQuota: 1, CPUShare: 0.6,
		LiveHeapMiB: 230, GarbageKiB: 512, CPUMicros: 100,
	},
	{
		Name:        "phased",
		Description: "live heap and garbage rate change over the run: 24 MiB/2 MiB per request, then 260 MiB/256 KiB, then 120 MiB/1 MiB",
		MemoryLimit: 512 << 20, CPUQuota: 1, CPUShare: 0.6,
		LiveHeapMiB: 24, GarbageKiB: 2048, CPUMicros: 0,
		Phases: []PhaseSpec{{0.4, 24, 2048}, {0.3, 260, 256}, {0.3, 120, 1024}},
	},
}

// ProfileByName finds a profile.
func ProfileByName(name string) (Profile, error) {
	for _, p := range Profiles {
		if p.Name == name {
			return p, nil
		}
	}
	return Profile{}, fmt.Errorf("--profile %q: want alloc-heavy, large-heap or phased", name)
}

// Contenders are the settings compared, in the order they are reported.
var Contenders = []string{"default", "automemlimit", "gogc-off-memlimit", "uber-gogctuner", "oracle-static", "mcp"}
