package pyroscopereceiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/consumer/xconsumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// testProfile is a small CPU profile in the shape runtime/pprof writes:
// samples/count and cpu/nanoseconds, two stacks over three functions.
func testProfile() *profile.Profile {
	m := &profile.Mapping{ID: 1, Start: 0x400000, Limit: 0x800000, File: "/app/bin", BuildID: "abc123", HasFunctions: true}
	fMain := &profile.Function{ID: 1, Name: "main.main", SystemName: "main.main", Filename: "/src/main.go", StartLine: 10}
	fWork := &profile.Function{ID: 2, Name: "main.work", SystemName: "main.work", Filename: "/src/main.go", StartLine: 20}
	fHash := &profile.Function{ID: 3, Name: "crypto/sha256.block", SystemName: "crypto/sha256.block", Filename: "/go/sha256.go", StartLine: 5}
	lMain := &profile.Location{ID: 1, Mapping: m, Address: 0x401000, Line: []profile.Line{{Function: fMain, Line: 12}}}
	lWork := &profile.Location{ID: 2, Mapping: m, Address: 0x402000, Line: []profile.Line{{Function: fWork, Line: 25, Column: 3}}}
	lHash := &profile.Location{ID: 3, Mapping: m, Address: 0x403000, Line: []profile.Line{{Function: fHash, Line: 7}}}
	return &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     10_000_000,
		TimeNanos:  time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano(),
		Sample: []*profile.Sample{
			{Location: []*profile.Location{lHash, lWork, lMain}, Value: []int64{3, 30_000_000}},
			{Location: []*profile.Location{lWork, lMain}, Value: []int64{1, 10_000_000}, Label: map[string][]string{"endpoint": {"/checkout"}}},
		},
		Mapping:  []*profile.Mapping{m},
		Location: []*profile.Location{lMain, lWork, lHash},
		Function: []*profile.Function{fMain, fWork, fHash},
	}
}

// gzipped encodes p as runtime/pprof does: gzip-compressed protobuf.
func gzipped(t testing.TB, p *profile.Profile) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, p.Write(&buf))
	return buf.Bytes()
}

func uncompressed(t testing.TB, p *profile.Profile) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, p.WriteUncompressed(&buf))
	return buf.Bytes()
}

// formField is one file field of a multipart body.
type formField struct {
	name string
	data []byte
}

// multipartForm builds a multipart/form-data body the way pyroscope-go's
// uploader does: every field a form file.
func multipartForm(t testing.TB, fields ...formField) (body []byte, contentType string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range fields {
		fw, err := w.CreateFormFile(f.name, f.name+".bin")
		require.NoError(t, err)
		_, err = fw.Write(f.data)
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	return buf.Bytes(), w.FormDataContentType()
}

// multipartBody builds the body pyroscope-go's uploader sends.
func multipartBody(t testing.TB, profileData []byte, sampleTypeConfig map[string]sampleTypeConfig) (body []byte, contentType string) {
	t.Helper()
	fields := []formField{{"profile", profileData}}
	if sampleTypeConfig != nil {
		raw, err := json.Marshal(sampleTypeConfig)
		require.NoError(t, err)
		fields = append(fields, formField{"sample_type_config", raw})
	}
	return multipartForm(t, fields...)
}

var (
	testFrom  = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	testUntil = testFrom.Add(10 * time.Second)
)

func testQuery(name string) url.Values {
	q := url.Values{}
	q.Set("name", name)
	q.Set("from", strconv.FormatInt(testFrom.UnixNano(), 10))
	q.Set("until", strconv.FormatInt(testUntil.UnixNano(), 10))
	q.Set("spyName", "gospy")
	q.Set("sampleRate", "100")
	q.Set("units", "samples")
	q.Set("aggregationType", "sum")
	return q
}

// startReceiver starts a receiver on a free loopback port and returns the
// base URL of its server.
func startReceiver(t *testing.T, cfg *Config, next xconsumer.Profiles) (*pyroscopeReceiver, string) {
	t.Helper()
	return startReceiverWithSettings(t, cfg, next, componenttest.NewNopTelemetrySettings())
}

func startReceiverWithSettings(t *testing.T, cfg *Config, next xconsumer.Profiles, tel any) (*pyroscopeReceiver, string) {
	t.Helper()
	if cfg == nil {
		cfg = createDefaultConfig().(*Config)
	}
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	set := receivertest.NewNopSettings(componentType)
	if ts, ok := tel.(*componenttest.Telemetry); ok {
		set.TelemetrySettings = ts.NewTelemetrySettings()
	}
	r, err := NewFactory().CreateProfiles(context.Background(), set, cfg, next)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { assert.NoError(t, r.Shutdown(context.Background())) })
	pr := r.(*pyroscopeReceiver)
	return pr, "http://" + pr.addr.String()
}

