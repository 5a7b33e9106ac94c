// Package loadgen sends HTTP requests at a constant arrival rate (open loop) and measures
// latency from each request's intended send time, so a stalled server shows up in the
// latency quantiles instead of silently slowing the load (no coordinated omission).
//
// Requests are scheduled at fixed intervals whatever the responses do. At most MaxInFlight
// are outstanding; a request whose turn comes while that many are still waiting is not sent
// and is counted as dropped, so an overloaded server cannot slow the schedule down either.
package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Config describes one load run. Start from DefaultConfig and set URL.
type Config struct {
	// URL is the absolute http(s) URL every request goes to.
	URL string
	// Rate is the arrival rate in requests per second.
	Rate float64
	// Duration is how long requests are scheduled for; the run then waits for the requests
	// still in flight (at most Timeout).
	Duration time.Duration
	// MaxInFlight bounds the requests outstanding at once; a request due while the bound
	// is reached is dropped.
	MaxInFlight int
	// Method is the HTTP method.
	Method string
	// Body is sent with every request; nil sends none.
	Body []byte
	// Header is added to every request.
	Header http.Header
	// Timeout bounds each request, from its intended send time.
	Timeout time.Duration
	// ProgressInterval is how often Run reports a Snapshot to its progress callback.
	ProgressInterval time.Duration
	// Client sends the requests. nil: a keep-alive client with MaxInFlight idle
	// connections, closed when Run returns.
	Client *http.Client
}

// DefaultConfig is 100 GET requests per second for 10 s, at most 1000 in flight, each
// allowed 10 s, with progress every second. URL is left for the caller.
func DefaultConfig() Config {
	return Config{
		Rate:             100,
		Duration:         10 * time.Second,
		MaxInFlight:      1000,
		Method:           http.MethodGet,
		Timeout:          10 * time.Second,
		ProgressInterval: time.Second,
	}
}

// maxRate is far beyond what one scheduler goroutine can keep to; asking for more is a
// mistake, not a wish.
const maxRate = 1e6

// Validate reports the first invalid field, by name.
func (c Config) Validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		return errors.New("loadgen: URL is empty: want an absolute http(s) URL")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("loadgen: URL %q: want an absolute http(s) URL such as http://127.0.0.1:8081/work", c.URL)
	case !(c.Rate > 0) || c.Rate > maxRate || math.IsInf(c.Rate, 0):
		return fmt.Errorf("loadgen: Rate %v: want requests per second in (0, %g]", c.Rate, float64(maxRate))
	case c.Duration <= 0:
		return fmt.Errorf("loadgen: Duration %v: want a positive duration", c.Duration)
	case c.MaxInFlight < 1:
		return fmt.Errorf("loadgen: MaxInFlight %d: want at least 1", c.MaxInFlight)
	case c.Method == "" || strings.ContainsAny(c.Method, " \t\r\n"):
		return fmt.Errorf("loadgen: Method %q: want an HTTP method such as GET", c.Method)
	case c.Timeout <= 0:
		return fmt.Errorf("loadgen: Timeout %v: want a positive duration", c.Timeout)
	case c.ProgressInterval < 0:
		return fmt.Errorf("loadgen: ProgressInterval %v: want a positive duration, or 0 for no progress reports", c.ProgressInterval)
	}
	return nil
}

// Result is what a run measured.
type Result struct {
	// Requests is the number of requests sent and finished (with a response or an error).
	Requests uint64
	// Errors counts the requests among Requests that failed: no response (connection
	// error, timeout) or a status of 400 or more.
	Errors uint64
	// Dropped counts the requests never sent because MaxInFlight were outstanding.
	Dropped uint64
	// StatusCodes counts the responses by HTTP status.
	StatusCodes map[int]uint64
	// Duration is the time from the first intended send to the end of the last request.
	Duration time.Duration
	// Latency holds each finished request's time from its intended send time to the end
	// of its response body or its error. A late scheduler counts against the latency too.
	Latency Histogram
	// MaxSendDelay is the largest delay between a request's intended and actual send
	// time; more than a few milliseconds means the load generator itself was starved.
	MaxSendDelay time.Duration
}

// Rate is the achieved rate of finished requests per second.
func (r Result) Rate() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Duration.Seconds()
}

// Snapshot is the progress of a run, reported every Config.ProgressInterval.
type Snapshot struct {
	Elapsed  time.Duration
	Sent     uint64 // requests sent so far
	Requests uint64 // requests finished so far
	Errors   uint64
	Dropped  uint64
	InFlight int
	// P99 is the 99th percentile latency of the requests finished since the last snapshot.
	P99 time.Duration
}

// recorder collects results from the request goroutines.
type recorder struct {
	mu       sync.Mutex
	res      Result
	interval Histogram // since the last snapshot
	sent     uint64
	inFlight int
	lastEnd  time.Time
}

