package hpa

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/mcplane/mcp/tuner/policy"
)

func TestUnitP99MatchesMM1ClosedForm(t *testing.T) {
	// M/M/1: the response time is exponential with rate μ−λ, so p99 = ln(100)/(1−ρ).
	for _, rho := range []float64{0, 0.1, 0.5, 0.8, 0.95} {
		got, want := unitP99(1, rho), math.Log(100)/(1-rho)
		if math.Abs(got-want) > 1e-9*want {
			t.Errorf("ρ=%v: p99 = %v service times, want %v", rho, got, want)
		}
	}
	if !math.IsInf(unitP99(4, 1), 1) {
		t.Error("p99 at ρ = 1 is finite")
	}
}

func TestErlangC(t *testing.T) {
	for _, tc := range []struct {
		c    int
		a    float64
		want float64
	}{
		{1, 0.5, 0.5},      // M/M/1: P(wait) = ρ
		{2, 1, 1.0 / 3},    // (1/2·2/1) / (1 + 1 + 1) = 1/3
		{4, 3, 0.50943396}, // tables: c=4, a=3
	} {
		if got := erlangC(tc.c, tc.a); math.Abs(got-tc.want) > 1e-6 {
			t.Errorf("C(%d, %v) = %v, want %v", tc.c, tc.a, got, tc.want)
		}
	}
}

func TestSurvivalIsOneAtZeroAndFalls(t *testing.T) {
	prev := survival(4, 0.7, 0)
	if prev != 1 {
		t.Fatalf("P(T > 0) = %v", prev)
	}
	for x := 0.5; x < 40; x += 0.5 {
		s := survival(4, 0.7, x)
		if s > prev || s < 0 {
			t.Fatalf("P(T > %v) = %v after %v", x, s, prev)
		}
		prev = s
	}
}

// synthetic samples minutes from a known curve: c servers, mean service time svc, each
// utilization level minutes times, with multiplicative log-normal noise of sd noise.
func synthetic(c int, svc float64, levels []float64, minutes int, noise float64, seed uint64) []Observation {
	rng := rand.New(rand.NewPCG(seed, 1))
	var out []Observation
	for _, u := range levels {
		for range minutes {
			uu := u + (rng.Float64()-0.5)*0.004 // within the whole-percent level
			out = append(out, Observation{Utilization: uu, P99: svc * unitP99(c, uu) * math.Exp(noise*rng.NormFloat64())})
		}
	}
	return out
}

func span(lo, hi, step float64) []float64 {
	var out []float64
	for u := lo; u <= hi+1e-9; u += step {
		out = append(out, u)
	}
	return out
}

func TestFitRecoversTheCurve(t *testing.T) {
	for _, tc := range []struct {
		c   int
		svc float64
	}{{1, 0.010}, {2, 0.020}, {4, 0.025}, {8, 0.030}} {
		obs := synthetic(tc.c, tc.svc, span(0.30, 0.80, 0.01), 15, 0.05, uint64(tc.c))
		m, err := Fit(obs, DefaultFitConfig())
		if err != nil {
			t.Fatal(err)
		}
		if m.Servers() < tc.c-1 || m.Servers() > tc.c {
			t.Errorf("c=%d: fitted c = %d (%v)", tc.c, m.Servers(), m)
		}
		// What matters is the curve, above all where it crosses an SLO.
		for _, u := range []float64{0.5, 0.8, 0.85} {
			truth := tc.svc * unitP99(tc.c, u)
			if got := m.PredictP99(u); math.Abs(got/truth-1) > 0.08 {
				t.Errorf("c=%d: p99 at %.0f%% = %.1fms, truth %.1fms (%v)", tc.c, 100*u, 1000*got, 1000*truth, m)
			}
		}
		// Parsimony may pick a smaller c, whose curve rises sooner: the crossing may be a
		// little early, never late.
		slo := tc.svc * unitP99(tc.c, 0.8)
		if got := m.Crossing(slo); got > 0.805 || got < 0.77 {
			t.Errorf("c=%d: SLO crossing at %.3f, truth 0.800 (%v)", tc.c, got, m)
		}
	}
}

func TestFitIgnoresSaturatedAndTransientMinutes(t *testing.T) {
	obs := synthetic(4, 0.025, span(0.40, 0.70, 0.01), 10, 0.03, 7)
	// Minutes at the CPU limit, and a few minutes mixing a burst into a level, with
	// p99s in the seconds.
	for range 50 {
		obs = append(obs, Observation{Utilization: 0.99, P99: 5})
	}
	obs = append(obs, Observation{Utilization: 0.55, P99: 3}, Observation{Utilization: 0.62, P99: 8})
	m, err := Fit(obs, DefaultFitConfig())
	if err != nil {
		t.Fatal(err)
	}
	if m.MaxObserved() > 0.71 {
		t.Errorf("saturated minutes were fitted: levels up to %.2f", m.MaxObserved())
	}
	truth := 0.025 * unitP99(4, 0.8)
	if got := m.PredictP99(0.8); math.Abs(got/truth-1) > 0.1 {
		t.Errorf("p99 at 80%% = %.1fms, truth %.1fms (%v)", 1000*got, 1000*truth, m)
	}
}

