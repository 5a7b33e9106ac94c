package runtime

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestScratchServiceModuleGraph builds the module graph of a new service that imports only
// the agent, as a user's would be: it must not pull in the control plane's dependencies
// (Kubernetes, Helm, chromedp, etcd, the OpenTelemetry Collector), and the service keeps its
// go 1.25 directive.
func TestScratchServiceModuleGraph(t *testing.T) {
	if testing.Short() {
		t.Skip("resolves a module graph through the module proxy")
	}
	agentDir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	protoDir := filepath.Join(agentDir, "..", "api", "agent")
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", `module example.com/scratch

go 1.25

require github.com/mcplane/mcp/runtime v0.0.0-00010101000000-000000000000

replace (
	github.com/mcplane/mcp/runtime => `+agentDir+`
	github.com/mcplane/mcp/api/agent => `+protoDir+`
)
`)
	write("main.go", `package main

import (
	"context"
	"log"
	"net/http"

	"github.com/mcplane/mcp/runtime"
)

func main() {
	agent, err := runtime.Start(context.Background(), runtime.WithServiceName("scratch"))
	if err != nil {
		log.Fatal(err)
	}
	defer agent.Stop()
	http.Handle("/", agent.Middleware(http.NotFoundHandler()))
}
`)
	run := func(args ...string) string {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("mod", "tidy")
	modules := run("list", "-m", "all")
	forbidden := regexp.MustCompile(`(?m)^(k8s\.io/|sigs\.k8s\.io/|helm\.sh/|github\.com/chromedp/|go\.etcd\.io/|go\.opentelemetry\.io/collector|github\.com/open-telemetry/opentelemetry-collector-contrib/)\S*`)
	if found := forbidden.FindAllString(modules, -1); len(found) > 0 {
		t.Errorf("a service importing only the agent pulls in %d modules it should not: %s", len(found), strings.Join(found, ", "))
	}
	t.Logf("a service importing only the agent has %d modules in its graph", strings.Count(modules, "\n"))
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if goLine := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod); goLine == nil || !strings.HasPrefix(string(goLine[1]), "1.25") {
		t.Errorf("the service's go directive became %q after go mod tidy; the agent must not force it past 1.25:\n%s", goLine, gomod)
	}
}
