package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcplane/mcp/internal/cgroupctl"
)

// childEnv makes the test binary the benchmark's collector process, on the configuration
// file it names, as `mcp bench pipeline --collector-config` makes the mcp binary.
const childEnv = "MCP_BENCH_PIPELINE_TEST_COLLECTOR"

func TestMain(m *testing.M) {
	if file := os.Getenv(childEnv); file != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		err := RunCollector(ctx, file, os.Stdout)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func testCommand(configFile string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+configFile)
	return cmd
}

// TestRunTiny runs the whole harness for a second per variant and checks what it reports:
// every run measured something on one core, and the mcpsignals exporter saw what the
// collector acknowledged. Figures this short mean nothing.
func TestRunTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts collector processes in cgroups")
	}
	if g, err := cgroupctl.Create("mcp-bench-pipeline-probe", cgroupctl.Limits{CPUCores: 1}); errors.Is(err, cgroupctl.ErrNotWritable) {
		t.Skip(err)
	} else if err == nil {
		g.Close()
	}
	cfg := DefaultConfig()
	cfg.Rounds, cfg.Duration, cfg.Warmup, cfg.ProfileCapture = 1, time.Second, 500*time.Millisecond, 300*time.Millisecond
	cfg.Instances, cfg.Services, cfg.Senders = 20, 4, 2
	cfg.Command = testCommand
	var progress bytes.Buffer
	cfg.Progress = &progress
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, progress.String())
	}
	t.Log("\n" + progress.String())
	if len(rep.Runs) != len(Variants) {
		t.Fatalf("%d runs, want %d", len(rep.Runs), len(Variants))
	}
	for _, r := range rep.Runs {
		if r.Items == 0 || r.PerSecond <= 0 || r.CPUSeconds <= 0 {
			t.Errorf("%s measured nothing: %+v", r.Variant, r)
		}
		if r.GOMAXPROCS != 1 {
			t.Errorf("%s: the collector ran with GOMAXPROCS %d, want 1 from its one-core cgroup", r.Variant, r.GOMAXPROCS)
		}
		if r.CPUCores > 1.25 {
			t.Errorf("%s: the collector used %.2f cores, more than its quota", r.Variant, r.CPUCores)
		}
		switch r.Variant {
		case MetricsMCP.Name:
			// The store counts warm-up and shutdown too, so at least the window's points.
			if r.Store == nil || r.Store.MetricPoints < r.Items || r.Store.Instances != cfg.Instances {
				t.Errorf("metrics/mcp store = %+v, want at least the %d points acknowledged in the window from %d instances", r.Store, r.Items, cfg.Instances)
			}
		case ProfilesMCP.Name:
			if r.Store == nil || r.Store.ProfileUploads < r.Items || r.Store.Services != cfg.Services {
				t.Errorf("profiles/mcp store = %+v, want at least the %d uploads acknowledged in the window from %d services", r.Store, r.Items, cfg.Services)
			}
		}
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + table.String())
	for _, s := range rep.Summary {
		if !strings.Contains(table.String(), s.Variant) {
			t.Errorf("table lacks %s", s.Variant)
		}
		if (s.Variant == MetricsMCP.Name || s.Variant == ProfilesMCP.Name) && (s.Target != Target || s.Ratio <= 0) {
			t.Errorf("%s summary = %+v, want a ratio against its baseline and the target", s.Variant, s)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"rounds", func(c *Config) { c.Rounds = 0 }, "--rounds: 0"},
		{"duration", func(c *Config) { c.Duration = time.Millisecond }, "--duration: 1ms"},
		{"senders", func(c *Config) { c.Senders = 0 }, "--senders: 0"},
		{"instances", func(c *Config) { c.Instances = 10 }, "--instances: 10, want at least --services (100)"},
		{"memory", func(c *Config) { c.CollectorMemoryMiB = 64 }, "--collector-memory-mib: 64"},
		{"command", func(c *Config) { c.Command = nil }, "Command: required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Command = testCommand
			tc.change(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
	c := DefaultConfig()
	c.Command = testCommand
	if err := c.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

// TestCollectorConfig checks that each variant's configuration is mcp serve's pipeline with
// only the receiver and exporters changed.
func TestCollectorConfig(t *testing.T) {
	want := map[string]string{
		MetricsBaseline.Name:      "otlp → memory_limiter → batch → nop",
		MetricsMCP.Name:           "otlp → memory_limiter → batch → nop + mcpsignals",
		ProfilesBaseline.Name:     "otlp → memory_limiter → nop",
		ProfilesMCP.Name:          "pyroscope → memory_limiter → mcpsignals",
		ProfilesPyroscopeNop.Name: "pyroscope → memory_limiter → nop",
		ProfilesOTLPSignals.Name:  "otlp → memory_limiter → mcpsignals",
	}
	for _, v := range Variants {
		if got := describe(v); got != want[v.Name] {
			t.Errorf("%s: %s, want %s", v.Name, got, want[v.Name])
		}
	}
}
