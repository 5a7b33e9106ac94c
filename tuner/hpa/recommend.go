package hpa

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/mcplane/mcp/tuner/policy"
)

// Config is what Recommend needs besides the model: the objective, the policy's bounds
// and change budget, and how the HPA and the pods behave.
type Config struct {
	// SLO is the p99 latency objective (the policy's objectives.latencyP99).
	SLO time.Duration
	// Bounds are the policy's bounds on the target, in percent.
	Bounds policy.Range
	// Current is the target in force, in percent; 0 when unknown (no step limit).
	Current int
	// MaxStep is the most a raise may add, as a fraction of Current (the policy's
	// changeBudget.maxStepPercent / 100); 0: no limit. Lowering is never limited.
	MaxStep float64
	// MinChange is the smallest change, in percentage points, worth making: a target
	// closer than this to Current (within the bounds) is kept, so that noise in the fit
	// does not flap the HPA by a point at a time. Default: 2.
	MinChange int
	// Tolerance is the HPA's tolerance: it leaves the replicas alone while utilization is
	// within this fraction of the target. Default: 0.1 (kube-controller-manager
	// --horizontal-pod-autoscaler-tolerance).
	Tolerance float64
	// SyncPeriod is how often the HPA acts. Default: 15s
	// (--horizontal-pod-autoscaler-sync-period).
	SyncPeriod time.Duration
	// MetricWindow is how far behind the utilization the HPA reads is: metrics-server's
	// resolution. Default: 15s.
	MetricWindow time.Duration
	// StartDelay is how long a new pod takes from creation to ready. Default: 45s.
	StartDelay time.Duration
	// LoadGrowth is how fast load grows, as a fraction per minute (0.05 = +5%/min), that
	// the target must absorb while new pods start; see EstimateGrowth. Default: 0.
	LoadGrowth float64
	// MaxExtrapolation caps the SLO crossing at the highest observed utilization level
	// plus this much (fraction), so the model is trusted only a little beyond its data.
	// Default: 0.1; a negative value turns the cap off.
	MaxExtrapolation float64
}

// DefaultConfig returns the Kubernetes defaults and a 45 s pod start; SLO and Bounds must
// still be set.
func DefaultConfig() Config {
	return Config{MinChange: 2, Tolerance: 0.1, SyncPeriod: 15 * time.Second, MetricWindow: 15 * time.Second,
		StartDelay: 45 * time.Second, MaxExtrapolation: 0.1}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.SLO <= 0 {
		errs = append(errs, fmt.Errorf("objectives.latencyP99: %v, the HPA target needs a positive latency SLO", c.SLO))
	}
	if c.Bounds.Min < 1 || c.Bounds.Max > 100 || c.Bounds.Min > c.Bounds.Max {
		errs = append(errs, fmt.Errorf("knobs.hpaTargetUtilization: [%d, %d], want 1 ≤ min ≤ max ≤ 100", c.Bounds.Min, c.Bounds.Max))
	}
	if c.Current < 0 {
		errs = append(errs, fmt.Errorf("current target: %d%% is negative", c.Current))
	}
	if c.MinChange < 0 {
		errs = append(errs, fmt.Errorf("min change: %d points is negative", c.MinChange))
	}
	if c.MaxStep < 0 {
		errs = append(errs, fmt.Errorf("changeBudget.maxStepPercent: %v is negative", 100*c.MaxStep))
	}
	if c.Tolerance < 0 || c.Tolerance >= 1 {
		errs = append(errs, fmt.Errorf("tolerance: %v, want a fraction in [0, 1)", c.Tolerance))
	}
	if c.SyncPeriod < 0 || c.MetricWindow < 0 || c.StartDelay < 0 {
		errs = append(errs, fmt.Errorf("sync period %v, metric window %v, start delay %v: none may be negative",
			c.SyncPeriod, c.MetricWindow, c.StartDelay))
	}
	if !(c.LoadGrowth >= 0) || math.IsInf(c.LoadGrowth, 1) {
		errs = append(errs, fmt.Errorf("load growth: %v per minute, want a finite value ≥ 0", c.LoadGrowth))
	}
	return errors.Join(errs...)
}

