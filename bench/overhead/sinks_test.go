package overhead

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// TestSinks sends to the sinks with the real OTLP gRPC exporters the agent uses, and
// uploads to the profile sink as the Pyroscope client does.
func TestSinks(t *testing.T) {
	ctx := context.Background()
	s, err := startSinks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.close(); err != nil {
			t.Errorf("close sinks: %v", err)
		}
	}()

	texp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(s.otlpEndpoint), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(texp))
	for range 3 {
		_, span := tp.Tracer("test").Start(ctx, "op")
		span.End()
	}
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	mexp, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(s.otlpEndpoint), otlpmetricgrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(mexp)))
	c, _ := mp.Meter("test").Int64Counter("requests")
	c.Add(ctx, 1)
	if err := mp.Shutdown(ctx); err != nil { // exports what was collected
		t.Fatal(err)
	}

	resp, err := http.Post(s.profileEndpoint+"/ingest?name=demoapp&from=1&until=2", "application/octet-stream", strings.NewReader("pprof bytes"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST /ingest = %d, want 200", resp.StatusCode)
	}
	if resp, err := http.Get(s.profileEndpoint + "/ingest"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET /ingest = %d, want 405", resp.StatusCode)
		}
	}

	got := s.counts()
	want := sinkCounts{Spans: 3, MetricPoints: 1, ProfileUploads: 1, ProfileBytes: uint64(len("pprof bytes"))}
	if got != want {
		t.Errorf("sinks counted %+v, want %+v", got, want)
	}
}
