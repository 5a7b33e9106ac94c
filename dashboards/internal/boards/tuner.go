package boards

import "github.com/grafana/grafana-foundation-sdk/go/dashboard"

// tuner shows what the tuner decided and why, service by service.
func tuner() *dashboard.DashboardBuilder {
	svc := `service=~"$service"`
	return newDashboard("mcp-tuner", "MCP / Tuner decisions",
		"What the MCP tuner decided for each service and why: decisions over time, the knobs in force, the model's predicted against the observed GC CPU, CPU per request, rollbacks and actuations.",
		"mcp_tuner_evaluations_total", true).
		WithVariable(queryVariable("service", "Service", `label_values(mcp_tuner_knob_value{job=~"$job",instance=~"$instance"}, service)`).Current(all)).
		WithRow(row("Decisions")).
		WithPanel(bars("Decisions by mode", "Tuning decisions per interval, by mode: observe (recorded only), recommend (for a person to apply), apply (pushed).", "short",
			t("sum by (mode) ("+increase("mcp_tuner_decisions_total", svc)+")", "{{mode}}"))).
		WithPanel(bars("Decisions by knob", "Tuning decisions per interval, by knob (gogc, gomemlimit, gomaxprocs, hpa_target).", "short",
			t("sum by (knob) ("+increase("mcp_tuner_decisions_total", svc)+")", "{{knob}}"))).
		WithPanel(ts("Evaluations", "Tuner evaluations per second, by result; errors fire MCPTunerEvaluationsFailing.", "ops",
			t("sum by (result) ("+rate("mcp_tuner_evaluations_total")+")", "{{result}}"))).
		WithRow(row("Knobs in force")).
		WithPanel(ts("GOGC", "GOGC in force per service, as the tuner sees it.", "percent",
			t(m("mcp_tuner_knob_value", svc, `knob="gogc"`), "{{service}}")).Span(6)).
		WithPanel(ts("GOMEMLIMIT", "GOMEMLIMIT in force per service.", "bytes",
			t(m("mcp_tuner_knob_value", svc, `knob="gomemlimit"`), "{{service}}")).Span(6)).
		WithPanel(ts("GOMAXPROCS", "GOMAXPROCS in force per service.", "short",
			t(m("mcp_tuner_knob_value", svc, `knob="gomaxprocs"`), "{{service}}")).Span(6)).
		WithPanel(ts("HPA target utilization", "The HPA target CPU utilization in force per service.", "percent",
			t(m("mcp_tuner_knob_value", svc, `knob="hpa_target"`), "{{service}}")).Span(6)).
		WithRow(row("Model")).
		WithPanel(ts("GC CPU: predicted and observed", "The GC share of CPU the tuner's model predicted for the knobs in force, and the share it observed.", "percentunit",
			t(m("mcp_tuner_gc_cpu_fraction", svc), "{{service}} {{kind}}"))).
		WithPanel(ts("CPU per request", "CPU seconds per request, per service: what GC tuning is meant to lower.", "s",
			t(m("mcp_tuner_cpu_per_request_seconds", svc), "{{service}}"))).
		WithPanel(ts("Distance from the memory floor", "How far GC CPU is above the floor the memory limit allows (0: the knobs cannot lower GC CPU further without more memory).", "percentunit",
			t(m("mcp_tuner_memory_floor_distance_ratio", svc), "{{service}}"))).
		WithRow(row("Safety")).
		WithPanel(bars("Rollbacks", "Decisions the tuner rolled back, by service and reason (latency, errors, OOM); each fires MCPTunerRollback.", "short",
			t("sum by (service, reason) ("+increase("mcp_tuner_rollbacks_total", svc)+")", "{{service}} {{reason}}"))).
		WithPanel(ts("Actuations", "Decisions carried out per second, by actuator (agent, hpa, deployment-env) and result.", "ops",
			t("sum by (actuator, result) ("+rate("mcp_tuner_actuations_total")+")", "{{actuator}} {{result}}"))).
		WithPanel(bars("Memory guard events", "Emergency memory guard activations the agents reported, by service.", "short",
			t("sum by (service) ("+increase("mcp_tuner_memory_guard_events_total", svc)+")", "{{service}}")))
}
