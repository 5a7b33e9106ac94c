package pipeline

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"regexp"
	goruntime "runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/pprofile/pprofileotlp"

	"github.com/mcplane/mcp/bench/internal/nopcol"
	"github.com/mcplane/mcp/collector/pyroscopereceiver"
)

// upload is one Pyroscope upload exactly as pyroscope-go's remote upstream sends it
// (upstream/remote.uploadProfile in v1.5.0): query name, from, until (Unix ns), spyName,
// sampleRate, units, aggregationType; a multipart body with the gzipped pprof profile in the
// field "profile" and, for the heap, the sample types in "sample_type_config".
type upload struct {
	kind        string // "cpu" or "heap"
	scope       string // pyroscope-go's otel.scope.name label for this kind
	units       string
	aggregation string
	body        []byte
	contentType string
}

// pyroscope-go v1.5.0's sample type configuration of heap uploads (sampleTypeConfigHeap).
var heapSampleTypes = map[string]map[string]string{
	"alloc_objects": {"units": "objects"},
	"alloc_space":   {"units": "bytes"},
	"inuse_space":   {"units": "bytes", "aggregation": "average"},
	"inuse_objects": {"units": "objects", "aggregation": "average"},
}

func newUpload(kind string, profile []byte) (upload, error) {
	u := upload{kind: kind}
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	fw, err := w.CreateFormFile("profile", "profile.pprof")
	if err != nil {
		return u, err
	}
	_, _ = fw.Write(profile)
	switch kind {
	case "cpu":
		u.scope, u.units, u.aggregation = "pyroscope-go", "samples", "sum"
	case "heap":
		u.scope = "godeltaprof"
		fw, err := w.CreateFormFile("sample_type_config", "sample_type_config.json")
		if err != nil {
			return u, err
		}
		b, _ := json.Marshal(heapSampleTypes)
		_, _ = fw.Write(b)
	}
	if err := w.Close(); err != nil {
		return u, err
	}
	u.body, u.contentType = body.Bytes(), w.FormDataContentType()
	return u, nil
}

// query is the upload's query string for one instance, covering the 15 s before now
// (pyroscope-go's default upload rate).
func (u upload) query(service, instance, session string, now time.Time) string {
	name := fmt.Sprintf("%s{__session_id__=%s,instance=%s,namespace=bench,otel.scope.name=%s,otel.scope.version=v1.5.0,process.runtime.name=go,process.runtime.version=%s}",
		service, session, instance, u.scope, goruntime.Version())
	q := url.Values{}
	q.Set("name", name)
	q.Set("from", strconv.FormatInt(now.Add(-15*time.Second).UnixNano(), 10))
	q.Set("until", strconv.FormatInt(now.UnixNano(), 10))
	q.Set("spyName", "gospy")
	q.Set("sampleRate", "100")
	q.Set("units", u.units)
	q.Set("aggregationType", u.aggregation)
	return q.Encode()
}

// profilesSource makes the profile requests of a fleet: instances take turns, each sending
// a CPU upload and then a heap upload, as pyroscope-go does every 15 s. The same profiles
// go either as Pyroscope uploads or, converted by the pyroscope receiver beforehand, as OTLP
// profiles, so both pipelines get the same content.
type profilesSource struct {
	uploads   [2]upload
	otlp      [2][][]byte // by kind, then by service: OTLP export requests
	instances int
	services  int
	session   string
	next      atomic.Uint64
	// samples is the number of pprof samples in the CPU and heap profiles.
	samples [2]int
}

// pyroscopeRequest returns the next Pyroscope upload: the query string, content type and
// body. Bodies are shared: callers must not change them.
func (s *profilesSource) pyroscopeRequest() (query, contentType string, body []byte) {
	i := s.next.Add(1) - 1
	u := s.uploads[i%2]
	svc, inst := instanceName(int(i/2)%s.instances, s.services)
	return u.query(svc, inst, s.session, time.Now()), u.contentType, u.body
}

// otlpRequest returns the next OTLP profiles export request.
func (s *profilesSource) otlpRequest() []byte {
	i := s.next.Add(1) - 1
	inst := int(i/2) % s.instances
	return s.otlp[i%2][inst%s.services]
}