// ScaleUpLag is the worst-case time from load rising past the HPA's threshold to new pods
// taking load: a sync period until the HPA acts, the metric window behind what it reads,
// and the pods' start delay.
func (c Config) ScaleUpLag() time.Duration { return c.SyncPeriod + c.MetricWindow + c.StartDelay }

// Recommendation is a target and the numbers behind it.
type Recommendation struct {
	// Target is the recommended target utilization, in percent: Current when the change
	// would be smaller than MinChange.
	Target int `json:"target"`
	// Crossing is the utilization (fraction) at which the predicted p99 reaches the SLO,
	// after the extrapolation cap; 0 when no utilization meets it.
	Crossing float64 `json:"crossing"`
	// PredictedCrossing is where the model alone puts it, before the cap.
	PredictedCrossing float64 `json:"predicted_crossing"`
	// ToleranceHeadroom and LagHeadroom are what the two headrooms took off, in
	// utilization (fraction).
	ToleranceHeadroom float64 `json:"tolerance_headroom"`
	LagHeadroom       float64 `json:"lag_headroom"`
	// Ideal is the target before rounding, bounds and the step limit (fraction).
	Ideal float64 `json:"ideal"`
	// PredictedP99 is the model's p99 (seconds) at Target × (1 + tolerance), the highest
	// utilization the HPA lets the workload run at before it scales.
	PredictedP99 float64 `json:"predicted_p99"`
	// Reason says all of the above in one sentence.
	Reason string `json:"reason"`
}

// Recommend fits the model to obs and recommends a target; see Model.Recommend. Errors
// wrap ErrNotEnoughData when the observations cannot support a fit.
func Recommend(obs []Observation, fit FitConfig, cfg Config) (Recommendation, *Model, error) {
	if err := cfg.Validate(); err != nil {
		return Recommendation{}, nil, err
	}
	m, err := Fit(obs, fit)
	if err != nil {
		return Recommendation{}, nil, err
	}
	r, err := m.Recommend(cfg)
	return r, m, err
}

