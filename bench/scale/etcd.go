package scale

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/mcplane/mcp/bench/internal/procfs"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/mcplane/mcp/internal/procs"
)

// EtcdVersion is the etcd release the benchmark builds when it finds none: the store and
// watch of the seed design, as hack/testenv.sh builds it for envtest.
const EtcdVersion = "3.6.16"

// watchKey is the one key every etcd watcher watches: the seed design's decision key.
const watchKey = "/mcp/decisions/scale-bench"

var etcdVersionRE = regexp.MustCompile(`etcd Version: (\S+)`)

// etcdBinaryVersion runs bin --version and returns the version it prints.
func etcdBinaryVersion(ctx context.Context, bin string) (string, error) {
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", bin, err)
	}
	m := etcdVersionRE.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("%s --version printed no \"etcd Version:\" line: %q", bin, out)
	}
	return string(m[1]), nil
}

// testbinDir is where hack/testenv.sh caches the test binaries: $MCP_TESTBIN, else
// $XDG_CACHE_HOME/mcp/testbin, else ~/.cache/mcp/testbin.
func testbinDir() (string, error) {
	if d := os.Getenv("MCP_TESTBIN"); d != "" {
		return d, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the cache directory for etcd: %w", err)
	}
	return filepath.Join(cache, "mcp", "testbin"), nil
}

// cachedEtcd finds an etcd v3.6 binary built before: the benchmark's own build, or the one
// hack/testenv.sh builds for envtest. It returns "" when there is none.
func cachedEtcd(ctx context.Context) (bin, version string) {
	dir, err := testbinDir()
	if err != nil {
		return "", ""
	}
	candidates := []string{filepath.Join(dir, "etcd-v"+EtcdVersion, "etcd")}
	if found, err := filepath.Glob(filepath.Join(dir, "k8s-*", "etcd")); err == nil {
		candidates = append(candidates, found...)
	}
	for _, c := range candidates {
		if v, err := etcdBinaryVersion(ctx, c); err == nil && len(v) > 4 && v[:4] == "3.6." {
			return c, v
		}
	}
	return "", ""
}

// buildEtcd builds etcd EtcdVersion from go.etcd.io/etcd/server/v3 in a throwaway module,
// as hack/testenv.sh does, into the test binary cache, and returns its path.
func buildEtcd(ctx context.Context, progress *progress) (string, error) {
	dir, err := testbinDir()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "etcd-v"+EtcdVersion)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", out, err)
	}
	work, err := os.MkdirTemp("", "mcp-bench-etcd-")
	if err != nil {
		return "", fmt.Errorf("create a module to build etcd in: %w", err)
	}
	defer os.RemoveAll(work)
	progress.printf("etcd: building v%s from go.etcd.io/etcd/server/v3 into %s (a minute or two, once)", EtcdVersion, out)
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = work
		// The module is outside this one: no workspace, and a static binary as testenv.sh builds.
		cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %v: %w\n%s", args, err, b)
		}
		return nil
	}
	if err := run("mod", "init", "mcp-bench/etcd"); err != nil {
		return "", err
	}
	if err := run("get", "go.etcd.io/etcd/server/v3@v"+EtcdVersion); err != nil {
		return "", err
	}
	tmp := filepath.Join(out, "etcd.tmp")
	if err := run("build", "-trimpath", "-o", tmp, "go.etcd.io/etcd/server/v3"); err != nil {
		return "", err
	}
	bin := filepath.Join(out, "etcd")
	if err := os.Rename(tmp, bin); err != nil {
		return "", fmt.Errorf("install etcd: %w", err)
	}
	return bin, nil
}

// etcdSide is an etcd server in its own process and the watchers connected to it from
// this one, each on its own client connection, as separate agents would be.
type etcdSide struct {
	cfg      Config
	proc     *procs.Proc
	dataDir  string
	endpoint string
	ver      string
	sampler  *sampler
	stop     context.CancelFunc
	arrivals *arrivals
	writer   *clientv3.Client

	mu       sync.Mutex
	watchers []*clientv3.Client
	wg       sync.WaitGroup
	watchCtx context.Context
	unwatch  context.CancelFunc
}