func TestFitRefusesTooFewLevels(t *testing.T) {
	cases := map[string][]Observation{
		"none":            nil,
		"four levels":     synthetic(4, 0.025, []float64{0.40, 0.45, 0.50, 0.55}, 10, 0, 1),
		"sparse levels":   synthetic(4, 0.025, span(0.30, 0.80, 0.01), 2, 0, 1),
		"only saturated":  synthetic(4, 0.025, span(0.95, 0.99, 0.01), 10, 0, 1),
		"no latency data": {{0.5, 0}, {0.5, math.NaN()}, {0.6, math.Inf(1)}},
	}
	for name, obs := range cases {
		_, err := Fit(obs, DefaultFitConfig())
		if !errors.Is(err, ErrNotEnoughData) {
			t.Errorf("%s: err = %v, want ErrNotEnoughData", name, err)
		}
	}
	if _, _, err := Recommend(cases["four levels"], DefaultFitConfig(), config(200)); !errors.Is(err, ErrNotEnoughData) {
		t.Errorf("Recommend: err = %v, want ErrNotEnoughData", err)
	}
}

// config is DefaultConfig with an SLO in milliseconds and bounds [40, 90].
func config(sloMillis int) Config {
	c := DefaultConfig()
	c.SLO = time.Duration(sloMillis) * time.Millisecond
	c.Bounds = policy.Range{Min: 40, Max: 90}
	return c
}

