package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcplane/mcp/cmd/mcp/app/demo"
)

func newDemoCmd() *cobra.Command {
	var cfg demo.Config
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run MCP end to end: control plane, three services, load, the tuner in apply mode",
		Long: `Run the control plane (embedded store, collector and tuner in apply mode) and three
demoapp services with different profiles — allocation-heavy, a large heap near its
limit, CPU-bound on half a core — each in its own cgroup when it can create them (as
root; otherwise the limits are simulated and it says so), with load on each. It prints
each service's GC CPU, memory and knobs as the tuner works, then a before/after table,
and where the status page, /metrics and the dashboards are.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Duration < 30*time.Second {
				return fmt.Errorf("--duration %v: the tuner needs at least 30s to show anything", cfg.Duration)
			}
			cfg.Out = cmd.OutOrStdout()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return demo.Run(ctx, cfg)
		},
	}
	cmd.Flags().DurationVar(&cfg.Duration, "duration", 3*time.Minute, "how long the services run under load")
	cmd.Flags().BoolVar(&cfg.Keep, "keep", false, "keep everything running after the table, until Ctrl-C")
	cmd.Flags().StringVar(&cfg.Demoapp, "demoapp", "", "demoapp binary (default: build ./cmd/demoapp)")
	return cmd
}
