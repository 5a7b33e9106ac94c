package signals

import (
	"errors"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"
)

// Config bounds a Store's memory: at most MaxInstances × MaxSamples samples (about 250
// bytes each) plus one observation per instance, and the profile summaries' own bound.
type Config struct {
	// MaxInstances is how many instances are tracked; the least recently heard of is
	// evicted to make room.
	MaxInstances int `mapstructure:"max_instances" yaml:"max_instances"`
	// MaxSamples is how many samples each instance keeps (at the agents' default 10 s
	// export interval, 90 samples are 15 minutes).
	MaxSamples int `mapstructure:"max_samples" yaml:"max_samples"`
	// InstanceTTL drops instances not heard of for this long.
	InstanceTTL time.Duration `mapstructure:"instance_ttl" yaml:"instance_ttl"`
	// Profiles bounds the per-service profile summaries.
	Profiles ProfileConfig `mapstructure:"profiles" yaml:"profiles"`
}

// DefaultConfig: 10,000 instances × 90 samples (about 225 MB at the very worst), gone
// after 10 minutes of silence.
func DefaultConfig() Config {
	return Config{MaxInstances: 10000, MaxSamples: 90, InstanceTTL: 10 * time.Minute, Profiles: DefaultProfileConfig()}
}

// Validate checks the bounds; errors name the key.
func (c Config) Validate() error {
	var errs []error
	if c.MaxInstances < 1 {
		errs = append(errs, fmt.Errorf("max_instances: %d, want at least 1", c.MaxInstances))
	}
	if c.MaxSamples < 2 {
		errs = append(errs, fmt.Errorf("max_samples: %d, want at least 2", c.MaxSamples))
	}
	if c.InstanceTTL <= 0 {
		errs = append(errs, fmt.Errorf("instance_ttl: %v, want a positive duration", c.InstanceTTL))
	}
	errs = append(errs, c.Profiles.Validate())
	return errors.Join(errs...)
}

// Store holds the signal windows of every instance. It is safe for concurrent use.
type Store struct {
	cfg      Config
	mu       sync.Mutex
	series   map[Key]*series
	profiles *Profiles
	stats    Stats
}

// Stats count what a Store took in and dropped.
type Stats struct {
	Observations uint64 `json:"observations"`
	Spans        uint64 `json:"spans"`
	Evicted      uint64 `json:"evicted"`
	Resets       uint64 `json:"resets"`
	// Points counts metric data points, spans and profile samples taken in, by signal.
	Points map[string]uint64 `json:"points"`
	// Dropped counts what was not used, by reason.
	Dropped map[string]uint64 `json:"dropped"`
}

type series struct {
	last    Observation
	hasLast bool
	seen    time.Time
	ring    []Sample
	next    int
	full    bool
	spans   Histogram // cumulative histogram of server spans
}

// NewStore creates an empty store.
func NewStore(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Store{cfg: cfg, series: map[Key]*series{}, profiles: newProfiles(cfg.Profiles),
		stats: Stats{Points: map[string]uint64{}, Dropped: map[string]uint64{}}}, nil
}

// Profiles is the store's per-service profile summaries.
func (s *Store) Profiles() *Profiles { return s.profiles }

