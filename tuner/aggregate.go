package tuner

import (
	"math"
	"time"

	"github.com/mcplane/mcp/tuner/model"
	"github.com/mcplane/mcp/tuner/signals"

	"github.com/mcplane/mcp/runtime/knob"
)

// Aggregate is a workload's signals over a window: per-instance means, then summed (rates)
// or averaged (per-instance figures) across instances; limits are the tightest instance's.
type Aggregate struct {
	Instances  int     `json:"instances"`
	Samples    int     `json:"samples"`
	LiveHeap   float64 `json:"live_heap_bytes"`
	HeapGoal   float64 `json:"heap_goal_bytes"`
	AllocRate  float64 `json:"alloc_bytes_per_second"` // per instance
	GCCores    float64 `json:"gc_cpu_cores"`           // per instance
	CPUCores   float64 `json:"cpu_cores"`              // per instance
	GCCycles   float64 `json:"gc_cycles_per_second"`   // per instance
	GCFrac     float64 `json:"gc_cpu_fraction"`
	RuntimeMem float64 `json:"runtime_memory_bytes"`
	RPS        float64 `json:"requests_per_second"` // all instances
	P99        float64 `json:"latency_p99_seconds"` // worst instance
	ErrorRate  float64 `json:"error_rate"`
	CPUPerReq  float64 `json:"cpu_seconds_per_request"`
	Throttled  float64 `json:"throttled_fraction"`

	MemoryLimit float64 `json:"memory_limit_bytes"` // smallest instance limit; 0: none
	CPULimit    float64 `json:"cpu_limit_cores"`
	GOGC        float64 `json:"gogc"`
	GOMEMLIMIT  float64 `json:"gomemlimit_bytes"`
	GOMAXPROCS  float64 `json:"gomaxprocs"`
}