func (r *recorder) done(latency time.Duration, code int, failed bool, end time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inFlight--
	r.res.Requests++
	if failed {
		r.res.Errors++
	}
	if code != 0 {
		r.res.StatusCodes[code]++
	}
	r.res.Latency.Record(latency)
	r.interval.Record(latency)
	if end.After(r.lastEnd) {
		r.lastEnd = end
	}
}

func (r *recorder) snapshot(elapsed time.Duration) Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Snapshot{
		Elapsed:  elapsed,
		Sent:     r.sent,
		Requests: r.res.Requests,
		Errors:   r.res.Errors,
		Dropped:  r.res.Dropped,
		InFlight: r.inFlight,
		P99:      r.interval.Quantile(0.99),
	}
	r.interval = Histogram{counts: r.interval.counts}
	clear(r.interval.counts)
	return s
}

// Run sends requests as cfg describes until cfg.Duration has passed and the requests in
// flight have finished, or until ctx is done. progress, if not nil, is called every
// cfg.ProgressInterval from a goroutine of its own, never concurrently with itself. When ctx
// ends the run early, Run cancels the requests in flight and returns what it measured so far
// together with ctx's error.
func Run(ctx context.Context, cfg Config, progress func(Snapshot)) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	client := cfg.Client
	if client == nil {
		tr := &http.Transport{
			Proxy:               nil, // load goes where it is told, never through a proxy
			MaxIdleConns:        cfg.MaxInFlight,
			MaxIdleConnsPerHost: cfg.MaxInFlight,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		}
		defer tr.CloseIdleConnections()
		client = &http.Client{Transport: tr}
	}

	reqCtx, cancelRequests := context.WithCancel(ctx)
	defer cancelRequests()
	rec := &recorder{res: Result{StatusCodes: map[int]uint64{}}}
	slots := make(chan struct{}, cfg.MaxInFlight)
	var wg sync.WaitGroup

	send := func(intended time.Time) {
		defer wg.Done()
		defer func() { <-slots }()
		code, err := do(reqCtx, client, cfg, intended)
		end := time.Now()
		rec.done(end.Sub(intended), code, err != nil || code >= 400, end)
	}

	start := time.Now()
	stopProgress := startProgress(cfg.ProgressInterval, progress, rec, start)
	defer stopProgress()

	interval := float64(time.Second) / cfg.Rate
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var runErr error
schedule:
	for i := 0; ; i++ {
		// Offsets come from the index, not from adding intervals, so rounding never
		// accumulates into a rate error.
		offset := time.Duration(float64(i) * interval)
		if offset >= cfg.Duration {
			break
		}
		intended := start.Add(offset)
		if wait := time.Until(intended); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				runErr = ctx.Err()
				break schedule
			}
		} else if err := ctx.Err(); err != nil {
			runErr = err // behind schedule, so the select above never saw ctx end
			break
		}
		select {
		case slots <- struct{}{}:
		default:
			rec.mu.Lock()
			rec.res.Dropped++
			rec.mu.Unlock()
			continue
		}
		rec.mu.Lock()
		rec.sent++
		rec.inFlight++
		rec.res.MaxSendDelay = max(rec.res.MaxSendDelay, time.Since(intended))
		rec.mu.Unlock()
		wg.Add(1)
		go send(intended)
	}

	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-ctx.Done():
		if runErr == nil {
			runErr = ctx.Err()
		}
	}
	// Requests still in flight when ctx ends are cancelled rather than waited for.
	cancelRequests()
	<-finished
	stopProgress()

	rec.mu.Lock()
	defer rec.mu.Unlock()
	res := rec.res
	res.Duration = time.Since(start)
	if !rec.lastEnd.IsZero() {
		res.Duration = rec.lastEnd.Sub(start)
	}
	return res, runErr
}

// do sends one request and reads its response to the end, so the connection is reused.
func do(ctx context.Context, client *http.Client, cfg Config, intended time.Time) (int, error) {
	ctx, cancel := context.WithDeadline(ctx, intended.Add(cfg.Timeout))
	defer cancel()
	var body io.Reader
	if cfg.Body != nil {
		body = bytes.NewReader(cfg.Body)
	}
	req, err := http.NewRequestWithContext(ctx, cfg.Method, cfg.URL, body)
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	for k, vs := range cfg.Header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return resp.StatusCode, fmt.Errorf("read response body: %w", err)
	}
	return resp.StatusCode, nil
}

// startProgress calls progress every interval from its own goroutine, so a slow callback
// never delays the schedule. The returned stop waits for the goroutine to end and may be
// called more than once.
func startProgress(interval time.Duration, progress func(Snapshot), rec *recorder, start time.Time) (stop func()) {
	if progress == nil || interval <= 0 {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				progress(rec.snapshot(time.Since(start)))
			case <-quit:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-done
	}
}
