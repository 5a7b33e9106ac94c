package signals

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// ProfileConfig bounds the profile summaries.
type ProfileConfig struct {
	// Window is how far back the summaries reach.
	Window time.Duration `mapstructure:"window" yaml:"window"`
	// MaxServices is how many services are summarised; the least recently heard of is
	// evicted to make room.
	MaxServices int `mapstructure:"max_services" yaml:"max_services"`
	// MaxFunctions is how many functions each upload keeps (its top by flat and cumulative
	// value); the rest count in the totals only.
	MaxFunctions int `mapstructure:"max_functions" yaml:"max_functions"`
}

// DefaultProfileConfig: the last 10 minutes of up to 1,000 services, 500 functions per
// upload, 120 uploads per service and type.
func DefaultProfileConfig() ProfileConfig {
	return ProfileConfig{Window: 10 * time.Minute, MaxServices: 1000, MaxFunctions: 500}
}

// Validate checks the bounds; errors name the key.
func (c ProfileConfig) Validate() error {
	var errs []error
	if c.Window <= 0 {
		errs = append(errs, fmt.Errorf("profiles.window: %v, want a positive duration", c.Window))
	}
	if c.MaxServices < 1 {
		errs = append(errs, fmt.Errorf("profiles.max_services: %d, want at least 1", c.MaxServices))
	}
	if c.MaxFunctions < 1 {
		errs = append(errs, fmt.Errorf("profiles.max_functions: %d, want at least 1", c.MaxFunctions))
	}
	return errors.Join(errs...)
}

// Stack is one profile sample: its frames' function names, leaf first, and its value.
type Stack struct {
	Frames []string
	Value  int64
}

// GCShare splits a profile's total into the Go runtime's memory management work.
type GCShare struct {
	// Worker: background mark workers, sweeping and scavenging.
	Worker float64 `json:"worker"`
	// Assist: mark assists charged to allocating goroutines.
	Assist float64 `json:"assist"`
	// Malloc: allocation itself (runtime.mallocgc outside GC work).
	Malloc float64 `json:"malloc"`
	// Total is Worker + Assist + Malloc.
	Total float64 `json:"total"`
}

// FunctionStat is one function's share of a profile.
type FunctionStat struct {
	Name         string  `json:"function"`
	Flat         int64   `json:"flat"`
	FlatFraction float64 `json:"flat_fraction"`
	Cum          int64   `json:"cum"`
	CumFraction  float64 `json:"cum_fraction"`
}

// ProfileTop is a service's profile summary over the window.
type ProfileTop struct {
	Service   string         `json:"service"`
	Type      string         `json:"type"`
	Unit      string         `json:"unit"`
	Window    time.Duration  `json:"window_ns"`
	Uploads   int            `json:"uploads"`
	Total     int64          `json:"total"`
	GC        GCShare        `json:"gc"`
	Functions []FunctionStat `json:"functions"`
}

// Profiles keeps per-service, per-type summaries of recent profile uploads. Safe for
// concurrent use.
type Profiles struct {
	cfg      ProfileConfig
	mu       sync.Mutex
	services map[string]*serviceProfiles
}

type serviceProfiles struct {
	seen    time.Time
	types   map[string][]upload
	uploads uint64
}

// upload is the summary of the uploads of one service and type in one bucket of the
// window (Window / profileBuckets long): their totals, GC shares and the top functions of
// their merged flat and cumulative values. Merging keeps memory at profileBuckets summaries
// per service and type however many instances upload, where keeping every upload grew to
// max_services × 5 types × max_uploads summaries (244 MiB for 100 services of 10
// instances: BenchmarkSignalsProfilesMemory in bench/pipeline).
type upload struct {
	at        time.Time // the bucket's start
	uploads   int
	unit      string
	total     int64
	gc        [3]int64 // worker, assist, malloc
	flat, cum map[string]int64
}

// profileBuckets is how many buckets the window is cut into: the summaries' time resolution.
const profileBuckets = 10

func newProfiles(cfg ProfileConfig) *Profiles {
	return &Profiles{cfg: cfg, services: map[string]*serviceProfiles{}}
}

// gcClass classifies a stack: 0 worker, 1 assist, 2 malloc, -1 none.
func gcClass(frames []string) int {
	class := -1
	for _, f := range frames {
		switch {
		case strings.HasPrefix(f, "runtime.gcAssistAlloc"):
			return 1
		case f == "runtime.gcBgMarkWorker", f == "runtime.bgsweep", f == "runtime.bgscavenge",
			strings.HasPrefix(f, "runtime.gcDrain"), f == "runtime.gcMarkTermination", f == "runtime.gcStart",
			f == "runtime.markroot", f == "runtime.scanobject", f == "runtime.sweepone":
			class = 0
		case f == "runtime.mallocgc" && class == -1:
			class = 2
		}
	}
	return class
}

