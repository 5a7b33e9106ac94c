// Package e2e holds MCP's whole-system tests: the real binaries (mcp serve, demoapp with the
// agent) next to a real Prometheus that scrapes them with MCP's rules loaded, and a real
// Alertmanager that routes with MCP's configuration to a webhook.
//
// They prove that what alerts/ and dashboards/ ship works against what the code exports:
// every query of every dashboard returns data from a running system (except a short,
// reasoned list of queries that cannot here), every rule evaluates without error, every
// dashboard variable finds values, and a service pushed towards its container memory limit
// fires MCPGoLiveHeapNearMemoryLimit, which reaches the receiver that
// alerts/alertmanager/alertmanager.yml routes it to. They also show the tuning modes end to
// end: a service tuned in observe mode gets decisions recorded and no knob changed, a service
// in apply mode gets its knobs pushed.
//
// The tests need Prometheus and Alertmanager (Debian: apt-get install prometheus
// prometheus-alertmanager, or make deps) and are skipped without them, and under -short.
// The demoapp instances run in real cgroups with memory and CPU limits, as in containers;
// where cgroups cannot be created (not root, no delegation) the limits are stated to the
// agent instead (MCP_MEMORY_LIMIT, MCP_CPU_LIMIT) and the panels that read cgroup statistics
// are exempted, which the test log says; MCP_E2E_NO_CGROUPS=1 forces that fallback.
//
//	go test ./test/e2e -run TestDashboardsAndAlerts -v
package e2e