// startEtcd runs a one-member etcd with a temporary data directory on free ports and waits
// until it serves.
func startEtcd(ctx context.Context, cfg Config, bin, version string) (_ *etcdSide, err error) {
	e := &etcdSide{cfg: cfg, ver: version, arrivals: newArrivals()}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if e.dataDir, err = os.MkdirTemp("", "mcp-bench-etcd-data-"); err != nil {
		return nil, fmt.Errorf("create etcd's data directory: %w", err)
	}
	client, err := freePort()
	if err != nil {
		return nil, err
	}
	peer, err := freePort()
	if err != nil {
		return nil, err
	}
	e.endpoint = "http://" + client
	cmd := exec.Command(bin, "--name", "bench", "--data-dir", filepath.Join(e.dataDir, "data"),
		"--listen-client-urls", e.endpoint, "--advertise-client-urls", e.endpoint,
		"--listen-peer-urls", "http://"+peer, "--initial-advertise-peer-urls", "http://"+peer,
		"--initial-cluster", "bench=http://"+peer, "--log-level", "warn")
	e.proc = procs.Prepare("etcd", cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	e.proc.Watch()
	if err := procs.WaitHTTP(ctx, e.proc, e.endpoint+"/health", 30*time.Second); err != nil {
		return nil, fmt.Errorf("wait for etcd: %w", err)
	}
	var sctx context.Context
	sctx, e.stop = context.WithCancel(context.Background())
	e.sampler = newSampler(cmd.Process.Pid, 100*time.Millisecond)
	go e.sampler.run(sctx)
	e.watchCtx, e.unwatch = context.WithCancel(context.Background())
	if e.writer, err = e.newClient(); err != nil {
		return nil, fmt.Errorf("connect to etcd: %w", err)
	}
	return e, nil
}

func (e *etcdSide) pid() int { return e.proc.Cmd.Process.Pid }

// newClient is one etcd client connection with the same small gRPC buffers as the
// simulated agents.
func (e *etcdSide) newClient() (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   []string{e.endpoint},
		DialTimeout: 10 * time.Second,
		DialOptions: dialOptions(e.cfg.ClientBufferBytes),
		Logger:      zap.NewNop(),
	})
}

// connect opens cfg.Instances watchers on watchKey, each on its own client, in batches,
// and waits for each watch to be created on the server.
func (e *etcdSide) connect(ctx context.Context, progress *progress) (Side, error) {
	side := Side{Name: "etcd " + e.ver}
	u0, err := readUsage(e.pid())
	if err != nil {
		return side, err
	}
	n := e.cfg.Instances
	for start := 0; start < n; start += e.cfg.ConnectBatch {
		end := min(start+e.cfg.ConnectBatch, n)
		g, gctx := errgroup.WithContext(ctx)
		for i := start; i < end; i++ {
			g.Go(func() error { return e.watch(gctx, i) })
		}
		if err := g.Wait(); err != nil {
			return side, fmt.Errorf("etcd: watchers %d-%d: %w%s", start, end-1, err, e.exitNote())
		}
		progress.printf("etcd: %d/%d watchers created", end, n)
	}
	u1, err := readUsage(e.pid())
	if err != nil {
		return side, err
	}
	e.mu.Lock()
	side.Connections = len(e.watchers)
	e.mu.Unlock()
	side.ConnectSeconds = u1.at.Sub(u0.at).Seconds()
	side.ConnectPeakRSSBytes = u1.mem.Peak
	side.ConnectCPUCores = u1.since(u0)
	side.ConnectPeakCPUCores = max(side.ConnectCPUCores, e.sampler.peak(u0.at, u1.at, time.Second))
	progress.printf("etcd: %d watchers up after %.1f s (mean %.2f cores, busiest second %.2f)",
		n, side.ConnectSeconds, side.ConnectCPUCores, side.ConnectPeakCPUCores)
	return side, nil
}

