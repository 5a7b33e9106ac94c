// Package server assembles `mcp serve`: the store, the control plane core with its agent
// API (gRPC), the HTTP API, and — as they are enabled — the embedded collector, the tuner
// and the Kubernetes controller, with one configuration and a graceful shutdown.
package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mcplane/mcp/collector/distribution"
	"github.com/mcplane/mcp/controlplane"
	"github.com/mcplane/mcp/tuner"
)

// Config is the whole of `mcp serve`'s configuration: file (YAML), then environment, then
// flags, each overriding the one before.
type Config struct {
	// HTTPAddr serves the HTTP API, the status page and /metrics. Flag --http-addr, env MCP_HTTP_ADDR.
	HTTPAddr string `yaml:"http_addr"`
	// AgentAddr serves the agent protocol (gRPC). Flag --agent-addr, env MCP_AGENT_ADDR.
	AgentAddr string `yaml:"agent_addr"`
	// DataDir holds the embedded store. Flag --data-dir, env MCP_DATA_DIR.
	DataDir string `yaml:"data_dir"`
	// Token is the bearer token for writes and agents. Flag --token, env MCP_TOKEN.
	Token string `yaml:"token"`
	// TokenFile holds the token instead (a mounted Secret). Flag --token-file, env MCP_TOKEN_FILE.
	TokenFile string `yaml:"token_file"`
	// TLS secures both ports; ClientCAFile turns on mTLS for agents.
	TLS TLSConfig `yaml:"tls"`
	// Log sets logging.
	Log LogConfig `yaml:"log"`
	// Pprof serves Go's profiling endpoints under /debug/pprof/ on the HTTP port, behind
	// the token. Flag --pprof, env MCP_PPROF=true.
	Pprof bool `yaml:"pprof"`
	// Agents tunes the agent protocol: heartbeats, health, pushes.
	Agents controlplane.Config `yaml:"agents"`
	// PolicyFile holds TuningPolicy documents (YAML), re-read when it changes. Flag
	// --policy-file, env MCP_POLICY_FILE.
	PolicyFile string `yaml:"policy_file"`
	// Tuner is the tuning loop.
	Tuner TunerConfig `yaml:"tuner"`
	// Kube runs the tuner as a Kubernetes controller: TuningPolicy objects instead of the
	// policy file, leader election, HPA and Deployment actuators.
	Kube KubeConfig `yaml:"kube"`
	// Collector is the embedded OpenTelemetry Collector: OTLP on :4317/:4318, Pyroscope
	// profiles on :4040, into the tuner's signals (and on to backends, if configured).
	Collector distribution.EmbeddedConfig `yaml:"collector"`
}

// TunerConfig turns the tuner on and sets its loop.
type TunerConfig struct {
	// Enabled runs the tuner. Default: true.
	Enabled      bool `yaml:"enabled"`
	tuner.Config `yaml:",inline"`
}

// KubeConfig turns on the Kubernetes controller.
type KubeConfig struct {
	// Enabled runs the controller. Flag --kube, env MCP_KUBE=true.
	Enabled bool `yaml:"enabled"`
	// Namespace limits it to one namespace; empty watches all.
	Namespace string `yaml:"namespace"`
	// LeaderElectionNamespace holds the Lease. Default: POD_NAMESPACE, else Namespace,
	// else "default".
	LeaderElectionNamespace string `yaml:"leader_election_namespace"`
	// Kubeconfig is a kubeconfig file; empty uses the in-cluster configuration (or
	// KUBECONFIG).
	Kubeconfig string `yaml:"kubeconfig"`
}

// TLSConfig names PEM files.
type TLSConfig struct {
	// CertFile and KeyFile are the server's certificate and key (both, or neither).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile makes the agent port require client certificates signed by this CA.
	ClientCAFile string `yaml:"client_ca_file"`
}

// LogConfig sets logging.
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is json or console.
	Format string `yaml:"format"`
}

