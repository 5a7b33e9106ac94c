package loadgen_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/mcplane/mcp/internal/loadgen"
)

func ExampleRun() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
	}))
	defer srv.Close()

	cfg := loadgen.DefaultConfig()
	cfg.URL = srv.URL
	cfg.Rate = 50                         // requests per second, whatever the server does
	cfg.Duration = 200 * time.Millisecond // 10 requests
	res, err := loadgen.Run(context.Background(), cfg, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("requests %d, errors %d, dropped %d\n", res.Requests, res.Errors, res.Dropped)
	fmt.Println("p99 at least 2ms:", res.Latency.Quantile(0.99) >= 2*time.Millisecond)
	// Output:
	// requests 10, errors 0, dropped 0
	// p99 at least 2ms: true
}

func ExampleHistogram() {
	var h loadgen.Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	// Quantiles are within 0.2% of the exact values (here 500ms and 990ms), whatever the
	// count; Min and Max are exact.
	fmt.Println(h.Count(), h.Min(), h.Max())
	fmt.Println(h.Quantile(0.5).Round(10*time.Millisecond), h.Quantile(0.99).Round(10*time.Millisecond))
	// Output:
	// 1000 1ms 1s
	// 500ms 990ms
}
