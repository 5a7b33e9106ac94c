package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"

	"github.com/mcplane/mcp/bench/pipeline"
)

// ExampleRun measures the metrics pipelines only, briefly. The collector processes are this
// binary again: its main must call pipeline.RunCollector when started with the hidden flag,
// as `mcp bench pipeline --collector-config FILE` does. (Not run as a test: it needs root
// for the cgroups and takes a minute.)
func ExampleRun() {
	cfg := pipeline.DefaultConfig().Quick()
	cfg.Variants = []pipeline.Variant{pipeline.MetricsBaseline, pipeline.MetricsMCP}
	exe, _ := os.Executable()
	cfg.Command = func(configFile string) *exec.Cmd {
		return exec.Command(exe, "bench", "pipeline", "--collector-config", configFile)
	}
	cfg.Progress = os.Stderr
	rep, err := pipeline.Run(context.Background(), cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = rep.WriteTable(os.Stdout)
	for _, s := range rep.Summary {
		if s.Target > 0 {
			fmt.Printf("%s: %.2f of the baseline on one core (target %.2f)\n", s.Variant, s.Ratio, s.Target)
		}
	}
}
