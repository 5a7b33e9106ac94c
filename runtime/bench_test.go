package runtime

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkMiddleware measures what the agent's middleware adds to a request, against the
// bare handler, both with OTLP export configured (to an address that never answers: the
// exporters only queue).
//
//	go test -run '^$' -bench Middleware -benchmem ./runtime
func BenchmarkMiddleware(b *testing.B) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	req := httptest.NewRequest("GET", "/work", nil)
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			handler.ServeHTTP(discardWriter{}, req)
		}
	})
	b.Run("agent", func(b *testing.B) {
		keep := debugKnobs()
		defer keep()
		a, err := Start(context.Background(), withEnv(envMap(nil)), withStdout(io.Discard),
			WithOTLPEndpoint("127.0.0.1:9"), WithLimitProvider(FixedLimits(ContainerLimits{})))
		if err != nil {
			b.Fatal(err)
		}
		defer a.Stop()
		h := a.Middleware(handler)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			h.ServeHTTP(discardWriter{}, req)
		}
	})
}

type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}
