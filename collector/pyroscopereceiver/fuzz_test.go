package pyroscopereceiver

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

func FuzzParseAppName(f *testing.F) {
	for _, seed := range []string{
		"app", "app.cpu{env=prod,region=eu}", " app { a = b , } ", "app{q=a=b}", "app{env",
		"app{a=b}x", "{}", "app{=}", "app{,}", `app{p=C:\d}`, "a.b-c/d{x.y=z}", "app{k\xff=v}",
	} {
		f.Add(seed)
	}
	lim := labelLimits{maxLabels: 8, maxNameLength: 16, maxValueLength: 32}
	f.Fuzz(func(t *testing.T, s string) {
		name, err := parseAppName(s, lim)
		if err != nil {
			var ie *ingestError
			require.ErrorAs(t, err, &ie)
			require.Equal(t, http.StatusBadRequest, ie.status)
			// Error messages quote at most 256 bytes of the input.
			require.Less(t, len(ie.msg), 4096, "errors must not echo the input whole")
			return
		}
		require.NotEmpty(t, name.service)
		require.False(t, strings.ContainsAny(name.service, "{} "))
		require.LessOrEqual(t, len(name.labels), lim.maxLabels)
		seen := map[string]bool{}
		for _, l := range name.labels {
			require.NotEmpty(t, l.name)
			require.False(t, seen[l.name], "label %q twice", l.name)
			seen[l.name] = true
			require.LessOrEqual(t, len(l.name), lim.maxNameLength)
			require.LessOrEqual(t, len(l.value), lim.maxValueLength)
			require.False(t, strings.ContainsAny(l.value, ",}"))
			for _, r := range l.name {
				require.True(t, isLabelNameRune(r))
			}
		}
	})
}

func FuzzParseUnixTime(f *testing.F) {
	for _, seed := range []string{"1700000000", "1700000000123", "1700000000123456", "1700000000123456789", "0", "-1", "x", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseUnixTime("from", s)
		if err != nil {
			require.Contains(t, err.Error(), "query parameter from")
			return
		}
		if s == "" {
			require.True(t, got.IsZero())
			return
		}
		// Every accepted timestamp fits a pcommon.Timestamp.
		require.Positive(t, got.UnixNano())
		require.False(t, got.After(latestTime))
	})
}

// FuzzIngest sends arbitrary requests to the /ingest handler: every answer
// must be 200 with profiles whose every index resolves, or a 4xx.
func FuzzIngest(f *testing.F) {
	pprofRaw := uncompressed(f, testProfile())
	pprofGz := gzipped(f, testProfile())
	mp, mpCT := multipartBody(f, pprofGz, map[string]sampleTypeConfig{"cpu": {Aggregation: "sum"}})
	f.Add("app.cpu{env=prod}", "pprof", "", pprofRaw)
	f.Add("app", "pprof", "", pprofGz)
	f.Add("app{a=b}", "", mpCT, mp)
	f.Add("app", "", "binary/octet-stream+pprof", pprofRaw)
	f.Add("app", "folded", "text/plain", []byte("a;b 1"))
	f.Add("app", "", "multipart/form-data; boundary=x", []byte("--x\r\n\r\n--x--"))

	cfg := createDefaultConfig().(*Config)
	cfg.MaxRequestBodySize = 1 << 20
	cfg.MaxDecompressedProfileSize = 1 << 20
	cfg.MaxLabels = 16
	sink := new(consumertest.ProfilesSink)
	r, err := newReceiver(cfg, receivertest.NewNopSettings(componentType), sink)
	require.NoError(f, err)

	f.Fuzz(func(t *testing.T, name, format, contentType string, body []byte) {
		sink.Reset()
		q := url.Values{"name": {name}, "from": {"1700000000"}, "until": {"1700000010"}}
		if format != "" {
			q.Set("format", format)
		}
		req := httptest.NewRequest(http.MethodPost, "/ingest?"+q.Encode(), bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		r.handleIngest(w, req)

		switch w.Code {
		case http.StatusOK:
			all := sink.AllProfiles()
			require.Len(t, all, 1)
			require.NoError(t, checkReferences(all[0]))
			_, err := (&pprofile.ProtoMarshaler{}).MarshalProfiles(all[0])
			require.NoError(t, err)
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
			require.Empty(t, sink.AllProfiles())
			require.NotEmpty(t, w.Body.String(), "a refusal says why")
		default:
			t.Fatalf("unexpected status %d: %s", w.Code, w.Body.String())
		}
	})
}

// checkReferences verifies that every index in pd points into its table.
func checkReferences(pd pprofile.Profiles) error {
	d := pd.Dictionary()
	inRange := func(what string, i int32, n int) error {
		if i < 0 || int(i) >= n {
			return fmt.Errorf("%s index %d out of [0, %d)", what, i, n)
		}
		return nil
	}
	strs := d.StringTable().Len()
	attrs := func(idx []int32) error {
		for _, i := range idx {
			if err := inRange("attribute", i, d.AttributeTable().Len()); err != nil {
				return err
			}
		}
		return nil
	}
	for _, a := range d.AttributeTable().All() {
		if err := inRange("attribute key string", a.KeyStrindex(), strs); err != nil {
			return err
		}
	}
	for _, m := range d.MappingTable().All() {
		if err := inRange("mapping filename", m.FilenameStrindex(), strs); err != nil {
			return err
		}
		if err := attrs(m.AttributeIndices().AsRaw()); err != nil {
			return err
		}
	}
	for _, fn := range d.FunctionTable().All() {
		for _, i := range []int32{fn.NameStrindex(), fn.SystemNameStrindex(), fn.FilenameStrindex()} {
			if err := inRange("function string", i, strs); err != nil {
				return err
			}
		}
	}
	for _, l := range d.LocationTable().All() {
		if err := inRange("location mapping", l.MappingIndex(), d.MappingTable().Len()); err != nil {
			return err
		}
		for _, line := range l.Lines().All() {
			if err := inRange("line function", line.FunctionIndex(), d.FunctionTable().Len()); err != nil {
				return err
			}
		}
	}
	for _, s := range d.StackTable().All() {
		for _, i := range s.LocationIndices().All() {
			if err := inRange("stack location", i, d.LocationTable().Len()); err != nil {
				return err
			}
		}
	}
	for _, rp := range pd.ResourceProfiles().All() {
		for _, sp := range rp.ScopeProfiles().All() {
			for _, p := range sp.Profiles().All() {
				if err := attrs(p.AttributeIndices().AsRaw()); err != nil {
					return err
				}
				for _, i := range []int32{p.SampleType().TypeStrindex(), p.SampleType().UnitStrindex()} {
					if err := inRange("sample type string", i, strs); err != nil {
						return err
					}
				}
				for _, s := range p.Samples().All() {
					if err := inRange("sample stack", s.StackIndex(), d.StackTable().Len()); err != nil {
						return err
					}
					if err := attrs(s.AttributeIndices().AsRaw()); err != nil {
						return err
					}
					if s.Values().Len() != 1 {
						return fmt.Errorf("sample has %d values, want 1", s.Values().Len())
					}
				}
			}
		}
	}
	return nil
}
