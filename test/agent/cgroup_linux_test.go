package agent_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/mcplane/mcp/internal/cgroupctl"
	"github.com/mcplane/mcp/runtime"
	"github.com/mcplane/mcp/runtime/knob"
)

// These tests run the agent in a real cgroup of its own, created with internal/cgroupctl,
// which the agent module cannot import: the agent reads its limits from the inside, and
// follows an in-place resize.

const mib = 1 << 20

func ratioOf(r float64, b int64) int64 { return int64(r * float64(b)) }

// TestMain doubles as the helper process the real-cgroup tests start inside a cgroup: with
// MCP_RUNTIME_TEST_HELPER=1 it starts an agent the way a service would (real environment,
// real cgroup reader) and prints its State as JSON for every line read from stdin.
func TestMain(m *testing.M) {
	if os.Getenv("MCP_RUNTIME_TEST_HELPER") == "1" {
		os.Exit(helperMain())
	}
	os.Exit(m.Run())
}

func helperMain() int {
	a, err := runtime.Start(context.Background(), runtime.WithServiceName("helper"), runtime.WithLimitRefresh(50*time.Millisecond))
	if err != nil {
		fmt.Fprintln(os.Stderr, "start:", err)
		return 1
	}
	defer a.Stop()
	in := bufio.NewScanner(os.Stdin)
	enc := json.NewEncoder(os.Stdout)
	for in.Scan() {
		if err := enc.Encode(a.State()); err != nil {
			return 1
		}
	}
	return 0
}

// cgroupHelper is an agent running in another process inside a real cgroup.
type cgroupHelper struct {
	in  io.WriteCloser
	out *bufio.Scanner
}

func (h *cgroupHelper) state(t *testing.T) runtime.State {
	t.Helper()
	if _, err := io.WriteString(h.in, "state\n"); err != nil {
		t.Fatal(err)
	}
	if !h.out.Scan() {
		t.Fatalf("helper ended: %v", h.out.Err())
	}
	var st runtime.State
	if err := json.Unmarshal(h.out.Bytes(), &st); err != nil {
		t.Fatalf("helper said %q: %v", h.out.Text(), err)
	}
	return st
}

func startInCgroup(t *testing.T, l cgroupctl.Limits, env ...string) (*cgroupctl.Group, *cgroupHelper) {
	t.Helper()
	g, err := cgroupctl.Create("mcp-runtime-test", l)
	if errors.Is(err, cgroupctl.ErrNotWritable) {
		t.Skipf("real cgroup test skipped: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "MCP_RUNTIME_TEST_HELPER=1")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		_ = cmd.Wait()
	})
	return g, &cgroupHelper{in: in, out: bufio.NewScanner(out)}
}

func TestRealCgroupLimitsDetected(t *testing.T) {
	g, h := startInCgroup(t, cgroupctl.Limits{MemoryBytes: 256 * mib, CPUCores: 0.5})
	st := h.state(t)
	if st.Limits.MemoryBytes != 256*mib || st.Limits.CPUCores != 0.5 {
		t.Errorf("limits detected in a %s cgroup = %+v, want 256MiB and 0.5 cores", g.Version(), st.Limits)
	}
	if want := ratioOf(0.9, 256*mib); st.Knobs.MemoryLimit != want || st.Sources.MemoryLimit != knob.SourceCgroup {
		t.Errorf("GOMEMLIMIT = %d from %s, want %d from cgroup", st.Knobs.MemoryLimit, st.Sources.MemoryLimit, want)
	}
	// Go's own container-aware default never goes below 2 (or NumCPU if smaller).
	if want := min(2, goruntime.NumCPU()); st.Knobs.GOMAXPROCS != want || st.Sources.GOMAXPROCS != knob.SourceGoDefault {
		t.Errorf("GOMAXPROCS = %d from %s, want Go's default %d", st.Knobs.GOMAXPROCS, st.Sources.GOMAXPROCS, want)
	}

	// Resized in place, as Kubernetes does for in-place pod resize.
	if err := g.SetMemoryLimit(512 * mib); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st = h.state(t)
		if st.Knobs.MemoryLimit == ratioOf(0.9, 512*mib) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GOMEMLIMIT after resizing to 512MiB = %d, want 0.9 × 512MiB", st.Knobs.MemoryLimit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRealCgroupOperatorGOMEMLIMITWins(t *testing.T) {
	_, h := startInCgroup(t, cgroupctl.Limits{MemoryBytes: 256 * mib}, "GOMEMLIMIT=100MiB")
	st := h.state(t)
	if st.Knobs.MemoryLimit != 100*mib || st.Sources.MemoryLimit != knob.SourceOperatorEnv {
		t.Errorf("GOMEMLIMIT = %d from %s, want the operator's 100MiB", st.Knobs.MemoryLimit, st.Sources.MemoryLimit)
	}
	if st.Limits.MemoryBytes != 256*mib {
		t.Errorf("container limit = %d, want 256MiB still reported", st.Limits.MemoryBytes)
	}
}
