package pyroscopereceiver

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testLabelLimits = labelLimits{maxLabels: 64, maxNameLength: 1024, maxValueLength: 2048}

func TestParseAppName(t *testing.T) {
	tests := []struct {
		in          string
		wantService string
		wantLabels  []label
	}{
		{in: "app", wantService: "app"},
		{in: "app{}", wantService: "app"},
		{
			in:          "app.cpu{env=prod,region=eu}",
			wantService: "app",
			wantLabels:  []label{{"env", "prod"}, {"region", "eu"}},
		},
		{in: "my.awesome.app.cpu{}", wantService: "my.awesome.app"},
		{in: "app.alloc_objects", wantService: "app"},
		{in: "app.inuse_space{}", wantService: "app"},
		{in: "team/app-1.api", wantService: "team/app-1.api"},
		// A suffix that would leave nothing is kept as the name.
		{in: ".cpu", wantService: ".cpu"},
		{
			in:          " app { env = prod , region=eu, } ",
			wantService: "app",
			wantLabels:  []label{{"env", "prod"}, {"region", "eu"}},
		},
		// Values run to the next ',' or '}': '=' and '{' are part of them.
		{in: "app{q=a=b}", wantService: "app", wantLabels: []label{{"q", "a=b"}}},
		{in: "app{tpl=x{y}", wantService: "app", wantLabels: []label{{"tpl", "x{y"}}},
		// No escape syntax, as in Pyroscope: a backslash is literal.
		{in: `app{path=C:\dir\n}`, wantService: "app", wantLabels: []label{{"path", `C:\dir\n`}}},
		{in: "app{k=}", wantService: "app", wantLabels: []label{{"k", ""}}},
		{in: "app{k=ünïcødé}", wantService: "app", wantLabels: []label{{"k", "ünïcødé"}}},
		// A repeated label keeps its first place and its last value.
		{
			in:          "app{env=prod,zone=a,env=dev}",
			wantService: "app",
			wantLabels:  []label{{"env", "dev"}, {"zone", "a"}},
		},
		// What pyroscope-go v1.5.0 sends.
		{
			in:          "testapp{__session_id__=5b6f5c1e2b6b6e2a,env=test,otel.scope.name=com.grafana.pyroscope/go,otel.scope.version=v1.5.0}",
			wantService: "testapp",
			wantLabels: []label{
				{"__session_id__", "5b6f5c1e2b6b6e2a"}, {"env", "test"},
				{"otel.scope.name", "com.grafana.pyroscope/go"}, {"otel.scope.version", "v1.5.0"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseAppName(tt.in, testLabelLimits)
			require.NoError(t, err)
			assert.Equal(t, tt.wantService, got.service)
			assert.Equal(t, tt.wantLabels, got.labels)
		})
	}
}

func TestParseAppName_Malformed(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{in: "", wantErr: "query parameter name is required"},
		{in: "{env=prod}", wantErr: "the application name before '{' is empty"},
		{in: "   ", wantErr: "the application name before '{' is empty"},
		{in: "app{env=prod", wantErr: "missing closing '}'"},
		{in: "app{env=prod}x", wantErr: `unexpected "x" after the closing '}'`},
		{in: "app{a=b}{c=d}", wantErr: `unexpected "{c=d}" after the closing '}'`},
		{in: "app}", wantErr: `character '}' is not allowed in the application name`},
		{in: "my app", wantErr: `character ' ' is not allowed in the application name`},
		{in: "app{env}", wantErr: `label "env" has no '='`},
		{in: "app{=v}", wantErr: "label name is empty"},
		{in: "app{a=b,,c=d}", wantErr: "empty label"},
		{in: "app{e nv=x}", wantErr: `character ' ' is not allowed in label name "e nv"`},
		{in: "app{k-1=x}", wantErr: `character '-' is not allowed in label name "k-1"`},
		{in: "app{k\xff=x}", wantErr: "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := parseAppName(tt.in, testLabelLimits)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assertStatus(t, err, 400)
		})
	}
}

func TestParseAppName_TooManyLabels(t *testing.T) {
	lim := testLabelLimits
	lim.maxLabels = 3
	_, err := parseAppName("app{a=1,b=2,c=3}", lim)
	require.NoError(t, err)

	_, err = parseAppName("app{a=1,b=2,c=3,d=4}", lim)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "more than max_labels (3) labels")
	assertStatus(t, err, 400)
	assert.Equal(t, reasonTooManyLabels, err.(*ingestError).reason)
}

func TestParseAppName_LabelTooLong(t *testing.T) {
	lim := testLabelLimits
	lim.maxNameLength, lim.maxValueLength = 8, 16

	_, err := parseAppName("app{"+strings.Repeat("k", 8)+"="+strings.Repeat("v", 16)+"}", lim)
	require.NoError(t, err)

	_, err = parseAppName("app{"+strings.Repeat("k", 9)+"=v}", lim)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is 9 bytes, over max_label_name_length (8)")
	assert.Equal(t, reasonLabelTooLong, err.(*ingestError).reason)

	_, err = parseAppName("app{k="+strings.Repeat("v", 17)+"}", lim)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `value of label "k" is 17 bytes, over max_label_value_length (16)`)
}

func TestParseAppName_ErrorDoesNotEchoHugeInput(t *testing.T) {
	huge := "app{env=" + strings.Repeat("x", 1<<20)
	_, err := parseAppName(huge, testLabelLimits)
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 1024)
}

func TestParseUnixTime(t *testing.T) {
	want := time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{in: "1700000000", want: want},
		{in: "1700000000123", want: want.Add(123 * time.Millisecond)},
		{in: "1700000000123456", want: want.Add(123456 * time.Microsecond)},
		{in: "1700000000123456789", want: want.Add(123456789 * time.Nanosecond)},
		// The edges of each unit's range.
		{in: "1", want: time.Unix(1, 0)},
		{in: "9223372036", want: time.Unix(9223372036, 0)},
		{in: "100000000000", want: time.UnixMilli(100000000000)},
		{in: "9223372036854", want: time.UnixMilli(9223372036854)},
		{in: "100000000000000", want: time.UnixMicro(100000000000000)},
		{in: "100000000000000000", want: time.Unix(0, 100000000000000000)},
		{in: "", want: time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseUnixTime("from", tt.in)
			require.NoError(t, err)
			assert.True(t, tt.want.Equal(got), "got %s, want %s", got, tt.want)
		})
	}
}

func TestParseUnixTime_Malformed(t *testing.T) {
	tests := []struct{ in, wantErr string }{
		{"abc", "is not a positive Unix timestamp in s, ms, µs or ns"},
		{"-5", "is not a positive Unix timestamp"},
		{"0", "is not a positive Unix timestamp"},
		{"1.5", "is not a positive Unix timestamp"},
		{"1e9", "is not a positive Unix timestamp"},
		{" 1700000000", "is not a positive Unix timestamp"},
		{"99999999999999999999", "is not a positive Unix timestamp"},
		// Seconds in 2286, past what a nanosecond pcommon.Timestamp holds.
		{"10000000000", "is after 2262, the latest time OTLP can carry"},
		{"99999999999999", "is after 2262"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := parseUnixTime("until", tt.in)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "query parameter until")
			assert.Contains(t, err.Error(), tt.wantErr)
			assertStatus(t, err, 400)
		})
	}
}

func assertStatus(t *testing.T, err error, status int) {
	t.Helper()
	var ie *ingestError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, status, ie.status)
}
