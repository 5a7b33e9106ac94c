// Package nopcol runs a collector component outside a collector, as the benchmark harnesses
// do: settings that log and measure nothing, and a host without extensions. The collector's
// own helpers for this (receivertest, componenttest) are test packages: they import testing,
// which nothing linked into the mcp binary may.
package nopcol

import (
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/receiver"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"
)

// ReceiverSettings are the settings of a receiver of type typ that reports nothing.
func ReceiverSettings(typ component.Type) receiver.Settings {
	return receiver.Settings{
		ID: component.NewID(typ),
		TelemetrySettings: component.TelemetrySettings{
			Logger:         zap.NewNop(),
			TracerProvider: tracenoop.NewTracerProvider(),
			MeterProvider:  metricnoop.NewMeterProvider(),
			Resource:       pcommon.NewResource(),
		},
		BuildInfo: component.NewDefaultBuildInfo(),
	}
}

// Host is a component.Host with no extensions.
type Host struct{}

// GetExtensions returns none.
func (Host) GetExtensions() map[component.ID]component.Component { return nil }
