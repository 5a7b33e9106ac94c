package hpa

import (
	"errors"
	"fmt"
	"time"

	"github.com/mcplane/mcp/tuner/policy"
)

// Config is one simulation. The defaults are the benchmark; DefaultConfig says
// what each models.
type Config struct {
	// Seed makes the load trace and the measurement noise; the same seed gives the same
	// result.
	Seed uint64
	// Days of simulated time, simulated a second at a time.
	Days int
	// SLO is the p99 latency objective: a minute whose p99 is above it is an SLO-violation
	// minute.
	SLO time.Duration

	// Cores is each pod's CPU request and limit, and its workers: each pod is an M/M/c
	// queue with c = Cores.
	Cores int
	// ServiceTime is the mean CPU time of a request (exponentially distributed).
	ServiceTime time.Duration
	// NetworkLatency is added to every request and does not queue on the pod's CPU (the
	// load balancer, the network).
	NetworkLatency time.Duration
	// Timeout is the clients' timeout: requests that would wait longer are abandoned (they
	// count as over the SLO and use no CPU).
	Timeout time.Duration
	// StartDelay is how long a new pod takes from creation to ready.
	StartDelay time.Duration

	// PeakRate is the load, in requests per second, at a typical day's 16:00 peak.
	PeakRate float64
	// Trough is the 04:00 load as a fraction of the peak.
	Trough float64
	// DayToDay is how much a day's peak may differ from PeakRate (fraction, uniform).
	DayToDay float64
	// Noise is the standard deviation of the log-normal noise on the load, and
	// NoiseCorrelation its correlation time.
	Noise            float64
	NoiseCorrelation time.Duration
	// SpikesPerDay is the mean number of bursts a day (Poisson); each multiplies the load
	// by a factor drawn from [SpikeMinFactor, SpikeMaxFactor] for a duration drawn from
	// [SpikeMinDuration, SpikeMaxDuration], starting and ending at once.
	SpikesPerDay                       float64
	SpikeMinFactor, SpikeMaxFactor     float64
	SpikeMinDuration, SpikeMaxDuration time.Duration

	// ScaleOn is the HPA's metric: ScaleOnCPU, or ScaleOnRequests to see what changes when
	// the metric is not capped at the CPU limit.
	ScaleOn ScaleOn
	// MinReplicas and MaxReplicas bound the HPA.
	MinReplicas, MaxReplicas int
	// SyncPeriod, Tolerance, DownscaleWindow, CPUInitializationPeriod and
	// InitialReadinessDelay are kube-controller-manager's --horizontal-pod-autoscaler-*
	// settings; MetricResolution is metrics-server's --metric-resolution.
	SyncPeriod              time.Duration
	Tolerance               float64
	DownscaleWindow         time.Duration
	CPUInitializationPeriod time.Duration
	InitialReadinessDelay   time.Duration
	MetricResolution        time.Duration

	// MCP configures the mcp strategy.
	MCP MCPConfig
}

// ScaleOn is the metric the HPA scales on.
type ScaleOn string

const (
	// ScaleOnCPU is the CPU resource metric (target averageUtilization) from
	// metrics-server: what the HPA uses. A pod at its CPU limit reads 100%
	// however much load waits for it.
	ScaleOnCPU ScaleOn = "cpu"
	// ScaleOnRequests is a Pods metric of requests per second (target averageValue, the
	// rate the target utilization stands for), through a pipeline as fast as
	// metrics-server's: it keeps counting load beyond the CPU limit, and the controller
	// applies no CPU initialization rules to it.
	ScaleOnRequests ScaleOn = "requests"
)

// MCPConfig is how the mcp strategy runs the tuner's HPA model.
type MCPConfig struct {
	// Initial is the target the HPA starts with, before the model has data.
	Initial int
	// Bounds are the policy's bounds on the target.
	Bounds policy.Range
	// Refit is how often the model is fitted again and a new target chosen.
	Refit time.Duration
	// MaxStep is the change budget: a raise adds at most this fraction of the target.
	MaxStep float64
	// History is how many minutes of observations each fit uses.
	History time.Duration
	// GrowthQuantile is the quantile of minute-to-minute load changes taken as the load
	// growth rate (hpa.EstimateGrowth).
	GrowthQuantile float64
	// MeasurementNoise is the standard deviation of the log-normal error of the p99 the
	// tuner observes (the true p99 decides SLO violations).
	MeasurementNoise float64
}

// DefaultConfig is the benchmark: seven days of a service whose 4-core pods
// serve requests of 25 ms CPU each (160 requests per second per pod at 100%), under a
// 200 ms p99 SLO, with Kubernetes' HPA defaults.
func DefaultConfig() Config {
	return Config{
		Seed: 1, Days: 7, SLO: 200 * time.Millisecond,
		Cores: 4, ServiceTime: 25 * time.Millisecond, NetworkLatency: 5 * time.Millisecond, Timeout: 10 * time.Second,
		StartDelay: 45 * time.Second,
		PeakRate:   3000, Trough: 0.25, DayToDay: 0.1, Noise: 0.03, NoiseCorrelation: 3 * time.Minute,
		SpikesPerDay: 4, SpikeMinFactor: 2, SpikeMaxFactor: 3, SpikeMinDuration: 2 * time.Minute, SpikeMaxDuration: 10 * time.Minute,
		ScaleOn: ScaleOnCPU, MinReplicas: 2, MaxReplicas: 300,
		SyncPeriod: 15 * time.Second, Tolerance: 0.1, DownscaleWindow: 5 * time.Minute,
		CPUInitializationPeriod: 5 * time.Minute, InitialReadinessDelay: 30 * time.Second, MetricResolution: 15 * time.Second,
		MCP: MCPConfig{Initial: 50, Bounds: policy.Range{Min: 40, Max: 90}, Refit: 30 * time.Minute, MaxStep: 0.2,
			History: 24 * time.Hour, GrowthQuantile: 0.99, MeasurementNoise: 0.05},
	}
}

