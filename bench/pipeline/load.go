package pipeline

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// counts are a loader's totals so far; a run's figures are the difference of two snapshots.
type counts struct {
	Items    uint64 // data points or profile uploads the collector acknowledged
	Requests uint64 // requests answered 200
	Refused  uint64 // requests answered otherwise (the memory limiter's 503, say)
	Errors   uint64 // requests that got no answer
}

func (c counts) sub(o counts) counts {
	return counts{Items: c.Items - o.Items, Requests: c.Requests - o.Requests, Refused: c.Refused - o.Refused, Errors: c.Errors - o.Errors}
}

// loader sends requests as fast as the collector answers them, from senders goroutines, each
// with one request in flight over its own kept-alive connection.
type loader struct {
	items, requests, refused, errors atomic.Uint64
	wg                               sync.WaitGroup
	cancel                           context.CancelFunc
	// lastStatus is the status and body of the latest refused request, for the report.
	mu         sync.Mutex
	lastRefuse string
}

// request builds one request body: its URL, content type, body and the items it carries.
type requestFunc func() (url, contentType string, body []byte, items int, err error)

// startLoader starts senders goroutines, each calling newRequest once for its own builder.
func startLoader(ctx context.Context, senders int, newRequest func() requestFunc) *loader {
	ctx, cancel := context.WithCancel(ctx)
	l := &loader{cancel: cancel}
	transport := &http.Transport{MaxIdleConnsPerHost: senders, MaxConnsPerHost: senders, DisableCompression: true}
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	for range senders {
		next := newRequest()
		l.wg.Go(func() {
			for ctx.Err() == nil {
				url, ct, body, items, err := next()
				if err != nil {
					l.errors.Add(1)
					continue
				}
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
				if err != nil {
					l.errors.Add(1)
					continue
				}
				req.Header.Set("Content-Type", ct)
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						l.errors.Add(1)
						time.Sleep(10 * time.Millisecond)
					}
					continue
				}
				msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					l.refused.Add(1)
					l.mu.Lock()
					l.lastRefuse = resp.Status + " " + string(msg)
					l.mu.Unlock()
					// A refusing collector is asked to back off, as SDKs do.
					time.Sleep(10 * time.Millisecond)
					continue
				}
				l.items.Add(uint64(items))
				l.requests.Add(1)
			}
		})
	}
	go func() { <-ctx.Done(); transport.CloseIdleConnections() }()
	return l
}

func (l *loader) snapshot() counts {
	return counts{Items: l.items.Load(), Requests: l.requests.Load(), Refused: l.refused.Load(), Errors: l.errors.Load()}
}

// stop stops sending and waits for the requests in flight.
func (l *loader) stop() {
	l.cancel()
	l.wg.Wait()
}

func (l *loader) refusal() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastRefuse
}
