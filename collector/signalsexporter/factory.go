package signalsexporter

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/exporter/xexporter"

	"github.com/mcplane/mcp/tuner/signals"
)

var componentType = component.MustNewType("mcpsignals")

// FactoryOption configures NewFactory.
type FactoryOption func(*factory)

// WithStore makes every exporter the factory creates write st, which the caller also reads:
// how mcp serve hands its tuner the signals its embedded collector receives. Without it
// each exporter configuration gets a store of its own, bounded by its store settings.
func WithStore(st *signals.Store) FactoryOption {
	return func(f *factory) {
		f.storeFor = func(signals.Config) (*signals.Store, error) { return st, nil }
	}
}

// NewFactory returns the factory of the mcpsignals exporter.
func NewFactory(opts ...FactoryOption) exporter.Factory {
	f := &factory{storeFor: signals.NewStore, exporters: map[*Config]*signalsExporter{}}
	for _, o := range opts {
		o(f)
	}
	return newFactory(f)
}

func newFactory(f *factory) exporter.Factory {
	return xexporter.NewFactory(componentType, createDefaultConfig,
		xexporter.WithMetrics(f.createMetrics, component.StabilityLevelBeta),
		xexporter.WithTraces(f.createTraces, component.StabilityLevelBeta),
		xexporter.WithProfiles(f.createProfiles, component.StabilityLevelAlpha),
	)
}

// factory shares one exporter between the pipelines of one configuration, as the
// collector's sharedcomponent does for receivers.
type factory struct {
	storeFor  func(signals.Config) (*signals.Store, error)
	mu        sync.Mutex
	exporters map[*Config]*signalsExporter
}

func (f *factory) exporter(cfg component.Config) (*signalsExporter, error) {
	c := cfg.(*Config)
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.exporters[c]; ok {
		return e, nil
	}
	st, err := f.storeFor(c.Store)
	if err != nil {
		return nil, err
	}
	e := newExporter(c, st)
	f.exporters[c] = e
	return e, nil
}

var noMutation = exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false})

func (f *factory) createMetrics(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	e, err := f.exporter(cfg)
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewMetrics(ctx, set, cfg, e.consumeMetrics, noMutation)
}

func (f *factory) createTraces(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	e, err := f.exporter(cfg)
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewTraces(ctx, set, cfg, e.consumeTraces, noMutation)
}

func (f *factory) createProfiles(ctx context.Context, set exporter.Settings, cfg component.Config) (xexporter.Profiles, error) {
	e, err := f.exporter(cfg)
	if err != nil {
		return nil, err
	}
	return xexporterhelper.NewProfiles(ctx, set, cfg, e.consumeProfiles, noMutation)
}