func post(t *testing.T, rawURL, contentType string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(rawURL, contentType, bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestIngest_MultipartAsPyroscopeGoSendsIt(t *testing.T) {
	sink := new(consumertest.ProfilesSink)
	_, base := startReceiver(t, nil, sink)

	body, ct := multipartBody(t, gzipped(t, testProfile()), nil)
	q := testQuery("shop.cpu{env=prod,region=eu,instance=pod-1}")
	status, msg := post(t, base+"/ingest?"+q.Encode(), ct, body)
	require.Equal(t, http.StatusOK, status, msg)
	assert.Empty(t, msg)

	all := sink.AllProfiles()
	require.Len(t, all, 1)
	pd := all[0]
	require.Equal(t, 1, pd.ResourceProfiles().Len())
	res := pd.ResourceProfiles().At(0).Resource().Attributes().AsRaw()
	assert.Equal(t, map[string]any{
		"service.name":        "shop",
		"env":                 "prod",
		"region":              "eu",
		"instance":            "pod-1",
		"service.instance.id": "pod-1",
		"pyroscope.spy_name":  "gospy",
	}, res)

	profiles := pd.ResourceProfiles().At(0).ScopeProfiles().At(0).Profiles()
	require.Equal(t, 2, profiles.Len())
	dict := pd.Dictionary()
	st := dict.StringTable()
	for i, want := range [][2]string{{"samples", "count"}, {"cpu", "nanoseconds"}} {
		p := profiles.At(i)
		assert.Equal(t, want[0], st.At(int(p.SampleType().TypeStrindex())))
		assert.Equal(t, want[1], st.At(int(p.SampleType().UnitStrindex())))
		assert.Equal(t, pcommon.NewTimestampFromTime(testFrom), p.Time())
		assert.Equal(t, uint64(10*time.Second), p.DurationNano())
		assert.Equal(t, 2, p.Samples().Len())
		attrs, err := pprofile.FromAttributeIndices(dict.AttributeTable(), p, dict)
		require.NoError(t, err)
		assert.Equal(t, map[string]any{"pyroscope.aggregation": "sum"}, attrs.AsRaw())
	}
	assert.Equal(t, []string{"crypto/sha256.block", "main.work", "main.main"},
		stackFunctionNames(t, dict, profiles.At(1).Samples().At(0)))
	assert.Equal(t, []int64{30_000_000}, profiles.At(1).Samples().At(0).Values().AsRaw())
	assert.Equal(t, 4, sink.SampleCount())
}

func TestIngest_RawBody(t *testing.T) {
	tests := []struct {
		name        string
		query       string
		contentType string
		body        []byte
	}{
		{name: "format=pprof gzipped", query: "&format=pprof", contentType: "application/octet-stream", body: gzipped(t, testProfile())},
		{name: "format=pprof uncompressed", query: "&format=pprof", contentType: "", body: uncompressed(t, testProfile())},
		{name: "binary/octet-stream+pprof", contentType: "binary/octet-stream+pprof", body: gzipped(t, testProfile())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := new(consumertest.ProfilesSink)
			_, base := startReceiver(t, nil, sink)
			status, msg := post(t, base+"/ingest?name=app&from=1700000000&until=1700000010"+tt.query, tt.contentType, tt.body)
			require.Equal(t, http.StatusOK, status, msg)
			require.Len(t, sink.AllProfiles(), 1)
			p := sink.AllProfiles()[0].ResourceProfiles().At(0).ScopeProfiles().At(0).Profiles().At(0)
			assert.Equal(t, pcommon.NewTimestampFromTime(time.Unix(1700000000, 0)), p.Time())
			assert.Equal(t, uint64(10*time.Second), p.DurationNano())
		})
	}
}

func TestIngest_PercentEncodedName(t *testing.T) {
	sink := new(consumertest.ProfilesSink)
	_, base := startReceiver(t, nil, sink)
	body, ct := multipartBody(t, gzipped(t, testProfile()), nil)
	// name=app{path=/v1/ingest,q=100%} with every special character escaped.
	status, msg := post(t, base+"/ingest?name=app%7Bpath%3D%2Fv1%2Fingest%2Cq%3D100%25%7D", ct, body)
	require.Equal(t, http.StatusOK, status, msg)
	res := sink.AllProfiles()[0].ResourceProfiles().At(0).Resource().Attributes().AsRaw()
	assert.Equal(t, "/v1/ingest", res["path"])
	assert.Equal(t, "100%", res["q"])
}

func TestIngest_SampleTypeConfig(t *testing.T) {
	sink := new(consumertest.ProfilesSink)
	_, base := startReceiver(t, nil, sink)
	p := testProfile()
	p.SampleType = []*profile.ValueType{{Type: "contentions", Unit: "count"}, {Type: "delay", Unit: "nanoseconds"}}
	body, ct := multipartBody(t, gzipped(t, p), map[string]sampleTypeConfig{
		"contentions": {DisplayName: "mutex_count", Units: "lock_samples"},
		"delay":       {DisplayName: "mutex_duration", Units: "lock_nanoseconds", Aggregation: "average"},
	})
	q := testQuery("app")
	q.Del("aggregationType")
	status, msg := post(t, base+"/ingest?"+q.Encode(), ct, body)
	require.Equal(t, http.StatusOK, status, msg)

	pd := sink.AllProfiles()[0]
	profiles := pd.ResourceProfiles().At(0).ScopeProfiles().At(0).Profiles()
	var got []map[string]any
	for i := range profiles.Len() {
		attrs, err := pprofile.FromAttributeIndices(pd.Dictionary().AttributeTable(), profiles.At(i), pd.Dictionary())
		require.NoError(t, err)
		got = append(got, attrs.AsRaw())
	}
	assert.Equal(t, []map[string]any{
		{"pyroscope.aggregation": "sum", "pyroscope.display_name": "mutex_count", "pyroscope.units": "lock_samples"},
		{"pyroscope.aggregation": "average", "pyroscope.display_name": "mutex_duration", "pyroscope.units": "lock_nanoseconds"},
	}, got)
}

func TestIngest_Refused(t *testing.T) {
	profileBody, profileCT := multipartBody(t, gzipped(t, testProfile()), nil)
	textBody, textCT := multipartBody(t, []byte("foo;bar 100\nfoo;baz 200\n"), nil)
	var gzText bytes.Buffer
	gz := gzip.NewWriter(&gzText)
	_, _ = gz.Write([]byte("foo;bar 100\n"))
	require.NoError(t, gz.Close())
	gzTextBody, gzTextCT := multipartBody(t, gzText.Bytes(), nil)
	truncGzBody, truncGzCT := multipartBody(t, gzipped(t, testProfile())[:40], nil)
	badGzHeaderBody, badGzHeaderCT := multipartBody(t, []byte{0x1f, 0x8b, 0x00, 0x00}, nil)
	emptyBody, emptyCT := multipartBody(t, nil, nil)
	noProfileBody, noProfileCT := multipartForm(t, formField{"jfr", []byte("jfr")})
	badConfigBody, badConfigCT := multipartForm(t,
		formField{"profile", gzipped(t, testProfile())}, formField{"sample_type_config", []byte("[1,2")})
	twoProfilesBody, twoProfilesCT := multipartForm(t,
		formField{"profile", gzipped(t, testProfile())}, formField{"profile", gzipped(t, testProfile())})

	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        []byte
		wantStatus  int
		wantMsg     string
	}{
		{name: "GET", method: http.MethodGet, path: "/ingest?name=app", wantStatus: 405, wantMsg: "method GET is not allowed; /ingest accepts POST"},
		{name: "PUT", method: http.MethodPut, path: "/ingest?name=app", contentType: profileCT, body: profileBody, wantStatus: 405, wantMsg: "accepts POST"},
		{name: "wrong path", path: "/push?name=app", contentType: profileCT, body: profileBody, wantStatus: 404, wantMsg: "404 page not found"},
		{name: "path below ingest", path: "/ingest/x?name=app", contentType: profileCT, body: profileBody, wantStatus: 404},
		{name: "no name", path: "/ingest", contentType: profileCT, body: profileBody, wantStatus: 400, wantMsg: "query parameter name is required"},
		{name: "malformed name", path: "/ingest?name=" + url.QueryEscape("app{env=prod"), contentType: profileCT, body: profileBody, wantStatus: 400, wantMsg: "missing closing '}'"},
		{name: "malformed from", path: "/ingest?name=app&from=yesterday", contentType: profileCT, body: profileBody, wantStatus: 400, wantMsg: `query parameter from "yesterday" is not a positive Unix timestamp`},
		{name: "until before from", path: "/ingest?name=app&from=1700000010&until=1700000000", contentType: profileCT, body: profileBody, wantStatus: 400, wantMsg: "query parameter until (2023-11-14T22:13:20Z) is before from (2023-11-14T22:13:30Z)"},
		{name: "malformed sampleRate", path: "/ingest?name=app&sampleRate=fast", contentType: profileCT, body: profileBody, wantStatus: 400, wantMsg: `query parameter sampleRate "fast" is not an unsigned 32-bit integer`},
		{name: "folded format", path: "/ingest?name=app&format=folded", contentType: "text/plain", body: []byte("foo;bar 100"), wantStatus: 415, wantMsg: `format "folded" is not supported`},
		{name: "jfr format", path: "/ingest?name=app&format=jfr", contentType: noProfileCT, body: noProfileBody, wantStatus: 415, wantMsg: `format "jfr" is not supported`},
		{name: "raw body without format", path: "/ingest?name=app", contentType: "application/octet-stream", body: gzipped(t, testProfile()), wantStatus: 415, wantMsg: "a raw body needs format=pprof"},
		{name: "malformed content type", path: "/ingest?name=app", contentType: "multipart/form-data; boundary", body: profileBody, wantStatus: 400, wantMsg: `Content-Type "multipart/form-data; boundary" is malformed`},
		{name: "multipart without boundary", path: "/ingest?name=app", contentType: "multipart/form-data", body: profileBody, wantStatus: 400, wantMsg: "has no boundary"},
		{name: "multipart with wrong boundary", path: "/ingest?name=app", contentType: "multipart/form-data; boundary=nope", body: profileBody, wantStatus: 400, wantMsg: `multipart body has no field "profile"`},
		{name: "multipart without profile field", path: "/ingest?name=app", contentType: noProfileCT, body: noProfileBody, wantStatus: 400, wantMsg: `multipart body has no field "profile"`},
		{name: "folded text in profile field", path: "/ingest?name=app", contentType: textCT, body: textBody, wantStatus: 400, wantMsg: "profile is not a valid pprof protobuf"},
		{name: "gzipped text in profile field", path: "/ingest?name=app", contentType: gzTextCT, body: gzTextBody, wantStatus: 400, wantMsg: "profile is not a valid pprof protobuf"},
		{name: "truncated gzip", path: "/ingest?name=app", contentType: truncGzCT, body: truncGzBody, wantStatus: 400, wantMsg: "profile is not valid gzip"},
		{name: "bad gzip header", path: "/ingest?name=app", contentType: badGzHeaderCT, body: badGzHeaderBody, wantStatus: 400, wantMsg: "profile is not valid gzip"},
		{name: "empty profile", path: "/ingest?name=app", contentType: emptyCT, body: emptyBody, wantStatus: 400, wantMsg: "profile is empty"},
		{name: "raw pprof empty", path: "/ingest?name=app&format=pprof", body: nil, wantStatus: 400, wantMsg: "profile is empty"},
		{name: "bad sample_type_config", path: "/ingest?name=app", contentType: badConfigCT, body: badConfigBody, wantStatus: 400, wantMsg: "field sample_type_config is not a JSON object"},
		{name: "two profile fields", path: "/ingest?name=app", contentType: twoProfilesCT, body: twoProfilesBody, wantStatus: 400, wantMsg: `more than one field "profile"`},
		{name: "too many labels", path: "/ingest?name=" + url.QueryEscape("app{"+manyLabels(65)+"}"), contentType: profileCT, body: profileBody, wantStatus: 400, wantMsg: "more than max_labels (64) labels"},
		{name: "label value too long", path: "/ingest?name=" + url.QueryEscape("app{k="+strings.Repeat("v", 2049)+"}"), contentType: profileCT, body: profileBody, wantStatus: 400, wantMsg: "over max_label_value_length (2048)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := new(consumertest.ProfilesSink)
			_, base := startReceiver(t, nil, sink)
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, base+tt.path, bytes.NewReader(tt.body))
			require.NoError(t, err)
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			msg, _ := io.ReadAll(resp.Body)
			assert.Equal(t, tt.wantStatus, resp.StatusCode, string(msg))
			assert.Contains(t, string(msg), tt.wantMsg)
			if tt.wantStatus == 405 {
				assert.Equal(t, "POST", resp.Header.Get("Allow"))
			}
			assert.Empty(t, sink.AllProfiles())
		})
	}
}

