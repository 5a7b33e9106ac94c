package runtime

import (
	"math"
	"testing"
)

// FuzzParseQuantities feeds arbitrary environment values to the parsers of MCP_CPU_REQUEST,
// MCP_CPU_LIMIT, MCP_MEMORY_LIMIT and OTEL_RESOURCE_ATTRIBUTES: errors or sane values,
// never a panic.
func FuzzParseQuantities(f *testing.F) {
	for _, s := range []string{"500m", "2", "1.5GiB", "512Mi", "1e400", "-0", "NaNm", "service.name=a,service.instance.id=b%2F", "=,=,%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, err := ParseCPU(s); err == nil && (!(v > 0) || math.IsInf(v, 0)) {
			t.Fatalf("ParseCPU(%q) = %v", s, v)
		}
		if v, err := ParseBytes(s); err == nil && v <= 0 {
			t.Fatalf("ParseBytes(%q) = %v", s, v)
		}
		_ = parseResourceAttributes(s)
	})
}
