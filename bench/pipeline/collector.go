package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/exporter/nopexporter"
	"go.opentelemetry.io/collector/otelcol"

	"github.com/mcplane/mcp/collector/distribution"
	"github.com/mcplane/mcp/internal/cgroupctl"
	"github.com/mcplane/mcp/runtime/cgroups"
	"github.com/mcplane/mcp/tuner/signals"
)

// Components are the distribution's component factories, with the mcpsignals exporter
// writing st, and the collector's nop exporter, the sink of the baseline pipelines: it takes
// data and does nothing, so a baseline measures the receiver and processors alone.
func Components(st *signals.Store) (otelcol.Factories, error) {
	f, err := distribution.Components(st)
	if err != nil {
		return f, err
	}
	nop := nopexporter.NewFactory()
	if _, ok := f.Exporters[nop.Type()]; !ok {
		f.Exporters[nop.Type()] = nop
	}
	return f, nil
}

// childMessage is a line the collector process writes on its stdout: "ready" once every
// component started, "stopped" after it shut down, with what the tuner's store took in.
type childMessage struct {
	Event      string `json:"event"`
	GOMAXPROCS int    `json:"gomaxprocs,omitempty"`
	// MetricPoints and ProfileUploads are what the mcpsignals exporter wrote to the store.
	MetricPoints   uint64 `json:"metric_points,omitempty"`
	ProfileUploads uint64 `json:"profile_uploads,omitempty"`
	Instances      int    `json:"instances,omitempty"`
	Services       int    `json:"services,omitempty"`
	Error          string `json:"error,omitempty"`
}

// cpuProfileEnv names the file a collector process writes its CPU profile to, when set
// (Config.CPUProfileDir).
const cpuProfileEnv = "MCP_BENCH_PIPELINE_CPUPROFILE"

