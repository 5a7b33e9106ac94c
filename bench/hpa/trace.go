package hpa

import (
	"math"
	"math/rand/v2"
	"sort"
)

// Spike is a sudden burst of load.
type Spike struct {
	// Start and End are simulation seconds; the load is multiplied by Factor in [Start, End).
	Start  int64   `json:"start_s"`
	End    int64   `json:"end_s"`
	Factor float64 `json:"factor"`
}

// trace is the request rate of every simulated second, the same for every strategy.
type trace struct {
	rate   []float64 // requests per second, index = simulation second
	spikes []Spike
}

const day = 86400

// newTrace builds the load: a diurnal curve (lowest at 04:00, highest at 16:00) whose
// peak varies from day to day, times slow log-normal noise, times spikes. Everything
// random comes from cfg.Seed.
func newTrace(cfg Config) trace {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6c6f6164)) // "load"
	n := int64(cfg.Days) * day
	// One peak factor per day, interpolated between the days' 04:00 troughs so the curve
	// has no step.
	peaks := make([]float64, cfg.Days+2)
	for i := range peaks {
		peaks[i] = 1 + cfg.DayToDay*(2*rng.Float64()-1)
	}
	var spikes []Spike
	for d := range cfg.Days {
		for range poisson(rng, cfg.SpikesPerDay) {
			start := int64(d)*day + rng.Int64N(day)
			dur := cfg.SpikeMinDuration.Seconds() + rng.Float64()*(cfg.SpikeMaxDuration-cfg.SpikeMinDuration).Seconds()
			f := cfg.SpikeMinFactor + rng.Float64()*(cfg.SpikeMaxFactor-cfg.SpikeMinFactor)
			spikes = append(spikes, Spike{Start: start, End: min(start+int64(dur), n), Factor: f})
		}
	}
	sort.Slice(spikes, func(i, j int) bool { return spikes[i].Start < spikes[j].Start })
	burst := make([]float64, n)
	for i := range burst {
		burst[i] = 1
	}
	for _, s := range spikes {
		for t := s.Start; t < s.End; t++ {
			burst[t] = math.Max(burst[t], s.Factor)
		}
	}
	// AR(1) noise on the log of the load, one step a second: stationary standard deviation
	// cfg.Noise, correlation time cfg.NoiseCorrelation.
	phi := math.Exp(-1 / cfg.NoiseCorrelation.Seconds())
	kick := cfg.Noise * math.Sqrt(1-phi*phi)
	x := cfg.Noise * rng.NormFloat64()
	rate := make([]float64, n)
	for t := range n {
		h := float64(t%day) / 3600
		// Day index shifted so that day d's factor holds at d's 04:00 trough.
		pos := (float64(t) - 4*3600) / day
		i := int(math.Floor(pos)) + 1
		frac := pos - math.Floor(pos)
		peak := peaks[i]*(1-frac) + peaks[i+1]*frac
		shape := cfg.Trough + (1-cfg.Trough)*math.Pow((1-math.Cos(2*math.Pi*(h-4)/24))/2, 1.5)
		rate[t] = cfg.PeakRate * peak * shape * math.Exp(x) * burst[t]
		x = phi*x + kick*rng.NormFloat64()
	}
	return trace{rate: rate, spikes: spikes}
}

// poisson draws from a Poisson distribution with the given mean (Knuth's method: the
// means here are a handful).
func poisson(rng *rand.Rand, mean float64) int {
	if mean <= 0 {
		return 0
	}
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// inSpike reports whether minute m (simulation minutes) overlaps a spike or the recovery
// minutes after one.
func (tr trace) inSpike(m int64, recovery int64) bool {
	s0, s1 := m*60, m*60+60
	for _, s := range tr.spikes {
		if s.Start < s1 && s.End+recovery > s0 {
			return true
		}
	}
	return false
}
