package pyroscopereceiver

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/pyroscope-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pprofile"
)

// TestPyroscopeGoClient runs the real pyroscope-go client against the
// receiver, as a Go service using the MCP agent would.
func TestPyroscopeGoClient(t *testing.T) {
	if testing.Short() {
		t.Skip("profiles for about a second")
	}
	sink := new(consumertest.ProfilesSink)
	_, base := startReceiver(t, nil, sink)

	logger := &clientLogger{}
	profiler, err := pyroscope.Start(pyroscope.Config{
		ApplicationName: "testapp",
		ServerAddress:   base,
		Tags:            map[string]string{"env": "test", "region": "eu-west-1", "instance": "pod-7"},
		ProfileTypes: []pyroscope.ProfileType{
			pyroscope.ProfileCPU,
			pyroscope.ProfileAllocObjects, pyroscope.ProfileAllocSpace,
			pyroscope.ProfileInuseObjects, pyroscope.ProfileInuseSpace,
		},
		// Long, so that only the Flush below uploads.
		UploadRate: time.Minute,
		Logger:     logger,
	})
	require.NoError(t, err)

	burnCPU(700 * time.Millisecond)
	allocateGarbage(64 << 20)
	// The heap profile is as of the last completed GC cycles.
	runtime.GC()
	runtime.GC()
	profiler.Flush(true)
	require.NoError(t, profiler.Stop())
	require.Empty(t, logger.errors(), "the client logged upload errors")

	byType := map[string][]uploaded{}
	scopes := map[string]bool{}
	all := sink.AllProfiles()
	require.GreaterOrEqual(t, len(all), 2, "expected a CPU and a heap upload")
	for _, pd := range all {
		rp := pd.ResourceProfiles().At(0)
		attrs := rp.Resource().Attributes().AsRaw()
		assert.Equal(t, "testapp", attrs["service.name"])
		assert.Equal(t, "test", attrs["env"])
		assert.Equal(t, "eu-west-1", attrs["region"])
		assert.Equal(t, "pod-7", attrs["service.instance.id"])
		assert.Equal(t, "gospy", attrs["pyroscope.spy_name"])
		assert.Equal(t, "go", attrs["process.runtime.name"])
		assert.NotEmpty(t, attrs["pyroscope.session_id"])
		sp := rp.ScopeProfiles().At(0)
		scopes[sp.Scope().Name()] = true
		for _, p := range sp.Profiles().All() {
			if p.Samples().Len() == 0 {
				continue
			}
			st := pd.Dictionary().StringTable()
			key := st.At(int(p.SampleType().TypeStrindex())) + "/" + st.At(int(p.SampleType().UnitStrindex()))
			byType[key] = append(byType[key], uploaded{pd.Dictionary(), p})
			assert.NotZero(t, p.Time())
		}
	}
	assert.True(t, scopes["com.grafana.pyroscope/go"], "CPU uploads carry the SDK scope: %v", scopes)
	assert.True(t, scopes["com.grafana.pyroscope/godeltaprof"], "heap uploads carry the godeltaprof scope: %v", scopes)
	for _, key := range []string{"cpu/nanoseconds", "samples/count", "alloc_objects/count", "alloc_space/bytes", "inuse_objects/count", "inuse_space/bytes"} {
		assert.Contains(t, byType, key)
	}

	assert.True(t, anyStackCalls(t, byType["cpu/nanoseconds"], ".burnCPU"), "no CPU sample in burnCPU")
	assert.True(t, anyStackCalls(t, byType["alloc_space/bytes"], ".allocateGarbage"), "no allocation sample in allocateGarbage")
	assert.True(t, anyStackCalls(t, byType["alloc_objects/count"], ".allocateGarbage"), "no allocation sample in allocateGarbage")
}

// uploaded is one Profile with the dictionary of its upload.
type uploaded struct {
	dict    pprofile.ProfilesDictionary
	profile pprofile.Profile
}

// anyStackCalls tells whether a sample of the profiles has a function whose
// name ends in suffix on its stack.
func anyStackCalls(t *testing.T, profiles []uploaded, suffix string) bool {
	t.Helper()
	for _, u := range profiles {
		for _, s := range u.profile.Samples().All() {
			if slices.ContainsFunc(stackFunctionNames(t, u.dict, s), func(name string) bool {
				return strings.HasSuffix(name, suffix)
			}) {
				return true
			}
		}
	}
	return false
}

var cpuSink [32]byte

//go:noinline
func burnCPU(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		for range 1000 {
			cpuSink = sha256.Sum256(cpuSink[:])
		}
	}
}

var allocSink [][]byte

//go:noinline
func allocateGarbage(total int) {
	for range total / (64 << 10) {
		allocSink = append(allocSink, make([]byte, 64<<10))
		if len(allocSink) > 16 {
			allocSink = allocSink[:0]
		}
	}
}

// clientLogger keeps what pyroscope-go reports as errors, such as a non-200
// answer to an upload.
type clientLogger struct {
	mu   sync.Mutex
	errs []string
}

func (l *clientLogger) Infof(string, ...any)  {}
func (l *clientLogger) Debugf(string, ...any) {}
func (l *clientLogger) Errorf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, fmt.Sprintf(format, args...))
}

func (l *clientLogger) errors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.errs)
}