// newProfilesSource profiles this process's busy work for d (CPU) and its heap, and
// prepares both encodings.
func newProfilesSource(ctx context.Context, d time.Duration, instances, services int) (*profilesSource, error) {
	cpu, heap, err := captureProfiles(d)
	if err != nil {
		return nil, err
	}
	s := &profilesSource{instances: instances, services: services, session: "bench" + strconv.FormatInt(time.Now().UnixNano()%1e6, 16)}
	for i, p := range []struct {
		kind string
		data []byte
	}{{"cpu", cpu}, {"heap", heap}} {
		if s.uploads[i], err = newUpload(p.kind, p.data); err != nil {
			return nil, err
		}
	}
	if err := s.convert(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// convert turns each upload into OTLP profiles with the real pyroscope receiver, once per
// service.
func (s *profilesSource) convert(ctx context.Context) error {
	f := pyroscopereceiver.NewFactory()
	cfg := f.CreateDefaultConfig()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	if err := setPyroscopeEndpoint(cfg, addr); err != nil {
		return err
	}
	sink := &profilesSink{}
	r, err := f.CreateProfiles(ctx, nopcol.ReceiverSettings(f.Type()), cfg, sink)
	if err != nil {
		return err
	}
	if err := r.Start(ctx, nopcol.Host{}); err != nil {
		return err
	}
	defer r.Shutdown(context.WithoutCancel(ctx))
	for k, u := range s.uploads {
		s.otlp[k] = make([][]byte, s.services)
		for svc := range s.services {
			service, instance := instanceName(svc, s.services)
			sink.got = nil
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/ingest?"+u.query(service, instance, s.session, time.Now()), bytes.NewReader(u.body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", u.contentType)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("convert the %s profile: %w", u.kind, err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("convert the %s profile: the pyroscope receiver answered %d %s", u.kind, resp.StatusCode, msg)
			}
			all := sink.got
			if len(all) != 1 {
				return fmt.Errorf("convert the %s profile: got %d Profiles, want 1", u.kind, len(all))
			}
			if svc == 0 {
				s.samples[k] = samplesOf(all[0])
			}
			if s.otlp[k][svc], err = pprofileotlp.NewExportRequestFromProfiles(all[0]).MarshalProto(); err != nil {
				return err
			}
		}
	}
	return nil
}

// samplesOf counts the samples of the first profile (sample type) of each upload, the
// pprof profile's own sample count.
func samplesOf(pd pprofile.Profiles) int {
	for _, rp := range pd.ResourceProfiles().All() {
		for _, sp := range rp.ScopeProfiles().All() {
			for _, p := range sp.Profiles().All() {
				return p.Samples().Len()
			}
		}
	}
	return 0
}

func setPyroscopeEndpoint(cfg any, addr string) error {
	c, ok := cfg.(*pyroscopereceiver.Config)
	if !ok {
		return fmt.Errorf("pyroscope receiver config is %T", cfg)
	}
	c.NetAddr.Endpoint = addr
	return nil
}

// captureProfiles profiles busy work for d of CPU time: a gzipped pprof CPU profile, as
// runtime/pprof writes it, and the heap profile that follows it. CPU time rather than wall
// time, so that a busy machine does not make a smaller profile (about 100 samples per
// second of CPU).
func captureProfiles(d time.Duration) (cpu, heap []byte, err error) {
	var cpuBuf bytes.Buffer
	if err := pprof.StartCPUProfile(&cpuBuf); err != nil {
		return nil, nil, fmt.Errorf("profile the benchmark's own work (is CPU profiling on already, e.g. go test -cpuprofile?): %w", err)
	}
	until := processCPUSeconds() + d.Seconds()
	for deadline := time.Now().Add(10 * d); processCPUSeconds() < until && time.Now().Before(deadline); {
		busy(time.Now().Add(50 * time.Millisecond))
	}
	pprof.StopCPUProfile()
	var heapBuf bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&heapBuf, 0); err != nil {
		return nil, nil, fmt.Errorf("write heap profile: %w", err)
	}
	if cpuBuf.Len() == 0 || heapBuf.Len() == 0 {
		return nil, nil, errors.New("runtime/pprof wrote an empty profile")
	}
	return cpuBuf.Bytes(), heapBuf.Bytes(), nil
}

// busySink keeps busy's results alive so the compiler cannot drop the work.
var busySink [][]byte

// busy does a service's kind of work until deadline — JSON, hashing, regular expressions,
// sorting, compression, maps — so that its profiles have the breadth of a real one: many
// functions, stacks of realistic depth, runtime GC frames.
func busy(deadline time.Time) {
	type item struct {
		ID    int               `json:"id"`
		Name  string            `json:"name"`
		Tags  []string          `json:"tags"`
		Attrs map[string]string `json:"attrs"`
	}
	re := regexp.MustCompile(`^svc-(\d+)-([a-z]+)$`)
	for i := 0; time.Now().Before(deadline); i++ {
		items := make([]item, 64)
		for j := range items {
			items[j] = item{ID: i*64 + j, Name: fmt.Sprintf("svc-%d-%s", j, strings.Repeat("x", j%7+1)),
				Tags: []string{"a", strconv.Itoa(j)}, Attrs: map[string]string{"k": strconv.Itoa(i), "j": strconv.Itoa(j)}}
		}
		b, _ := json.Marshal(items)
		var back []item
		_ = json.Unmarshal(b, &back)
		slices.SortFunc(back, func(a, b item) int { return strings.Compare(a.Name, b.Name) })
		matched := 0
		for _, it := range back {
			if re.MatchString(it.Name) {
				matched++
			}
		}
		sum := sha256.Sum256(b)
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		_, _ = zw.Write(b)
		_ = zw.Close()
		busySink = append(busySink[:0], sum[:], z.Bytes(), []byte(strconv.Itoa(matched)))
	}
}

// profilesSink keeps what the pyroscope receiver converted; only one upload is in flight.
type profilesSink struct{ got []pprofile.Profiles }

func (s *profilesSink) ConsumeProfiles(_ context.Context, pd pprofile.Profiles) error {
	s.got = append(s.got, pd)
	return nil
}

func (s *profilesSink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }
