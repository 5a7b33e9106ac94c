package scale

import (
	"context"
	"sync"
	"time"
)

// arrivals records when each simulated receiver got each pushed value (a decision id on
// the MCP side, a put value on the etcd side). Thousands of receivers report at once, from
// their own goroutines, right before they answer the server; the records are sharded so
// that reporting does not serialize them on one lock and delay their acknowledgements.
type arrivals struct {
	shards [64]arrivalShard
}

type arrivalShard struct {
	mu    sync.Mutex
	times map[string][]time.Time
}

func newArrivals() *arrivals {
	a := &arrivals{}
	for i := range a.shards {
		a.shards[i].times = map[string][]time.Time{}
	}
	return a
}

// arrived records receiver number r getting key at t. Each receiver reports a key at
// most once.
func (a *arrivals) arrived(r int, key string, t time.Time) {
	s := &a.shards[r%len(a.shards)]
	s.mu.Lock()
	s.times[key] = append(s.times[key], t)
	s.mu.Unlock()
}

func (a *arrivals) count(key string) int {
	n := 0
	for i := range a.shards {
		s := &a.shards[i]
		s.mu.Lock()
		n += len(s.times[key])
		s.mu.Unlock()
	}
	return n
}

// wait blocks until n receivers got key, timeout passes or ctx ends, and returns the
// arrival times seen by then.
func (a *arrivals) wait(ctx context.Context, key string, n int, timeout time.Duration) []time.Time {
	deadline := time.Now().Add(timeout)
	// Polling is enough: the arrival times are recorded by the receivers, so how soon the
	// wait notices the last one does not change any figure.
	for a.count(key) < n && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	var out []time.Time
	for i := range a.shards {
		s := &a.shards[i]
		s.mu.Lock()
		out = append(out, s.times[key]...)
		s.mu.Unlock()
	}
	return out
}
