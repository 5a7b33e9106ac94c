package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mcplane/mcp/bench/overhead"
)

func newBenchOverheadCmd() *cobra.Command {
	cfg := overhead.DefaultConfig()
	var quick bool
	var jsonPath string
	cmd := &cobra.Command{
		Use:   "overhead",
		Short: "Measure the agent's CPU overhead per request against a service without it",
		Long: `Runs demoapp without the agent, with the agent (OTLP export to an in-process
receiver, Prometheus scrapes), and with the agent and continuous profiling, at the same
fixed request rate, interleaved over several rounds. CPU per request comes from the demoapp
process's CPU time; each variant's overhead is the median over rounds of its CPU per request
relative to the no-agent run of the same round. Targets: at most +1% without profiling,
+3% with it.

With --parallel, the variants of a round run at the same time, each with its own demoapp
and load, so that other work on a shared machine disturbs them alike.

Run it from the mcp source tree (it builds ./cmd/demoapp), or pass --demoapp. Keep --rate
well below what saturates the machine.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if quick {
				q := cfg.Quick()
				// An explicit flag still wins over --quick.
				for name, set := range map[string]func(){
					"rounds":   func() { cfg.Rounds = q.Rounds },
					"duration": func() { cfg.Duration = q.Duration },
					"warmup":   func() { cfg.Warmup = q.Warmup },
				} {
					if !cmd.Flags().Changed(name) {
						set()
					}
				}
			}
			if cfg.Parallel && !cmd.Flags().Changed("rate") {
				cfg.Rate = overhead.ParallelRate
			}
			cfg.Progress = cmd.ErrOrStderr()
			rep, err := overhead.Run(cmd.Context(), cfg)
			if err != nil {
				return fmt.Errorf("overhead benchmark: %w", err)
			}
			if err := rep.WriteTable(cmd.OutOrStdout()); err != nil {
				return err
			}
			return writeReportFile(jsonPath, rep.WriteJSON)
		},
	}
	f := cmd.Flags()
	f.Float64Var(&cfg.Rate, "rate", cfg.Rate, "requests per second, the same for every run")
	f.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured time of each run")
	f.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "load before each run's measurement starts")
	f.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "rounds; each runs every variant once")
	f.BoolVar(&cfg.Parallel, "parallel", false, fmt.Sprintf("run a round's variants at the same time (default --rate %d), so noise on a shared machine hits them alike", overhead.ParallelRate))
	f.BoolVar(&quick, "quick", false, "one round of 15s runs: checks the harness, too short for published figures")
	f.StringVar(&jsonPath, "json", "", "also write the full report, every run included, to this file")
	f.IntVar(&cfg.LiveHeapMiB, "live-heap-mib", cfg.LiveHeapMiB, "demoapp's live heap in MiB")
	f.IntVar(&cfg.GarbageKiB, "garbage-kib", cfg.GarbageKiB, "demoapp's garbage per request in KiB")
	f.IntVar(&cfg.CPUMicros, "cpu-us", cfg.CPUMicros, "demoapp's extra CPU per request in µs")
	f.DurationVar(&cfg.ScrapeInterval, "scrape-interval", cfg.ScrapeInterval, "how often /metrics is scraped")
	f.StringArrayVar(&cfg.AgentEnv, "agent-env", nil, "KEY=VALUE added to the agent variants' environment (repeatable), e.g. OTEL_TRACES_SAMPLER=traceidratio")
	f.StringVar(&cfg.Demoapp, "demoapp", "", "a prebuilt demoapp binary (default: go build ./cmd/demoapp)")
	return cmd
}
