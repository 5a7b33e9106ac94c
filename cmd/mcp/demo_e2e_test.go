package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mcplane/mcp/internal/e2e"
)

// TestDemo runs the README's first command, shortened to 40 s: it must start everything,
// show progress, and end with the before/after table and the decisions.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the demo")
	}
	mcp := e2e.MustBuild(t, "./cmd/mcp")
	demoapp := e2e.MustBuild(t, "./cmd/demoapp")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, mcp, "demo", "--duration", "40s", "--demoapp", demoapp).CombinedOutput()
	text := string(out)
	if err != nil {
		t.Fatalf("mcp demo: %v\n%s", err, text)
	}
	for _, want := range []string{"control plane up:", "status page", "checkout", "catalog", "ledger",
		"before (until the tuner's first decision)", "decisions:"} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(text, "GOGC=") && !strings.Contains(text, "GOMAXPROCS=") {
		t.Errorf("the tuner made no decision in 40 s:\n%s", text)
	}
	t.Logf("demo output:\n%s", text)
}
