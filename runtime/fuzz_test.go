package runtime

import (
	"testing"
)

// FuzzParseResourceAttributes feeds arbitrary OTEL_RESOURCE_ATTRIBUTES and MCP_LABELS values
// to their parser (the quantities of MCP_CPU_REQUEST, MCP_CPU_LIMIT and MCP_MEMORY_LIMIT are
// knob.FuzzParse's): never a panic. The sizes are fuzzed in the knob package.
func FuzzParseResourceAttributes(f *testing.F) {
	for _, s := range []string{"500m", "2", "1.5GiB", "512Mi", "1e400", "-0", "NaNm", "service.name=a,service.instance.id=b%2F", "=,=,%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = parseResourceAttributes(s)
	})
}
