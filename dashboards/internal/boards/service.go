package boards

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// service drills into one service (job) and its instances.
func service() *dashboard.DashboardBuilder {
	requests := "mcp_agent_http_server_request_duration_seconds_count"
	latency := func(q string) target {
		return t("histogram_quantile("+q+", sum by (le) ("+rate("mcp_agent_http_server_request_duration_seconds_bucket")+"))", "p"+q[2:])
	}
	return newDashboard("mcp-service", "MCP / Service drill-down",
		"One service and its instances in detail: requests, GC, memory and CPU against the container limits, the knobs in effect and the agent's emergency guard.",
		"go_gc_gogc_percent", false).
		WithRow(row("Requests")).
		WithPanel(ts("Request rate", "Requests per second served through the agent's middleware, by status code.", "reqps",
			t("sum by (code) ("+rate(requests)+")", "{{code}}"))).
		WithPanel(ts("Error ratio", "Share of requests answered with a 5xx. The 99.9% SLO's error budget is 0.1%; MCPErrorBudgetBurn pages at 14.4 times that.", "percentunit",
			t("(sum("+rate(requests, `code=~"5.."`)+") or vector(0)) / sum("+rate(requests)+")", "5xx"))).
		WithPanel(ts("Latency", "Request latency percentiles from mcp_agent_http_server_request_duration_seconds.", "s",
			latency("0.5"), latency("0.9"), latency("0.99"))).
		WithRow(row("Garbage collector")).
		WithPanel(withThresholds(ts("GC share of CPU", "CPU the garbage collector used as a share of the CPU each instance used.", "percentunit",
			t(rate("go_cpu_classes_gc_total_cpu_seconds_total")+"\n/ ("+rate("go_cpu_classes_total_cpu_seconds_total")+" - "+rate("go_cpu_classes_idle_cpu_seconds_total")+")", "{{instance}}")), 0.25, 0)).
		WithPanel(ts("CPU by class", "CPU cores by runtime/metrics class, summed over the instances: user code, GC, scavenger, idle (GOMAXPROCS minus the rest).", "short",
			t("sum("+rate("go_cpu_classes_user_cpu_seconds_total")+")", "user"),
			t("sum("+rate("go_cpu_classes_gc_total_cpu_seconds_total")+")", "gc"),
			t("sum("+rate("go_cpu_classes_gc_mark_assist_cpu_seconds_total")+")", "gc mark assist"),
			t("sum("+rate("go_cpu_classes_scavenge_total_cpu_seconds_total")+")", "scavenger"),
			t("sum("+rate("go_cpu_classes_idle_cpu_seconds_total")+")", "idle"))).
		WithPanel(ts("GC cycles and allocations", "GC cycles per second (left axis) and heap bytes allocated per second (right axis), per instance.", "ops",
			t(rate("go_gc_cycles_total_gc_cycles_total"), "{{instance}} cycles"),
			t(rate("go_gc_heap_allocs_bytes_total"), "{{instance}} allocated")).
			OverrideByQuery("B", []dashboard.DynamicConfigValue{{Id: "unit", Value: "binBps"}, {Id: "custom.axisPlacement", Value: "right"}})).
		WithRow(row("Memory")).
		WithPanel(ts("Memory against the limit", "Live heap, heap goal, GOMEMLIMIT, resident memory, cgroup memory usage (with page cache) and the container limit, per instance.", "bytes",
			t(m("go_gc_heap_live_bytes"), "{{instance}} live heap"),
			t(m("go_gc_heap_goal_bytes"), "{{instance}} heap goal"),
			t(m("go_gc_gomemlimit_bytes")+" < 2^62", "{{instance}} GOMEMLIMIT"),
			t(m("process_resident_memory_bytes"), "{{instance}} resident"),
			t(m("mcp_agent_container_memory_usage_bytes"), "{{instance}} cgroup usage"),
			t(m("mcp_agent_container_memory_limit_bytes"), "{{instance}} limit")).Span(16)).
		WithPanel(withThresholds(ts("Live heap / memory limit", "The live heap relative to the container memory limit (warning 80%, critical 90%; the guard engages at 85%).", "percentunit",
			t(m("go_gc_heap_live_bytes")+" / "+m("mcp_agent_container_memory_limit_bytes"), "{{instance}}")), 0.8, 0.9)).
		WithPanel(ts("Go memory classes", "Memory the Go runtime holds, by class, summed over the instances.", "bytes",
			t("sum("+m("go_memory_classes_heap_objects_bytes")+")", "heap objects"),
			t("sum("+m("go_memory_classes_heap_unused_bytes")+")", "heap unused"),
			t("sum("+m("go_memory_classes_heap_free_bytes")+")", "heap free"),
			t("sum("+m("go_memory_classes_heap_stacks_bytes")+")", "stacks"),
			t("sum("+m("go_memory_classes_heap_released_bytes")+")", "released")).
			Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal))).
		WithRow(row("Knobs")).
		WithPanel(ts("GOGC", "GOGC in effect per instance (-1: off).", "percent",
			t(m("go_gc_gogc_percent"), "{{instance}}"))).
		WithPanel(ts("GOMEMLIMIT", "GOMEMLIMIT in effect per instance (absent when unlimited).", "bytes",
			t(m("go_gc_gomemlimit_bytes")+" < 2^62", "{{instance}}"))).
		WithPanel(ts("GOMAXPROCS and CPU limit", "GOMAXPROCS in effect and the container CPU limit in cores.", "short",
			t(m("go_sched_gomaxprocs_threads"), "{{instance}} GOMAXPROCS"),
			t(m("mcp_agent_container_cpu_limit_cores"), "{{instance}} CPU limit"))).
		WithPanel(labelTable("Knob sources", "Where each instance's knobs came from: go-default, cgroup, cpu-request, control-plane, emergency-guard or operator-env.",
			t(m("mcp_agent_knob_info"), ""), "instance", "knob", "source")).
		WithPanel(bars("Knob updates", "Knob changes from the control plane, applied or rejected by the agents.", "short",
			t("sum by (result) ("+increase("mcp_agent_knob_updates_total")+")", "{{result}}")).Span(12)).
		WithRow(row("Container")).
		WithPanel(ts("CPU used and limit", "CPU cores the container used, and its limit.", "short",
			t(rate("mcp_agent_container_cpu_usage_seconds_total"), "{{instance}} used"),
			t(m("mcp_agent_container_cpu_limit_cores"), "{{instance}} limit"))).
		WithPanel(withThresholds(ts("CPU throttling", "Share of CFS periods in which the container was throttled.", "percentunit",
			t(rate("mcp_agent_container_cpu_throttled_periods_total")+" / "+rate("mcp_agent_container_cpu_periods_total"), "{{instance}}")), 0.25, 0)).
		WithPanel(ts("Throttled time", "Seconds per second the container spent throttled.", "s",
			t(rate("mcp_agent_container_cpu_throttled_seconds_total"), "{{instance}}"))).
		WithPanel(bars("OOM kills", "Processes the OOM killer killed in the container's cgroup.", "short",
			t(increase("mcp_agent_container_oom_kills_total"), "{{instance}}"))).
		WithPanel(ts("Scheduler latency", "Time goroutines waited to run after becoming runnable: p50 and p99 over the instances.", "s",
			t("histogram_quantile(0.5, sum by (le) ("+rate("go_sched_latencies_seconds_bucket")+"))", "p50"),
			t("histogram_quantile(0.99, sum by (le) ("+rate("go_sched_latencies_seconds_bucket")+"))", "p99"))).
		WithPanel(ts("Goroutines", "Live goroutines per instance.", "short",
			t(m("go_sched_goroutines_goroutines"), "{{instance}}"))).
		WithRow(row("Agent")).
		WithPanel(ts("Memory guard", "1 while the agent's emergency memory guard holds GOGC down.", "bool_on_off",
			t(m("mcp_agent_memory_guard_active"), "{{instance}}"))).
		WithPanel(bars("Memory guard activations", "Times the emergency memory guard engaged.", "short",
			t(increase("mcp_agent_memory_guard_activations_total"), "{{instance}}"))).
		WithPanel(ts("Control plane session", "1 while the agent has a control plane session.", "bool_yes_no",
			t(m("mcp_agent_control_plane_connected"), "{{instance}}")))
}
