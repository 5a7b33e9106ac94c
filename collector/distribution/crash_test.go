package distribution_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/otelcol"

	"github.com/mcplane/mcp/collector/distribution"
)

// helperEnv names the variable that turns the test binary into a collector process: its
// value is the configuration URIs, one a line.
const helperEnv = "MCP_COLLECTOR_TEST_HELPER"

// TestMain doubles as that collector process, so that a test can kill it with SIGKILL: no
// graceful stop, nothing flushed.
func TestMain(m *testing.M) {
	if uris := os.Getenv(helperEnv); uris != "" {
		os.Exit(helperCollector(strings.Split(uris, "\n")))
	}
	os.Exit(m.Run())
}

// helperCollector runs the distribution on uris, prints "running" once every component
// started, and runs until it is killed.
func helperCollector(uris []string) int {
	if err := distribution.EnableProfiles(); err != nil {
		fmt.Fprintln(os.Stderr, "enable profiles:", err)
		return 1
	}
	col, err := otelcol.NewCollector(distribution.Settings(uris, nil))
	if err != nil {
		fmt.Fprintln(os.Stderr, "new collector:", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- col.Run(context.Background()) }()
	for col.GetState() != otelcol.StateRunning {
		select {
		case err := <-done:
			fmt.Fprintln(os.Stderr, "collector stopped:", err)
			return 1
		case <-time.After(10 * time.Millisecond):
		}
	}
	fmt.Println("running")
	<-done
	return 0
}

// startCollectorProcess runs the distribution on uris in a child process and waits until
// it serves.
func startCollectorProcess(t *testing.T, uris []string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+strings.Join(uris, "\n"))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	started := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		started <- sc.Scan() && sc.Text() == "running"
		for sc.Scan() { // drain, so that the child never blocks on a full pipe
		}
	}()
	select {
	case ok := <-started:
		if !ok {
			t.Fatal("the collector process did not start (its stderr is above)")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the collector process did not start within 60s")
	}
	return cmd
}

// TestExampleQueueSurvivesCrash: the example collector answers a sender only once what it
// sent is in the persistent queue, so a SIGKILL right after the acknowledgements — no
// graceful stop, no flush — loses none of it: the restarted collector delivers it all. A
// batch processor in front of the queue would lose what it held.
func TestExampleQueueSurvivesCrash(t *testing.T) {
	backend := freeAddr(t) // nothing listens here until the collector restarted
	queueDir := t.TempDir()
	a := newExampleAddrs(t)
	uris := exampleURIs(t, a, queueDir, backend)
	child := startCollectorProcess(t, uris)

	const exports = 5
	exportSequences(t, a.grpc, exports)
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()

	sink := new(consumertest.MetricsSink)
	startBackend(t, backend, sink)
	time.Sleep(200 * time.Millisecond)
	if n := sink.DataPointCount(); n != 0 {
		t.Fatalf("backend received %d points before the collector restarted", n)
	}
	startCollector(t, uris...)
	waitForSequences(t, sink, exports, "after a SIGKILL and a restart")
}
