package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigFileEnvAndValidation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mcp.yaml")
	if err := os.WriteFile(path, []byte("http_addr: \":9090\"\nagents:\n  heartbeat_interval: 5s\ncollector:\n  forward:\n  - {name: tempo, endpoint: tempo:4317}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	if err := c.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	c.ApplyEnv(func(k string) (string, bool) {
		v, ok := map[string]string{"MCP_AGENT_ADDR": ":6000", "MCP_KUBE": "true", "MCP_PPROF": "1", "POD_NAMESPACE": "mcp-system"}[k]
		return v, ok
	})
	if c.HTTPAddr != ":9090" || c.AgentAddr != ":6000" || c.Agents.HeartbeatInterval.Seconds() != 5 ||
		len(c.Collector.Forward) != 1 || !c.Kube.Enabled || c.Kube.LeaderElectionNamespace != "mcp-system" || !c.Pprof {
		t.Errorf("config = %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if err := os.WriteFile(path, []byte("http_adr: \":9090\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := DefaultConfig()
	if err := fresh.LoadFile(path); err == nil || !strings.Contains(err.Error(), "field http_adr not found") {
		t.Errorf("unknown key: %v", err)
	}
	bad := DefaultConfig()
	bad.HTTPAddr, bad.Log.Level, bad.TLS.KeyFile = "nope", "loud", "k.pem"
	err := bad.Validate()
	for _, key := range []string{"http_addr", "log.level", "tls.cert_file and tls.key_file"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate() = %v, want it to name %s", err, key)
		}
	}
}

// FuzzConfigFile feeds arbitrary YAML to the configuration loader and validator.
func FuzzConfigFile(f *testing.F) {
	f.Add([]byte("http_addr: \":9090\"\ntuner: {interval: 1s, window: 1s}\n"))
	f.Add([]byte("collector: {forward: [{name: x, endpoint: y, signals: [logs]}]}"))
	f.Add([]byte("agents: {heartbeat_interval: -1s}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		c := DefaultConfig()
		if err := c.LoadFile(path); err != nil {
			return
		}
		_ = c.Validate()
	})
}
