// Package scale is the control plane's fan-out benchmark (`mcp bench scale`): thousands of
// simulated instances, each running the real agent client, hold sessions with one
// `mcp serve`; decisions are pushed to all of them, and the same fan-out is measured, in
// the same run, on the seed design's mechanism — an etcd v3.6 watch on one key with one
// watcher per instance.
//
// The servers run as their own processes so their CPU (utime+stime from /proc/<pid>/stat)
// and memory (VmRSS and VmHWM from /proc/<pid>/status) are theirs alone; the simulated
// clients of both sides run in the calling process, with small gRPC buffers.
package scale

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/mcplane/mcp/bench/internal/procfs"

	"github.com/mcplane/mcp/internal/procs"
)

// progress writes timestamped progress lines; a nil writer discards them.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

func (p *progress) printf(format string, args ...any) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[%6.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

// fdSlack is the open files this process needs besides one per receiver's connection
// (binaries, /proc reads, HTTP clients). Each server needs one per receiver too, and
// inherits this process's limit.
const fdSlack = 1024

// Run runs the benchmark described by cfg and reports what it measured. Progress lines go
// to progressW (nil: none). The run stops early, with an error, when ctx ends.
func Run(ctx context.Context, cfg Config, progressW io.Writer) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	pr := &progress{w: progressW, start: time.Now()}
	r := Report{
		Started: time.Now().UTC(), Instances: cfg.Instances, HeartbeatSeconds: cfg.Heartbeat.Seconds(),
		IdleSeconds: cfg.Idle.Seconds(), Pushes: cfg.Pushes, Rounds: cfg.Rounds, ClientBufferBytes: cfg.ClientBufferBytes,
		CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), ServeEnv: cfg.ServeEnv,
	}

	mcpBin := cfg.MCP
	if mcpBin == "" {
		pr.printf("building ./cmd/mcp")
		var err error
		if mcpBin, err = procs.Build("./cmd/mcp"); err != nil {
			return r, fmt.Errorf("build mcp: %w", err)
		}
	}
	var etcdBin string
	if !cfg.SkipEtcd {
		var err error
		if etcdBin, r.EtcdVersion, err = findEtcd(ctx, cfg.Etcd, pr); err != nil {
			return r, err
		}
		pr.printf("etcd: %s (v%s)", etcdBin, r.EtcdVersion)
	}

	// Both sides up at once needs a connection per receiver for each in this process.
	need := uint64(cfg.Instances) + fdSlack
	if !cfg.SkipEtcd {
		need += uint64(cfg.Instances)
	}
	limit, err := raiseFileLimit(need)
	if err != nil {
		pr.printf("open-file limit: %v", err)
	}
	r.FileLimit = limit
	r.Interleaved = !cfg.SkipEtcd && !cfg.Sequential && limit >= need
	if r.Interleaved {
		r.Rounds = 1 // the pushes alternate already
	}
	if limit < uint64(cfg.Instances)+fdSlack {
		return r, fmt.Errorf("open-file limit %d is too low for %d connections: raise it (ulimit -n) or lower --instances", limit, cfg.Instances)
	}
	if !cfg.SkipEtcd && !r.Interleaved {
		pr.printf("etcd and MCP take turns (open-file limit %d, both at once need %d): %d rounds", limit, need, cfg.Rounds)
	}

	if r.Interleaved {
		err = runInterleaved(ctx, cfg, pr, mcpBin, etcdBin, &r)
	} else {
		err = runSequential(ctx, cfg, pr, mcpBin, etcdBin, &r)
	}
	if err != nil {
		return r, err
	}
	r.MCP.summarize()
	if r.Etcd != nil {
		r.Etcd.summarize()
	}
	if self, err := procfs.ProcessMemory(os.Getpid()); err == nil {
		r.ClientRSSBytes = self.Peak
	}
	r.judge()
	pr.printf("done")
	return r, nil
}

