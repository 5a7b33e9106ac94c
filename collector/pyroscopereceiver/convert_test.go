package pyroscopereceiver

import (
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
)

var testLimits = limits{
	maxRequestBodySize:         16 << 20,
	maxDecompressedProfileSize: 32 << 20,
	maxStackDepth:              1024,
	labels:                     testLabelLimits,
}

func testUpload() *upload {
	return &upload{
		name: appName{service: "shop", labels: []label{
			{"__session_id__", "0123456789abcdef"},
			{"env", "prod"},
			{"instance", "pod-1"},
			{"otel.scope.name", "com.grafana.pyroscope/go"},
			{"otel.scope.version", "v1.5.0"},
			{"process.runtime.name", "go"},
			{"service.name", "ignored, the app name wins"},
		}},
		from:    testFrom,
		until:   testUntil,
		spyName: "gospy",
	}
}

func TestToProfiles(t *testing.T) {
	src := testProfile()
	// A third sample with the first sample's stack, and no cpu value.
	src.Sample = append(src.Sample, &profile.Sample{
		Location: src.Sample[0].Location,
		Value:    []int64{2, 0},
		NumLabel: map[string][]int64{"bytes": {512}},
		NumUnit:  map[string][]string{"bytes": {"bytes"}},
	})

	pd, err := toProfiles(testUpload(), src, testLimits, time.Now())
	require.NoError(t, err)

	rp := pd.ResourceProfiles().At(0)
	assert.Equal(t, map[string]any{
		"service.name":         "shop",
		"service.instance.id":  "pod-1",
		"instance":             "pod-1",
		"env":                  "prod",
		"process.runtime.name": "go",
		"pyroscope.session_id": "0123456789abcdef",
		"pyroscope.spy_name":   "gospy",
	}, rp.Resource().Attributes().AsRaw())
	scope := rp.ScopeProfiles().At(0).Scope()
	assert.Equal(t, "com.grafana.pyroscope/go", scope.Name())
	assert.Equal(t, "v1.5.0", scope.Version())

	dict := pd.Dictionary()
	// Index 0 of every table is the zero value.
	assert.Empty(t, dict.StringTable().At(0))
	assert.Equal(t, pprofile.NewMapping(), dict.MappingTable().At(0))
	assert.Equal(t, pprofile.NewLocation(), dict.LocationTable().At(0))
	assert.Equal(t, pprofile.NewFunction(), dict.FunctionTable().At(0))
	assert.Equal(t, pprofile.NewStack(), dict.StackTable().At(0))
	assert.Equal(t, pprofile.NewKeyValueAndUnit(), dict.AttributeTable().At(0))
	assert.Equal(t, pprofile.NewLink(), dict.LinkTable().At(0))

	profiles := rp.ScopeProfiles().At(0).Profiles()
	require.Equal(t, 2, profiles.Len())
	samples, cpu := profiles.At(0), profiles.At(1)
	assert.Equal(t, 3, samples.Samples().Len())
	assert.Equal(t, 2, cpu.Samples().Len(), "the sample without cpu time is left out of the cpu profile")
	assert.NotEqual(t, samples.ProfileID(), cpu.ProfileID())
	assert.False(t, samples.ProfileID().IsEmpty())
	assert.Equal(t, int64(10_000_000), cpu.Period())
	assert.Equal(t, "cpu", dict.StringTable().At(int(cpu.PeriodType().TypeStrindex())))
	assert.Equal(t, "nanoseconds", dict.StringTable().At(int(cpu.PeriodType().UnitStrindex())))
	assert.Equal(t, pcommon.NewTimestampFromTime(testFrom), cpu.Time())
	assert.Equal(t, uint64(testUntil.Sub(testFrom)), cpu.DurationNano())

	// Equal stacks share one entry.
	assert.Equal(t, samples.Samples().At(0).StackIndex(), samples.Samples().At(2).StackIndex())
	assert.Equal(t, 3, dict.StackTable().Len(), "zero stack and two distinct stacks")
	assert.Equal(t, []string{"main.work", "main.main"}, stackFunctionNames(t, dict, cpu.Samples().At(1)))

	loc := dict.LocationTable().At(int(dict.StackTable().At(int(cpu.Samples().At(1).StackIndex())).LocationIndices().At(0)))
	assert.Equal(t, uint64(0x402000), loc.Address())
	assert.Equal(t, int64(25), loc.Lines().At(0).Line())
	assert.Equal(t, int64(3), loc.Lines().At(0).Column())
	fn := dict.FunctionTable().At(int(loc.Lines().At(0).FunctionIndex()))
	assert.Equal(t, "/src/main.go", dict.StringTable().At(int(fn.FilenameStrindex())))
	assert.Equal(t, int64(20), fn.StartLine())
	m := dict.MappingTable().At(int(loc.MappingIndex()))
	assert.Equal(t, "/app/bin", dict.StringTable().At(int(m.FilenameStrindex())))
	assert.Equal(t, uint64(0x400000), m.MemoryStart())
	assert.Equal(t, uint64(0x800000), m.MemoryLimit())
	mattrs, err := pprofile.FromAttributeIndices(dict.AttributeTable(), m, dict)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"process.executable.build_id.gnu": "abc123"}, mattrs.AsRaw())

	// pprof labels become sample attributes; numeric ones keep their unit.
	attrs, err := pprofile.FromAttributeIndices(dict.AttributeTable(), cpu.Samples().At(1), dict)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"endpoint": "/checkout"}, attrs.AsRaw())
	numAttr := dict.AttributeTable().At(int(samples.Samples().At(2).AttributeIndices().At(0)))
	assert.Equal(t, "bytes", dict.StringTable().At(int(numAttr.KeyStrindex())))
	assert.Equal(t, int64(512), numAttr.Value().Int())
	assert.Equal(t, "bytes", dict.StringTable().At(int(numAttr.UnitStrindex())))

	assert.Equal(t, 5, pd.SampleCount())
}