func manyLabels(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = "k" + strconv.Itoa(i) + "=v"
	}
	return strings.Join(parts, ",")
}

func TestIngest_BodyTooLarge(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.MaxRequestBodySize = 64 << 10
	sink := new(consumertest.ProfilesSink)
	_, base := startReceiver(t, cfg, sink)

	// Incompressible bytes, so the body is over the limit as sent.
	big := make([]byte, 128<<10)
	for i := range big {
		big[i] = byte(i*7919 + i>>8)
	}
	body, ct := multipartBody(t, big, nil)
	status, msg := post(t, base+"/ingest?name=app", ct, body)
	assert.Equal(t, http.StatusRequestEntityTooLarge, status)
	assert.Contains(t, msg, "request body is larger than max_request_body_size (65536 bytes)")

	status, msg = post(t, base+"/ingest?name=app&format=pprof", "", big)
	assert.Equal(t, http.StatusRequestEntityTooLarge, status)
	assert.Contains(t, msg, "max_request_body_size (65536 bytes)")
	assert.Empty(t, sink.AllProfiles())
}

// gzipBomb is a small gzip stream of size zeros.
func gzipBomb(t testing.TB, size int) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	require.NoError(t, err)
	zeros := make([]byte, 1<<20)
	for written := 0; written < size; written += len(zeros) {
		_, err = gz.Write(zeros)
		require.NoError(t, err)
	}
	require.NoError(t, gz.Close())
	return buf.Bytes()
}

