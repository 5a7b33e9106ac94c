package pyroscopereceiver

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
)

const (
	defaultEndpoint                   = "localhost:4040"
	defaultMaxRequestBodySize         = 16 << 20
	defaultMaxDecompressedProfileSize = 32 << 20
	defaultMaxStackDepth              = 1024
	defaultMaxLabels                  = 64
	defaultMaxLabelNameLength         = 1024
	defaultMaxLabelValueLength        = 2048
)

// Config is the configuration of the pyroscope receiver.
//
// Every limit applies to input from outside the collector, so each has a
// default and none can be switched off.
type Config struct {
	// ServerConfig is the HTTP server the Pyroscope clients upload to: its
	// endpoint (default localhost:4040, the Pyroscope port), TLS, auth,
	// and max_request_body_size, the cap on the bytes read from one upload
	// (default 16 MiB; larger uploads are answered 413).
	confighttp.ServerConfig `mapstructure:",squash"`

	// MaxDecompressedProfileSize caps the size in bytes of one pprof
	// profile after gzip decompression. Decompression stops at the cap, so
	// a gzip bomb costs at most about this much memory; the upload is
	// answered 413. Parsing a profile of this size can take up to 16 times
	// as much memory for a while (each packed varint becomes a 64-bit value
	// and a pointer), so raise it with care. Go profiles are rarely over a
	// few MiB. It must be at least max_request_body_size. Default: 32 MiB.
	MaxDecompressedProfileSize int64 `mapstructure:"max_decompressed_profile_size"`

	// MaxStackDepth caps the number of frames in the stack of one pprof
	// sample; a deeper one is answered 400. Go records at most 128 frames
	// by default and 1024 with GODEBUG=profstackdepth. Default: 1024.
	MaxStackDepth int `mapstructure:"max_stack_depth"`

	// MaxLabels caps the number of labels in the `name` query parameter
	// (app{k=v,...}), and separately the number of labels on one pprof
	// sample. More is answered 400. Default: 64.
	MaxLabels int `mapstructure:"max_labels"`

	// MaxLabelNameLength caps the length in bytes of one label name, in the
	// `name` query parameter or on a pprof sample. Longer is answered 400.
	// Default: 1024.
	MaxLabelNameLength int `mapstructure:"max_label_name_length"`

	// MaxLabelValueLength caps the length in bytes of one label value, in
	// the `name` query parameter or on a pprof sample. Longer is answered
	// 400. Default: 2048.
	MaxLabelValueLength int `mapstructure:"max_label_value_length"`
}

var _ component.Config = (*Config)(nil)

// Validate reports every invalid field, naming its YAML key.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.NetAddr.Endpoint == "" {
		errs = append(errs, errors.New("endpoint: must not be empty; the Pyroscope port is localhost:4040"))
	}
	if cfg.MaxRequestBodySize <= 0 {
		errs = append(errs, fmt.Errorf("max_request_body_size: must be positive, got %d", cfg.MaxRequestBodySize))
	}
	if cfg.MaxDecompressedProfileSize <= 0 {
		errs = append(errs, fmt.Errorf("max_decompressed_profile_size: must be positive, got %d", cfg.MaxDecompressedProfileSize))
	}
	if cfg.MaxRequestBodySize > 0 && cfg.MaxDecompressedProfileSize > 0 &&
		cfg.MaxDecompressedProfileSize < cfg.MaxRequestBodySize {
		errs = append(errs, fmt.Errorf(
			"max_decompressed_profile_size: must be at least max_request_body_size (%d), got %d; "+
				"an uncompressed profile that fits the request would otherwise be refused",
			cfg.MaxRequestBodySize, cfg.MaxDecompressedProfileSize))
	}
	if cfg.MaxStackDepth <= 0 {
		errs = append(errs, fmt.Errorf("max_stack_depth: must be positive, got %d", cfg.MaxStackDepth))
	}
	if cfg.MaxLabels <= 0 {
		errs = append(errs, fmt.Errorf("max_labels: must be positive, got %d", cfg.MaxLabels))
	}
	if cfg.MaxLabelNameLength <= 0 {
		errs = append(errs, fmt.Errorf("max_label_name_length: must be positive, got %d", cfg.MaxLabelNameLength))
	}
	if cfg.MaxLabelValueLength <= 0 {
		errs = append(errs, fmt.Errorf("max_label_value_length: must be positive, got %d", cfg.MaxLabelValueLength))
	}
	return errors.Join(errs...)
}

func createDefaultConfig() component.Config {
	server := confighttp.NewDefaultServerConfig()
	server.NetAddr.Endpoint = defaultEndpoint
	server.MaxRequestBodySize = defaultMaxRequestBodySize
	return &Config{
		ServerConfig:               server,
		MaxDecompressedProfileSize: defaultMaxDecompressedProfileSize,
		MaxStackDepth:              defaultMaxStackDepth,
		MaxLabels:                  defaultMaxLabels,
		MaxLabelNameLength:         defaultMaxLabelNameLength,
		MaxLabelValueLength:        defaultMaxLabelValueLength,
	}
}
