package pyroscopereceiver

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/xconsumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/xreceiver"
)

// typeStr is the component type, as written in a collector configuration:
// receivers: { pyroscope: {...} }.
const typeStr = "pyroscope"

var componentType = component.MustNewType(typeStr)

// NewFactory returns the factory of the pyroscope receiver, which makes
// profiles receivers only.
func NewFactory() xreceiver.Factory {
	return xreceiver.NewFactory(
		componentType,
		createDefaultConfig,
		xreceiver.WithProfiles(createProfiles, component.StabilityLevelAlpha),
	)
}

func createProfiles(_ context.Context, set receiver.Settings, cfg component.Config, next xconsumer.Profiles) (xreceiver.Profiles, error) {
	return newReceiver(cfg.(*Config), set, next)
}
