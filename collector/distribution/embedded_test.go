package distribution_test

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"gopkg.in/yaml.v3"

	"github.com/mcplane/mcp/collector/distribution"
)

const testToken = "s3cret-token"

// embeddedOnFreePorts is mcp serve's collector configuration on free loopback ports.
func embeddedOnFreePorts(t *testing.T) distribution.EmbeddedConfig {
	c := distribution.DefaultEmbeddedConfig()
	c.OTLPGRPCAddr, c.OTLPHTTPAddr, c.ProfileAddr = freeAddr(t), freeAddr(t), freeAddr(t)
	c.LogLevel = "error"
	return c
}

func testMetrics() []byte {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "authtest")
	rm.Resource().Attributes().PutStr("service.instance.id", "authtest-1")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("go.config.gogc")
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetIntValue(100)
	b, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		panic(err)
	}
	return b
}

// TestEmbeddedTokenRequired runs the configuration mcp serve renders when it has a token,
// and checks that every receiver refuses a sender without the token and accepts one with it.
func TestEmbeddedTokenRequired(t *testing.T) {
	c := embeddedOnFreePorts(t)
	text, err := c.YAML(testToken, t.TempDir())
	require.NoError(t, err)
	startCollector(t, "yaml:"+text)

	t.Run("otlp http", func(t *testing.T) {
		for _, tc := range []struct {
			name, auth string
			want       int
		}{
			{"no token", "", http.StatusUnauthorized},
			{"wrong token", "Bearer nope", http.StatusUnauthorized},
			{"token", "Bearer " + testToken, http.StatusOK},
		} {
			req, _ := http.NewRequest(http.MethodPost, "http://"+c.OTLPHTTPAddr+"/v1/metrics", bytes.NewReader(testMetrics()))
			req.Header.Set("Content-Type", "application/x-protobuf")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, tc.want, resp.StatusCode, tc.name)
		}
	})

	t.Run("otlp grpc", func(t *testing.T) {
		conn, err := grpc.NewClient(c.OTLPGRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		defer conn.Close()
		client := pmetricotlp.NewGRPCClient(conn)
		req := pmetricotlp.NewExportRequest()
		require.NoError(t, req.UnmarshalProto(testMetrics()))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = client.Export(ctx, req)
		assert.Equal(t, codes.Unauthenticated, status.Code(err), "without a token: %v", err)
		_, err = client.Export(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer nope"), req)
		assert.Equal(t, codes.Unauthenticated, status.Code(err), "with a wrong token: %v", err)
		_, err = client.Export(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+testToken), req)
		assert.NoError(t, err, "with the token")
	})

	t.Run("pyroscope", func(t *testing.T) {
		// The body does not matter: authentication comes first.
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("profile", "profile.pprof")
		_, _ = fw.Write([]byte("not a profile"))
		_ = mw.Close()
		url := fmt.Sprintf("http://%s/ingest?name=authtest&from=%d&until=%d", c.ProfileAddr, time.Now().Unix()-10, time.Now().Unix())
		for _, tc := range []struct {
			auth string
			want int
		}{
			{"", http.StatusUnauthorized},
			{"Bearer " + testToken, http.StatusBadRequest}, // past auth, refused as malformed
		} {
			req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body.Bytes()))
			req.Header.Set("Content-Type", mw.FormDataContentType())
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, tc.want, resp.StatusCode, "auth %q", tc.auth)
		}
	})
}

