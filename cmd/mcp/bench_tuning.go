package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcplane/mcp/bench/tuning"
)

func newBenchTuningCmd() *cobra.Command {
	var profiles []string
	var quick bool
	var jsonPath, plotPath string
	var rounds int
	var warmup, measure time.Duration
	cmd := &cobra.Command{
		Use:   "tuning",
		Short: "Compare MCP's tuner with static GC settings on real cgroups",
		Long: `Run demoapp under each contender — default, automemlimit, gogc-off-memlimit,
uber-gogctuner (a re-implementation), oracle-static (the best static GOGC by a sweep) and
mcp (mcp serve + agent + tuner) — in its own cgroup with the same memory limit and CPU
quota, under the same open-loop load, interleaved and repeated, and report CPU per 1k
requests (cgroup accounting), GC CPU, p50/p99/p99.9 latency, peak memory, OOM kills and
throttling. Needs root (it creates cgroups).

--quick runs one round with short windows (under 3 minutes for one profile).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := tuning.DefaultConfig()
			if quick {
				cfg = tuning.QuickConfig()
			}
			for _, p := range profiles {
				cfg.Profiles = append(cfg.Profiles, strings.Split(p, ",")...)
			}
			if cmd.Flags().Changed("rounds") {
				cfg.Rounds = rounds
			}
			if cmd.Flags().Changed("warmup") {
				cfg.Warmup = warmup
			}
			if cmd.Flags().Changed("measure") {
				cfg.Measure = measure
			}
			if cfg.Rounds < 1 || cfg.Measure <= 0 || cfg.Warmup < 0 {
				return fmt.Errorf("--rounds must be at least 1, --measure positive and --warmup not negative")
			}
			cfg.Progress = cmd.ErrOrStderr()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			start := time.Now()
			results, err := tuning.Run(ctx, cfg)
			if len(results) > 0 {
				tuning.WriteTable(cmd.OutOrStdout(), results)
				if jsonPath != "" {
					if werr := tuning.WriteJSON(jsonPath, results); werr != nil {
						return werr
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", jsonPath)
				}
				for _, r := range results {
					if r.Profile == "phased" && plotPath != "" {
						if werr := tuning.WritePlot(plotPath, r); werr != nil {
							return werr
						}
						fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", plotPath)
					}
				}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "took %v\n", time.Since(start).Round(time.Second))
			return err
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&profiles, "profile", nil, "alloc-heavy, large-heap or phased (repeatable; default: all)")
	f.BoolVar(&quick, "quick", false, "one round, short windows (under 3 minutes a profile)")
	f.StringVar(&jsonPath, "json", "", "write the results as JSON to this file")
	f.StringVar(&plotPath, "plot", "bench-tuning-phased.svg", "SVG plot of knobs and GC CPU over time for the phased profile")
	f.IntVar(&rounds, "rounds", 2, "interleaved rounds")
	f.DurationVar(&warmup, "warmup", 30*time.Second, "load before measuring")
	f.DurationVar(&measure, "measure", 90*time.Second, "measured window per run")
	return cmd
}
