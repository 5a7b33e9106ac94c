package main

import (
	"os/exec"
	"strings"
	"testing"
)

// upstreamTesting are the packages of the OpenTelemetry Collector that import testing in
// code every collector binary links (otelcol-contrib too): the collector's service builds
// nop factories from receivertest, exportertest and processortest, and its exporter helper
// links xpdata/request, whose requesttest.go is not a _test file. MCP cannot drop them
// without dropping the collector; nothing else may bring testing in.
var upstreamTesting = map[string]bool{
	"go.opentelemetry.io/collector/receiver/receivertest":   true,
	"go.opentelemetry.io/collector/exporter/exportertest":   true,
	"go.opentelemetry.io/collector/processor/processortest": true,
	"go.opentelemetry.io/collector/pdata/xpdata/request":    true,
}

// TestNoTestingInTheBinary checks what the mcp binary links: no MCP package imports testing
// or a test helper (the demo and the benchmarks ship in it), and testing itself comes in
// only through the upstream packages above.
func TestNoTestingInTheBinary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}\t{{join .Imports \",\"}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, "\t")
		ours := strings.HasPrefix(pkg, "github.com/mcplane/mcp")
		for _, imp := range strings.Split(imports, ",") {
			switch {
			case imp == "testing" && ours:
				t.Errorf("%s imports testing, and the mcp binary links it", pkg)
			case imp == "testing" && !upstreamTesting[pkg]:
				t.Errorf("%s imports testing, and the mcp binary links it: a new dependency, or a test package imported by mistake", pkg)
			case ours && isTestHelper(imp):
				t.Errorf("%s imports the test helper %s, and the mcp binary links it", pkg, imp)
			}
		}
	}
}

// isTestHelper reports whether a package path names a test helper package: the collector's
// *test packages, net/http/httptest, testify, MCP's own e2e and cptest.
func isTestHelper(path string) bool {
	last := path[strings.LastIndex(path, "/")+1:]
	return strings.HasSuffix(last, "test") || strings.Contains(path, "testify") ||
		path == "github.com/mcplane/mcp/internal/e2e"
}
