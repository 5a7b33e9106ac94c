// Package distribution assembles MCP's OpenTelemetry Collector: the component factories —
// MCP's own (the pyroscope receiver, the mcpsignals exporter) and the standard ones users
// expect (OTLP receiver and exporters, batch, memory_limiter, debug, Prometheus exporter,
// file storage for persistent sending queues, bearer token auth) — and the collector
// settings used by `mcp collector` and by the collector embedded in `mcp serve`.
package distribution

import (
	"fmt"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusexporter"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/debugexporter"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/featuregate"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/batchprocessor"
	"go.opentelemetry.io/collector/processor/memorylimiterprocessor"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"

	"github.com/mcplane/mcp/collector/pyroscopereceiver"
	"github.com/mcplane/mcp/collector/signalsexporter"
	"github.com/mcplane/mcp/internal/version"
	"github.com/mcplane/mcp/tuner/signals"
)

// Components returns every component factory of the distribution. The mcpsignals exporter
// writes st (mcp serve's, which its tuner reads); with st nil each of its configurations
// gets a store of its own (mcp collector).
func Components(st *signals.Store) (otelcol.Factories, error) {
	var signalsOpts []signalsexporter.FactoryOption
	if st != nil {
		signalsOpts = append(signalsOpts, signalsexporter.WithStore(st))
	}
	var f otelcol.Factories
	var err error
	if f.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](
		otlpreceiver.NewFactory(), pyroscopereceiver.NewFactory()); err != nil {
		return f, fmt.Errorf("receivers: %w", err)
	}
	if f.Processors, err = otelcol.MakeFactoryMap[processor.Factory](
		batchprocessor.NewFactory(), memorylimiterprocessor.NewFactory()); err != nil {
		return f, fmt.Errorf("processors: %w", err)
	}
	if f.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](
		otlpexporter.NewFactory(), otlphttpexporter.NewFactory(), debugexporter.NewFactory(),
		prometheusexporter.NewFactory(), signalsexporter.NewFactory(signalsOpts...)); err != nil {
		return f, fmt.Errorf("exporters: %w", err)
	}
	if f.Extensions, err = otelcol.MakeFactoryMap[extension.Factory](
		filestorage.NewFactory(), bearertokenauthextension.NewFactory()); err != nil {
		return f, fmt.Errorf("extensions: %w", err)
	}
	f.Telemetry = otelconftelemetry.NewFactory()
	return f, nil
}

// profilesGate turns on OTLP profiles in collector pipelines.
const profilesGate = "service.profilesSupport"

// EnableProfiles turns on the collector's profiles support (a feature gate), which the
// pyroscope receiver's pipeline needs.
func EnableProfiles() error {
	if err := featuregate.GlobalRegistry().Set(profilesGate, true); err != nil {
		return fmt.Errorf("enable the %s feature gate: %w", profilesGate, err)
	}
	return nil
}

// Settings are the collector settings for configuration URIs ("file:…", "yaml:…",
// "env:…"; a bare path is a file), with the mcpsignals exporter writing st (see Components).
func Settings(uris []string, st *signals.Store) otelcol.CollectorSettings {
	return otelcol.CollectorSettings{
		Factories: func() (otelcol.Factories, error) { return Components(st) },
		BuildInfo: component.BuildInfo{
			Command:     "mcp collector",
			Description: "MCP's OpenTelemetry Collector distribution",
			Version:     version.Get().Version,
		},
		DisableGracefulShutdown: true, // the caller owns signal handling
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				URIs:          uris,
				DefaultScheme: "env",
				ProviderFactories: []confmap.ProviderFactory{
					fileprovider.NewFactory(), envprovider.NewFactory(), yamlprovider.NewFactory(),
				},
			},
		},
	}
}
