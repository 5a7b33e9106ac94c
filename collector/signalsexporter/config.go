package signalsexporter

import (
	"fmt"

	"go.opentelemetry.io/collector/component"

	"github.com/mcplane/mcp/tuner/signals"
)

// Config is the mcpsignals exporter's configuration. The bounds apply to the store the
// exporter creates; in mcp serve the exporter writes the process's own store, whose bounds
// come from mcp serve's configuration.
type Config struct {
	// Store bounds the signal windows and profile summaries.
	Store signals.Config `mapstructure:",squash"`
	// InstanceAttribute is the resource attribute naming the instance.
	InstanceAttribute string `mapstructure:"instance_attribute"`
	// ServerSpansOnly counts only SERVER-kind spans as requests (the default); false counts
	// every root span.
	ServerSpansOnly bool `mapstructure:"server_spans_only"`
	// HTTPMetric is the histogram read for request rate, latency and errors.
	HTTPMetric string `mapstructure:"http_metric"`
}

var _ component.Config = (*Config)(nil)

func createDefaultConfig() component.Config {
	return &Config{
		Store:             signals.DefaultConfig(),
		InstanceAttribute: "service.instance.id",
		ServerSpansOnly:   true,
		HTTPMetric:        signals.HistogramHTTPServer,
	}
}

// Validate checks the configuration; errors name the key.
func (c *Config) Validate() error {
	if err := c.Store.Validate(); err != nil {
		return err
	}
	if c.InstanceAttribute == "" {
		return fmt.Errorf("instance_attribute: required (e.g. service.instance.id)")
	}
	if c.HTTPMetric == "" {
		return fmt.Errorf("http_metric: required (e.g. %s)", signals.HistogramHTTPServer)
	}
	return nil
}
