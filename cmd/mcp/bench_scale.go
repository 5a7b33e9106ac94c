package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/mcplane/mcp/bench/scale"
)

func newBenchScaleCmd() *cobra.Command {
	cfg := scale.DefaultConfig()
	var quick, withEtcd bool
	var jsonPath string
	cmd := &cobra.Command{
		Use:   "scale",
		Short: "Measure the control plane's fan-out to 10,000 agents, side by side with an etcd watch",
		Long: `Runs mcp serve as its own process and connects --instances simulated agents to it,
each with the real agent client (small gRPC buffers, all in this process), heartbeating
every --heartbeat. Once the server lists them all healthy it measures the server's idle CPU
over --idle, then pushes --pushes decisions (POST /api/v1/decisions, GOGC) to every
instance: push latency is when an instance received the update minus when the POST was sent.

In the same run, the seed design's mechanism does the same fan-out: an etcd v3.6 server
(its own process) with one watcher per instance on one key, each on its own client
connection, and one put. When the open-file limit allows both sets of connections at once,
the pushes alternate between the two; otherwise the two take turns for --rounds rounds,
the order alternating. etcd is found in the test binary cache (hack/testenv.sh) or built
from go.etcd.io/etcd/server/v3 once.

mcp serve runs with its defaults (the embedded collector on, on free ports, receiving
nothing). The machine's total busy CPU is reported beside each figure: on a shared machine
other work shows up there and in the latencies.

CPU (utime+stime) and RSS (VmRSS, VmHWM) are read from /proc for each server process
alone. Targets: fan-out p99 at most 2x etcd's; at most 1 core while connecting and pushing;
idle CPU under 5% of a core; peak RSS at most 512 MiB.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if quick {
				q := cfg.Quick()
				// An explicit flag still wins over --quick.
				for name, set := range map[string]func(){
					"instances": func() { cfg.Instances = q.Instances },
					"settle":    func() { cfg.Settle = q.Settle },
					"idle":      func() { cfg.Idle = q.Idle },
					"pushes":    func() { cfg.Pushes = q.Pushes },
					"push-gap":  func() { cfg.PushGap = q.PushGap },
					"rounds":    func() { cfg.Rounds = q.Rounds },
				} {
					if !cmd.Flags().Changed(name) {
						set()
					}
				}
			}
			cfg.SkipEtcd = !withEtcd
			if cfg.MCP == "" {
				// This binary is mcp: run its own serve.
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("find the mcp binary to run mcp serve from (give --mcp): %w", err)
				}
				cfg.MCP = exe
			}
			rep, err := scale.Run(cmd.Context(), cfg, cmd.ErrOrStderr())
			if err != nil {
				return fmt.Errorf("scale benchmark: %w", err)
			}
			if err := rep.WriteTable(cmd.OutOrStdout()); err != nil {
				return err
			}
			return writeReportFile(jsonPath, rep.WriteJSON)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Instances, "instances", cfg.Instances, "simulated agents (and etcd watchers)")
	f.DurationVar(&cfg.Heartbeat, "heartbeat", cfg.Heartbeat, "heartbeat interval (mcp serve --heartbeat-interval)")
	f.DurationVar(&cfg.Settle, "settle", cfg.Settle, "wait after every session is up, before the idle window")
	f.DurationVar(&cfg.Idle, "idle", cfg.Idle, "window over which idle CPU is measured")
	f.IntVar(&cfg.Pushes, "pushes", cfg.Pushes, "decisions pushed to every instance (and puts to etcd)")
	f.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "rounds when etcd and MCP must take turns (open-file limit): the order alternates")
	f.DurationVar(&cfg.PushGap, "push-gap", cfg.PushGap, "pause after each push")
	f.DurationVar(&cfg.PushTimeout, "push-timeout", cfg.PushTimeout, "how long one push may take to reach every instance")
	f.IntVar(&cfg.ConnectBatch, "connect-batch", cfg.ConnectBatch, "sessions (and watchers) opened at once")
	f.IntVar(&cfg.ClientBufferBytes, "client-buffer", cfg.ClientBufferBytes, "gRPC read and write buffer of every simulated client, in bytes")
	f.BoolVar(&quick, "quick", false, "1,000 instances and short windows: checks the harness, too small for published figures")
	f.StringVar(&jsonPath, "json", "", "also write the full report to this file")
	f.BoolVar(&cfg.Sequential, "sequential", false, "run etcd and MCP one after the other even when both fit in the open-file limit")
	f.BoolVar(&withEtcd, "etcd", true, "measure etcd's watch fan-out in the same run (--etcd=false: MCP alone)")
	f.StringVar(&cfg.Etcd, "etcd-bin", "", "an etcd v3.6 binary (default: the test binary cache, or build v"+scale.EtcdVersion+")")
	f.StringVar(&cfg.MCP, "mcp", "", "the mcp binary to run mcp serve from (default: this one)")
	f.StringArrayVar(&cfg.ServeEnv, "serve-env", nil, "KEY=VALUE added to mcp serve's environment (repeatable), e.g. GOMEMLIMIT=450MiB")
	return cmd
}
