package pyroscopereceiver

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pipeline"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

func TestNewFactory(t *testing.T) {
	factory := NewFactory()
	assert.Equal(t, "pyroscope", factory.Type().String())
	assert.Equal(t, component.StabilityLevelAlpha, factory.ProfilesStability())

	set := receivertest.NewNopSettings(factory.Type())
	r, err := factory.CreateProfiles(context.Background(), set, factory.CreateDefaultConfig(), consumertest.NewNop())
	require.NoError(t, err)
	assert.NotNil(t, r)

	// Profiles only: the other signals are refused by the factory.
	_, err = factory.CreateTraces(context.Background(), set, factory.CreateDefaultConfig(), consumertest.NewNop())
	assert.ErrorIs(t, err, pipeline.ErrSignalNotSupported)
	_, err = factory.CreateMetrics(context.Background(), set, factory.CreateDefaultConfig(), consumertest.NewNop())
	assert.ErrorIs(t, err, pipeline.ErrSignalNotSupported)
	_, err = factory.CreateLogs(context.Background(), set, factory.CreateDefaultConfig(), consumertest.NewNop())
	assert.ErrorIs(t, err, pipeline.ErrSignalNotSupported)
}
