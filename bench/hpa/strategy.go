package hpa

import (
	"math"
	"math/rand/v2"
	"time"

	tunerhpa "github.com/mcplane/mcp/tuner/hpa"
)

// Strategies are the strategies every run compares, in the report's order; the first is
// the baseline the others' replica-hours are compared with.
var Strategies = []string{"static-50", "static-70", "static-80", "mcp"}

// minuteObs is what a tuner sees of one minute of the workload.
type minuteObs struct {
	utilization float64 // mean CPU utilization of ready pods, fraction of request (0: none ready)
	p99         float64 // the minute's true p99, seconds
	rate        float64 // requests per second
}

// strategy sets the HPA's target.
type strategy interface {
	// target is the target in force.
	target() int
	// minute hands over the minute that just ended, and returns the target for the next.
	minute(at int64, o minuteObs) int
}

// static keeps one target.
type static int

func (s static) target() int                 { return int(s) }
func (s static) minute(int64, minuteObs) int { return int(s) }

// TargetChange is one change the mcp strategy made.
type TargetChange struct {
	At     int64  `json:"at_s"`
	From   int    `json:"from"`
	To     int    `json:"to"`
	Reason string `json:"reason"`
}

// mcpStrategy runs the tuner's HPA model as the real tuner would: it observes each
// minute's utilization and (noisily measured) p99, and every Refit asks hpa.Recommend for
// a target within the policy's bounds and change budget.
type mcpStrategy struct {
	cfg     Config
	cur     int
	obs     []tunerhpa.Observation // the last History minutes
	rates   []float64
	rng     *rand.Rand
	minutes int64
	changes []TargetChange
	last    string // the last recommendation's reason, or why there was none
}

func newMCP(cfg Config) *mcpStrategy {
	return &mcpStrategy{cfg: cfg, cur: cfg.MCP.Initial, rng: rand.New(rand.NewPCG(cfg.Seed, 0x6d6370))} // "mcp"
}

func (m *mcpStrategy) target() int { return m.cur }

func (m *mcpStrategy) minute(at int64, o minuteObs) int {
	keep := int(m.cfg.MCP.History / time.Minute)
	if o.utilization > 0 {
		measured := o.p99 * math.Exp(m.cfg.MCP.MeasurementNoise*m.rng.NormFloat64())
		m.obs = append(m.obs, tunerhpa.Observation{Utilization: o.utilization, P99: measured})
	}
	m.rates = append(m.rates, o.rate)
	if len(m.obs) > keep {
		m.obs = m.obs[len(m.obs)-keep:]
	}
	if len(m.rates) > keep {
		m.rates = m.rates[len(m.rates)-keep:]
	}
	m.minutes++
	if m.minutes%int64(m.cfg.MCP.Refit/time.Minute) != 0 {
		return m.cur
	}
	rc := tunerhpa.DefaultConfig()
	rc.SLO = m.cfg.SLO
	rc.Bounds = m.cfg.MCP.Bounds
	rc.Current = m.cur
	rc.MaxStep = m.cfg.MCP.MaxStep
	rc.Tolerance = m.cfg.Tolerance
	rc.SyncPeriod = m.cfg.SyncPeriod
	rc.MetricWindow = m.cfg.MetricResolution
	rc.StartDelay = m.cfg.StartDelay
	rc.LoadGrowth = tunerhpa.EstimateGrowth(m.rates, m.cfg.MCP.GrowthQuantile)
	r, _, err := tunerhpa.Recommend(m.obs, tunerhpa.DefaultFitConfig(), rc)
	if err != nil {
		m.last = err.Error() // keep the current target, as the tuner does
		return m.cur
	}
	m.last = r.Reason
	if r.Target != m.cur {
		m.changes = append(m.changes, TargetChange{At: at, From: m.cur, To: r.Target, Reason: r.Reason})
		m.cur = r.Target
	}
	return m.cur
}