// TestEmbeddedNoTokenOpen: without a token, mcp serve's collector takes OTLP from anyone,
// as agents configured without MCP_TOKEN expect.
func TestEmbeddedNoTokenOpen(t *testing.T) {
	c := embeddedOnFreePorts(t)
	text, err := c.YAML("", t.TempDir())
	require.NoError(t, err)
	startCollector(t, "yaml:"+text)
	resp, err := http.Post("http://"+c.OTLPHTTPAddr+"/v1/metrics", "application/x-protobuf", bytes.NewReader(testMetrics()))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestEmbeddedForwardRendering compares the rendered configuration with forwards, parsed,
// with the configuration they must make, and checks that the collector accepts it. Every
// signal here has a forward with a persistent queue, so no pipeline has a batch processor:
// the forwards batch after their queue.
func TestEmbeddedForwardRendering(t *testing.T) {
	c := embeddedOnFreePorts(t)
	off := false
	c.Forward = []distribution.Forward{
		{Name: "tempo", Endpoint: "tempo.observability:4317", Insecure: true, Signals: []string{"traces"}},
		{Name: "mimir", Endpoint: "https://mimir.example/otlp", Protocol: "http",
			Headers: map[string]string{"X-Scope-OrgID": "team-a"}, Signals: []string{"metrics", "logs"}},
		{Name: "all", Endpoint: "gateway:4317", PersistentQueue: &off},
	}
	queueDir := t.TempDir()
	text, err := c.YAML(testToken, queueDir)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(text), &got))

	want := parseYAML(t, fmt.Sprintf(`
exporters:
  mcpsignals: {}
  debug: {verbosity: basic}
  otlp/tempo:
    endpoint: tempo.observability:4317
    tls: {insecure: true}
    sending_queue: {enabled: true, storage: file_storage/queue, batch: {flush_timeout: 1s}}
  otlphttp/mimir:
    endpoint: https://mimir.example/otlp
    headers: {X-Scope-OrgID: team-a}
    sending_queue: {enabled: true, storage: file_storage/queue, batch: {flush_timeout: 1s}}
  otlp/all:
    endpoint: gateway:4317
    sending_queue: {enabled: true}
extensions:
  bearertokenauth: {token: %s}
  file_storage/queue: {directory: %s, create_directory: true}
pipelines:
  metrics: {receivers: [otlp], processors: [memory_limiter], exporters: [mcpsignals, otlphttp/mimir, otlp/all]}
  traces: {receivers: [otlp], processors: [memory_limiter], exporters: [mcpsignals, otlp/tempo, otlp/all]}
  logs: {receivers: [otlp], processors: [memory_limiter], exporters: [otlphttp/mimir, otlp/all]}
  profiles: {receivers: [otlp, pyroscope], processors: [memory_limiter], exporters: [mcpsignals, otlp/all]}
service_extensions: [bearertokenauth, file_storage/queue]
`, testToken, queueDir))
	assert.Equal(t, want["exporters"], got["exporters"])
	assert.Equal(t, want["extensions"], got["extensions"])
	service := got["service"].(map[string]any)
	assert.Equal(t, want["pipelines"], service["pipelines"])
	assert.Equal(t, want["service_extensions"], service["extensions"])

	// The distribution's components accept what was rendered.
	if err := distribution.EnableProfiles(); err != nil {
		t.Fatal(err)
	}
	col, err := otelcol.NewCollector(distribution.Settings([]string{"yaml:" + text}, nil))
	require.NoError(t, err)
	require.NoError(t, col.DryRun(context.Background()))
}

// TestEmbeddedBatchWithoutPersistentForward: a signal whose forwards keep their queue in
// memory (and a signal without forwards) keeps the batch processor; only the signals with a
// persistent forward batch after the queue.
func TestEmbeddedBatchWithoutPersistentForward(t *testing.T) {
	c := distribution.DefaultEmbeddedConfig()
	off := false
	c.Forward = []distribution.Forward{
		{Name: "gateway", Endpoint: "gateway:4317", PersistentQueue: &off},
		{Name: "tempo", Endpoint: "tempo:4317", Signals: []string{"traces"}},
	}
	text, err := c.YAML("", t.TempDir())
	require.NoError(t, err)
	got := parseYAML(t, text)
	pipelines := got["service"].(map[string]any)["pipelines"].(map[string]any)
	processors := func(p string) any { return pipelines[p].(map[string]any)["processors"] }
	assert.Equal(t, []any{"memory_limiter", "batch"}, processors("metrics"))
	assert.Equal(t, []any{"memory_limiter", "batch"}, processors("logs"))
	assert.Equal(t, []any{"memory_limiter"}, processors("traces"))
	exporters := got["exporters"].(map[string]any)
	assert.Equal(t, map[string]any{"enabled": true}, exporters["otlp/gateway"].(map[string]any)["sending_queue"])
	assert.Contains(t, exporters["otlp/tempo"].(map[string]any)["sending_queue"], "batch")
}

