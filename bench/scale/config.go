package scale

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config is one scale benchmark run.
type Config struct {
	// Instances is how many simulated agents connect to `mcp serve`, and how many etcd
	// watchers watch the one key.
	Instances int
	// Heartbeat is the heartbeat interval `mcp serve` tells its agents to use
	// (--heartbeat-interval).
	Heartbeat time.Duration
	// Settle is how long to wait after every session is up before the idle window, so the
	// connection burst's garbage is collected and every agent has started its heartbeat
	// schedule.
	Settle time.Duration
	// Idle is the window over which the control plane's idle CPU (heartbeats only) is
	// measured.
	Idle time.Duration
	// Pushes is how many decisions are pushed to every instance (and how many puts etcd
	// fans out), one at a time.
	Pushes int
	// Rounds is how many times each side is brought up, connected and pushed to when the
	// sides cannot be up at once (the open-file limit): etcd then MCP, MCP then etcd, ...
	// Idle and connection figures come from the first round.
	Rounds int
	// PushGap is the pause between two pushes, so each is measured on a quiet system.
	PushGap time.Duration
	// PushTimeout bounds the wait for every instance to receive one push.
	PushTimeout time.Duration
	// ConnectBatch is how many sessions (or etcd watchers) are opened at once.
	ConnectBatch int
	// ClientBufferBytes sizes the read and write buffers of every simulated client's gRPC
	// connection, MCP and etcd alike. gRPC's default is 32 KiB each, which makes 10,000
	// connections in one process cost about 640 MiB of buffers alone.
	ClientBufferBytes int
	// MCP is the mcp binary to run `mcp serve` from; empty builds ./cmd/mcp of this module.
	MCP string
	// Etcd is the etcd binary to compare with; empty finds a cached etcd v3.6 build or
	// builds one (EtcdVersion) from go.etcd.io/etcd/server/v3.
	Etcd string
	// Sequential makes the sides take turns even when the open-file limit would let them
	// be up at once.
	Sequential bool
	// SkipEtcd runs the MCP side alone.
	SkipEtcd bool
	// ServeEnv is extra environment (KEY=VALUE) for `mcp serve`, e.g. GOMEMLIMIT=450MiB to
	// measure the control plane under a memory limit.
	ServeEnv []string
}

// DefaultConfig is the benchmark: 10,000 instances with 10 s heartbeats, a 30 s
// idle window, three pushes, two rounds when the sides must take turns.
func DefaultConfig() Config {
	return Config{
		Instances:         10000,
		Heartbeat:         10 * time.Second,
		Settle:            10 * time.Second,
		Idle:              30 * time.Second,
		Pushes:            3,
		Rounds:            2,
		PushGap:           3 * time.Second,
		PushTimeout:       60 * time.Second,
		ConnectBatch:      500,
		ClientBufferBytes: 4 << 10,
	}
}

// Quick shrinks c to a smoke test of the harness: 1,000 instances, short windows, two
// pushes, one round. Its figures are not the ones to publish.
func (c Config) Quick() Config {
	c.Instances = 1000
	c.Settle = 2 * time.Second
	c.Idle = 10 * time.Second
	c.Pushes = 2
	c.Rounds = 1
	c.PushGap = time.Second
	return c
}

// Validate checks c; errors name the flag of `mcp bench scale` to fix.
func (c Config) Validate() error {
	var errs []error
	if c.Instances < 1 {
		errs = append(errs, fmt.Errorf("--instances: %d, want at least 1", c.Instances))
	}
	if c.Heartbeat < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("--heartbeat: %v is below the control plane's minimum of 100ms", c.Heartbeat))
	}
	if c.Settle < 0 {
		errs = append(errs, fmt.Errorf("--settle: %v is negative", c.Settle))
	}
	if c.Idle < time.Second {
		errs = append(errs, fmt.Errorf("--idle: %v, want at least 1s to measure CPU at the kernel's 10 ms resolution", c.Idle))
	}
	if c.Pushes < 1 {
		errs = append(errs, fmt.Errorf("--pushes: %d, want at least 1", c.Pushes))
	}
	if c.Rounds < 1 {
		errs = append(errs, fmt.Errorf("--rounds: %d, want at least 1", c.Rounds))
	}
	if c.PushGap < 0 {
		errs = append(errs, fmt.Errorf("--push-gap: %v is negative", c.PushGap))
	}
	if c.PushTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--push-timeout: %v, want a positive duration", c.PushTimeout))
	}
	if c.ConnectBatch < 1 {
		errs = append(errs, fmt.Errorf("--connect-batch: %d, want at least 1", c.ConnectBatch))
	}
	if c.ClientBufferBytes < 1024 {
		errs = append(errs, fmt.Errorf("--client-buffer: %d bytes, want at least 1024", c.ClientBufferBytes))
	}
	for _, kv := range c.ServeEnv {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			errs = append(errs, fmt.Errorf("--serve-env: %q is not KEY=VALUE", kv))
		}
	}
	return errors.Join(errs...)
}
