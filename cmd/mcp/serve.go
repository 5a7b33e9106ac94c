package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mcplane/mcp/cmd/mcp/app/server"
)

func newServeCmd() *cobra.Command {
	var configFile string
	flagCfg := server.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the control plane: agent API, HTTP API, store",
		Long: `Run the MCP control plane.

Configuration comes from a YAML file (--config), then MCP_* environment variables, then
flags, each overriding the one before. Agents connect on --agent-addr (gRPC, default
:50051); the HTTP API, /metrics, /healthz and /readyz are on --http-addr (default :8080).
State is kept in --data-dir (default ./mcp-data).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := server.DefaultConfig()
			if configFile != "" {
				if err := cfg.LoadFile(configFile); err != nil {
					return err
				}
			}
			cfg.ApplyEnv(os.LookupEnv)
			applyChangedFlags(cmd.Flags(), &cfg, &flagCfg)
			log, err := newLogger(cfg.Log.Level, cfg.Log.Format)
			if err != nil {
				return err
			}
			defer log.Sync()
			srv, err := server.New(cfg, log)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return srv.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "YAML configuration file (env MCP_CONFIG)")
	if v := os.Getenv("MCP_CONFIG"); v != "" {
		configFile = v
	}
	f.StringVar(&flagCfg.HTTPAddr, "http-addr", flagCfg.HTTPAddr, "HTTP API, status page and /metrics address (env MCP_HTTP_ADDR)")
	f.StringVar(&flagCfg.AgentAddr, "agent-addr", flagCfg.AgentAddr, "agent API (gRPC) address (env MCP_AGENT_ADDR)")
	f.StringVar(&flagCfg.DataDir, "data-dir", flagCfg.DataDir, "directory for the embedded store (env MCP_DATA_DIR)")
	f.StringVar(&flagCfg.Token, "token", "", "bearer token for writes and agents (env MCP_TOKEN)")
	f.StringVar(&flagCfg.TokenFile, "token-file", "", "file holding the bearer token (env MCP_TOKEN_FILE)")
	f.StringVar(&flagCfg.TLS.CertFile, "tls-cert", "", "TLS certificate (PEM) for both ports")
	f.StringVar(&flagCfg.TLS.KeyFile, "tls-key", "", "TLS key (PEM) for both ports")
	f.StringVar(&flagCfg.TLS.ClientCAFile, "tls-client-ca", "", "CA (PEM) agents' client certificates must chain to (mTLS on the agent port)")
	f.StringVar(&flagCfg.Log.Level, "log-level", flagCfg.Log.Level, "debug, info, warn or error (env MCP_LOG_LEVEL)")
	f.StringVar(&flagCfg.Log.Format, "log-format", flagCfg.Log.Format, "json or console")
	f.BoolVar(&flagCfg.Pprof, "pprof", false, "serve Go's profiling endpoints under /debug/pprof/ on the HTTP port, behind the token (env MCP_PPROF=true)")
	f.BoolVar(&flagCfg.Kube.Enabled, "kube", false, "run the Kubernetes controller: TuningPolicy objects, leader election, HPA tuning (env MCP_KUBE=true)")
	f.StringVar(&flagCfg.PolicyFile, "policy-file", "", "TuningPolicy YAML file, re-read when it changes (env MCP_POLICY_FILE)")
	f.DurationVar(&flagCfg.Tuner.Interval, "tuner-interval", flagCfg.Tuner.Interval, "how often the tuner evaluates policies")
	f.DurationVar(&flagCfg.Agents.HeartbeatInterval, "heartbeat-interval", flagCfg.Agents.HeartbeatInterval, "heartbeat interval agents are told to use")
	f.DurationVar(&flagCfg.Agents.GoneAfter, "gone-after", flagCfg.Agents.GoneAfter, "silence after which an instance is gone")
	return cmd
}

// applyChangedFlags copies the flags the user gave from flagCfg into cfg.
func applyChangedFlags(fs *pflag.FlagSet, cfg, flagCfg *server.Config) {
	fs.Visit(func(f *pflag.Flag) {
		switch f.Name {
		case "http-addr":
			cfg.HTTPAddr = flagCfg.HTTPAddr
		case "agent-addr":
			cfg.AgentAddr = flagCfg.AgentAddr
		case "data-dir":
			cfg.DataDir = flagCfg.DataDir
		case "token":
			cfg.Token = flagCfg.Token
		case "token-file":
			cfg.TokenFile = flagCfg.TokenFile
		case "tls-cert":
			cfg.TLS.CertFile = flagCfg.TLS.CertFile
		case "tls-key":
			cfg.TLS.KeyFile = flagCfg.TLS.KeyFile
		case "tls-client-ca":
			cfg.TLS.ClientCAFile = flagCfg.TLS.ClientCAFile
		case "log-level":
			cfg.Log.Level = flagCfg.Log.Level
		case "log-format":
			cfg.Log.Format = flagCfg.Log.Format
		case "pprof":
			cfg.Pprof = flagCfg.Pprof
		case "heartbeat-interval":
			cfg.Agents.HeartbeatInterval = flagCfg.Agents.HeartbeatInterval
		case "gone-after":
			cfg.Agents.GoneAfter = flagCfg.Agents.GoneAfter
		case "kube":
			cfg.Kube.Enabled = flagCfg.Kube.Enabled
		case "policy-file":
			cfg.PolicyFile = flagCfg.PolicyFile
		case "tuner-interval":
			cfg.Tuner.Interval = flagCfg.Tuner.Interval
			if cfg.Tuner.Window < cfg.Tuner.Interval {
				cfg.Tuner.Window = cfg.Tuner.Interval
			}
		}
	})
}
