package overhead

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	if err := DefaultConfig().Quick().Validate(); err != nil {
		t.Fatalf("quick config: %v", err)
	}
	for _, tc := range []struct {
		flag string
		edit func(*Config)
	}{
		{"--rate", func(c *Config) { c.Rate = 0 }},
		{"--duration", func(c *Config) { c.Duration = 500 * time.Millisecond }},
		{"--warmup", func(c *Config) { c.Warmup = -time.Second }},
		{"--rounds", func(c *Config) { c.Rounds = 0 }},
		{"--live-heap-mib", func(c *Config) { c.LiveHeapMiB = -1 }},
		{"--garbage-kib", func(c *Config) { c.GarbageKiB = -1 }},
		{"--cpu-us", func(c *Config) { c.CPUMicros = -1 }},
		{"--scrape-interval", func(c *Config) { c.ScrapeInterval = 0 }},
		{"--agent-env", func(c *Config) { c.AgentEnv = []string{"NOEQUALS"} }},
		{"--rate × --duration", func(c *Config) { c.Rate, c.Duration = 10, 5*time.Second }},
	} {
		cfg := DefaultConfig()
		tc.edit(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%s: Validate() = %v, want an error naming %s", tc.flag, err, tc.flag)
		}
	}
}

func TestVariantEnv(t *testing.T) {
	t.Setenv("MCP_ENDPOINT", "mcp:50051")
	t.Setenv("OTEL_TRACES_SAMPLER", "always_off")
	t.Setenv("DEMOAPP_NO_AGENT", "1")
	s := &sinks{otlpEndpoint: "127.0.0.1:1234", profileEndpoint: "http://127.0.0.1:4040"}
	env := func(v Variant) string {
		return "\n" + strings.Join(variantEnv(v, s, []string{"OTEL_TRACES_SAMPLER=traceidratio"}), "\n") + "\n"
	}

	for _, v := range Variants {
		e := env(v)
		for _, leaked := range []string{"MCP_ENDPOINT=", "always_off", "DEMOAPP_NO_AGENT"} {
			if strings.Contains(e, leaked) {
				t.Errorf("%s: the harness's own %s reached demoapp", v, leaked)
			}
		}
	}
	if e := env(NoAgent); strings.Contains(e, "OTEL_") || strings.Contains(e, "MCP_") {
		t.Errorf("no-agent gets agent settings:%s", e)
	}
	for v, want := range map[Variant][]string{
		Agent:          {"\nOTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1234\n", "\nOTEL_EXPORTER_OTLP_PROTOCOL=grpc\n", "\nMCP_PROFILING=off\n", "\nOTEL_TRACES_SAMPLER=traceidratio\n"},
		AgentProfiling: {"\nMCP_PROFILING=http://127.0.0.1:4040\n"},
	} {
		for _, w := range want {
			if !strings.Contains(env(v), w) {
				t.Errorf("%s: environment lacks %q", v, strings.TrimSpace(w))
			}
		}
	}
}
