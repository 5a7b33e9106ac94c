package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mcplane/mcp/bench/pipeline"
)

func newBenchPipelineCmd() *cobra.Command {
	cfg := pipeline.DefaultConfig()
	var quick bool
	var jsonPath, collectorConfig string
	var workloads []string
	cmd := &cobra.Command{
		Use:   "pipeline",
		Short: "Measure collector throughput on one core with and without MCP's components",
		Long: `Measures metric points/s and profiles/s through the collector on one core, with and
without MCP's components, in one run:

  metrics/baseline          otlp → memory_limiter → batch → nop
  metrics/mcp               the same, with the mcpsignals exporter added (as in mcp serve)
  profiles/baseline         OTLP profiles: otlp → memory_limiter → nop
  profiles/mcp              Pyroscope uploads: pyroscope → memory_limiter → mcpsignals
  profiles/pyroscope-nop    Pyroscope uploads into nop     (diagnostic: these two split
  profiles/otlp-mcpsignals  OTLP profiles into mcpsignals   profiles/mcp's cost)

Each pipeline runs in a fresh collector process (this binary, from the distribution's
factories and mcp serve's processor settings) in a cgroup with a one-core quota and
GOMAXPROCS=1. This process sends as fast as the collector answers, from the other cores:
the real agent's metrics export (captured in bench/pipeline/testdata) as a fleet of
--instances agents of --services services, and CPU and heap pprof profiles of busy work, as
pyroscope-go uploads them or as the same profiles in OTLP. Variants take turns within a
round (reversed every other round).

Throughput on one core is items per CPU-second of the collector (its cgroup's counter), so a
collector that did not get all of its core from a busy machine is still measured fairly;
items per wall-clock second are reported too. B/A is the median over rounds of each round's
ratio to the baseline of its workload. Target: B/A ≥ 0.9.

Needs root on Linux (it creates cgroups).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if collectorConfig != "" {
				// This is the collector process of a run (see Command below).
				ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
				defer stop()
				return pipeline.RunCollector(ctx, collectorConfig, cmd.OutOrStdout())
			}
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
				cfg.ProfileCapture = q.ProfileCapture
			}
			cfg.Variants = nil
			for _, v := range pipeline.Variants {
				if slices.Contains(workloads, string(v.Workload)) {
					cfg.Variants = append(cfg.Variants, v)
				}
			}
			if len(cfg.Variants) == 0 {
				return fmt.Errorf("--workload %s: want metrics, profiles or both", strings.Join(workloads, ","))
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find this binary to run the collector processes: %w", err)
			}
			// The collector process is this command again, with the hidden flag.
			path := strings.Fields(cmd.CommandPath())[1:]
			cfg.Command = func(configFile string) *exec.Cmd {
				return exec.Command(exe, append(slices.Clone(path), "--collector-config", configFile)...)
			}
			cfg.Progress = cmd.ErrOrStderr()
			// Interrupted, Run stops its collector processes and removes their cgroups.
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			rep, err := pipeline.Run(ctx, cfg)
			if err != nil {
				return fmt.Errorf("pipeline benchmark: %w", err)
			}
			if err := rep.WriteTable(cmd.OutOrStdout()); err != nil {
				return err
			}
			return writeReportFile(jsonPath, rep.WriteJSON)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "rounds; each runs every variant once")
	f.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured time of each run")
	f.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "load before each run's measurement starts")
	f.IntVar(&cfg.Senders, "senders", cfg.Senders, "requests in flight at once")
	f.IntVar(&cfg.Instances, "instances", cfg.Instances, "agents the telemetry comes from")
	f.IntVar(&cfg.Services, "services", cfg.Services, "services the agents belong to")
	f.IntVar(&cfg.CollectorMemoryMiB, "collector-memory-mib", cfg.CollectorMemoryMiB, "memory limit of the collector's cgroup in MiB")
	f.StringSliceVar(&workloads, "workload", []string{"metrics", "profiles"}, "workloads to measure: metrics, profiles")
	f.BoolVar(&quick, "quick", false, "one round of 5s runs: checks the harness, too short for published figures")
	f.StringVar(&jsonPath, "json", "", "also write the full report, every run included, to this file")
	f.StringVar(&cfg.CPUProfileDir, "cpuprofile-dir", "", "write each collector process's CPU profile to this directory")
	f.StringVar(&collectorConfig, "collector-config", "", "run as the benchmark's collector process on this file")
	_ = f.MarkHidden("collector-config")
	return cmd
}
