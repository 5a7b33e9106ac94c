package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

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

// writeReportFile writes a benchmark report to the file named by --json. An empty path
// writes nothing. Errors name the flag and the file.
func writeReportFile(path string, write func(io.Writer) error) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--json %s: %w", path, err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("--json %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--json %s: %w", path, err)
	}
	return nil
}