// SpanBounds are the bucket bounds (seconds) of the histogram built from server spans.
var SpanBounds = []float64{0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// ObserveSpan counts one server span of an instance; the next Observe of that instance
// carries the spans' histogram.
func (s *Store) ObserveSpan(k Key, start time.Time, seconds float64, isError bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sr := s.seriesLocked(k, start)
	if sr == nil {
		return
	}
	h := &sr.spans
	if h.Counts == nil {
		h.Bounds, h.Counts, h.Start = SpanBounds, make([]float64, len(SpanBounds)+1), start
	}
	i := sort.SearchFloat64s(h.Bounds, seconds)
	h.Counts[i]++
	h.Count++
	if isError {
		h.Errors++
	}
	s.stats.Spans++
}

// seriesLocked finds or makes room for an instance's series; nil if the store is full of
// instances heard of more recently. Only called with mu held.
func (s *Store) seriesLocked(k Key, now time.Time) *series {
	if sr, ok := s.series[k]; ok {
		return sr
	}
	if len(s.series) >= s.cfg.MaxInstances {
		var oldest Key
		var oldestSeen time.Time
		for key, sr := range s.series {
			if oldestSeen.IsZero() || sr.seen.Before(oldestSeen) {
				oldest, oldestSeen = key, sr.seen
			}
		}
		delete(s.series, oldest)
		s.stats.Evicted++
	}
	sr := &series{ring: make([]Sample, s.cfg.MaxSamples), seen: now}
	s.series[k] = sr
	return sr
}

// Observe records one export of an instance and, when there was an earlier one, the
// Sample between them. It returns the sample and whether one was made.
func (s *Store) Observe(k Key, o Observation) (Sample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Observations++
	sr := s.seriesLocked(k, o.Time)
	if sr.spans.Counts != nil {
		if o.Histograms == nil {
			o.Histograms = map[string]Histogram{}
		}
		h := sr.spans
		h.Counts = append([]float64(nil), h.Counts...)
		o.Histograms[HistogramSpans] = h
	}
	sr.seen = o.Time
	prev, had := sr.last, sr.hasLast
	if had && !o.Time.After(prev.Time) {
		return Sample{}, false // out of order or duplicate
	}
	sr.last, sr.hasLast = o, true
	if !had {
		return Sample{}, false
	}
	if restarted(prev, o) {
		s.stats.Resets++
		return Sample{}, false
	}
	smp := compute(prev, o)
	sr.ring[sr.next] = smp
	sr.next = (sr.next + 1) % len(sr.ring)
	if sr.next == 0 {
		sr.full = true
	}
	return smp, true
}

// restarted reports whether the process behind the instance restarted between two
// observations (its cumulative counters started again).
func restarted(prev, cur Observation) bool {
	p, ok1 := prev.Counters[CounterCPUTotal]
	c, ok2 := cur.Counters[CounterCPUTotal]
	return ok1 && ok2 && (!p.Start.Equal(c.Start) || c.Value < p.Value)
}

// Window returns an instance's samples since t, oldest first.
func (s *Store) Window(k Key, since time.Time) []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	sr, ok := s.series[k]
	if !ok {
		return nil
	}
	return sr.samplesSince(since)
}

func (sr *series) samplesSince(since time.Time) []Sample {
	var out []Sample
	n := sr.next
	if sr.full {
		n = len(sr.ring)
	}
	start := 0
	if sr.full {
		start = sr.next
	}
	for i := range n {
		smp := sr.ring[(start+i)%len(sr.ring)]
		if !smp.Time.Before(since) {
			out = append(out, smp)
		}
	}
	return out
}

// Latest returns an instance's newest sample.
func (s *Store) Latest(k Key) (Sample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sr, ok := s.series[k]
	if !ok || (sr.next == 0 && !sr.full) {
		return Sample{}, false
	}
	return sr.ring[(sr.next-1+len(sr.ring))%len(sr.ring)], true
}

// Instances lists the instances with data, of one service if given, sorted.
func (s *Store) Instances(service string) []Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Key
	for k := range s.series {
		if service == "" || k.Service == service {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Instance < out[j].Instance
	})
	return out
}

// FindInstance returns the key of an instance id, whatever its service.
func (s *Store) FindInstance(id string) (Key, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.series {
		if k.Instance == id {
			return k, true
		}
	}
	return Key{}, false
}

// Expire drops instances not heard of for the TTL.
func (s *Store) Expire(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, sr := range s.series {
		if now.Sub(sr.seen) > s.cfg.InstanceTTL {
			delete(s.series, k)
			n++
		}
	}
	return n
}

// Count records n points of a signal ("metrics", "spans", "profiles") taken in.
func (s *Store) Count(signal string, n int) {
	s.mu.Lock()
	s.stats.Points[signal] += uint64(n)
	s.mu.Unlock()
}

// Drop records n items not used, and why.
func (s *Store) Drop(reason string, n int) {
	s.mu.Lock()
	s.stats.Dropped[reason] += uint64(n)
	s.mu.Unlock()
}

// Stats returns the store's counters and its current size.
func (s *Store) Stats() (Stats, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Points, st.Dropped = maps.Clone(st.Points), maps.Clone(st.Dropped)
	return st, len(s.series)
}
