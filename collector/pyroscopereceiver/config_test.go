package pyroscopereceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func TestUnmarshalDefaultConfig(t *testing.T) {
	factory := NewFactory()
	cfg := factory.CreateDefaultConfig()
	require.NoError(t, confmap.New().Unmarshal(&cfg))
	assert.Equal(t, factory.CreateDefaultConfig(), cfg)
	assert.NoError(t, cfg.(*Config).Validate())
	assert.NoError(t, componenttest.CheckConfigStruct(cfg))
}

func TestDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.Equal(t, "localhost:4040", cfg.NetAddr.Endpoint)
	assert.Equal(t, int64(16<<20), cfg.MaxRequestBodySize)
	assert.Equal(t, int64(32<<20), cfg.MaxDecompressedProfileSize)
	assert.Equal(t, 1024, cfg.MaxStackDepth)
	assert.Equal(t, 64, cfg.MaxLabels)
	assert.Equal(t, 1024, cfg.MaxLabelNameLength)
	assert.Equal(t, 2048, cfg.MaxLabelValueLength)
}

func TestUnmarshalConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	factory := NewFactory()
	cfg := factory.CreateDefaultConfig()
	require.NoError(t, cm.Unmarshal(&cfg))

	server := confighttp.NewDefaultServerConfig()
	server.NetAddr.Endpoint = "0.0.0.0:14040"
	server.MaxRequestBodySize = 8 << 20
	server.ReadHeaderTimeout = 5 * time.Second
	server.WriteTimeout = 10 * time.Second
	assert.Equal(t,
		&Config{
			ServerConfig:               server,
			MaxDecompressedProfileSize: 24 << 20,
			MaxStackDepth:              256,
			MaxLabels:                  16,
			MaxLabelNameLength:         64,
			MaxLabelValueLength:        256,
		}, cfg)
	assert.NoError(t, cfg.(*Config).Validate())
}

func TestValidateConfig_EmptyEndpoint(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.NetAddr.Endpoint = ""
	assert.ErrorContains(t, cfg.Validate(), "endpoint: must not be empty")
}

func TestValidateConfig_NonPositiveMaxRequestBodySize(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.MaxRequestBodySize = 0
	assert.ErrorContains(t, cfg.Validate(), "max_request_body_size: must be positive, got 0")
}

func TestValidateConfig_NonPositiveMaxDecompressedProfileSize(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.MaxDecompressedProfileSize = -1
	assert.ErrorContains(t, cfg.Validate(), "max_decompressed_profile_size: must be positive, got -1")
}

func TestValidateConfig_DecompressedSmallerThanBody(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.MaxRequestBodySize = 1 << 20
	cfg.MaxDecompressedProfileSize = 1<<20 - 1
	assert.ErrorContains(t, cfg.Validate(),
		"max_decompressed_profile_size: must be at least max_request_body_size (1048576), got 1048575")

	cfg.MaxDecompressedProfileSize = 1 << 20
	assert.NoError(t, cfg.Validate())
}

func TestValidateConfig_NonPositiveMaxStackDepth(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.MaxStackDepth = -3
	assert.ErrorContains(t, cfg.Validate(), "max_stack_depth: must be positive, got -3")
}

func TestValidateConfig_NonPositiveMaxLabels(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.MaxLabels = 0
	assert.ErrorContains(t, cfg.Validate(), "max_labels: must be positive, got 0")
}

func TestValidateConfig_NonPositiveMaxLabelNameLength(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.MaxLabelNameLength = 0
	assert.ErrorContains(t, cfg.Validate(), "max_label_name_length: must be positive, got 0")
}

func TestValidateConfig_NonPositiveMaxLabelValueLength(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.MaxLabelValueLength = 0
	assert.ErrorContains(t, cfg.Validate(), "max_label_value_length: must be positive, got 0")
}

func TestValidateConfig_ReportsEveryField(t *testing.T) {
	cfg := &Config{}
	err := cfg.Validate()
	for _, key := range []string{"endpoint", "max_request_body_size", "max_decompressed_profile_size",
		"max_stack_depth", "max_labels", "max_label_name_length", "max_label_value_length"} {
		assert.ErrorContains(t, err, key+":")
	}
}