// findEtcd returns the etcd binary to run and its version: the one given, a cached v3.6
// build, or a new build.
func findEtcd(ctx context.Context, given string, pr *progress) (string, string, error) {
	if given != "" {
		v, err := etcdBinaryVersion(ctx, given)
		if err != nil {
			return "", "", fmt.Errorf("--etcd-bin: %w", err)
		}
		return given, v, nil
	}
	if bin, v := cachedEtcd(ctx); bin != "" {
		return bin, v, nil
	}
	bin, err := buildEtcd(ctx, pr)
	if err != nil {
		return "", "", fmt.Errorf("%w: building one failed (give one with --etcd, or skip etcd with --etcd=false): %w", errNoEtcd, err)
	}
	v, err := etcdBinaryVersion(ctx, bin)
	return bin, v, err
}

// measureIdle waits cfg.Settle, then measures the servers' CPU over cfg.Idle with every
// receiver connected and nothing pushed: for MCP, the heartbeats alone.
func measureIdle(ctx context.Context, cfg Config, pr *progress, m *mcpSide, e *etcdSide, r *Report) error {
	pr.printf("settling %v, then measuring idle CPU over %v", cfg.Settle, cfg.Idle)
	if err := sleep(ctx, cfg.Settle); err != nil {
		return err
	}
	var m0, e0 usage
	var err error
	if m != nil {
		if m0, err = m.usage(); err != nil {
			return err
		}
	}
	if e != nil {
		if e0, err = e.usage(); err != nil {
			return err
		}
	}
	if err := sleep(ctx, cfg.Idle); err != nil {
		return err
	}
	if m != nil {
		m1, err := m.usage()
		if err != nil {
			return err
		}
		r.MCP.IdleCPUCores, r.MCP.RSSBytes, r.MCP.IdleMachineCores = m1.since(m0), m1.mem.RSS, m1.machineSince(m0)
		m.runtimeMemory(&r.MCP)
		if c := m.connected(); c < cfg.Instances {
			pr.printf("mcp: only %d of %d sessions up after the idle window", c, cfg.Instances)
		}
		pr.printf("mcp: idle CPU %.2f%% of a core, RSS %s; machine busy %.2f cores", 100*r.MCP.IdleCPUCores, mib(r.MCP.RSSBytes), r.MCP.IdleMachineCores)
	}
	if e != nil {
		e1, err := e.usage()
		if err != nil {
			return err
		}
		r.Etcd.IdleCPUCores, r.Etcd.RSSBytes, r.Etcd.IdleMachineCores = e1.since(e0), e1.mem.RSS, e1.machineSince(e0)
		pr.printf("etcd: idle CPU %.2f%% of a core, RSS %s; machine busy %.2f cores", 100*r.Etcd.IdleCPUCores, mib(r.Etcd.RSSBytes), r.Etcd.IdleMachineCores)
	}
	return nil
}

func pushMCP(ctx context.Context, cfg Config, pr *progress, m *mcpSide, r *Report, i int) error {
	gogc := 110 + 10*i
	p, err := m.push(ctx, gogc)
	if err != nil {
		return err
	}
	r.MCP.Pushes = append(r.MCP.Pushes, p)
	pr.printf("mcp: push %d (GOGC %d, %s): %d received, p50 %s p99 %s max %s; POST returned after %s; %d acked",
		i+1, gogc, p.Key, p.Received, ms(p.P50Seconds), ms(p.P99Seconds), ms(p.MaxSeconds), ms(p.ReturnedSeconds), p.Acked)
	if p.Missing > 0 {
		pr.printf("mcp: push %d: %d instances did not receive it within %v", i+1, p.Missing, cfg.PushTimeout)
	}
	return sleep(ctx, cfg.PushGap)
}

func pushEtcd(ctx context.Context, cfg Config, pr *progress, e *etcdSide, r *Report, i int) error {
	p, err := e.push(ctx, 110+10*i)
	if err != nil {
		return err
	}
	r.Etcd.Pushes = append(r.Etcd.Pushes, p)
	pr.printf("etcd: put %d (%s): %d received, p50 %s p99 %s max %s; put returned after %s",
		i+1, p.Key, p.Received, ms(p.P50Seconds), ms(p.P99Seconds), ms(p.MaxSeconds), ms(p.ReturnedSeconds))
	if p.Missing > 0 {
		pr.printf("etcd: put %d: %d watchers did not receive it within %v", i+1, p.Missing, cfg.PushTimeout)
	}
	return sleep(ctx, cfg.PushGap)
}

