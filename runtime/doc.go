// Package runtime is the MCP agent that Go services import: one call, [Start], sizes GOMEMLIMIT
// from the container's memory limit, reports where every runtime knob (GOGC, GOMEMLIMIT,
// GOMAXPROCS) came from, guards against running out of memory, exports runtime telemetry
// through OpenTelemetry and Prometheus, and applies knob changes from the MCP control plane
// live, without a restart.
//
// The common case:
//
//	agent, err := runtime.Start(ctx, runtime.WithServiceName("checkout"))
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer agent.Stop()
//	http.Handle("/metrics", agent.MetricsHandler())
//	http.Handle("/", agent.Middleware(appHandler))
//
// # knob.Values and who owns them
//
// An operator's explicit environment setting always wins: when GOGC, GOMEMLIMIT or
// GOMAXPROCS is set in the environment, the agent leaves that knob alone and refuses control
// plane changes to it, saying why. Otherwise:
//
//   - GOMEMLIMIT is set to a ratio (default 0.9, MCP_MEMLIMIT_RATIO) of the container's memory
//     limit, read from cgroup v1 or v2, and re-read periodically so an in-place resize is
//     followed.
//   - GOMAXPROCS keeps Go's own container-aware default. With MCP_CPU_REQUEST (for example
//     from the Kubernetes downward API) and no CPU limit, it follows the CPU request instead.
//   - GOGC keeps Go's default of 100 until the control plane changes it.
//
// Every change is bounded (GOGC within [25, 2000], off only under a memory limit; GOMEMLIMIT
// between a floor and 0.98 × the container limit; GOMAXPROCS within [1, NumCPU]) and applied
// all-or-nothing: an invalid change is an error and changes nothing.
//
// # Emergency memory guard
//
// After every GC cycle the agent compares the live heap with the memory limit. Past a
// fraction of it (default 0.85) it lowers GOGC at once, with no network round trip, and
// restores the previous value once the live heap has stayed below the fraction minus a
// hysteresis band for several cycles. The control plane learns of it afterwards.
//
// # Environment
//
// MCP_ENDPOINT (control plane agent API, host:port; OTLP and profiles default to the same
// host on :4317 and :4040), MCP_TOKEN, MCP_PROFILING ("on", or a Pyroscope-protocol URL),
// MCP_MEMLIMIT_RATIO, MCP_CPU_REQUEST, MCP_MEMORY_LIMIT and MCP_CPU_LIMIT (limits stated
// where no cgroup sets them), and the standard OTEL_* variables
// (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_*, OTEL_SDK_DISABLED,
// OTEL_{TRACES,METRICS,LOGS}_EXPORTER=none). Options passed to [Start] take precedence over
// the environment, except for the operator's GOGC, GOMEMLIMIT and GOMAXPROCS.
//
// # Metrics
//
// [Agent.MetricsHandler] serves Prometheus metrics: client_golang's Go collector with every
// runtime/metrics metric (go_gc_gogc_percent, go_gc_gomemlimit_bytes,
// go_sched_gomaxprocs_threads, go_cpu_classes_gc_total_cpu_seconds_total, ...), the process
// collector, and the agent's own:
//
//	mcp_agent_knob_info{knob,source}                   1 for the source of each knob's value
//	mcp_agent_container_memory_limit_bytes             the container memory limit (absent: none)
//	mcp_agent_container_cpu_limit_cores                the container CPU limit (absent: none)
//	mcp_agent_container_memory_usage_bytes             memory charged to the container's cgroup
//	mcp_agent_container_cpu_usage_seconds_total        CPU used by the container's cgroup
//	mcp_agent_container_cpu_throttled_seconds_total    time the container was throttled
//	mcp_agent_container_cpu_throttled_periods_total    CFS periods in which it was throttled
//	mcp_agent_container_cpu_periods_total              CFS periods with runnable tasks
//	mcp_agent_container_oom_kills_total                OOM kills in the container's cgroup
//	mcp_agent_memory_guard_active                      1 while the emergency guard holds GOGC down
//	mcp_agent_memory_guard_activations_total           times the guard engaged
//	mcp_agent_knob_updates_total{result}               knob changes applied or rejected
//	mcp_agent_control_plane_connected                  1 while a control plane session is up
//
// The same values go out as OTLP metrics (mcp.container.*, mcp.agent.*), together with the
// OpenTelemetry runtime instrumentation (go.memory.*, go.config.gogc, go.processor.limit,
// go.schedule.duration) and what it lacks: GC CPU time by class (mcp.go.cpu.time), the live
// heap (mcp.go.gc.heap.live), GC cycles (mcp.go.gc.cycles) and the process's own CPU time
// (process.cpu.time by cpu.mode), which the tuner divides by requests for CPU per request.
package runtime