// Recommend returns the highest target utilization whose predicted p99 stays under the
// SLO, less the tolerance and scale-up lag headrooms, within the bounds and the step
// limit, or the current target when the change would be smaller than MinChange.
func (m *Model) Recommend(cfg Config) (Recommendation, error) {
	if err := cfg.Validate(); err != nil {
		return Recommendation{}, err
	}
	slo := cfg.SLO.Seconds()
	var r Recommendation
	r.PredictedCrossing = m.Crossing(slo)
	r.Crossing = r.PredictedCrossing
	capped := false
	if cfg.MaxExtrapolation >= 0 {
		if lim := m.MaxObserved() + cfg.MaxExtrapolation; r.Crossing > lim {
			r.Crossing, capped = lim, true
		}
	}
	var why []string
	if r.Crossing <= 0 {
		// Even an idle pod misses the SLO: more replicas cannot meet it, so run as many as
		// the policy allows and say so.
		r.Target = cfg.Bounds.Min
		r.PredictedP99 = m.PredictP99(float64(r.Target) / 100 * (1 + cfg.Tolerance))
		r.Reason = fmt.Sprintf("p99 SLO %v is out of reach: predicted p99 %s even at idle (%v) → lowest target %d%%",
			cfg.SLO, ms(m.PredictP99(0)), m, r.Target)
		return r, nil
	}
	afterTol := r.Crossing / (1 + cfg.Tolerance)
	lag := cfg.ScaleUpLag()
	r.Ideal = afterTol / math.Pow(1+cfg.LoadGrowth, lag.Minutes())
	r.ToleranceHeadroom = r.Crossing - afterTol
	r.LagHeadroom = afterTol - r.Ideal

	head := fmt.Sprintf("p99 SLO %v reached at %.0f%% utilization", cfg.SLO, 100*r.PredictedCrossing)
	if capped {
		head = fmt.Sprintf("p99 SLO %v predicted at %.0f%% utilization, trusted up to %.0f%% (observed up to %.0f%% + %.0f)",
			cfg.SLO, 100*r.PredictedCrossing, 100*r.Crossing, 100*m.MaxObserved(), 100*cfg.MaxExtrapolation)
	}
	why = append(why, head)
	why = append(why, fmt.Sprintf("−%.0f%% for HPA tolerance %.2g", 100*r.ToleranceHeadroom, cfg.Tolerance))
	why = append(why, fmt.Sprintf("−%.0f%% for %v scale-up lag at +%.1f%%/min load growth", 100*r.LagHeadroom,
		lag.Round(time.Second), 100*cfg.LoadGrowth))

	target := int(math.Floor(100*r.Ideal + 1e-9)) // down: the SLO is a ceiling
	tail := fmt.Sprintf("→ target %d%%", target)
	if cfg.Current > 0 && cfg.MaxStep > 0 && target > cfg.Current {
		if lim := int(math.Floor(float64(cfg.Current) * (1 + cfg.MaxStep))); target > lim {
			target = max(lim, cfg.Current)
			tail += fmt.Sprintf(", stepped to %d%% (at most +%.0f%% of %d%% per change)", target, 100*cfg.MaxStep, cfg.Current)
		}
	}
	if c := cfg.Bounds.Clamp(target); c != target {
		tail += fmt.Sprintf(", clamped to %d%% by bounds [%d, %d]", c, cfg.Bounds.Min, cfg.Bounds.Max)
		target = c
	} else {
		tail += fmt.Sprintf(", within [%d, %d]", cfg.Bounds.Min, cfg.Bounds.Max)
	}
	if cur := cfg.Current; cur > 0 && target != cur && cfg.Bounds.Clamp(cur) == cur && abs(target-cur) < cfg.MinChange {
		tail += fmt.Sprintf("; kept at %d%%: less than %d points from it", cur, cfg.MinChange)
		target = cur
	}
	r.Target = target
	r.PredictedP99 = m.PredictP99(float64(target) / 100 * (1 + cfg.Tolerance))
	r.Reason = strings.Join(why, "; ") + " " + tail + " (" + m.String() + ")"
	return r, nil
}

func abs(x int) int { return max(x, -x) }

func ms(sec float64) string {
	if math.IsInf(sec, 1) {
		return "∞"
	}
	return fmt.Sprintf("%.0fms", 1000*sec)
}

// EstimateGrowth estimates the load growth rate a target must absorb from request rates
// sampled once a minute: the quantile q (e.g. 0.99) of the minute-to-minute relative
// change, 0 when it is not positive. A high quantile covers ordinary ramps and noise while
// leaving out the rare sudden burst, which no target can absorb (see the package doc).
// Gaps (rates ≤ 0 or not finite) break the series rather than count as changes.
func EstimateGrowth(perMinute []float64, q float64) float64 {
	var ch []float64
	for i := 1; i < len(perMinute); i++ {
		a, b := perMinute[i-1], perMinute[i]
		if !(a > 0) || !(b > 0) || math.IsInf(a, 0) || math.IsInf(b, 0) {
			continue
		}
		ch = append(ch, b/a-1)
	}
	if len(ch) == 0 {
		return 0
	}
	slices.Sort(ch)
	// Lower nearest rank: with fewer than 1/(1−q) changes the top one is still left out,
	// so a single burst in a short history is not taken for the workload's growth.
	q = math.Min(math.Max(q, 0), 1)
	g := ch[int(math.Floor(q*float64(len(ch)-1)))]
	return math.Max(g, 0)
}
