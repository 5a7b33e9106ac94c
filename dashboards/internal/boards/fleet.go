package boards

import "github.com/grafana/grafana-foundation-sdk/go/dashboard"

// fleet is the Go runtime across every service running the MCP agent.
func fleet() *dashboard.DashboardBuilder {
	gcShareByJob := "sum by (job) (" + rate("go_cpu_classes_gc_total_cpu_seconds_total") + ")\n/ (sum by (job) (" +
		rate("go_cpu_classes_total_cpu_seconds_total") + ") - sum by (job) (" + rate("go_cpu_classes_idle_cpu_seconds_total") + "))"
	gcShare := rate("go_cpu_classes_gc_total_cpu_seconds_total") + "\n/ (" +
		rate("go_cpu_classes_total_cpu_seconds_total") + " - " + rate("go_cpu_classes_idle_cpu_seconds_total") + ")"

	return newDashboard("mcp-go-runtime-fleet", "MCP / Go runtime fleet",
		"The Go runtime of every service running the MCP agent: GC cost, memory against the container limits, the knobs in effect and who set them, scheduling and CPU throttling.",
		"go_gc_gogc_percent", true).
		WithRow(row("Overview")).
		WithPanel(single("Instances", "Instances reporting Go runtime metrics.", "none",
			t("count("+m("go_gc_gogc_percent")+")", ""))).
		WithPanel(single("GC share of CPU", "CPU the garbage collector used, as a share of the CPU all selected instances used.", "percentunit",
			t("sum("+rate("go_cpu_classes_gc_total_cpu_seconds_total")+")\n/ (sum("+rate("go_cpu_classes_total_cpu_seconds_total")+") - sum("+rate("go_cpu_classes_idle_cpu_seconds_total")+"))", ""))).
		WithPanel(single("Highest live heap / memory limit", "The largest live heap relative to its container memory limit (MCPGoLiveHeapNearMemoryLimit warns at 80%, pages at 90%).", "percentunit",
			t("max("+m("go_gc_heap_live_bytes")+" / "+m("mcp_agent_container_memory_limit_bytes")+")", ""))).
		WithPanel(single("Throttled instances", "Instances throttled in more than 25% of their CFS periods (MCPContainerCPUThrottlingHigh).", "none",
			t("count(("+rate("mcp_agent_container_cpu_throttled_periods_total")+" / "+rate("mcp_agent_container_cpu_periods_total")+") > 0.25) or vector(0)", ""))).
		WithPanel(single("Memory guards active", "Instances whose emergency memory guard holds GOGC down right now.", "none",
			t("sum("+m("mcp_agent_memory_guard_active")+")", ""))).
		WithPanel(single("Agents disconnected", "Agents without a control plane session; they keep their last knobs.", "none",
			t("count("+m("mcp_agent_control_plane_connected")+" == 0) or vector(0)", ""))).
		WithRow(row("Garbage collector")).
		WithPanel(withThresholds(ts("GC share of CPU by job", "CPU the garbage collector used as a share of the CPU each service used (GC + scavenger + user). MCPGoGCCPUHigh fires above 25% for 30 minutes.", "percentunit",
			t(gcShareByJob, "{{job}}")), 0.25, 0)).
		WithPanel(withThresholds(ts("GC share of CPU by instance", "The same per instance.", "percentunit",
			t(gcShare, "{{job}} {{instance}}")), 0.25, 0)).
		WithPanel(ts("GC cycles", "Garbage collection cycles per second, by job.", "ops",
			t("sum by (job) ("+rate("go_gc_cycles_total_gc_cycles_total")+")", "{{job}}"))).
		WithPanel(ts("Mark assist share of GC CPU", "GC work done by goroutines on the request path (mark assists) as a share of all GC CPU: high values mean the GC cannot keep up and requests pay for it.", "percentunit",
			t("sum by (job) ("+rate("go_cpu_classes_gc_mark_assist_cpu_seconds_total")+") / sum by (job) ("+rate("go_cpu_classes_gc_total_cpu_seconds_total")+")", "{{job}}"))).
		WithPanel(ts("Allocation rate", "Bytes allocated on the heap per second, by job: what drives GC frequency.", "binBps",
			t("sum by (job) ("+rate("go_gc_heap_allocs_bytes_total")+")", "{{job}}"))).
		WithPanel(ts("GC CPU", "CPU cores spent in the garbage collector, by job.", "short",
			t("sum by (job) ("+rate("go_cpu_classes_gc_total_cpu_seconds_total")+")", "{{job}}"))).
		WithRow(row("Memory against the limit")).
		WithPanel(withThresholds(ts("Live heap / memory limit", "The live heap (what survives a GC) relative to the container memory limit. MCPGoLiveHeapNearMemoryLimit warns at 80% and pages at 90%; the agent's guard engages at 85%.", "percentunit",
			t(m("go_gc_heap_live_bytes")+" / "+m("mcp_agent_container_memory_limit_bytes"), "{{job}} {{instance}}")), 0.8, 0.9).
			Max(1)).
		WithPanel(ts("Heap goal / memory limit", "The heap size the GC is aiming for (set by GOGC and GOMEMLIMIT) relative to the container memory limit.", "percentunit",
			t(m("go_gc_heap_goal_bytes")+" / "+m("mcp_agent_container_memory_limit_bytes"), "{{job}} {{instance}}"))).
		WithPanel(withThresholds(ts("Resident memory / memory limit", "Process resident memory relative to the container memory limit (MCPContainerMemoryNearLimit at 90%).", "percentunit",
			t(m("process_resident_memory_bytes")+" / "+m("mcp_agent_container_memory_limit_bytes"), "{{job}} {{instance}}")), 0.9, 0)).
		WithPanel(ts("Live heap", "Live heap bytes per instance.", "bytes",
			t(m("go_gc_heap_live_bytes"), "{{job}} {{instance}}"))).
		WithPanel(ts("Heap goal", "Heap goal bytes per instance.", "bytes",
			t(m("go_gc_heap_goal_bytes"), "{{job}} {{instance}}"))).
		WithPanel(ts("Container memory limit", "The container memory limit the agent read from the cgroup.", "bytes",
			t(m("mcp_agent_container_memory_limit_bytes"), "{{job}} {{instance}}"))).
		WithRow(row("Knobs in effect")).
		WithPanel(ts("GOGC", "GOGC in effect per instance (-1: off).", "percent",
			t(m("go_gc_gogc_percent"), "{{job}} {{instance}}"))).
		WithPanel(ts("GOMEMLIMIT", "GOMEMLIMIT in effect per instance.", "bytes",
			t(m("go_gc_gomemlimit_bytes"), "{{job}} {{instance}}"))).
		WithPanel(ts("GOMAXPROCS and CPU limit", "GOMAXPROCS in effect and the container CPU limit in cores. GOMAXPROCS above the limit rounded up (and above 2) fires MCPGoMaxProcsAboveCPULimit.", "short",
			t(m("go_sched_gomaxprocs_threads"), "{{job}} {{instance}} GOMAXPROCS"),
			t(m("mcp_agent_container_cpu_limit_cores"), "{{job}} {{instance}} CPU limit"))).
		WithPanel(ts("Instances by knob source", "How many instances got each knob from each source: go-default, cgroup, cpu-request, control-plane, emergency-guard or operator-env.", "none",
			t("count by (knob, source) ("+m("mcp_agent_knob_info")+")", "{{knob}} from {{source}}"))).
		WithPanel(labelTable("Knob sources", "Where each instance's GOGC, GOMEMLIMIT and GOMAXPROCS came from right now.",
			t(m("mcp_agent_knob_info"), ""), "job", "instance", "knob", "source").Span(16)).
		WithRow(row("Scheduling and CPU")).
		WithPanel(ts("Scheduler latency p99", "99th percentile time goroutines waited to run after becoming runnable, by job.", "s",
			t("histogram_quantile(0.99, sum by (job, le) ("+rate("go_sched_latencies_seconds_bucket")+"))", "{{job}}"))).
		WithPanel(withThresholds(ts("CPU throttling", "Share of CFS periods in which the container was throttled (MCPContainerCPUThrottlingHigh at 25%).", "percentunit",
			t(rate("mcp_agent_container_cpu_throttled_periods_total")+" / "+rate("mcp_agent_container_cpu_periods_total"), "{{job}} {{instance}}")), 0.25, 0)).
		WithPanel(ts("CPU used / CPU limit", "CPU the container used relative to its CPU limit.", "percentunit",
			t(rate("mcp_agent_container_cpu_usage_seconds_total")+" / "+m("mcp_agent_container_cpu_limit_cores"), "{{job}} {{instance}}"))).
		WithPanel(ts("Goroutines", "Live goroutines per instance; steady growth is what MCPGoroutineLeak looks for.", "short",
			t(m("go_sched_goroutines_goroutines"), "{{job}} {{instance}}")))
}
