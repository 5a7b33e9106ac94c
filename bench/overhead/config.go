package overhead

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Config is one overhead benchmark.
type Config struct {
	// Rate is the fixed request rate every run gets, in requests per second. Keep the
	// machine well below saturation: CPU per request is only comparable when no run is
	// starved of CPU.
	Rate float64
	// Duration is how long each run is measured.
	Duration time.Duration
	// Warmup is how long each run is loaded before measuring, so the heap has grown to its
	// steady state and connections are open.
	Warmup time.Duration
	// Rounds is how many times every variant runs. Variants are interleaved within a round
	// and their order rotates between rounds, so drift in the machine's speed is shared.
	Rounds int
	// Parallel runs a round's variants at the same time, each with its own demoapp and
	// load, instead of one after the other. Noise from other work on the machine then hits
	// every variant alike, which a shared machine needs to resolve a 1% difference; the
	// machine carries every variant's load at once, so lower Rate.
	Parallel bool
	// LiveHeapMiB, GarbageKiB and CPUMicros are demoapp's workload.
	LiveHeapMiB int
	GarbageKiB  int
	CPUMicros   int
	// ScrapeInterval is how often every variant's /metrics is scraped, as Prometheus would.
	ScrapeInterval time.Duration
	// AgentEnv is extra environment (KEY=VALUE) for the agent variants, e.g.
	// OTEL_TRACES_SAMPLER=traceidratio to measure a sampled configuration.
	AgentEnv []string
	// Demoapp is a demoapp binary to run; empty builds one with `go build` from the
	// current module.
	Demoapp string
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
}

// DefaultConfig is 3 rounds of 60 s runs at 500 requests/s of a service holding 64 MiB live,
// allocating 64 KiB and computing 300 µs per request: about a third of a core on a 2020s
// x86 server core, so a 2-core machine has room for the load generator and the sinks.
func DefaultConfig() Config {
	return Config{
		Rate:           500,
		Duration:       60 * time.Second,
		Warmup:         10 * time.Second,
		Rounds:         3,
		LiveHeapMiB:    64,
		GarbageKiB:     64,
		CPUMicros:      300,
		ScrapeInterval: 15 * time.Second,
	}
}

// ParallelRate is the default Rate with Parallel: three demoapps at once on a 2-core
// machine.
const ParallelRate = 200

// Quick shortens c to one round of 15 s runs: a smoke test of the harness, too short and
// too few for a figure worth publishing.
func (c Config) Quick() Config {
	c.Rounds = 1
	c.Duration = 15 * time.Second
	c.Warmup = 3 * time.Second
	return c
}

// Validate names the first invalid field by its flag.
func (c Config) Validate() error {
	switch {
	case !(c.Rate > 0) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("--rate %v: want requests per second > 0", c.Rate)
	case c.Duration < time.Second:
		return fmt.Errorf("--duration %v: want at least 1s (CPU time is counted in 10 ms ticks)", c.Duration)
	case c.Warmup < 0:
		return fmt.Errorf("--warmup %v: want 0 or more", c.Warmup)
	case c.Rounds < 1:
		return fmt.Errorf("--rounds %d: want at least 1", c.Rounds)
	case c.LiveHeapMiB < 0:
		return fmt.Errorf("--live-heap-mib %d: want 0 or more", c.LiveHeapMiB)
	case c.GarbageKiB < 0:
		return fmt.Errorf("--garbage-kib %d: want 0 or more", c.GarbageKiB)
	case c.CPUMicros < 0:
		return fmt.Errorf("--cpu-us %d: want 0 or more", c.CPUMicros)
	case c.ScrapeInterval <= 0:
		return fmt.Errorf("--scrape-interval %v: want a positive duration", c.ScrapeInterval)
	}
	for _, kv := range c.AgentEnv {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("--agent-env %q: want KEY=VALUE", kv)
		}
	}
	if c.Rate*c.Duration.Seconds() < 100 {
		return errors.New("--rate × --duration is under 100 requests per run: too few to measure CPU per request")
	}
	return nil
}
