package main

import "github.com/spf13/cobra"

// newBenchCmd is `mcp bench`, the parent of the benchmark harnesses. Each harness adds
// its subcommand here from a constructor in its own file (bench_<name>.go).
func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Run MCP's benchmarks (figures in docs/BENCHMARKS.md come from these)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(
		newBenchHPACmd(),
		newBenchOverheadCmd(),
		newBenchPipelineCmd(),
		newBenchScaleCmd(),
		newBenchTuningCmd(),
	)
	return cmd
}
