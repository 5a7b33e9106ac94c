package main

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Workload is what one demoapp instance does, changeable at run time.
type Workload struct {
	// LiveHeapMiB is the memory held live by the in-memory data set (customers and a quote
	// cache), in MiB. The Go heap is this plus a few MiB of runtime, HTTP and agent state.
	LiveHeapMiB int `json:"live_heap_mib"`
	// GarbageKiB is roughly how much one request allocates and drops, in KiB. Requests
	// have a fixed floor (baseGarbageBytes); smaller values get the floor.
	GarbageKiB int `json:"garbage_kib"`
	// CPUMicros is the CPU time of pure computation (hashing) each request does on top of
	// its JSON and data-set work, in microseconds.
	CPUMicros int `json:"cpu_us"`
}

// DefaultWorkload is a small service: 64 MiB live, 64 KiB garbage and 100 µs of extra CPU
// per request.
func DefaultWorkload() Workload {
	return Workload{LiveHeapMiB: 64, GarbageKiB: 64, CPUMicros: 100}
}

// The bounds keep a typo from taking the machine down; they are far above any demo's needs.
const (
	maxLiveHeapMiB = 64 << 10 // 64 GiB
	maxGarbageKiB  = 64 << 10 // 64 MiB per request
	maxCPUMicros   = 10_000_000
)

// Validate names the first field (by its JSON key and flag) that is out of range.
func (w Workload) Validate() error {
	var errs []error
	check := func(name string, v, limit int) {
		if v < 0 || v > limit {
			errs = append(errs, fmt.Errorf("%s: %d is out of range: want a whole number from 0 to %d", name, v, limit))
		}
	}
	check("live_heap_mib", w.LiveHeapMiB, maxLiveHeapMiB)
	check("garbage_kib", w.GarbageKiB, maxGarbageKiB)
	check("cpu_us", w.CPUMicros, maxCPUMicros)
	return errors.Join(errs...)
}

// WorkloadPatch changes some fields of a Workload; nil fields stay as they are. It is the
// body of PUT /config and one phase of a --phases schedule.
type WorkloadPatch struct {
	LiveHeapMiB *int `json:"live_heap_mib,omitempty"`
	GarbageKiB  *int `json:"garbage_kib,omitempty"`
	CPUMicros   *int `json:"cpu_us,omitempty"`
}

// Apply returns w with the patch's fields replaced.
func (p WorkloadPatch) Apply(w Workload) Workload {
	if p.LiveHeapMiB != nil {
		w.LiveHeapMiB = *p.LiveHeapMiB
	}
	if p.GarbageKiB != nil {
		w.GarbageKiB = *p.GarbageKiB
	}
	if p.CPUMicros != nil {
		w.CPUMicros = *p.CPUMicros
	}
	return w
}

// String formats the patch as a phase's settings, e.g. "live=64,garbage=256".
func (p WorkloadPatch) String() string {
	var parts []string
	if p.LiveHeapMiB != nil {
		parts = append(parts, fmt.Sprintf("live=%d", *p.LiveHeapMiB))
	}
	if p.GarbageKiB != nil {
		parts = append(parts, fmt.Sprintf("garbage=%d", *p.GarbageKiB))
	}
	if p.CPUMicros != nil {
		parts = append(parts, fmt.Sprintf("cpu=%d", *p.CPUMicros))
	}
	return strings.Join(parts, ",")
}

// Calibration of the per-request garbage. A request allocates serveBaseBytes whatever its
// size plus garbagePerItemBytes for each line item of its order; serving it over HTTP adds
// about httpOverheadBytes (net/http's request, headers and response writer). The first two
// come from
//
//	go test ./cmd/demoapp -run TestGarbageCalibration -v
//
// which measures /gc/heap/allocs:bytes over requests of 1 and 201 items; the third from a
// running demoapp --no-agent (go_gc_heap_allocs_bytes_total over 1000 requests, minus what
// the engine accounts for), on Go 1.26 linux/amd64. TestGarbagePerRequest checks the
// result stays within 25% of what is asked for.
const (
	serveBaseBytes      = 2955
	garbagePerItemBytes = 2245
	httpOverheadBytes   = 4 << 10
	baseGarbageBytes    = serveBaseBytes + httpOverheadBytes
)

// itemsFor is the number of line items that makes a request allocate about garbageKiB.
func itemsFor(garbageKiB int) int {
	extra := float64(garbageKiB<<10 - baseGarbageBytes)
	return max(1, int(math.Round(extra/garbagePerItemBytes)))
}
