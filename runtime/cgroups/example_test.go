package cgroups_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/mcplane/mcp/runtime/cgroups"
)

// Reading the limits a container runtime set. Without WithRoot the Reader reads this machine;
// the fixture here is a Kubernetes pod whose pod-level limits are tighter than its
// container's.
func Example() {
	r := cgroups.NewReader(cgroups.WithRoot("testdata/cgroups/v2/parent-limit"))

	mem, err := r.MemoryLimit()
	switch {
	case errors.Is(err, cgroups.ErrNoLimit), errors.Is(err, cgroups.ErrNoCgroup):
		fmt.Println("memory: no limit")
	case err != nil:
		log.Fatal(err) // a malformed cgroup file: the error names it
	default:
		fmt.Printf("memory: %d MiB\n", mem>>20)
	}

	cores, err := r.CPUQuota()
	switch {
	case errors.Is(err, cgroups.ErrNoLimit), errors.Is(err, cgroups.ErrNoCgroup):
		fmt.Println("cpu: no limit")
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Printf("cpu: %.1f cores\n", cores)
	}

	v, _ := r.Version()
	fmt.Println("cgroup", v)
	// Output:
	// memory: 256 MiB
	// cpu: 0.5 cores
	// cgroup v2
}

func ExampleNewReader() {
	r := cgroups.NewReader(cgroups.WithRoot("testdata/cgroups/v1/no-limit"))
	_, err := r.MemoryLimit()
	fmt.Println(errors.Is(err, cgroups.ErrNoLimit))
	// Output: true
}

// Reading another process's limits, here from a fixture copy of /proc/4242.
func ExampleWithPID() {
	r := cgroups.NewReader(cgroups.WithRoot("testdata/cgroups/v2/pid"), cgroups.WithPID(4242))
	mem, _ := r.MemoryLimit()
	cores, _ := r.CPUQuota()
	fmt.Printf("%d MiB, %.0f cores\n", mem>>20, cores)
	// Output: 768 MiB, 4 cores
}

func ExampleReader_Stats() {
	s, err := cgroups.NewReader(cgroups.WithRoot("testdata/cgroups/v2/limit")).Stats()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("memory %d MiB (peak %d MiB), OOM kills %d\n", s.MemoryUsageBytes>>20, s.MemoryPeakBytes>>20, s.OOMKills)
	fmt.Printf("cpu %.1fs, throttled in %d of %d periods for %.1fs\n",
		s.CPUUsageSeconds, s.CPUThrottledPeriods, s.CPUPeriods, s.CPUThrottledSeconds)
	// Output:
	// memory 100 MiB (peak 200 MiB), OOM kills 1
	// cpu 12.5s, throttled in 40 of 500 periods for 2.0s
}
