package distribution

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mcplane/mcp/tuner/signals"
)

// EmbeddedConfig is the collector `mcp serve` runs in-process, under `collector:` in its
// configuration.
type EmbeddedConfig struct {
	// Enabled runs the collector. Default: true.
	Enabled bool `yaml:"enabled"`
	// OTLPGRPCAddr receives OTLP over gRPC. Default: :4317.
	OTLPGRPCAddr string `yaml:"otlp_grpc_addr"`
	// OTLPHTTPAddr receives OTLP over HTTP (/v1/metrics, /v1/traces, /v1/logs,
	// /v1development/profiles). Default: :4318.
	OTLPHTTPAddr string `yaml:"otlp_http_addr"`
	// ProfileAddr receives Pyroscope-protocol uploads on /ingest. Default: :4040.
	ProfileAddr string `yaml:"profile_addr"`
	// MemoryLimitMiB is the memory_limiter's limit; telemetry is refused (and retried by
	// senders) above it. Default: 512.
	MemoryLimitMiB int `yaml:"memory_limit_mib"`
	// Forward sends the telemetry on to the user's backends as well.
	Forward []Forward `yaml:"forward"`
	// LogLevel is the collector's own log level. Default: warn.
	LogLevel string `yaml:"log_level"`
	// Signals bounds the tuner's signal windows and profile summaries.
	Signals signals.Config `yaml:"signals"`
}

// Forward is one backend telemetry is forwarded to (Tempo, Loki, Mimir, a
// Pyroscope-compatible OTLP endpoint, another collector).
type Forward struct {
	// Name makes the exporter's id (otlp/<name>); required, unique.
	Name string `yaml:"name"`
	// Endpoint is host:port for grpc, a URL for http.
	Endpoint string `yaml:"endpoint"`
	// Protocol is grpc or http. Default: grpc.
	Protocol string `yaml:"protocol"`
	// Insecure turns TLS off (grpc).
	Insecure bool `yaml:"insecure"`
	// Headers are sent with every request (e.g. an Authorization or X-Scope-OrgID header).
	Headers map[string]string `yaml:"headers"`
	// Signals are forwarded: traces, metrics, logs, profiles. Default: all four.
	Signals []string `yaml:"signals"`
	// PersistentQueue keeps the sending queue on disk under the data directory, so that
	// telemetry acknowledged to agents survives a restart while the backend is down.
	// Default: true.
	PersistentQueue *bool `yaml:"persistent_queue"`
}

// DefaultEmbeddedConfig returns the defaults: the standard OTLP and Pyroscope ports.
func DefaultEmbeddedConfig() EmbeddedConfig {
	return EmbeddedConfig{Enabled: true, OTLPGRPCAddr: ":4317", OTLPHTTPAddr: ":4318", ProfileAddr: ":4040",
		MemoryLimitMiB: 512, LogLevel: "warn", Signals: signals.DefaultConfig()}
}

var allSignals = []string{"traces", "metrics", "logs", "profiles"}

// Validate checks the configuration; errors name the key under collector:.
func (c EmbeddedConfig) Validate() error {
	if !c.Enabled {
		return nil
	}
	var errs []error
	for key, addr := range map[string]string{"otlp_grpc_addr": c.OTLPGRPCAddr, "otlp_http_addr": c.OTLPHTTPAddr, "profile_addr": c.ProfileAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("collector.%s: %q is not host:port", key, addr))
		}
	}
	if c.MemoryLimitMiB < 32 {
		errs = append(errs, fmt.Errorf("collector.memory_limit_mib: %d, want at least 32", c.MemoryLimitMiB))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("collector.log_level: %q is not one of debug, info, warn, error", c.LogLevel))
	}
	seen := map[string]bool{}
	for i, f := range c.Forward {
		key := fmt.Sprintf("collector.forward[%d]", i)
		if f.Name == "" || strings.ContainsAny(f.Name, "/ ") {
			errs = append(errs, fmt.Errorf("%s.name: %q, want a name without '/' or spaces", key, f.Name))
		} else if seen[f.Name] {
			errs = append(errs, fmt.Errorf("%s.name: %q is used twice", key, f.Name))
		}
		seen[f.Name] = true
		if f.Endpoint == "" {
			errs = append(errs, fmt.Errorf("%s.endpoint: required", key))
		}
		if f.Protocol != "" && f.Protocol != "grpc" && f.Protocol != "http" {
			errs = append(errs, fmt.Errorf("%s.protocol: %q is not grpc or http", key, f.Protocol))
		}
		for _, s := range f.Signals {
			if !slices.Contains(allSignals, s) {
				errs = append(errs, fmt.Errorf("%s.signals: %q is not one of traces, metrics, logs, profiles", key, s))
			}
		}
	}
	if err := c.Signals.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("collector.signals: %w", err))
	}
	return errors.Join(errs...)
}