func TestIngest_GzipBombIsRefusedByTheDecompressedLimit(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.MaxRequestBodySize = 1 << 20
	cfg.MaxDecompressedProfileSize = 4 << 20
	sink := new(consumertest.ProfilesSink)
	_, base := startReceiver(t, cfg, sink)

	bomb := gzipBomb(t, 256<<20)
	require.Less(t, len(bomb), 1<<20, "the bomb must pass the body limit, so the decompressed limit is what stops it")
	body, ct := multipartBody(t, bomb, nil)
	status, msg := post(t, base+"/ingest?name=app", ct, body)
	assert.Equal(t, http.StatusRequestEntityTooLarge, status)
	assert.Contains(t, msg, "profile is larger than max_decompressed_profile_size (4194304 bytes) after decompression")
	assert.Empty(t, sink.AllProfiles())
}

func TestReadProfile_GzipBombMemoryStaysBounded(t *testing.T) {
	bomb := gzipBomb(t, 256<<20) // 256 MiB of zeros in about 256 KiB.
	lim := limits{maxRequestBodySize: 16 << 20, maxDecompressedProfileSize: 8 << 20}

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := readProfile(bytes.NewReader(bomb), lim)
	runtime.ReadMemStats(&after)

	require.Error(t, err)
	assert.Contains(t, err.Error(), "max_decompressed_profile_size")
	// Reading up to the 8 MiB limit allocates about three times that in all
	// (24 MiB measured); decompressing the bomb would take over 256 MiB.
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<20))
}