// watch opens watcher number n: one client and one watch, recording the arrival of every
// value put.
func (e *etcdSide) watch(ctx context.Context, n int) error {
	c, err := e.newClient()
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	e.mu.Lock()
	e.watchers = append(e.watchers, c)
	e.mu.Unlock()
	ch := c.Watch(e.watchCtx, watchKey, clientv3.WithCreatedNotify())
	select {
	case resp, ok := <-ch:
		if !ok || !resp.Created {
			return fmt.Errorf("watch %s: no created notification (%v)", watchKey, resp.Err())
		}
	case <-time.After(30 * time.Second):
		return fmt.Errorf("watch %s: not created within 30s", watchKey)
	case <-ctx.Done():
		return ctx.Err()
	}
	e.wg.Go(func() {
		for resp := range ch {
			now := time.Now()
			for _, ev := range resp.Events {
				e.arrivals.arrived(n, string(ev.Kv.Value), now)
			}
		}
	})
	return nil
}

// push puts one value and measures its fan-out: each watcher's arrival time minus the
// time the put was sent.
func (e *etcdSide) push(ctx context.Context, i int) (Push, error) {
	p := Push{Key: "gogc=" + strconv.Itoa(i)}
	u0, err := readUsage(e.pid())
	if err != nil {
		return p, err
	}
	self0, err := procfs.ProcessCPU(os.Getpid())
	if err != nil {
		return p, err
	}
	e.mu.Lock()
	n := len(e.watchers)
	e.mu.Unlock()
	before, _ := procs.Get(e.endpoint + "/metrics")
	sent := time.Now()
	_, err = e.writer.Put(ctx, watchKey, p.Key)
	returned := time.Now()
	if err != nil {
		return p, fmt.Errorf("etcd: put %s: %w%s", watchKey, err, e.exitNote())
	}
	p.ReturnedSeconds = returned.Sub(sent).Seconds()
	l := latenciesSince(sent, e.arrivals.wait(ctx, p.Key, n, e.cfg.PushTimeout))
	p.Received, p.Missing = len(l), n-len(l)
	p.P50Seconds, p.P99Seconds, p.MaxSeconds = l.quantile(.5).Seconds(), l.quantile(.99).Seconds(), l.max().Seconds()
	p.FirstSeconds = l.min().Seconds()
	if after, err := procs.Get(e.endpoint + "/metrics"); err == nil && before != "" {
		const fsync = "etcd_disk_wal_fsync_duration_seconds_sum"
		p.DurableSeconds = metricValue(after, fsync) - metricValue(before, fsync)
	}
	// The CPU window is at least a second, so the busiest second is one the push is in.
	if err := sleep(ctx, time.Until(u0.at.Add(time.Second))); err != nil {
		return p, err
	}
	u1, err := readUsage(e.pid())
	if err != nil {
		return p, err
	}
	p.CPUSeconds = (u1.cpu - u0.cpu).Seconds()
	if self1, err := procfs.ProcessCPU(os.Getpid()); err == nil {
		p.ClientCPUSeconds = (self1 - self0).Seconds()
	}
	p.MachineCores = u1.machineSince(u0)
	p.PeakCPUCores = max(u1.since(u0), e.sampler.peak(u0.at, u1.at, time.Second))
	return p, nil
}

func (e *etcdSide) usage() (usage, error) { return readUsage(e.pid()) }

func (e *etcdSide) exitNote() string {
	if e.proc == nil {
		return ""
	}
	if done, err := e.proc.Exited(); done {
		out := e.proc.Output()
		if len(out) > 4000 {
			out = "…" + out[len(out)-4000:]
		}
		return fmt.Sprintf(" (etcd exited: %v)\n%s", err, out)
	}
	return ""
}

// closeWatchers closes every watcher's client, so their connections are gone before the
// next part of the run needs the file descriptors.
func (e *etcdSide) closeWatchers() {
	if e.unwatch != nil {
		e.unwatch()
	}
	e.mu.Lock()
	ws := e.watchers
	e.watchers = nil
	e.mu.Unlock()
	var g errgroup.Group
	g.SetLimit(64)
	for _, c := range ws {
		g.Go(c.Close)
	}
	_ = g.Wait()
	e.wg.Wait()
}

func (e *etcdSide) close() {
	e.closeWatchers()
	if e.writer != nil {
		_ = e.writer.Close()
	}
	if e.stop != nil {
		e.stop()
	}
	if e.proc != nil && e.proc.Cmd.Process != nil {
		_ = e.proc.Stop(10 * time.Second)
	}
	if e.dataDir != "" {
		_ = os.RemoveAll(e.dataDir)
	}
}

var errNoEtcd = errors.New("no etcd v3.6 binary")
