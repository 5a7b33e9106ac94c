package boards

import "github.com/grafana/grafana-foundation-sdk/go/dashboard"

// controlPlane is MCP itself: agent sessions, instances, pushes, the store and the signals
// pipeline of `mcp serve`.
func controlPlane() *dashboard.DashboardBuilder {
	quantile := func(q, metric, by string) string {
		return "histogram_quantile(" + q + ", sum by (" + by + ") (" + rate(metric) + "))"
	}
	return newDashboard("mcp-control-plane", "MCP / Control plane",
		"MCP itself: agents and their sessions, registered instances by health, knob pushes and their latency, decisions, the store, and the telemetry pipeline that feeds the tuner.",
		"mcp_agents_connected", true).
		WithRow(row("Overview")).
		WithPanel(single("Agents connected", "Agent sessions up, over the selected replicas.", "none",
			t("sum("+m("mcp_agents_connected")+")", ""))).
		WithPanel(single("Healthy instances", "Registered instances whose heartbeats arrive.", "none",
			t("sum("+m("mcp_instances", `health="healthy"`)+")", ""))).
		WithPanel(single("Suspect instances", "Registered instances that missed heartbeats or lost their session.", "none",
			t("sum("+m("mcp_instances", `health="suspect"`)+")", ""))).
		WithPanel(single("Gone instances", "Instances silent for the TTL, about to be removed.", "none",
			t("sum("+m("mcp_instances", `health="gone"`)+")", ""))).
		WithPanel(single("Instances with signals", "Instances the tuner holds signal windows for.", "none",
			t("sum("+m("mcp_signals_instances")+")", ""))).
		WithPanel(single("Failed pushes", "Knob pushes that failed per second.", "ops",
			t("sum("+rate("mcp_knob_pushes_total", `result="failed"`)+") or vector(0)", ""))).
		WithRow(row("Agents")).
		WithPanel(ts("Agents connected by replica", "Agent sessions up, per control plane replica.", "short",
			t(m("mcp_agents_connected"), "{{instance}}"))).
		WithPanel(ts("Instances by health", "Registered instances: healthy, suspect (missed heartbeats), gone (silent for the TTL).", "short",
			t("sum by (health) ("+m("mcp_instances")+")", "{{health}}"))).
		WithPanel(ts("Agent sessions", "Sessions opened per second, registered or refused.", "ops",
			t("sum by (result) ("+rate("mcp_agent_sessions_total")+")", "{{result}}"))).
		WithPanel(ts("Agent messages", "Messages received from agents per second, by type.", "ops",
			t("sum by (type) ("+rate("mcp_agent_messages_total")+")", "{{type}}"))).
		WithPanel(ts("Invalid messages and auth failures", "Malformed agent messages and sessions refused for a wrong or missing token, per second.", "ops",
			t("sum("+rate("mcp_agent_messages_invalid_total")+")", "invalid messages"),
			t("sum("+rate("mcp_agent_auth_failures_total")+")", "auth failures"))).
		WithRow(row("Decisions and pushes")).
		WithPanel(ts("Decisions", "Decisions created per second, by source and mode.", "ops",
			t("sum by (source, mode) ("+rate("mcp_decisions_total")+")", "{{source}} {{mode}}"))).
		WithPanel(ts("Knob pushes", "Knob updates pushed to agents per second, by result (applied, rejected, failed).", "ops",
			t("sum by (result) ("+rate("mcp_knob_pushes_total")+")", "{{result}}"))).
		WithPanel(ts("Push latency", "Time from a decision being stored to an agent acknowledging it.", "s",
			t(quantile("0.5", "mcp_knob_push_latency_seconds_bucket", "le"), "p50"),
			t(quantile("0.99", "mcp_knob_push_latency_seconds_bucket", "le"), "p99"))).
		WithRow(row("Store")).
		WithPanel(ts("Store operations", "Store operations per second, by operation and result.", "ops",
			t("sum by (op, result) ("+rate("mcp_store_operations_total")+")", "{{op}} {{result}}")).Span(12)).
		WithPanel(ts("Store latency p99", "99th percentile store operation latency, by operation.", "s",
			t(quantile("0.99", "mcp_store_operation_duration_seconds_bucket", "op, le"), "{{op}}")).Span(12)).
		WithRow(row("Telemetry pipeline")).
		WithPanel(ts("Signal points", "Metric points, spans and profile samples taken into tuner signals per second.", "ops",
			t("sum by (signal) ("+rate("mcp_signals_points_total")+")", "{{signal}}"))).
		WithPanel(ts("Signals dropped", "Telemetry not used for tuner signals per second, by reason.", "ops",
			t("sum by (reason) ("+rate("mcp_signals_dropped_total")+")", "{{reason}}"))).
		WithPanel(ts("Signal windows", "Instances with signal windows, and instances evicted per second to stay within max_instances.", "short",
			t("sum("+m("mcp_signals_instances")+")", "instances"),
			t("sum("+rate("mcp_signals_evicted_total")+")", "evicted/s"))).
		WithPanel(ts("Profiles received", "Profile uploads summarised per second, by service.", "ops",
			t("sum by (service) ("+rate("mcp_profiles_received_total")+")", "{{service}}")).Span(12)).
		WithPanel(ts("Profile uploads rejected", "Pyroscope-protocol uploads answered with an error per second, by reason.", "ops",
			t("sum by (reason) ("+rate("mcp_pyroscope_rejected_requests")+")", "{{reason}}")).Span(12))
}
