// Package signalsexporter is an OpenTelemetry Collector exporter (type "mcpsignals") that
// feeds MCP's tuner: OTLP runtime and container metrics from MCP agents, HTTP server
// metrics or server spans, and profiles become bounded per-instance signal windows and
// per-service profile summaries in a tuner/signals Store, which the tuner and the HTTP API
// read in the same process.
//
// Instances are keyed by the resource attributes service.name and service.instance.id;
// telemetry without service.name is dropped (counted as "no_service_name"). Cumulative and
// delta sums are both understood. Memory is bounded by the store's configuration.
//
// Metrics (through the store's Prometheus collector): mcp_signals_points_total{signal},
// mcp_signals_dropped_total{reason}, mcp_signals_instances, mcp_signals_evicted_total,
// mcp_profiles_received_total{service}.
package signalsexporter
