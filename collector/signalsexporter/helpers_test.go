package signalsexporter

import (
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter/xexporter"

	"github.com/mcplane/mcp/collector/pyroscopereceiver"
)

type xexporterFactory = xexporter.Factory

func setEndpoint(t *testing.T, cfg component.Config, addr string) {
	t.Helper()
	c, ok := cfg.(*pyroscopereceiver.Config)
	if !ok {
		t.Fatalf("pyroscope receiver config is %T", cfg)
	}
	c.NetAddr.Endpoint = addr
}
