package distribution_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.opentelemetry.io/collector/otelcol"

	"github.com/mcplane/mcp/collector/distribution"
)

// exampleConfig is the standalone example users run with mcp collector --config.
const exampleConfig = "file:../../deploy/collector/collector.yaml"

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// runningCollector is a distribution collector running in the test process.
type runningCollector struct {
	col  *otelcol.Collector
	done chan error
	stop context.CancelFunc
}

// startCollector runs the distribution, as mcp collector does, on the configuration URIs
// (later ones merged over earlier ones), and waits until every component started. It is
// stopped at the end of the test if the test did not stop it.
func startCollector(t *testing.T, uris ...string) *runningCollector {
	t.Helper()
	if err := distribution.EnableProfiles(); err != nil {
		t.Fatal(err)
	}
	set := distribution.Settings(uris, nil)
	// Several collectors and gRPC servers share this test process; otelcol would replace
	// gRPC's process-wide logger at each start, racing with the gRPC code already running.
	set.SkipSettingGRPCLogger = true
	col, err := otelcol.NewCollector(set)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rc := &runningCollector{col: col, done: make(chan error, 1), stop: cancel}
	go func() { rc.done <- col.Run(ctx) }()
	t.Cleanup(func() { _ = rc.shutdown() })
	deadline := time.After(30 * time.Second)
	for col.GetState() != otelcol.StateRunning {
		select {
		case err := <-rc.done:
			rc.done <- err
			t.Fatalf("collector did not start: %v", err)
		case <-deadline:
			t.Fatal("collector did not start within 30s")
		case <-time.After(10 * time.Millisecond):
		}
	}
	return rc
}

// shutdown stops the collector gracefully (receivers first, then processors, which flush,
// then exporters, which keep what they could not send in a persistent queue) and waits.
func (rc *runningCollector) shutdown() error {
	rc.stop()
	select {
	case err := <-rc.done:
		rc.done <- err
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	case <-time.After(30 * time.Second):
		return errors.New("collector did not stop within 30s")
	}
}