func TestReadAtMost(t *testing.T) {
	for _, size := range []int{0, 1, 1000, 32 << 10, 32<<10 + 1, 100_000} {
		data := bytes.Repeat([]byte{7}, size)
		got, err := readAtMost(bytes.NewReader(data), 100_000)
		require.NoError(t, err, "size %d", size)
		assert.Equal(t, data, got)
		assert.LessOrEqual(t, cap(got), 100_001)
	}
	_, err := readAtMost(bytes.NewReader(make([]byte, 100_001)), 100_000)
	assert.ErrorIs(t, err, errTooLarge)
	_, err = readAtMost(iotest.ErrReader(errors.New("boom")), 10)
	assert.EqualError(t, err, "boom")
}

func TestIngest_ConcurrentUploads(t *testing.T) {
	sink := new(consumertest.ProfilesSink)
	_, base := startReceiver(t, nil, sink)
	body, ct := multipartBody(t, gzipped(t, testProfile()), nil)

	const uploads = 16
	var wg sync.WaitGroup
	for i := range uploads {
		wg.Go(func() {
			resp, err := http.Post(base+"/ingest?name=app{n="+strconv.Itoa(i)+"}", ct, bytes.NewReader(body))
			if assert.NoError(t, err) {
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	require.Len(t, sink.AllProfiles(), uploads)
	seen := map[string]bool{}
	for _, pd := range sink.AllProfiles() {
		n, _ := pd.ResourceProfiles().At(0).Resource().Attributes().Get("n")
		seen[n.Str()] = true
		assert.Equal(t, []string{"crypto/sha256.block", "main.work", "main.main"},
			stackFunctionNames(t, pd.Dictionary(), pd.ResourceProfiles().At(0).ScopeProfiles().At(0).Profiles().At(1).Samples().At(0)))
	}
	assert.Len(t, seen, uploads)
}

func TestIngest_ConsumerErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantMsg    string
	}{
		{name: "retryable", err: errors.New("queue is full"), wantStatus: 503, wantMsg: "retry later: queue is full"},
		{name: "permanent", err: consumererror.NewPermanent(errors.New("bad data")), wantStatus: 400, wantMsg: "the collector pipeline refused the profile: Permanent error: bad data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, base := startReceiver(t, nil, consumertest.NewErr(tt.err))
			body, ct := multipartBody(t, gzipped(t, testProfile()), nil)
			status, msg := post(t, base+"/ingest?name=app", ct, body)
			assert.Equal(t, tt.wantStatus, status)
			assert.Contains(t, msg, tt.wantMsg)
		})
	}
}

func TestIngest_Telemetry(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	sink := new(consumertest.ProfilesSink)
	_, base := startReceiverWithSettings(t, nil, sink, tel)

	body, ct := multipartBody(t, gzipped(t, testProfile()), nil)
	status, _ := post(t, base+"/ingest?name=app", ct, body)
	require.Equal(t, http.StatusOK, status)
	status, _ = post(t, base+"/ingest?name=app&format=folded", "text/plain", []byte("a;b 1"))
	require.Equal(t, http.StatusUnsupportedMediaType, status)
	status, _ = post(t, base+"/ingest?name="+url.QueryEscape("app{x"), ct, body)
	require.Equal(t, http.StatusBadRequest, status)

	accepted, err := tel.GetMetric("otelcol_receiver_accepted_profile_samples")
	require.NoError(t, err)
	assert.Equal(t, int64(4), sumOf(t, accepted, nil))

	rejected, err := tel.GetMetric(rejectedRequestsMetric)
	require.NoError(t, err)
	assert.Equal(t, int64(1), sumOf(t, rejected, map[string]string{"reason": reasonUnsupportedFormat}))
	assert.Equal(t, int64(1), sumOf(t, rejected, map[string]string{"reason": reasonMalformedName}))
}

// sumOf adds the data points of an int64 sum whose attributes include want.
func sumOf(t *testing.T, m metricdata.Metrics, want map[string]string) int64 {
	t.Helper()
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "metric %s is %T", m.Name, m.Data)
	var total int64
	for _, dp := range sum.DataPoints {
		match := true
		for k, v := range want {
			got, ok := dp.Attributes.Value(attribute.Key(k))
			match = match && ok && got.AsString() == v
		}
		if match {
			total += dp.Value
		}
	}
	return total
}