// DefaultConfig returns the defaults: HTTP on :8080, agents on :50051, data in ./mcp-data.
func DefaultConfig() Config {
	return Config{
		HTTPAddr:  ":8080",
		AgentAddr: ":50051",
		DataDir:   "./mcp-data",
		Log:       LogConfig{Level: "info", Format: "json"},
		Agents:    controlplane.DefaultConfig(),
		Collector: distribution.DefaultEmbeddedConfig(),
		Tuner:     TunerConfig{Enabled: true, Config: tuner.DefaultConfig()},
	}
}

// LoadFile reads a YAML configuration over c. Unknown keys are errors naming the key.
func (c *Config) LoadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	// An empty file is io.EOF: it leaves the defaults.
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// ApplyEnv overrides c with the MCP_* variables that are set.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) {
	set := func(dst *string, key string) {
		if v, ok := lookup(key); ok && v != "" {
			*dst = v
		}
	}
	set(&c.HTTPAddr, "MCP_HTTP_ADDR")
	set(&c.AgentAddr, "MCP_AGENT_ADDR")
	set(&c.DataDir, "MCP_DATA_DIR")
	set(&c.Token, "MCP_TOKEN")
	set(&c.TokenFile, "MCP_TOKEN_FILE")
	set(&c.Log.Level, "MCP_LOG_LEVEL")
	set(&c.PolicyFile, "MCP_POLICY_FILE")
	if v, ok := lookup("MCP_KUBE"); ok && (v == "true" || v == "1") {
		c.Kube.Enabled = true
	}
	if v, ok := lookup("MCP_PPROF"); ok && (v == "true" || v == "1") {
		c.Pprof = true
	}
	if c.Kube.LeaderElectionNamespace == "" {
		set(&c.Kube.LeaderElectionNamespace, "POD_NAMESPACE")
	}
	set(&c.Collector.OTLPGRPCAddr, "MCP_OTLP_GRPC_ADDR")
	set(&c.Collector.OTLPHTTPAddr, "MCP_OTLP_HTTP_ADDR")
	set(&c.Collector.ProfileAddr, "MCP_PROFILE_ADDR")
}

// ResolveToken reads TokenFile into Token when only the file is given.
func (c *Config) ResolveToken() error {
	if c.TokenFile == "" {
		return nil
	}
	if c.Token != "" {
		return errors.New("token and token_file are both set (--token/MCP_TOKEN and --token-file/MCP_TOKEN_FILE): give one")
	}
	b, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return fmt.Errorf("token_file: %w", err)
	}
	c.Token = strings.TrimSpace(string(b))
	if c.Token == "" {
		return fmt.Errorf("token_file %s: the file is empty", c.TokenFile)
	}
	return nil
}

// Validate checks everything, reporting every problem with the key to fix.
func (c Config) Validate() error {
	var errs []error
	for key, addr := range map[string]string{"http_addr": c.HTTPAddr, "agent_addr": c.AgentAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not host:port (e.g. :8080)", key, addr))
		}
	}
	if strings.TrimSpace(c.DataDir) == "" {
		errs = append(errs, errors.New("data_dir: required"))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls.cert_file and tls.key_file go together: set both, or neither"))
	}
	if c.TLS.ClientCAFile != "" && c.TLS.CertFile == "" {
		errs = append(errs, errors.New("tls.client_ca_file needs tls.cert_file and tls.key_file: mTLS runs over TLS"))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: %q is not one of debug, info, warn, error", c.Log.Level))
	}
	switch c.Log.Format {
	case "json", "console":
	default:
		errs = append(errs, fmt.Errorf("log.format: %q is not json or console", c.Log.Format))
	}
	if err := c.Agents.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Collector.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Tuner.Enabled {
		if err := c.Tuner.Config.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Kube.Enabled && c.PolicyFile != "" {
		errs = append(errs, errors.New("policy_file and kube.enabled: in a cluster the policies are TuningPolicy objects; drop --policy-file"))
	}
	if c.Kube.Enabled && !c.Tuner.Enabled {
		errs = append(errs, errors.New("kube.enabled needs tuner.enabled"))
	}
	return errors.Join(errs...)
}