// runInterleaved has etcd's watchers and MCP's sessions up at once, measures both idle
// over the same window, and alternates the pushes between them.
func runInterleaved(ctx context.Context, cfg Config, pr *progress, mcpBin, etcdBin string, r *Report) error {
	etcd, err := startEtcd(ctx, cfg, etcdBin, r.EtcdVersion)
	if err != nil {
		return err
	}
	defer etcd.close()
	side, err := etcd.connect(ctx, pr)
	if err != nil {
		return err
	}
	r.Etcd = &side
	pr.printf("mcp: starting mcp serve (heartbeat %v)", cfg.Heartbeat)
	m, err := startMCP(ctx, cfg, mcpBin)
	if err != nil {
		return err
	}
	defer m.close()
	if r.MCP, err = m.connect(ctx, pr); err != nil {
		return err
	}
	if err := measureIdle(ctx, cfg, pr, m, etcd, r); err != nil {
		return err
	}
	for i := range cfg.Pushes {
		// Alternate which goes first, so neither always pushes onto a system the other
		// just disturbed.
		first, second := func() error { return pushMCP(ctx, cfg, pr, m, r, i) }, func() error { return pushEtcd(ctx, cfg, pr, etcd, r, i) }
		if i%2 == 1 {
			first, second = second, first
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
	}
	if err := finishMCP(m, r); err != nil {
		return err
	}
	return finishEtcd(etcd, r)
}

// runSequential runs the sides one after the other, each alone with its receivers, for
// cfg.Rounds rounds: etcd then MCP, then MCP then etcd, and so on, so that a change in the
// machine's load during the run falls on both. Connection and idle figures come from each
// side's first round; every round's pushes count.
func runSequential(ctx context.Context, cfg Config, pr *progress, mcpBin, etcdBin string, r *Report) error {
	etcdPhase := func(round int) error {
		e, err := startEtcd(ctx, cfg, etcdBin, r.EtcdVersion)
		if err != nil {
			return err
		}
		defer e.close()
		side, err := e.connect(ctx, pr)
		if err != nil {
			return err
		}
		if r.Etcd == nil {
			r.Etcd = &side
			if err := measureIdle(ctx, cfg, pr, nil, e, r); err != nil {
				return err
			}
		}
		for i := range cfg.Pushes {
			if err := pushEtcd(ctx, cfg, pr, e, r, round*cfg.Pushes+i); err != nil {
				return err
			}
		}
		return finishEtcd(e, r)
	}
	mcpPhase := func(round int) error {
		pr.printf("mcp: starting mcp serve (heartbeat %v)", cfg.Heartbeat)
		m, err := startMCP(ctx, cfg, mcpBin)
		if err != nil {
			return err
		}
		defer m.close()
		side, err := m.connect(ctx, pr)
		if err != nil {
			return err
		}
		if round == 0 {
			r.MCP = side
			if err := measureIdle(ctx, cfg, pr, m, nil, r); err != nil {
				return err
			}
		}
		for i := range cfg.Pushes {
			if err := pushMCP(ctx, cfg, pr, m, r, round*cfg.Pushes+i); err != nil {
				return err
			}
		}
		return finishMCP(m, r)
	}
	for round := range cfg.Rounds {
		phases := []func(int) error{mcpPhase}
		switch {
		case cfg.SkipEtcd:
		case round%2 == 0:
			phases = []func(int) error{etcdPhase, mcpPhase}
		default:
			phases = []func(int) error{mcpPhase, etcdPhase}
		}
		for _, phase := range phases {
			if cfg.Rounds > 1 {
				pr.printf("round %d of %d", round+1, cfg.Rounds)
			}
			if err := phase(round); err != nil {
				return err
			}
			// The next phase starts without this one's client garbage in this process.
			runtime.GC()
			debug.FreeOSMemory()
		}
	}
	return nil
}

// finishMCP records what is only known at the end of a side's run.
func finishMCP(m *mcpSide, r *Report) error {
	u, err := m.usage()
	if err != nil {
		return err
	}
	r.MCP.PeakRSSBytes = max(r.MCP.PeakRSSBytes, u.mem.Peak)
	r.MCP.Reconnects += m.reconnects()
	return nil
}

func finishEtcd(e *etcdSide, r *Report) error {
	u, err := e.usage()
	if err != nil {
		return err
	}
	r.Etcd.PeakRSSBytes = max(r.Etcd.PeakRSSBytes, u.mem.Peak)
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