// RunCollector is the collector process of the benchmark (`mcp bench pipeline` starts
// itself with a hidden flag that calls it): it runs the distribution's components and the
// nop exporter on the configuration file until ctx ends, reporting on out as JSON lines.
// With MCP_BENCH_PIPELINE_CPUPROFILE set it CPU-profiles its whole life into that file.
func RunCollector(ctx context.Context, configFile string, out io.Writer) error {
	enc := json.NewEncoder(out)
	if path := os.Getenv(cpuProfileEnv); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	if err := distribution.EnableProfiles(); err != nil {
		return err
	}
	// The mcpsignals exporters write st, whose figures the process reports when it stops.
	st, err := signals.NewStore(signals.DefaultConfig())
	if err != nil {
		return err
	}
	set := distribution.Settings([]string{"file:" + configFile}, st)
	set.Factories = func() (otelcol.Factories, error) { return Components(st) }
	col, err := otelcol.NewCollector(set)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- col.Run(ctx) }()
	for col.GetState() != otelcol.StateRunning {
		select {
		case err := <-done:
			_ = enc.Encode(childMessage{Event: "failed", Error: fmt.Sprint(err)})
			return err
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := enc.Encode(childMessage{Event: "ready", GOMAXPROCS: goruntime.GOMAXPROCS(0)}); err != nil {
		return err
	}
	runErr := <-done
	if errors.Is(runErr, context.Canceled) {
		runErr = nil
	}
	msg := childMessage{Event: "stopped"}
	stats, n := st.Stats()
	msg.MetricPoints, msg.Instances = stats.Points["metrics"], n
	msg.Services = len(st.Profiles().Services())
	msg.ProfileUploads = profileUploads(st)
	if runErr != nil {
		msg.Error = runErr.Error()
	}
	return errors.Join(runErr, enc.Encode(msg))
}

// profileUploads reads the store's upload count through its Prometheus collector, the
// public view of it (mcp_profiles_received_total).
func profileUploads(st *signals.Store) uint64 {
	reg := prometheus.NewRegistry()
	if err := reg.Register(signals.NewCollector(st)); err != nil {
		return 0
	}
	families, err := reg.Gather()
	if err != nil {
		return 0
	}
	var n float64
	for _, f := range families {
		if f.GetName() == "mcp_profiles_received_total" {
			for _, m := range f.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return uint64(n)
}

// child is a collector process in its own cgroup, held to one core.
type child struct {
	cmd      *exec.Cmd
	group    *cgroupctl.Group
	messages chan childMessage
	stderr   *tailBuffer
	waited   chan error
	ready    childMessage
}

// startChild writes config to dir and starts the collector process on it in a new cgroup
// with a quota of one core and memMiB of memory, and waits until it is ready.
func startChild(ctx context.Context, command func(configFile string) *exec.Cmd, dir, config string, memMiB int, cpuProfile string) (*child, error) {
	file := filepath.Join(dir, "collector.yaml")
	if err := os.WriteFile(file, []byte(config), 0o600); err != nil {
		return nil, err
	}
	group, err := cgroupctl.Create("mcp-bench-pipeline", cgroupctl.Limits{CPUCores: 1, MemoryBytes: int64(memMiB) << 20})
	if err != nil {
		return nil, fmt.Errorf("a cgroup holds the collector to one core: %w (run as root on Linux)", err)
	}
	cmd := command(file)
	// GOMAXPROCS is what Go derives from a one-core quota in a container. It is set rather
	// than left to the runtime, which does not find the quota on every host (on a hybrid
	// cgroup v1/v2 host it reads the v2 hierarchy, where the group has no CPU limit).
	cmd.Env = append(withoutEnv(cmd.Env, "GOMAXPROCS"), "GOMAXPROCS=1")
	if cpuProfile != "" {
		cmd.Env = append(cmd.Env, cpuProfileEnv+"="+cpuProfile)
	}
	dieWithParent(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		group.Close()
		return nil, err
	}
	c := &child{cmd: cmd, group: group, messages: make(chan childMessage, 4), stderr: &tailBuffer{max: 8 << 10}, waited: make(chan error, 1)}
	cmd.Stderr = c.stderr
	if err := group.Start(cmd); err != nil {
		group.Close()
		return nil, fmt.Errorf("start the collector process: %w", err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m childMessage
			if json.Unmarshal(sc.Bytes(), &m) == nil && m.Event != "" {
				c.messages <- m
			}
		}
		close(c.messages)
		c.waited <- cmd.Wait()
	}()
	select {
	case m, ok := <-c.messages:
		if ok && m.Event == "ready" {
			c.ready = m
			return c, nil
		}
		c.kill()
		return nil, fmt.Errorf("collector process did not start: %s %s", m.Error, c.stderr.String())
	case <-time.After(30 * time.Second):
		c.kill()
		return nil, fmt.Errorf("collector process not ready within 30s: %s", c.stderr.String())
	case <-ctx.Done():
		c.kill()
		return nil, ctx.Err()
	}
}

// stats returns the CPU time (and the rest) the kernel counted against the collector.
func (c *child) stats() (cgroups.Stats, error) { return c.group.Stats() }

// stop asks the collector to shut down (SIGTERM: receivers stop, the batch processor flushes
// into the exporters) and returns its final report.
func (c *child) stop() (childMessage, error) {
	defer c.group.Close()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	var last childMessage
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-c.messages:
			if !ok {
				err := <-c.waited
				if last.Event != "stopped" {
					return last, fmt.Errorf("collector process ended without its report (%v): %s", err, c.stderr.String())
				}
				if last.Error != "" {
					return last, fmt.Errorf("collector process: %s", last.Error)
				}
				return last, nil
			}
			last = m
		case <-timeout:
			c.kill()
			return last, errors.New("collector process did not stop within 30s")
		}
	}
}

func (c *child) kill() {
	_ = c.cmd.Process.Kill()
	c.group.Close()
}

func withoutEnv(env []string, name string) []string {
	if env == nil {
		env = os.Environ()
	}
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// tailBuffer keeps the last max bytes written, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(t.buf.String())
}
