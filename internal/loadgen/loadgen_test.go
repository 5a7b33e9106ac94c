package loadgen

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func testConfig(url string, rate float64, d time.Duration) Config {
	cfg := DefaultConfig()
	cfg.URL, cfg.Rate, cfg.Duration = url, rate, d
	return cfg
}

func TestKnownDelay(t *testing.T) {
	const delay = 20 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()

	res, err := Run(context.Background(), testConfig(srv.URL, 100, time.Second), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 100 || res.Errors != 0 || res.Dropped != 0 || res.StatusCodes[200] != 100 {
		t.Fatalf("requests %d, errors %d, dropped %d, codes %v; want 100 OK", res.Requests, res.Errors, res.Dropped, res.StatusCodes)
	}
	if p50 := res.Latency.Quantile(0.5); p50 < delay || p50 > delay+200*time.Millisecond {
		t.Errorf("p50 = %v, want about %v", p50, delay)
	}
	if res.Latency.Min() < delay {
		t.Errorf("min latency %v is below the server's delay %v", res.Latency.Min(), delay)
	}
}

// A server that stops answering for a second must show up in the quantiles: every request
// scheduled during the stall waits for its end, and is measured from when it was due, not
// from when a client blocked by the stall would have got round to sending it.
func TestNoCoordinatedOmission(t *testing.T) {
	var stall sync.RWMutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stall.RLock()
		stall.RUnlock() //nolint:staticcheck // waiting out the stall is the point
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	go func() {
		time.Sleep(500 * time.Millisecond)
		stall.Lock()
		time.Sleep(time.Second)
		stall.Unlock()
	}()

	res, err := Run(context.Background(), testConfig(srv.URL, 100, 2*time.Second), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 200 || res.Dropped != 0 || res.Errors != 0 {
		t.Fatalf("requests %d, errors %d, dropped %d; want 200 OK", res.Requests, res.Errors, res.Dropped)
	}
	// About half the requests were due during the stall, waiting from up to 1 s down to 0.
	if p99 := res.Latency.Quantile(0.99); p99 < 900*time.Millisecond {
		t.Errorf("p99 = %v, want ≥ 900ms: the stall is missing from the latencies", p99)
	}
	if p75 := res.Latency.Quantile(0.75); p75 < 300*time.Millisecond {
		t.Errorf("p75 = %v, want ≥ 300ms: a quarter of the requests were due in the stall's first half", p75)
	}
	if p25 := res.Latency.Quantile(0.25); p25 > 100*time.Millisecond {
		t.Errorf("p25 = %v, want well under 100ms: requests outside the stall are fast", p25)
	}
}

func TestRateAccuracy(t *testing.T) {
	var mu sync.Mutex
	var arrivals []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
	}))
	defer srv.Close()

	const rate = 250.0
	res, err := Run(context.Background(), testConfig(srv.URL, rate, 2*time.Second), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 500 {
		t.Fatalf("requests = %d, want exactly rate × duration = 500", res.Requests)
	}
	if raceEnabled {
		t.Log("race detector on: skipping the arrival rate check")
		return
	}
	mu.Lock()
	defer mu.Unlock()
	span := arrivals[len(arrivals)-1].Sub(arrivals[0]).Seconds()
	// Loose enough for a busy machine, tight enough to catch a wrong schedule.
	if got := float64(len(arrivals)-1) / span; math.Abs(got-rate)/rate > 0.2 {
		t.Errorf("arrival rate at the server = %.1f/s, want %.0f/s ± 20%%", got, rate)
	}
}

func TestOverflowIsDroppedNotDelayed(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	cfg := testConfig(srv.URL, 100, 300*time.Millisecond)
	cfg.MaxInFlight = 5
	cfg.Timeout = time.Second
	start := time.Now()
	res, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 5 || res.Errors != 5 || res.Dropped != 25 {
		t.Errorf("requests %d, errors %d, dropped %d; want 5 timed out and 25 dropped", res.Requests, res.Errors, res.Dropped)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("run took %v; the timeout is 1s", elapsed)
	}
	if res.Latency.Min() < time.Second {
		t.Errorf("timed-out requests recorded %v, want their full wait of at least the 1s timeout", res.Latency.Min())
	}
}

func TestErrorStatusesCount(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("X-Test") != "yes" {
			http.Error(w, "want POST with X-Test", http.StatusBadRequest)
			return
		}
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer srv.Close()
	cfg := testConfig(srv.URL, 100, 100*time.Millisecond)
	cfg.Method, cfg.Body, cfg.Header = http.MethodPost, []byte(`{}`), http.Header{"X-Test": {"yes"}}
	res, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 10 || res.Errors != 10 || res.StatusCodes[500] != 10 {
		t.Errorf("requests %d, errors %d, codes %v; want 10 answered 500", res.Requests, res.Errors, res.StatusCodes)
	}
}

func TestContextCancel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // answers nothing until the client gives up
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var mu sync.Mutex
	var snaps []Snapshot
	cfg := testConfig(srv.URL, 100, 10*time.Second)
	cfg.ProgressInterval = 100 * time.Millisecond
	start := time.Now()
	res, err := Run(ctx, cfg, func(s Snapshot) {
		mu.Lock()
		snaps = append(snaps, s)
		mu.Unlock()
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's error", err)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("Run returned %v after its context ended; want promptly", elapsed)
	}
	if res.Requests == 0 || res.Requests >= 1000 || res.Errors != res.Requests {
		t.Errorf("requests %d, errors %d: want the partial run, all cancelled", res.Requests, res.Errors)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(snaps) == 0 || snaps[0].InFlight == 0 || snaps[0].Sent == 0 {
		t.Errorf("snapshots %+v: want progress showing requests in flight", snaps)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		field string
		edit  func(*Config)
	}{
		{"URL", func(c *Config) { c.URL = "" }},
		{"URL", func(c *Config) { c.URL = "127.0.0.1:8081/work" }},
		{"Rate", func(c *Config) { c.Rate = 0 }},
		{"Rate", func(c *Config) { c.Rate = math.NaN() }},
		{"Duration", func(c *Config) { c.Duration = 0 }},
		{"MaxInFlight", func(c *Config) { c.MaxInFlight = 0 }},
		{"Method", func(c *Config) { c.Method = "" }},
		{"Timeout", func(c *Config) { c.Timeout = -time.Second }},
		{"ProgressInterval", func(c *Config) { c.ProgressInterval = -1 }},
	} {
		cfg := testConfig("http://127.0.0.1:1/work", 10, time.Second)
		tc.edit(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: Validate() = %v, want an error naming %s", tc.field, err, tc.field)
		}
		if _, runErr := Run(context.Background(), cfg, nil); runErr == nil {
			t.Errorf("%s: Run accepted an invalid config", tc.field)
		}
	}
	if err := testConfig("http://127.0.0.1:1/work", 10, time.Second).Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}
