package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mcplane/mcp/bench/hpa"
)

func newBenchHPACmd() *cobra.Command {
	cfg := hpa.DefaultConfig()
	var quick bool
	var jsonPath string
	cmd := &cobra.Command{
		Use:   "hpa",
		Short: "Simulate an HPA through days of diurnal load with bursts: fixed targets against MCP's HPA model",
		Long: `Simulates, second by second, one Deployment scaled by a HorizontalPodAutoscaler on CPU
utilization (the controller's algorithm with Kubernetes' defaults: 15 s sync, 0.1 tolerance,
5-minute scale-down stabilization, +100% or +4 pods per 15 s, unready pods as the controller
treats them) through --days of diurnal load with sudden x2-x3 bursts, with each pod an M/M/c
queue (c = --cores, mean CPU per request --service-time) and a --start-delay for new pods.

Strategies for the HPA's target: static-50, static-70, static-80, and mcp, which starts at 50%
and re-fits MCP's HPA model (tuner/hpa) to the observed utilization and p99 every 30 minutes.
Reports replica-hours and minutes with p99 over --slo for each. Target: mcp at most 0.8x the
replica-hours of static-50 with no more SLO-violation minutes. The modelling choices are in
the bench/hpa package documentation.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if quick && !cmd.Flags().Changed("days") {
				cfg = cfg.Quick()
			}
			rep, err := hpa.Run(cmd.Context(), cfg, cmd.ErrOrStderr())
			if err != nil {
				return fmt.Errorf("hpa benchmark: %w", err)
			}
			if err := rep.WriteTable(cmd.OutOrStdout()); err != nil {
				return err
			}
			return writeReportFile(jsonPath, rep.WriteJSON)
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the load trace and measurement noise (same seed, same result)")
	f.IntVar(&cfg.Days, "days", cfg.Days, "simulated days")
	f.DurationVar(&cfg.SLO, "slo", cfg.SLO, "p99 latency SLO: a minute with p99 above it is an SLO-violation minute")
	f.DurationVar(&cfg.StartDelay, "start-delay", cfg.StartDelay, "time from pod creation to ready")
	f.IntVar(&cfg.Cores, "cores", cfg.Cores, "CPU request and limit of each pod, and its workers (M/M/c)")
	f.DurationVar(&cfg.ServiceTime, "service-time", cfg.ServiceTime, "mean CPU time per request")
	f.Float64Var(&cfg.PeakRate, "peak-rate", cfg.PeakRate, "requests per second at a typical day's peak")
	f.Float64Var(&cfg.SpikesPerDay, "spikes-per-day", cfg.SpikesPerDay, "mean number of x2-x3 bursts a day")
	f.StringVar((*string)(&cfg.ScaleOn), "scale-on", string(cfg.ScaleOn),
		"the HPA's metric: cpu (CPU utilization, capped at the CPU limit), or requests (a per-pod request rate, which is not)")
	f.BoolVar(&quick, "quick", false, "one simulated day: checks the harness, too short for published figures")
	f.StringVar(&jsonPath, "json", "", "also write the report to this file")
	return cmd
}