func TestStart_FailsWhenPortIsTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()

	cfg := createDefaultConfig().(*Config)
	cfg.NetAddr.Endpoint = ln.Addr().String()
	r, err := NewFactory().CreateProfiles(context.Background(), receivertest.NewNopSettings(componentType), cfg, consumertest.NewNop())
	require.NoError(t, err)
	err = r.Start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "listen on endpoint "+ln.Addr().String())
	assert.NoError(t, r.Shutdown(context.Background()))
}

func TestShutdown_ClosesServer(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	r, err := NewFactory().CreateProfiles(context.Background(), receivertest.NewNopSettings(componentType), cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	addr := r.(*pyroscopeReceiver).addr.String()
	require.NoError(t, r.Shutdown(context.Background()))

	_, err = net.DialTimeout("tcp", addr, time.Second)
	assert.Error(t, err, "the port must be closed after Shutdown")
}

func TestShutdown_WithoutStart(t *testing.T) {
	r, err := NewFactory().CreateProfiles(context.Background(), receivertest.NewNopSettings(componentType), createDefaultConfig(), consumertest.NewNop())
	require.NoError(t, err)
	assert.NoError(t, r.Shutdown(context.Background()))
}

// stackFunctionNames resolves a sample's stack to function names, leaf first.
func stackFunctionNames(t *testing.T, dict pprofile.ProfilesDictionary, s pprofile.Sample) []string {
	t.Helper()
	stack := dict.StackTable().At(int(s.StackIndex()))
	var names []string
	for _, li := range stack.LocationIndices().All() {
		loc := dict.LocationTable().At(int(li))
		for _, line := range loc.Lines().All() {
			fn := dict.FunctionTable().At(int(line.FunctionIndex()))
			names = append(names, dict.StringTable().At(int(fn.NameStrindex())))
		}
	}
	return names
}
