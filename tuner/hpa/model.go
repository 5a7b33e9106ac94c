// Package hpa chooses a HorizontalPodAutoscaler's target CPU utilization for a workload:
// the highest target whose predicted p99 latency stays under the latency SLO, less
// headroom for the HPA's tolerance and for the load that arrives while new pods start.
//
// # The model
//
// Each pod is taken to be an M/M/c queue: requests arrive at random (Poisson), each needs
// an exponentially distributed amount of work, and c workers serve them first come, first
// served. A pod's CPU utilization of its request is then the queue's per-server
// utilization ρ = λ/(cμ), as long as CPU per request is constant and the pod's workers are
// its cores. The p99 of the response time (wait plus service) is a known function of c and
// ρ scaled by the mean service time S:
//
//	p99(ρ) = S · g_c(ρ),   g_c(0) = ln 100 ≈ 4.6,   g_c(ρ) → ∞ as ρ → 1
//
// Fit estimates c and S from observations of (utilization, p99) — typically one a minute.
// c is a shape parameter here, not a core count: it says how long latency stays flat
// before queueing takes over. Fitting is in log space (errors are relative) and robust:
// observations are grouped into whole-percent utilization levels and each level's median
// taken, so the odd minute in which a burst or a restart mixed two regimes does not move
// the fit; for each candidate c the best S is the median of log p99 − log g_c(ρ) over the
// levels (least absolute deviations), and among candidates that explain the data about
// equally well the smallest c wins, because a smaller c rises sooner and extrapolating it
// errs towards lower targets. Minutes at or above a saturation utilization are left out:
// there the pod is at its CPU limit, the queue is not stationary and the utilization no
// longer measures the load.
//
// Assumptions, and what breaks them: latency is dominated by queueing for the pod's CPU
// (latency from downstream calls or the network that does not queue is absorbed into S,
// which makes the curve rise sooner than it will — the safe side); load is balanced evenly
// over ready pods; CPU per request does not change with load. The model is only trusted
// a little beyond what has been observed: Recommend caps the SLO crossing at the highest
// observed utilization level plus MaxExtrapolation, so each step up is confirmed by data
// before the next.
//
// # The recommendation
//
// Recommend finds u*, the highest utilization whose predicted p99 is at most the SLO, and
// takes off two headrooms. The HPA does nothing while utilization is within its tolerance
// (0.1) of the target, so utilization runs up to target × 1.1 before it scales: the target
// is at most u*/1.1. When it does scale, the new pods take load only after a scale-up lag
// — up to one sync period until the HPA acts, the metrics window behind the utilization it
// reads, and the pods' start delay — during which load keeps growing at g per minute, by a
// factor (1+g)^(lag/1m). So
//
//	target = u* / (1 + tolerance) / (1 + g)^(lag / 1 minute)
//
// rounded down to a whole percent, clamped to the policy's bounds, raised at most MaxStep
// above the current target in one decision (lowering is never limited: it is the safe
// direction), and left alone when it would move by less than MinChange points. EstimateGrowth gives g from observed per-minute request rates. The
// headroom covers a workload's ordinary ramps and noise, not sudden bursts: a burst that
// doubles the load in a minute is beyond what any target short of 50% can absorb, and is
// left to the HPA's scale-up. That scale-up is slower at higher targets when the CPU limit
// equals the request: pods at the limit read 100%, so each HPA round multiplies the
// replicas by at most 100/target, and a burst of ×k from the target takes about
// log(k)/log(100/target) rounds of a pod start each (bench/hpa measures what this costs).
package hpa

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Observation is one window (typically a minute) of a workload.
type Observation struct {
	// Utilization is the mean CPU utilization of the workload's ready pods over the
	// window, as a fraction of their CPU request (0.62 is 62%).
	Utilization float64
	// P99 is the workload's p99 latency over the same window, in seconds.
	P99 float64
}

// ErrNotEnoughData means the observations do not cover enough distinct utilization
// levels to fit the model; the tuner keeps the current target.
var ErrNotEnoughData = errors.New("not enough data to model latency against utilization")

// FitConfig bounds what Fit accepts.
type FitConfig struct {
	// MinLevels is how many distinct utilization levels (whole percents) the observations
	// must cover. Default: 5.
	MinLevels int
	// MinPerLevel is how many observations a level needs to count; the level's median
	// p99 is what is fitted. Default: 3.
	MinPerLevel int
	// Saturated is the utilization (fraction) at and above which observations are left
	// out: the pod is at its CPU limit, so the load is unknown. Default: 0.95.
	Saturated float64
	// MaxServers is the largest c tried. Default: 64.
	MaxServers int
	// Parsimony is how much worse (mean absolute error of log p99) a smaller c may fit
	// than the best and still be chosen. Default: 0.01 (1%).
	Parsimony float64
}

// DefaultFitConfig returns the defaults documented on FitConfig.
func DefaultFitConfig() FitConfig {
	return FitConfig{MinLevels: 5, MinPerLevel: 3, Saturated: 0.95, MaxServers: 64, Parsimony: 0.01}
}

// Validate checks the configuration.
func (c FitConfig) Validate() error {
	var errs []error
	if c.MinLevels < 2 {
		errs = append(errs, fmt.Errorf("min_levels: %d, want at least 2 to tell a curve from a point", c.MinLevels))
	}
	if c.MinPerLevel < 1 {
		errs = append(errs, fmt.Errorf("min_per_level: %d, want at least 1", c.MinPerLevel))
	}
	if !(c.Saturated > 0 && c.Saturated <= 1) {
		errs = append(errs, fmt.Errorf("saturated: %v, want a fraction in (0, 1]", c.Saturated))
	}
	if c.MaxServers < 1 || c.MaxServers > 1024 {
		errs = append(errs, fmt.Errorf("max_servers: %d, want 1 to 1024", c.MaxServers))
	}
	if !(c.Parsimony >= 0) {
		errs = append(errs, fmt.Errorf("parsimony: %v, want ≥ 0", c.Parsimony))
	}
	return errors.Join(errs...)
}