func fitted(t *testing.T) *Model {
	t.Helper()
	m, err := Fit(synthetic(4, 0.025, span(0.30, 0.85, 0.01), 10, 0.02, 3), DefaultFitConfig())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRecommendIsBelowTheCrossingByTheHeadroom(t *testing.T) {
	m := fitted(t)
	cfg := config(200)
	cfg.LoadGrowth = 0.05
	cfg.MaxExtrapolation = -1
	r, err := m.Recommend(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cross := m.Crossing(0.2)
	if math.Abs(cross-0.835) > 0.01 { // truth: 25ms × g_4(ρ) = 200ms at ρ ≈ 0.835
		t.Errorf("crossing = %.3f", cross)
	}
	// Scale-up lag 15s + 15s + 45s = 75s at +5%/min: a factor 1.05^1.25.
	want := cross / 1.1 / math.Pow(1.05, 1.25)
	if r.Target != int(math.Floor(100*want)) {
		t.Errorf("target = %d%%, want ⌊%.2f⌋", r.Target, 100*want)
	}
	if math.Abs(r.ToleranceHeadroom-(cross-cross/1.1)) > 1e-9 || math.Abs(r.Crossing-r.ToleranceHeadroom-r.LagHeadroom-r.Ideal) > 1e-9 {
		t.Errorf("headrooms do not add up: %+v", r)
	}
	if r.PredictedP99 > 0.2 {
		t.Errorf("at target × 1.1 the predicted p99 is %.0fms, over the SLO", 1000*r.PredictedP99)
	}
	for _, s := range []string{fmt.Sprintf("p99 SLO 200ms reached at %.0f%% utilization", 100*cross), "for HPA tolerance", "1m15s scale-up lag at +5.0%/min",
		"→ target 71%", "within [40, 90]"} {
		if !strings.Contains(r.Reason, s) {
			t.Errorf("reason %q lacks %q", r.Reason, s)
		}
	}
	// No growth: only the tolerance.
	cfg.LoadGrowth = 0
	r0, _ := m.Recommend(cfg)
	if r0.Target != int(math.Floor(100*cross/1.1)) || r0.LagHeadroom != 0 {
		t.Errorf("no growth: %+v", r0)
	}
	// A longer start delay costs more headroom.
	cfg.LoadGrowth, cfg.StartDelay = 0.05, 3*time.Minute
	if rl, _ := m.Recommend(cfg); rl.Target >= r.Target {
		t.Errorf("3m start delay: target %d%%, not below %d%%", rl.Target, r.Target)
	}
}

func TestRecommendIsMonotoneInTheSLO(t *testing.T) {
	m := fitted(t)
	prev := 0
	for slo := 100; slo <= 1000; slo += 5 {
		cfg := config(slo)
		cfg.LoadGrowth = 0.03
		r, err := m.Recommend(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if r.Target < prev {
			t.Fatalf("SLO %dms: target %d%% is below %d%% for a tighter SLO", slo, r.Target, prev)
		}
		if r.Target < 40 || r.Target > 90 {
			t.Fatalf("SLO %dms: target %d%% outside [40, 90]", slo, r.Target)
		}
		prev = r.Target
	}
	// A 1 s SLO is crossed near 95%, beyond the 85% observed + 10 the model is trusted
	// to: 95% / 1.1 / 1.03^1.25.
	if prev != 83 {
		t.Errorf("a 1 s SLO: %d%%, want 83%%", prev)
	}
}

func TestRecommendRespectsBoundsAndStep(t *testing.T) {
	m := fitted(t)
	cfg := config(200)
	cfg.Bounds = policy.Range{Min: 40, Max: 60}
	if r, _ := m.Recommend(cfg); r.Target != 60 || !strings.Contains(r.Reason, "clamped to 60% by bounds [40, 60]") {
		t.Errorf("max bound: %d%%, %q", r.Target, r.Reason)
	}
	cfg = config(120) // barely above the 115 ms idle p99: crossing near 53%, target 48%
	cfg.Bounds = policy.Range{Min: 50, Max: 90}
	if r, _ := m.Recommend(cfg); r.Target != 50 {
		t.Errorf("min bound: %d%%, %q", r.Target, r.Reason)
	}
	cfg = config(100) // below the idle p99: unreachable
	if r, err := m.Recommend(cfg); err != nil || r.Target != 40 || !strings.Contains(r.Reason, "out of reach") {
		t.Errorf("unreachable SLO: %+v, %v", r, err)
	}
	cfg = config(200)
	cfg.Current, cfg.MaxStep = 50, 0.2
	if r, _ := m.Recommend(cfg); r.Target != 60 || !strings.Contains(r.Reason, "stepped to 60%") {
		t.Errorf("step from 50%% by 20%%: %d%%, %q", r.Target, r.Reason)
	}
	free, _ := m.Recommend(config(200))
	cfg.Current = free.Target + 1 // a point away: not worth a change
	if r, _ := m.Recommend(cfg); r.Target != cfg.Current || !strings.Contains(r.Reason, "less than 2 points") {
		t.Errorf("from %d%%: %d%%, %q", cfg.Current, r.Target, r.Reason)
	}
	cfg.Current = 85 // lowering is never step-limited
	if r, _ := m.Recommend(cfg); r.Target != free.Target {
		t.Errorf("from 85%%: %d%%, want the full drop to %d%%", r.Target, free.Target)
	}
}

func TestRecommendTrustsTheModelOnlyNearItsData(t *testing.T) {
	m, err := Fit(synthetic(4, 0.025, span(0.40, 0.55, 0.01), 10, 0.02, 5), DefaultFitConfig())
	if err != nil {
		t.Fatal(err)
	}
	r, err := m.Recommend(config(200))
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(r.Crossing-(m.MaxObserved()+0.1)) > 1e-9 || r.PredictedCrossing <= r.Crossing {
		t.Errorf("crossing %.3f (predicted %.3f), want the cap %.3f", r.Crossing, r.PredictedCrossing, m.MaxObserved()+0.1)
	}
	if !strings.Contains(r.Reason, "trusted up to 65%") {
		t.Errorf("reason %q", r.Reason)
	}
}

func TestConfigValidate(t *testing.T) {
	bad := config(0)
	bad.Bounds = policy.Range{Min: 80, Max: 40}
	bad.Tolerance = 1
	err := bad.Validate()
	for _, s := range []string{"objectives.latencyP99", "knobs.hpaTargetUtilization", "tolerance"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error %v does not name %s", err, s)
		}
	}
	if err := config(200).Validate(); err != nil {
		t.Error(err)
	}
}

func TestEstimateGrowth(t *testing.T) {
	// +1%/min with one burst: the 0.99 quantile of 200 changes leaves the burst out.
	rates := []float64{100}
	for i := 1; i <= 200; i++ {
		rates = append(rates, rates[i-1]*1.01)
	}
	rates[100] *= 3
	if g := EstimateGrowth(rates, 0.99); math.Abs(g-0.01) > 1e-9 {
		t.Errorf("growth = %v, want 0.01", g)
	}
	if g := EstimateGrowth(rates, 1); g < 2 {
		t.Errorf("the maximum should be the burst, got %v", g)
	}
	if g := EstimateGrowth([]float64{100, 90, 80}, 0.99); g != 0 {
		t.Errorf("falling load: %v", g)
	}
	if g := EstimateGrowth([]float64{100, 0, 200, math.NaN(), 100}, 1); g != 0 {
		t.Errorf("gaps counted as changes: %v", g)
	}
}
