package pipeline

import (
	"errors"
	"fmt"
	"io"
	"os/exec"
	"time"
)

// Config is a benchmark run.
type Config struct {
	// Rounds is how many times every variant runs; variants take turns within a round, in
	// reverse order every other round, and ratios are medians over rounds. Default: 3.
	Rounds int
	// Duration is the measured time of each run. Default: 20s.
	Duration time.Duration
	// Warmup is the load before each run's measurement starts. Default: 5s.
	Warmup time.Duration
	// Senders is how many requests are in flight at once. Default: 8.
	Senders int
	// Instances is how many agents the metrics and profiles come from. Default: 1000.
	Instances int
	// Services is how many services the instances belong to. Default: 100.
	Services int
	// ProfileCapture is how long the benchmark's own busy work is CPU-profiled to make the
	// profile it sends. Default: 2s.
	ProfileCapture time.Duration
	// CollectorMemoryMiB is the memory limit of the collector's cgroup; the memory_limiter
	// is mcp serve's (512 MiB). Default: 2048.
	CollectorMemoryMiB int
	// Variants are the pipelines measured. Default: Variants.
	Variants []Variant
	// Command returns the command that runs RunCollector on a configuration file; Run starts
	// it in a cgroup held to one core. Required.
	Command func(configFile string) *exec.Cmd
	// CPUProfileDir, when set, gets the CPU profile of every collector process, named
	// <workload>-<kind>-r<round>.pprof.
	CPUProfileDir string
	// Progress receives a line per run; nil discards them.
	Progress io.Writer
}

// DefaultConfig returns the defaults: 3 rounds of 20 s runs after 5 s of warm-up, 8 senders,
// 1,000 instances of 100 services.
func DefaultConfig() Config {
	return Config{Rounds: 3, Duration: 20 * time.Second, Warmup: 5 * time.Second, Senders: 8,
		Instances: 1000, Services: 100, ProfileCapture: 2 * time.Second, CollectorMemoryMiB: 2048, Variants: Variants}
}

// Quick is c shortened to check the harness: one round of 5 s runs after 2 s of warm-up.
// Too short and too few for published figures.
func (c Config) Quick() Config {
	c.Rounds, c.Duration, c.Warmup, c.ProfileCapture = 1, 5*time.Second, 2*time.Second, time.Second
	return c
}

// Validate checks the configuration; errors name the flag.
func (c Config) Validate() error {
	var errs []error
	if c.Rounds < 1 {
		errs = append(errs, fmt.Errorf("--rounds: %d, want at least 1", c.Rounds))
	}
	if c.Duration < time.Second {
		errs = append(errs, fmt.Errorf("--duration: %v, want at least 1s", c.Duration))
	}
	if c.Warmup < 0 {
		errs = append(errs, fmt.Errorf("--warmup: %v, want 0 or more", c.Warmup))
	}
	if c.Senders < 1 || c.Senders > 256 {
		errs = append(errs, fmt.Errorf("--senders: %d, want 1 to 256", c.Senders))
	}
	if c.Services < 1 {
		errs = append(errs, fmt.Errorf("--services: %d, want at least 1", c.Services))
	}
	if c.Instances < c.Services {
		errs = append(errs, fmt.Errorf("--instances: %d, want at least --services (%d)", c.Instances, c.Services))
	}
	if c.ProfileCapture < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("profile capture: %v, want at least 100ms", c.ProfileCapture))
	}
	if c.CollectorMemoryMiB < 256 {
		errs = append(errs, fmt.Errorf("--collector-memory-mib: %d, want at least 256", c.CollectorMemoryMiB))
	}
	if len(c.Variants) == 0 {
		errs = append(errs, errors.New("variants: none to measure"))
	}
	if c.Command == nil {
		errs = append(errs, errors.New("Command: required, it runs the collector process"))
	}
	return errors.Join(errs...)
}
