package pipeline

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mcplane/mcp/collector/distribution"
)

// Workload is what a pipeline carries.
type Workload string

const (
	// Metrics are OTLP metric exports of MCP agents; throughput is in data points.
	Metrics Workload = "metrics"
	// Profiles are Go pprof profiles (a CPU and a heap profile per instance in turn);
	// throughput is in uploads, one pprof profile each.
	Profiles Workload = "profiles"
)

// Variant is one pipeline the benchmark measures.
type Variant struct {
	// Name is workload/kind: metrics/baseline, metrics/mcp, profiles/baseline, profiles/mcp,
	// and the diagnostic profiles/pyroscope-nop and profiles/otlp-mcpsignals.
	Name     string   `json:"name"`
	Workload Workload `json:"workload"`
	// MCP is true for the pipeline with MCP's components, compared with the baseline of its
	// workload.
	MCP bool `json:"mcp"`
	// Pipeline describes it: receiver → processors → exporters.
	Pipeline string `json:"pipeline"`
	// Diagnostic variants are measured for the explanation only; no target applies.
	Diagnostic bool `json:"diagnostic,omitempty"`

	receiver  string   // otlp or pyroscope
	exporters []string // the pipeline's exporters
}

// The variants. Processors are always those of the collector embedded in mcp serve (read
// from its rendered configuration), so the comparison is of the components alone.
var (
	MetricsBaseline = Variant{Name: "metrics/baseline", Workload: Metrics, receiver: "otlp", exporters: []string{"nop"}}
	// MetricsMCP adds the mcpsignals exporter next to the baseline's sink, as mcp serve
	// feeds it from every metrics pipeline.
	MetricsMCP       = Variant{Name: "metrics/mcp", Workload: Metrics, MCP: true, receiver: "otlp", exporters: []string{"nop", "mcpsignals"}}
	ProfilesBaseline = Variant{Name: "profiles/baseline", Workload: Profiles, receiver: "otlp", exporters: []string{"nop"}}
	// ProfilesMCP takes the profiles as agents send them, Pyroscope uploads, through the
	// pyroscope receiver into the mcpsignals exporter.
	ProfilesMCP = Variant{Name: "profiles/mcp", Workload: Profiles, MCP: true, receiver: "pyroscope", exporters: []string{"mcpsignals"}}
	// ProfilesPyroscopeNop and ProfilesOTLPSignals split ProfilesMCP's cost between the
	// receiver (the Pyroscope protocol: gzip, pprof, conversion) and the exporter.
	ProfilesPyroscopeNop = Variant{Name: "profiles/pyroscope-nop", Workload: Profiles, Diagnostic: true, receiver: "pyroscope", exporters: []string{"nop"}}
	ProfilesOTLPSignals  = Variant{Name: "profiles/otlp-mcpsignals", Workload: Profiles, Diagnostic: true, receiver: "otlp", exporters: []string{"mcpsignals"}}
)

// Variants are every variant of a round, in the first round's order.
var Variants = []Variant{MetricsBaseline, MetricsMCP, ProfilesBaseline, ProfilesMCP, ProfilesPyroscopeNop, ProfilesOTLPSignals}

// collectorConfig renders the collector configuration of v: mcp serve's embedded
// configuration with the variant's receiver on addr (OTLP over HTTP, or Pyroscope), its
// pipeline alone and its exporters. otherAddrs are free ports for the receivers' other
// endpoints, which the configuration must name even though the pipeline leaves them unused.
func collectorConfig(v Variant, addr string, otherAddrs [2]string, queueDir string) (string, error) {
	ec := distribution.DefaultEmbeddedConfig()
	ec.OTLPHTTPAddr, ec.OTLPGRPCAddr, ec.ProfileAddr = otherAddrs[0], otherAddrs[1], addr
	if v.receiver == "otlp" {
		ec.OTLPHTTPAddr, ec.ProfileAddr = addr, otherAddrs[0]
	}
	text, err := ec.YAML("", queueDir)
	if err != nil {
		return "", err
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return "", err
	}
	service, _ := doc["service"].(map[string]any)
	pipelines, _ := service["pipelines"].(map[string]any)
	embedded, _ := pipelines[string(v.Workload)].(map[string]any)
	if embedded == nil {
		return "", fmt.Errorf("the embedded collector has no %s pipeline", v.Workload)
	}
	processors, _ := embedded["processors"].([]any)
	pipeline := map[string]any{"receivers": []string{v.receiver}, "processors": processors, "exporters": v.exporters}
	service["pipelines"] = map[string]any{string(v.Workload): pipeline}
	exporters, _ := doc["exporters"].(map[string]any)
	exporters["nop"] = map[string]any{}
	out, err := yaml.Marshal(doc)
	return string(out), err
}

// describe writes v's pipeline as receiver → processors → exporters, from its configuration.
func describe(v Variant) string {
	text, err := collectorConfig(v, "127.0.0.1:1", [2]string{"127.0.0.1:2", "127.0.0.1:3"}, "/tmp")
	if err != nil {
		return v.Name
	}
	var doc struct {
		Service struct {
			Pipelines map[string]struct {
				Processors []string `yaml:"processors"`
			} `yaml:"pipelines"`
		} `yaml:"service"`
	}
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return v.Name
	}
	parts := append([]string{v.receiver}, doc.Service.Pipelines[string(v.Workload)].Processors...)
	return strings.Join(parts, " → ") + " → " + strings.Join(v.exporters, " + ")
}
