package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/mcplane/mcp/tuner/signals"
)

// SignalsView is the answer to GET /api/v1/instances/{id}/signals.
type SignalsView struct {
	Service  string       `json:"service"`
	Instance string       `json:"instance"`
	Since    time.Time    `json:"since"`
	Samples  []SampleJSON `json:"samples"`
}

// SampleJSON is a signals.Sample with figures that were not reported left out (JSON has no
// NaN).
type SampleJSON map[string]any

func sampleJSON(s signals.Sample) SampleJSON {
	out := SampleJSON{"time": s.Time, "interval_seconds": s.Interval.Seconds()}
	for name, v := range map[string]float64{
		"gc_cpu_fraction": s.GCCPUFraction, "gc_cpu_cores": s.GCCPUCores, "gc_assist_fraction": s.GCAssistFraction,
		"runtime_cpu_cores": s.RuntimeCPUCores, "cpu_cores": s.CPUCores, "container_cpu_cores": s.ContainerCPUCores, "gc_cycles_per_second": s.GCCyclesPerSecond,
		"live_heap_bytes": s.LiveHeapBytes, "heap_goal_bytes": s.HeapGoalBytes, "alloc_bytes_per_second": s.AllocBytesPerSecond,
		"runtime_memory_bytes": s.RuntimeMemoryBytes, "container_memory_bytes": s.ContainerMemoryBytes,
		"memory_limit_bytes": s.MemoryLimitBytes, "cpu_limit_cores": s.CPULimitCores, "throttled_fraction": s.ThrottledFraction,
		"gogc": s.GOGC, "gomemlimit_bytes": s.GOMEMLIMIT, "gomaxprocs": s.GOMAXPROCS, "memory_guard_active": s.GuardActive,
		"requests_per_second": s.RequestsPerSecond, "latency_p50_seconds": s.LatencyP50, "latency_p99_seconds": s.LatencyP99,
		"error_rate": s.ErrorRate, "cpu_seconds_per_request": s.CPUPerRequest,
	} {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out[name] = v
		}
	}
	return out
}

// SignalsHandler serves an instance's signal window: ?since=15m (a duration back from now).
func SignalsHandler(st *signals.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		back := 15 * time.Minute
		if v := r.URL.Query().Get("since"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				WriteError(w, http.StatusBadRequest, fmt.Sprintf("since: %q is not a positive duration such as 15m", v))
				return
			}
			back = d
		}
		k, ok := st.FindInstance(id)
		if !ok {
			WriteError(w, http.StatusNotFound, fmt.Sprintf("no signals for instance %q: it has sent no OTLP metrics yet (is OTLP export reaching the collector?)", id))
			return
		}
		since := time.Now().Add(-back)
		view := SignalsView{Service: k.Service, Instance: k.Instance, Since: since, Samples: []SampleJSON{}}
		for _, s := range st.Window(k, since) {
			view.Samples = append(view.Samples, sampleJSON(s))
		}
		WriteJSON(w, http.StatusOK, view)
	})
}

// ProfileTopHandler serves a service's profile summary: ?type=cpu|alloc (alloc is
// allocated bytes; alloc_objects, inuse_space and inuse_objects are accepted too) and
// ?n=20 functions.
func ProfileTopHandler(st *signals.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		svc := r.PathValue("service")
		typ := r.URL.Query().Get("type")
		switch typ {
		case "", "cpu":
			typ = "cpu"
		case "alloc":
			typ = "alloc_space"
		case "alloc_space", "alloc_objects", "inuse_space", "inuse_objects":
		default:
			WriteError(w, http.StatusBadRequest, fmt.Sprintf("type: %q is not one of cpu, alloc, alloc_objects, inuse_space, inuse_objects", typ))
			return
		}
		n := 20
		if v := r.URL.Query().Get("n"); v != "" {
			var err error
			if n, err = strconv.Atoi(v); err != nil || n < 1 || n > 1000 {
				WriteError(w, http.StatusBadRequest, fmt.Sprintf("n: %q is not a number between 1 and 1000", v))
				return
			}
		}
		top, ok := st.Profiles().Top(svc, typ, time.Now(), n)
		if !ok {
			WriteError(w, http.StatusNotFound, fmt.Sprintf("no %s profiles of service %q in the last %v (is the agent running with MCP_PROFILING=on?)", typ, svc, st.Profiles().Window()))
			return
		}
		WriteJSON(w, http.StatusOK, top)
	})
}
