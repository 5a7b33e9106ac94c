// Package e2e holds the test helpers for running MCP's binaries as real processes: a build
// that fails the test, free ports, and processes killed (and their output shown on failure)
// when the test ends. The processes themselves are internal/procs'.
package e2e

import (
	"net"
	"os/exec"
	"testing"

	"github.com/mcplane/mcp/internal/procs"
)

// MustBuild is Build for tests.
func MustBuild(t testing.TB, pkg string) string {
	t.Helper()
	p, err := procs.Build(pkg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FreePort returns a loopback address with a port free at the time of the call.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Start starts cmd and registers a cleanup that kills it; on test failure its output is
// logged.
func Start(t testing.TB, name string, cmd *exec.Cmd) *procs.Proc {
	t.Helper()
	p := procs.Prepare(name, cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p.Watch()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("--- output of %s ---\n%s", name, procs.Tail(p.Output(), 8000))
		}
	})
	return p
}