// Quick shrinks c to one simulated day: checks the harness, too short for published
// figures (the mcp strategy spends much of it learning).
func (c Config) Quick() Config {
	c.Days = 1
	return c
}

// Validate checks c; errors name the flag of `mcp bench hpa` where there is one.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Days < 1 || c.Days > 365 {
		bad("--days: %d, want 1 to 365", c.Days)
	}
	if c.SLO <= 0 {
		bad("--slo: %v, want a positive duration", c.SLO)
	}
	if c.StartDelay < 0 {
		bad("--start-delay: %v is negative", c.StartDelay)
	}
	if c.Cores < 1 || c.Cores > 256 {
		bad("--cores: %d, want 1 to 256", c.Cores)
	}
	if c.ServiceTime <= 0 {
		bad("--service-time: %v, want a positive duration", c.ServiceTime)
	}
	if c.NetworkLatency < 0 {
		bad("network latency: %v is negative", c.NetworkLatency)
	}
	if c.Timeout <= c.SLO {
		bad("timeout: %v, want more than the SLO (%v)", c.Timeout, c.SLO)
	}
	if c.PeakRate <= 0 {
		bad("--peak-rate: %v, want a positive rate", c.PeakRate)
	}
	if c.Trough <= 0 || c.Trough > 1 {
		bad("trough: %v, want a fraction in (0, 1]", c.Trough)
	}
	if c.DayToDay < 0 || c.DayToDay >= 1 {
		bad("day-to-day variation: %v, want a fraction in [0, 1)", c.DayToDay)
	}
	if c.Noise < 0 || c.NoiseCorrelation < time.Second {
		bad("noise: %v with correlation %v, want ≥ 0 and at least 1s", c.Noise, c.NoiseCorrelation)
	}
	if c.SpikesPerDay < 0 || c.SpikeMinFactor < 1 || c.SpikeMaxFactor < c.SpikeMinFactor ||
		c.SpikeMinDuration < time.Second || c.SpikeMaxDuration < c.SpikeMinDuration {
		bad("spikes: %v a day of ×%v–×%v for %v–%v, want factors ≥ 1 and durations ≥ 1s, each min ≤ max",
			c.SpikesPerDay, c.SpikeMinFactor, c.SpikeMaxFactor, c.SpikeMinDuration, c.SpikeMaxDuration)
	}
	if c.ScaleOn != ScaleOnCPU && c.ScaleOn != ScaleOnRequests {
		bad("--scale-on: %q, want %s or %s", c.ScaleOn, ScaleOnCPU, ScaleOnRequests)
	}
	if c.MinReplicas < 1 || c.MaxReplicas < c.MinReplicas {
		bad("replicas: [%d, %d], want 1 ≤ min ≤ max", c.MinReplicas, c.MaxReplicas)
	}
	for name, d := range map[string]time.Duration{"sync period": c.SyncPeriod, "metric resolution": c.MetricResolution} {
		if d < time.Second || d%time.Second != 0 {
			bad("%s: %v, want whole seconds, at least 1s", name, d)
		}
	}
	if c.Tolerance < 0 || c.Tolerance >= 1 {
		bad("tolerance: %v, want a fraction in [0, 1)", c.Tolerance)
	}
	if c.DownscaleWindow < 0 || c.CPUInitializationPeriod < 0 || c.InitialReadinessDelay < 0 {
		bad("downscale window, CPU initialization period and initial readiness delay may not be negative")
	}
	m := c.MCP
	if m.Bounds.Min < 1 || m.Bounds.Max > 100 || m.Bounds.Min > m.Bounds.Max {
		bad("mcp bounds: [%d, %d], want 1 ≤ min ≤ max ≤ 100", m.Bounds.Min, m.Bounds.Max)
	}
	if m.Initial < m.Bounds.Min || m.Initial > m.Bounds.Max {
		bad("mcp initial target: %d%%, want within the bounds [%d, %d]", m.Initial, m.Bounds.Min, m.Bounds.Max)
	}
	if m.Refit < time.Minute || m.History < m.Refit || m.MaxStep < 0 || m.GrowthQuantile < 0 || m.GrowthQuantile > 1 ||
		m.MeasurementNoise < 0 {
		bad("mcp: refit %v, history %v, max step %v, growth quantile %v, measurement noise %v: want refit ≥ 1m, history ≥ refit, the rest ≥ 0 and the quantile ≤ 1",
			m.Refit, m.History, m.MaxStep, m.GrowthQuantile, m.MeasurementNoise)
	}
	return errors.Join(errs...)
}
