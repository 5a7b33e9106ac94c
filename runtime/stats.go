package runtime

import (
	"math"
	"runtime/metrics"
	"sync"

	"github.com/mcplane/mcp/runtime/knob"
)

// RuntimeSummary is a small snapshot of the Go runtime, sent with heartbeats.
type RuntimeSummary struct {
	LiveHeapBytes   int64   `json:"live_heap_bytes"`
	HeapGoalBytes   int64   `json:"heap_goal_bytes"`
	HeapAllocBytes  int64   `json:"heap_alloc_bytes"`   // cumulative bytes allocated
	TotalMemory     int64   `json:"total_memory_bytes"` // mapped by the runtime, minus released
	GCCycles        uint64  `json:"gc_cycles"`
	GCCPUSeconds    float64 `json:"gc_cpu_seconds"`    // cumulative, all GC classes
	TotalCPUSeconds float64 `json:"total_cpu_seconds"` // cumulative, as the runtime counts it
	Goroutines      int64   `json:"goroutines"`
	GOGC            int     `json:"gogc"`
	MemoryLimit     int64   `json:"memory_limit_bytes"`
}

// runtime/metrics names the agent reads.
const (
	mLiveHeap       = "/gc/heap/live:bytes"
	mHeapGoal       = "/gc/heap/goal:bytes"
	mHeapAllocs     = "/gc/heap/allocs:bytes"
	mGCCycles       = "/gc/cycles/total:gc-cycles"
	mGOGC           = "/gc/gogc:percent"
	mMemLimit       = "/gc/gomemlimit:bytes"
	mGoroutines     = "/sched/goroutines:goroutines"
	mMemTotal       = "/memory/classes/total:bytes"
	mMemReleased    = "/memory/classes/heap/released:bytes"
	mCPUTotal       = "/cpu/classes/total:cpu-seconds"
	mCPUGCTotal     = "/cpu/classes/gc/total:cpu-seconds"
	mCPUGCAssist    = "/cpu/classes/gc/mark/assist:cpu-seconds"
	mCPUGCDedicated = "/cpu/classes/gc/mark/dedicated:cpu-seconds"
	mCPUGCIdle      = "/cpu/classes/gc/mark/idle:cpu-seconds"
	mCPUGCPause     = "/cpu/classes/gc/pause:cpu-seconds"
	mCPUScavenge    = "/cpu/classes/scavenge/total:cpu-seconds"
	mCPUUser        = "/cpu/classes/user:cpu-seconds"
	mCPUIdle        = "/cpu/classes/idle:cpu-seconds"
)

// cpuClasses maps the go.cpu.class attribute value to its runtime/metrics name.
var cpuClasses = []struct{ class, name string }{
	{"gc", mCPUGCTotal},
	{"gc.mark.assist", mCPUGCAssist},
	{"gc.mark.dedicated", mCPUGCDedicated},
	{"gc.mark.idle", mCPUGCIdle},
	{"gc.pause", mCPUGCPause},
	{"scavenge", mCPUScavenge},
	{"user", mCPUUser},
	{"idle", mCPUIdle},
	{"total", mCPUTotal},
}

// sampler reads a fixed set of runtime/metrics; safe for concurrent use.
type sampler struct {
	mu      sync.Mutex
	samples []metrics.Sample
	index   map[string]int
}

func newSampler() *sampler {
	names := []string{mLiveHeap, mHeapGoal, mHeapAllocs, mGCCycles, mGOGC, mMemLimit, mGoroutines, mMemTotal, mMemReleased}
	for _, c := range cpuClasses {
		names = append(names, c.name)
	}
	s := &sampler{index: map[string]int{}}
	for i, n := range names {
		s.samples = append(s.samples, metrics.Sample{Name: n})
		s.index[n] = i
	}
	return s
}

// read takes a fresh snapshot and hands it to fn under the sampler's lock.
func (s *sampler) read(fn func(get func(string) float64)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	metrics.Read(s.samples)
	fn(func(name string) float64 {
		v := s.samples[s.index[name]].Value
		switch v.Kind() {
		case metrics.KindUint64:
			u := v.Uint64()
			if u == math.MaxUint64 { // GOGC=off is reported as -1
				return -1
			}
			return float64(u)
		case metrics.KindFloat64:
			return v.Float64()
		}
		return 0
	})
}

func (s *sampler) summary() RuntimeSummary {
	var r RuntimeSummary
	s.read(func(get func(string) float64) {
		r = RuntimeSummary{
			LiveHeapBytes:   int64(get(mLiveHeap)),
			HeapGoalBytes:   int64(get(mHeapGoal)),
			HeapAllocBytes:  int64(get(mHeapAllocs)),
			TotalMemory:     int64(get(mMemTotal) - get(mMemReleased)),
			GCCycles:        uint64(get(mGCCycles)),
			GCCPUSeconds:    get(mCPUGCTotal),
			TotalCPUSeconds: get(mCPUTotal),
			Goroutines:      int64(get(mGoroutines)),
			GOGC:            int(get(mGOGC)),
		}
		if ml := get(mMemLimit); ml >= math.MaxInt64 {
			r.MemoryLimit = knob.NoMemoryLimit
		} else {
			r.MemoryLimit = int64(ml)
		}
	})
	return r
}

// currentGOGC reads GOGC without changing it; knob.GOGCOff when it is off.
func currentGOGC() int {
	s := [1]metrics.Sample{{Name: mGOGC}}
	metrics.Read(s[:])
	v := s[0].Value.Uint64()
	if v > math.MaxInt32 { // off is reported as -1 in a uint64
		return knob.GOGCOff
	}
	return int(v)
}

// liveHeap reads only the live heap; it runs after every GC cycle, so it stays cheap.
func liveHeap() int64 {
	s := [1]metrics.Sample{{Name: mLiveHeap}}
	metrics.Read(s[:])
	return int64(s[0].Value.Uint64())
}