// TestEmbeddedNoForwardNoQueue: without forwards there is no queue to keep, and without a
// token no auth extension.
func TestEmbeddedNoForwardNoQueue(t *testing.T) {
	text, err := distribution.DefaultEmbeddedConfig().YAML("", t.TempDir())
	require.NoError(t, err)
	got := parseYAML(t, text)
	assert.NotContains(t, got, "extensions")
	assert.NotContains(t, got["service"], "extensions")
	receivers := got["receivers"].(map[string]any)
	assert.NotContains(t, receivers["pyroscope"], "auth")
}

func parseYAML(t *testing.T, text string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(text), &m))
	return m
}

// TestEmbeddedValidate has one case per rule; each error must name the key under
// collector: that the user has to fix.
func TestEmbeddedValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*distribution.EmbeddedConfig)
		want   string
	}{
		{"grpc addr", func(c *distribution.EmbeddedConfig) { c.OTLPGRPCAddr = "4317" }, `collector.otlp_grpc_addr: "4317" is not host:port`},
		{"http addr", func(c *distribution.EmbeddedConfig) { c.OTLPHTTPAddr = "" }, `collector.otlp_http_addr: "" is not host:port`},
		{"profile addr", func(c *distribution.EmbeddedConfig) { c.ProfileAddr = "localhost" }, `collector.profile_addr: "localhost" is not host:port`},
		{"memory", func(c *distribution.EmbeddedConfig) { c.MemoryLimitMiB = 16 }, "collector.memory_limit_mib: 16, want at least 32"},
		{"log level", func(c *distribution.EmbeddedConfig) { c.LogLevel = "verbose" }, `collector.log_level: "verbose" is not one of`},
		{"forward name", func(c *distribution.EmbeddedConfig) {
			c.Forward = []distribution.Forward{{Name: "a/b", Endpoint: "x:4317"}}
		}, `collector.forward[0].name: "a/b", want a name without '/' or spaces`},
		{"forward name twice", func(c *distribution.EmbeddedConfig) {
			c.Forward = []distribution.Forward{{Name: "a", Endpoint: "x:4317"}, {Name: "a", Endpoint: "y:4317"}}
		}, `collector.forward[1].name: "a" is used twice`},
		{"forward endpoint", func(c *distribution.EmbeddedConfig) {
			c.Forward = []distribution.Forward{{Name: "tempo"}}
		}, "collector.forward[0].endpoint: required"},
		{"forward protocol", func(c *distribution.EmbeddedConfig) {
			c.Forward = []distribution.Forward{{Name: "tempo", Endpoint: "x:4317", Protocol: "udp"}}
		}, `collector.forward[0].protocol: "udp" is not grpc or http`},
		{"forward signals", func(c *distribution.EmbeddedConfig) {
			c.Forward = []distribution.Forward{{Name: "tempo", Endpoint: "x:4317", Signals: []string{"spans"}}}
		}, `collector.forward[0].signals: "spans" is not one of traces, metrics, logs, profiles`},
		{"signals bounds", func(c *distribution.EmbeddedConfig) { c.Signals.MaxInstances = 0 }, "collector.signals: max_instances: 0"},
		{"profile bounds", func(c *distribution.EmbeddedConfig) { c.Signals.Profiles.Window = 0 }, "collector.signals: profiles.window"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := distribution.DefaultEmbeddedConfig()
			tc.change(&c)
			err := c.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			_, err = c.YAML("", t.TempDir())
			assert.ErrorContains(t, err, tc.want, "YAML validates first")
		})
	}
}

// TestEmbeddedValidateReportsEverything: every problem is reported at once, so the user
// fixes the configuration in one go.
func TestEmbeddedValidateReportsEverything(t *testing.T) {
	c := distribution.DefaultEmbeddedConfig()
	c.MemoryLimitMiB = 1
	c.Forward = []distribution.Forward{{Name: "x"}, {Endpoint: "y:4317"}}
	err := c.Validate()
	require.Error(t, err)
	for _, key := range []string{"collector.memory_limit_mib", "collector.forward[0].endpoint", "collector.forward[1].name"} {
		assert.Contains(t, err.Error(), key)
	}
	assert.Equal(t, 3, strings.Count(err.Error(), "\n")+1, "one line per problem: %v", err)
}

func TestEmbeddedDisabledSkipsValidation(t *testing.T) {
	c := distribution.DefaultEmbeddedConfig()
	c.Enabled = false
	c.OTLPGRPCAddr = "nonsense"
	assert.NoError(t, c.Validate())
}