func TestToProfiles_SurvivesOTLPEncoding(t *testing.T) {
	pd, err := toProfiles(testUpload(), testProfile(), testLimits, time.Now())
	require.NoError(t, err)
	raw, err := (&pprofile.ProtoMarshaler{}).MarshalProfiles(pd)
	require.NoError(t, err)
	back, err := (&pprofile.ProtoUnmarshaler{}).UnmarshalProfiles(raw)
	require.NoError(t, err)
	assert.Equal(t, pd.SampleCount(), back.SampleCount())
	assert.Equal(t, []string{"crypto/sha256.block", "main.work", "main.main"},
		stackFunctionNames(t, back.Dictionary(), back.ResourceProfiles().At(0).ScopeProfiles().At(0).Profiles().At(1).Samples().At(0)))
}

func TestToProfiles_InvalidUTF8IsReplaced(t *testing.T) {
	src := testProfile()
	src.Function[0].Name = "main.\xffbad"
	pd, err := toProfiles(testUpload(), src, testLimits, time.Now())
	require.NoError(t, err)
	var found bool
	for _, s := range pd.Dictionary().StringTable().All() {
		found = found || s == "main.\uFFFDbad"
	}
	assert.True(t, found)
}

func TestToProfiles_SampleLabelLimits(t *testing.T) {
	lim := testLimits
	lim.labels = labelLimits{maxLabels: 2, maxNameLength: 8, maxValueLength: 8}
	tests := []struct {
		name    string
		labels  map[string][]string
		wantErr string
	}{
		{name: "too many", labels: map[string][]string{"a": {"1"}, "b": {"2"}, "c": {"3"}}, wantErr: "a profile sample has 3 labels, more than max_labels (2)"},
		{name: "name too long", labels: map[string][]string{"abcdefghi": {"1"}}, wantErr: "over max_label_name_length (8)"},
		{name: "value too long", labels: map[string][]string{"a": {"123456789"}}, wantErr: "over max_label_value_length (8)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := testProfile()
			src.Sample[0].Label = tt.labels
			_, err := toProfiles(testUpload(), src, lim, time.Now())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assertStatus(t, err, 400)
		})
	}
}

func TestToProfiles_StackDepthLimit(t *testing.T) {
	lim := testLimits
	lim.maxStackDepth = 3
	_, err := toProfiles(testUpload(), testProfile(), lim, time.Now())
	require.NoError(t, err, "the deepest test stack has 3 frames")

	lim.maxStackDepth = 2
	_, err = toProfiles(testUpload(), testProfile(), lim, time.Now())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "a profile sample has a stack of 3 frames, more than max_stack_depth (2)")
	assertStatus(t, err, 400)
}

func TestTimeRange(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	pprofStart := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name         string
		from, until  time.Time
		timeNanos    int64
		durationNano int64
		wantFrom     time.Time
		wantDuration time.Duration
	}{
		{name: "query", from: testFrom, until: testUntil, timeNanos: pprofStart.UnixNano(), wantFrom: testFrom, wantDuration: 10 * time.Second},
		{name: "pprof time and duration", timeNanos: pprofStart.UnixNano(), durationNano: int64(15 * time.Second), wantFrom: pprofStart, wantDuration: 15 * time.Second},
		{name: "pprof time only", timeNanos: pprofStart.UnixNano(), wantFrom: pprofStart},
		{name: "until only", until: testUntil, wantFrom: testUntil},
		{name: "nothing", wantFrom: now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, d := timeRange(&upload{from: tt.from, until: tt.until},
				&profile.Profile{TimeNanos: tt.timeNanos, DurationNanos: tt.durationNano}, now)
			assert.True(t, tt.wantFrom.Equal(from), "from %s, want %s", from, tt.wantFrom)
			assert.Equal(t, tt.wantDuration, d)
		})
	}
}

func TestParsePprof_RejectsLegacyText(t *testing.T) {
	// pprof's legacy text format, which profile.Parse would accept.
	legacy := "--- contention:\ncycles/second=3000000000\n1000 1 @ 0x1 0x2\n"
	_, err := parsePprof([]byte(legacy))
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "profile is not a valid pprof protobuf"))
}
