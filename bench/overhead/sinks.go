package overhead

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"

	"github.com/mcplane/mcp/bench/internal/nopcol"
)

// sinkCounts is what one demoapp's sinks received.
type sinkCounts struct {
	Spans          uint64 `json:"spans"`
	MetricPoints   uint64 `json:"metric_points"`
	LogRecords     uint64 `json:"log_records"`
	ProfileUploads uint64 `json:"profile_uploads"`
	ProfileBytes   uint64 `json:"profile_bytes"`
}

// sinks receive everything the agent sends, so that exporting costs demoapp what it costs
// in production: a real OTLP gRPC receiver (the collector's own otlpreceiver) counting and
// dropping what arrives, and a Pyroscope-protocol ingest endpoint that reads and drops
// uploads.
type sinks struct {
	otlpEndpoint    string // host:port
	profileEndpoint string // http://host:port
	receivers       []component.Component
	profiles        *http.Server
	spans           atomic.Uint64
	points          atomic.Uint64
	logs            atomic.Uint64
	profileSink     profileSink
}

// startSinks starts the OTLP receiver and the profile sink on loopback ports.
func startSinks(ctx context.Context) (*sinks, error) {
	s := &sinks{}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s.otlpEndpoint = net.JoinHostPort("127.0.0.1", port)
	if err := s.startOTLP(ctx); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.close()
		return nil, fmt.Errorf("listen for the profile sink: %w", err)
	}
	s.profileEndpoint = "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.Handle("POST /ingest", &s.profileSink)
	s.profiles = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.profiles.Serve(ln) }()
	return s, nil
}

func (s *sinks) startOTLP(ctx context.Context) error {
	f := otlpreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*otlpreceiver.Config)
	grpc := cfg.Protocols.GRPC.GetOrInsertDefault()
	grpc.NetAddr.Endpoint = s.otlpEndpoint
	cfg.Protocols.HTTP = configoptional.None[otlpreceiver.HTTPConfig]()

	traces, _ := consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error {
		s.spans.Add(uint64(td.SpanCount()))
		return nil
	})
	metrics, _ := consumer.NewMetrics(func(_ context.Context, md pmetric.Metrics) error {
		s.points.Add(uint64(md.DataPointCount()))
		return nil
	})
	logs, _ := consumer.NewLogs(func(_ context.Context, ld plog.Logs) error {
		s.logs.Add(uint64(ld.LogRecordCount()))
		return nil
	})
	set := nopcol.ReceiverSettings(f.Type())
	// The factory shares one receiver, and one gRPC server, between the three signals
	// of a config; each Start after the first is a no-op.
	tr, err := f.CreateTraces(ctx, set, cfg, traces)
	if err != nil {
		return fmt.Errorf("create OTLP traces receiver: %w", err)
	}
	mr, err := f.CreateMetrics(ctx, set, cfg, metrics)
	if err != nil {
		return fmt.Errorf("create OTLP metrics receiver: %w", err)
	}
	lr, err := f.CreateLogs(ctx, set, cfg, logs)
	if err != nil {
		return fmt.Errorf("create OTLP logs receiver: %w", err)
	}
	for _, r := range []component.Component{tr, mr, lr} {
		if err := r.Start(ctx, nopcol.Host{}); err != nil {
			return fmt.Errorf("start OTLP receiver on %s: %w", s.otlpEndpoint, err)
		}
		s.receivers = append(s.receivers, r)
	}
	return nil
}

func (s *sinks) counts() sinkCounts {
	return sinkCounts{
		Spans:          s.spans.Load(),
		MetricPoints:   s.points.Load(),
		LogRecords:     s.logs.Load(),
		ProfileUploads: s.profileSink.uploads.Load(),
		ProfileBytes:   s.profileSink.bytes.Load(),
	}
}

func (s *sinks) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, r := range s.receivers {
		errs = append(errs, r.Shutdown(ctx))
	}
	if s.profiles != nil {
		errs = append(errs, s.profiles.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// profileSink is a Pyroscope-protocol ingest endpoint that reads each upload to the end
// and drops it. It is a sink, not a profile store.
type profileSink struct {
	uploads atomic.Uint64
	bytes   atomic.Uint64
}

func (p *profileSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, r.Body)
	p.bytes.Add(uint64(n))
	if err != nil {
		http.Error(w, "read upload: "+err.Error(), http.StatusBadRequest)
		return
	}
	p.uploads.Add(1)
	w.WriteHeader(http.StatusOK)
}

// freePort asks the kernel for an unused loopback port. Another process could take it
// before it is used; on this benchmark's quiet loopback that does not happen in practice.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	return port, nil
}