// Level is one whole-percent utilization level of the observations.
type Level struct {
	Utilization float64 // median utilization of the level's observations (fraction)
	P99         float64 // median p99 (seconds)
	N           int     // observations
}

// Model is p99 latency as a function of utilization, fitted to one workload.
type Model struct {
	servers int
	service float64 // mean service time, seconds
	levels  []Level // by utilization
	mae     float64 // mean absolute error of log p99 over the levels
}

// Fit fits the model to observations. It returns an error wrapping ErrNotEnoughData when
// fewer than MinLevels utilization levels have MinPerLevel usable observations each.
func Fit(obs []Observation, cfg FitConfig) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("hpa model: %w", err)
	}
	levels := group(obs, cfg)
	if len(levels) < cfg.MinLevels {
		return nil, fmt.Errorf("%w: %d utilization levels with at least %d observations below %.0f%%, need %d",
			ErrNotEnoughData, len(levels), cfg.MinPerLevel, 100*cfg.Saturated, cfg.MinLevels)
	}
	logP := make([]float64, len(levels))
	for i, l := range levels {
		logP[i] = math.Log(l.P99)
	}
	type cand struct {
		c       int
		logS    float64
		meanAbs float64
	}
	cands := make([]cand, 0, cfg.MaxServers)
	best := math.Inf(1)
	resid := make([]float64, len(levels))
	for c := 1; c <= cfg.MaxServers; c++ {
		for i, l := range levels {
			resid[i] = logP[i] - math.Log(unitP99(c, l.Utilization))
		}
		logS := median(resid)
		var sum float64
		for _, r := range resid {
			sum += math.Abs(r - logS)
		}
		k := cand{c: c, logS: logS, meanAbs: sum / float64(len(levels))}
		cands = append(cands, k)
		best = math.Min(best, k.meanAbs)
	}
	// The smallest c within Parsimony of the best: its curve rises soonest, so where the
	// data cannot tell candidates apart the extrapolation errs towards lower targets.
	for _, k := range cands {
		if k.meanAbs <= best+cfg.Parsimony {
			return &Model{servers: k.c, service: math.Exp(k.logS), levels: levels, mae: k.meanAbs}, nil
		}
	}
	panic("unreachable: the best candidate is within parsimony of itself")
}

// group bins usable observations into whole-percent levels with at least MinPerLevel
// observations each, sorted by utilization.
func group(obs []Observation, cfg FitConfig) []Level {
	bins := map[int][]Observation{}
	for _, o := range obs {
		if !(o.Utilization > 0) || o.Utilization >= cfg.Saturated || !(o.P99 > 0) || math.IsInf(o.P99, 0) {
			continue
		}
		k := int(math.Round(100 * o.Utilization))
		bins[k] = append(bins[k], o)
	}
	var out []Level
	for _, b := range bins {
		if len(b) < cfg.MinPerLevel {
			continue
		}
		us, ps := make([]float64, len(b)), make([]float64, len(b))
		for i, o := range b {
			us[i], ps[i] = o.Utilization, o.P99
		}
		out = append(out, Level{Utilization: median(us), P99: median(ps), N: len(b)})
	}
	slices.SortFunc(out, func(a, b Level) int {
		switch {
		case a.Utilization < b.Utilization:
			return -1
		case a.Utilization > b.Utilization:
			return 1
		}
		return 0
	})
	return out
}

// median of xs (reorders xs).
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// PredictP99 is the predicted p99 latency in seconds at a utilization (fraction of the
// CPU request); +Inf at 1 and above, where the queue grows without bound.
func (m *Model) PredictP99(utilization float64) float64 {
	return m.service * unitP99(m.servers, utilization)
}

// Crossing is the highest utilization (fraction) whose predicted p99 is at most slo
// seconds; 0 when even an idle pod's p99 is above it.
func (m *Model) Crossing(slo float64) float64 {
	if m.PredictP99(0) > slo {
		return 0
	}
	lo, hi := 0.0, 1.0 // PredictP99(lo) ≤ slo < PredictP99(hi) = +Inf
	for range 50 {
		mid := (lo + hi) / 2
		if m.PredictP99(mid) <= slo {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// Servers is the fitted c of the M/M/c curve.
func (m *Model) Servers() int { return m.servers }

// ServiceTime is the fitted mean service time in seconds.
func (m *Model) ServiceTime() float64 { return m.service }

// Levels are the utilization levels the model was fitted to, by utilization.
func (m *Model) Levels() []Level { return slices.Clone(m.levels) }

// MaxObserved is the highest utilization level fitted (fraction).
func (m *Model) MaxObserved() float64 { return m.levels[len(m.levels)-1].Utilization }

// FitError is the mean absolute error of log p99 over the levels (0.05 ≈ 5%).
func (m *Model) FitError() float64 { return m.mae }

// String describes the fit for decision reasons.
func (m *Model) String() string {
	return fmt.Sprintf("M/M/%d fit, service %.1fms, %d levels %.0f–%.0f%%, error %.1f%%", m.servers, 1000*m.service,
		len(m.levels), 100*m.levels[0].Utilization, 100*m.MaxObserved(), 100*m.mae)
}