// Add records one upload of a profile type (e.g. "cpu", "alloc_space") for a service.
func (p *Profiles) Add(service, typ, unit string, at time.Time, stacks []Stack) {
	u := upload{at: at, unit: unit, flat: map[string]int64{}, cum: map[string]int64{}}
	seen := map[string]bool{}
	for _, s := range stacks {
		if s.Value <= 0 {
			continue
		}
		u.total += s.Value
		if c := gcClass(s.Frames); c >= 0 {
			u.gc[c] += s.Value
		}
		if len(s.Frames) > 0 {
			u.flat[s.Frames[0]] += s.Value
		}
		clear(seen)
		for _, f := range s.Frames {
			if !seen[f] { // recursion counts once
				seen[f] = true
				u.cum[f] += s.Value
			}
		}
	}
	trimTop(u.flat, p.cfg.MaxFunctions)
	trimTop(u.cum, p.cfg.MaxFunctions)

	width := p.cfg.Window / profileBuckets
	if width <= 0 {
		width = p.cfg.Window
	}
	u.at = at.Truncate(width)
	u.uploads = 1

	p.mu.Lock()
	defer p.mu.Unlock()
	sp, ok := p.services[service]
	if !ok {
		if len(p.services) >= p.cfg.MaxServices {
			var oldest string
			var oldestSeen time.Time
			for name, s := range p.services {
				if oldestSeen.IsZero() || s.seen.Before(oldestSeen) {
					oldest, oldestSeen = name, s.seen
				}
			}
			delete(p.services, oldest)
		}
		sp = &serviceProfiles{types: map[string][]upload{}}
		p.services[service] = sp
	}
	if at.After(sp.seen) {
		sp.seen = at
	}
	sp.uploads++
	buckets := sp.types[typ]
	for i := range buckets {
		if b := &buckets[i]; b.at.Equal(u.at) {
			b.merge(u, p.cfg.MaxFunctions)
			return
		}
	}
	buckets = append(buckets, u)
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].at.Before(buckets[j].at) })
	// Keep the window: buckets older than it, or beyond profileBuckets+1, go.
	newest := buckets[len(buckets)-1].at
	cut := 0
	for cut < len(buckets) && (newest.Sub(buckets[cut].at) > p.cfg.Window || len(buckets)-cut > profileBuckets+1) {
		cut++
	}
	sp.types[typ] = append(buckets[:0:0], buckets[cut:]...)
}

// merge adds upload o into bucket b and keeps b's top n functions.
func (b *upload) merge(o upload, n int) {
	b.uploads += o.uploads
	b.unit = o.unit
	b.total += o.total
	for i := range b.gc {
		b.gc[i] += o.gc[i]
	}
	for k, v := range o.flat {
		b.flat[k] += v
	}
	for k, v := range o.cum {
		b.cum[k] += v
	}
	trimTop(b.flat, n)
	trimTop(b.cum, n)
}

// trimTop keeps the n largest entries of m.
func trimTop(m map[string]int64, n int) {
	if len(m) <= n {
		return
	}
	vals := make([]int64, 0, len(m))
	for _, v := range m {
		vals = append(vals, v)
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] > vals[j] })
	cutoff := vals[n-1]
	kept := 0
	for k, v := range m {
		if v < cutoff || (v == cutoff && kept >= n) {
			delete(m, k)
		} else {
			kept++
		}
	}
}

// Top summarises a service's profiles of one type over the window ending now: total, GC
// share and the top n functions by flat value (ties by cumulative).
func (p *Profiles) Top(service, typ string, now time.Time, n int) (ProfileTop, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sp, ok := p.services[service]
	if !ok {
		return ProfileTop{}, false
	}
	top := ProfileTop{Service: service, Type: typ, Window: p.cfg.Window}
	flat, cum := map[string]int64{}, map[string]int64{}
	var gc [3]int64
	for _, u := range sp.types[typ] {
		if now.Sub(u.at) > p.cfg.Window {
			continue
		}
		top.Uploads += u.uploads
		top.Unit = u.unit
		top.Total += u.total
		for i := range gc {
			gc[i] += u.gc[i]
		}
		for k, v := range u.flat {
			flat[k] += v
		}
		for k, v := range u.cum {
			cum[k] += v
		}
	}
	if top.Uploads == 0 {
		return top, false
	}
	if top.Total > 0 {
		t := float64(top.Total)
		top.GC = GCShare{Worker: float64(gc[0]) / t, Assist: float64(gc[1]) / t, Malloc: float64(gc[2]) / t}
		top.GC.Total = top.GC.Worker + top.GC.Assist + top.GC.Malloc
	}
	names := make([]string, 0, len(cum))
	for k := range cum {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := names[i], names[j]
		if flat[a] != flat[b] {
			return flat[a] > flat[b]
		}
		if cum[a] != cum[b] {
			return cum[a] > cum[b]
		}
		return a < b
	})
	if len(names) > n {
		names = names[:n]
	}
	for _, name := range names {
		fs := FunctionStat{Name: name, Flat: flat[name], Cum: cum[name]}
		if top.Total > 0 {
			fs.FlatFraction = float64(fs.Flat) / float64(top.Total)
			fs.CumFraction = float64(fs.Cum) / float64(top.Total)
		}
		top.Functions = append(top.Functions, fs)
	}
	return top, true
}

// Services lists the services with profiles, sorted.
func (p *Profiles) Services() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.services))
	for s := range p.services {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// uploadCounts returns how many uploads each service sent.
func (p *Profiles) uploadCounts() map[string]uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]uint64, len(p.services))
	for name, s := range p.services {
		out[name] = s.uploads
	}
	return out
}

// Window is how far back the summaries reach.
func (p *Profiles) Window() time.Duration { return p.cfg.Window }
