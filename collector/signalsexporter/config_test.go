package signalsexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/mcplane/mcp/tuner/signals"
)

func TestUnmarshalDefaultConfig(t *testing.T) {
	factory := NewFactory()
	cfg := factory.CreateDefaultConfig()
	require.NoError(t, confmap.New().Unmarshal(&cfg))
	assert.Equal(t, factory.CreateDefaultConfig(), cfg)
	assert.NoError(t, cfg.(*Config).Validate())
	assert.NoError(t, componenttest.CheckConfigStruct(cfg))
}

func TestUnmarshalConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig()
	require.NoError(t, cm.Unmarshal(&cfg))
	assert.Equal(t, &Config{
		Store: signals.Config{MaxInstances: 500, MaxSamples: 30, InstanceTTL: 2 * time.Minute,
			Profiles: signals.ProfileConfig{Window: 5 * time.Minute, MaxServices: 50, MaxFunctions: 100}},
		InstanceAttribute: "k8s.pod.name",
		ServerSpansOnly:   false,
		HTTPMetric:        "http.server.duration",
	}, cfg)
	assert.NoError(t, cfg.(*Config).Validate())
}

func TestValidateMaxInstances(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Store.MaxInstances = 0
	assert.ErrorContains(t, cfg.Validate(), "max_instances: 0")
}

func TestValidateMaxSamples(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Store.MaxSamples = 1
	assert.ErrorContains(t, cfg.Validate(), "max_samples: 1")
}

func TestValidateInstanceTTL(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Store.InstanceTTL = 0
	assert.ErrorContains(t, cfg.Validate(), "instance_ttl")
}

func TestValidateProfiles(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Store.Profiles.MaxFunctions = 0
	assert.ErrorContains(t, cfg.Validate(), "profiles.max_functions")
}

func TestValidateInstanceAttribute(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.InstanceAttribute = ""
	assert.ErrorContains(t, cfg.Validate(), "instance_attribute: required")
}

func TestValidateHTTPMetric(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.HTTPMetric = ""
	assert.ErrorContains(t, cfg.Validate(), "http_metric: required")
}