// mean of the reported values.
func mean(vals []float64) float64 {
	var sum float64
	n := 0
	for _, v := range vals {
		if signals.Has(v) && !math.IsInf(v, 0) {
			sum += v
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// aggregate builds a workload's Aggregate from its instances' samples since a time; only
// instances in keep (if non-nil) count.
func aggregate(src SignalSource, keys []signals.Key, since time.Time, keep func(signals.Key) bool) Aggregate {
	var a Aggregate
	var per struct {
		live, goal, alloc, gc, used, cpu, cycles, frac, mem, p99, throttled, gogc, gomem, procs []float64
	}
	var rps, cpuForReqs, errs float64
	memLimit, cpuLimit := math.Inf(1), math.Inf(1)
	for _, k := range keys {
		if keep != nil && !keep(k) {
			continue
		}
		w := src.Window(k, since)
		if len(w) == 0 {
			continue
		}
		a.Instances++
		a.Samples += len(w)
		col := func(f func(signals.Sample) float64) float64 {
			vals := make([]float64, len(w))
			for i, s := range w {
				vals[i] = f(s)
			}
			return mean(vals)
		}
		per.live = append(per.live, col(func(s signals.Sample) float64 { return s.LiveHeapBytes }))
		per.goal = append(per.goal, col(func(s signals.Sample) float64 { return s.HeapGoalBytes }))
		per.alloc = append(per.alloc, col(func(s signals.Sample) float64 { return s.AllocBytesPerSecond }))
		per.gc = append(per.gc, col(func(s signals.Sample) float64 { return s.GCCPUCores }))
		per.used = append(per.used, col(func(s signals.Sample) float64 { return s.RuntimeCPUCores }))
		cpu := col(func(s signals.Sample) float64 { return s.CPUCores })
		per.cpu = append(per.cpu, cpu)
		per.cycles = append(per.cycles, col(func(s signals.Sample) float64 { return s.GCCyclesPerSecond }))
		per.frac = append(per.frac, col(func(s signals.Sample) float64 { return s.GCCPUFraction }))
		per.mem = append(per.mem, col(func(s signals.Sample) float64 { return s.RuntimeMemoryBytes }))
		per.p99 = append(per.p99, col(func(s signals.Sample) float64 { return s.LatencyP99 }))
		per.throttled = append(per.throttled, col(func(s signals.Sample) float64 { return s.ThrottledFraction }))
		last := w[len(w)-1]
		per.gogc = append(per.gogc, last.GOGC)
		per.gomem = append(per.gomem, last.GOMEMLIMIT)
		per.procs = append(per.procs, last.GOMAXPROCS)
		if r := col(func(s signals.Sample) float64 { return s.RequestsPerSecond }); signals.Has(r) {
			rps += r
			if signals.Has(cpu) {
				cpuForReqs += cpu
			}
			if e := col(func(s signals.Sample) float64 { return s.ErrorRate }); signals.Has(e) {
				errs += e * r
			}
		}
		if l := last.MemoryLimitBytes; signals.Has(l) && l > 0 {
			memLimit = math.Min(memLimit, l)
		}
		if l := last.CPULimitCores; signals.Has(l) && l > 0 {
			cpuLimit = math.Min(cpuLimit, l)
		}
	}
	a.LiveHeap, a.HeapGoal, a.AllocRate = mean(per.live), mean(per.goal), mean(per.alloc)
	a.GCCores, a.CPUCores, a.GCCycles = mean(per.gc), mean(per.cpu), mean(per.cycles)
	// The runtime updates its CPU classes at the end of GC cycles, so a 10 s sample without a
	// cycle has no GC fraction; over the window the fraction is the GC time over the CPU time
	// the runtime accounted, which weighs every sample by what it covered.
	a.GCFrac = mean(per.frac)
	if used := mean(per.used); used > 0 && finite(a.GCCores) {
		a.GCFrac = a.GCCores / used
	}
	a.RuntimeMem, a.Throttled = mean(per.mem), mean(per.throttled)
	a.GOGC, a.GOMEMLIMIT, a.GOMAXPROCS = mean(per.gogc), mean(per.gomem), mean(per.procs)
	a.P99 = math.NaN()
	for _, v := range per.p99 {
		if signals.Has(v) && (!signals.Has(a.P99) || v > a.P99) {
			a.P99 = v
		}
	}
	a.RPS, a.ErrorRate, a.CPUPerReq = math.NaN(), math.NaN(), math.NaN()
	if rps > 0 {
		a.RPS, a.ErrorRate = rps, errs/rps
		if cpuForReqs > 0 {
			a.CPUPerReq = cpuForReqs / rps
		}
	}
	if !math.IsInf(memLimit, 1) {
		a.MemoryLimit = memLimit
	}
	if !math.IsInf(cpuLimit, 1) {
		a.CPULimit = cpuLimit
	}
	return a
}

// observed turns an Aggregate into the model's input.
func (a Aggregate) observed() model.Observed {
	gomem := a.GOMEMLIMIT
	if !signals.Has(gomem) {
		gomem = knob.NoMemoryLimit
	}
	return model.Observed{LiveHeap: a.LiveHeap, HeapGoal: a.HeapGoal, AllocRate: a.AllocRate, GCCores: a.GCCores,
		CPUCores: a.CPUCores, GCCycles: a.GCCycles, RuntimeMem: a.RuntimeMem, MemoryLimit: a.MemoryLimit,
		GOGC: a.GOGC, GOMEMLIMIT: gomem}
}

// evidence is the aggregate as the decision's evidence (reported figures only).
func (a Aggregate) evidence() map[string]float64 {
	out := map[string]float64{}
	for k, v := range map[string]float64{
		"instances": float64(a.Instances), "live_heap_bytes": a.LiveHeap, "heap_goal_bytes": a.HeapGoal,
		"alloc_bytes_per_second": a.AllocRate, "gc_cpu_fraction": a.GCFrac, "gc_cpu_cores": a.GCCores,
		"cpu_cores": a.CPUCores, "requests_per_second": a.RPS, "latency_p99_seconds": a.P99, "error_rate": a.ErrorRate,
		"cpu_seconds_per_request": a.CPUPerReq, "memory_limit_bytes": a.MemoryLimit, "gogc": a.GOGC,
		"throttled_fraction": a.Throttled, "gomaxprocs": a.GOMAXPROCS, "cpu_limit_cores": a.CPULimit,
	} {
		if signals.Has(v) && !math.IsInf(v, 0) {
			out[k] = v
		}
	}
	return out
}