// YAML renders the collector configuration. token, when set, is required of every sender
// (bearer token auth on the receivers); queueDir holds persistent sending queues.
func (c EmbeddedConfig) YAML(token, queueDir string) (string, error) {
	if err := c.Validate(); err != nil {
		return "", err
	}
	type m = map[string]any
	auth := func(server m) m {
		if token != "" {
			server["auth"] = m{"authenticator": "bearertokenauth"}
		}
		return server
	}
	receivers := m{
		"otlp": m{"protocols": m{
			"grpc": auth(m{"endpoint": c.OTLPGRPCAddr}),
			"http": auth(m{"endpoint": c.OTLPHTTPAddr}),
		}},
		"pyroscope": auth(m{"endpoint": c.ProfileAddr}),
	}
	extensions := m{}
	var extNames []string
	if token != "" {
		extensions["bearertokenauth"] = m{"token": token}
		extNames = append(extNames, "bearertokenauth")
	}
	exporters := m{
		"mcpsignals": m{},
		"debug":      m{"verbosity": "basic"},
	}
	forwardTo := map[string][]string{}
	needQueue := false
	// durable[signal]: a forward of that signal keeps its queue on disk. The batch processor
	// answers senders before anything is on disk, so such a pipeline has no batch step and
	// its forwards batch inside their sending queue instead, after the queue has persisted
	// the data and marking it done only once the batch is sent.
	durable := map[string]bool{}
	for _, f := range c.Forward {
		id := "otlp/" + f.Name
		exp := m{"endpoint": f.Endpoint}
		if f.Protocol == "http" {
			id = "otlphttp/" + f.Name
		} else if f.Insecure {
			exp["tls"] = m{"insecure": true}
		}
		if len(f.Headers) > 0 {
			exp["headers"] = f.Headers
		}
		queue := m{"enabled": true}
		persistent := f.PersistentQueue == nil || *f.PersistentQueue
		if persistent {
			queue["storage"] = "file_storage/queue"
			queue["batch"] = m{"flush_timeout": "1s"}
			needQueue = true
		}
		exp["sending_queue"] = queue
		exporters[id] = exp
		sigs := f.Signals
		if len(sigs) == 0 {
			sigs = allSignals
		}
		for _, s := range sigs {
			forwardTo[s] = append(forwardTo[s], id)
			durable[s] = durable[s] || persistent
		}
	}
	if needQueue {
		extensions["file_storage/queue"] = m{"directory": queueDir, "create_directory": true}
		extNames = append(extNames, "file_storage/queue")
	}
	processors := m{
		"memory_limiter": m{"check_interval": "1s", "limit_mib": c.MemoryLimitMiB, "spike_limit_mib": c.MemoryLimitMiB / 5},
		"batch":          m{"timeout": "1s"},
	}
	steps := func(signal string) []string {
		if durable[signal] {
			return []string{"memory_limiter"}
		}
		return []string{"memory_limiter", "batch"}
	}
	pipelines := m{
		"metrics": m{"receivers": []string{"otlp"}, "processors": steps("metrics"),
			"exporters": append([]string{"mcpsignals"}, forwardTo["metrics"]...)},
		"traces": m{"receivers": []string{"otlp"}, "processors": steps("traces"),
			"exporters": append([]string{"mcpsignals"}, forwardTo["traces"]...)},
		"profiles": m{"receivers": []string{"otlp", "pyroscope"}, "processors": []string{"memory_limiter"},
			"exporters": append([]string{"mcpsignals"}, forwardTo["profiles"]...)},
	}
	// The tuner does not read logs; without a backend they are accepted (agents must not
	// see errors) and dropped through the debug exporter, which logs only at info level.
	logsTo := forwardTo["logs"]
	if len(logsTo) == 0 {
		logsTo = []string{"debug"}
	}
	pipelines["logs"] = m{"receivers": []string{"otlp"}, "processors": steps("logs"), "exporters": logsTo}
	service := m{
		"pipelines": pipelines,
		"telemetry": m{
			"logs":    m{"level": c.LogLevel, "encoding": "json"},
			"metrics": m{"level": "none"},
		},
	}
	if len(extNames) > 0 {
		service["extensions"] = extNames
	}
	doc := m{"receivers": receivers, "processors": processors, "exporters": exporters, "service": service}
	if len(extensions) > 0 {
		doc["extensions"] = extensions
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("render collector configuration: %w", err)
	}
	return string(b), nil
}
