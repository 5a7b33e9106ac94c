package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/otelcol"

	"github.com/mcplane/mcp/collector/distribution"
)

func newCollectorCmd() *cobra.Command {
	var configs []string
	var validate bool
	cmd := &cobra.Command{
		Use:   "collector --config FILE",
		Short: "Run MCP's OpenTelemetry Collector distribution standalone",
		Long: `Run MCP's OpenTelemetry Collector distribution: the standard otlp receiver and
otlp/otlphttp/debug/prometheus exporters, batch and memory_limiter processors, file_storage
(persistent sending queues) and bearertokenauth extensions, plus MCP's pyroscope receiver
and mcpsignals exporter. Profiles pipelines are enabled.

--config takes a file path or a collector config URI (file:, env:, yaml:), and may be
repeated; later ones are merged over earlier ones, as with otelcol. deploy/collector/
holds an example.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(configs) == 0 {
				return fmt.Errorf("--config is required: a collector configuration file (see deploy/collector/collector.yaml)")
			}
			uris := make([]string, len(configs))
			for i, c := range configs {
				if !strings.Contains(c, ":") || strings.HasPrefix(c, "/") || strings.HasPrefix(c, ".") {
					if _, err := os.Stat(c); err != nil {
						return fmt.Errorf("--config %s: %w", c, err)
					}
					c = "file:" + c
				}
				uris[i] = c
			}
			if err := distribution.EnableProfiles(); err != nil {
				return err
			}
			col, err := otelcol.NewCollector(distribution.Settings(uris, nil))
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if validate {
				if err := col.DryRun(ctx); err != nil {
					return fmt.Errorf("invalid configuration: %w", err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), "configuration is valid")
				return nil
			}
			return col.Run(ctx)
		},
	}
	cmd.Flags().StringArrayVar(&configs, "config", nil, "collector configuration: file path or URI (repeatable)")
	cmd.Flags().BoolVar(&validate, "validate", false, "check the configuration and exit")
	return cmd
}
