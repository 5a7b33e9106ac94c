// Package tuner is MCP's tuning loop: it reads each workload's signals, evaluates the
// policies that cover it, computes decisions with the GC and memory model as a prior,
// confirms each step with measured CPU per request, canaries and rolls back, and hands
// decisions to the control plane (which stores them and pushes them to the agents) and to
// any other actuators (Kubernetes, in a cluster).
//
// Metrics (registered on the registerer given to New):
//
//	mcp_tuner_evaluations_total{result}               evaluation passes: ok, error
//	mcp_tuner_decisions_total{service,knob,mode}      decisions made, by knob changed
//	mcp_tuner_rollbacks_total{service,reason}         changes undone, and why
//	mcp_tuner_actuations_total{actuator,result}       actuator calls: ok, failed
//	mcp_tuner_knob_value{service,knob}                knob values in force (gogc, gomemlimit, gomaxprocs, hpa_target)
//	mcp_tuner_gc_cpu_fraction{service,kind}           GC CPU fraction: predicted and observed
//	mcp_tuner_cpu_per_request_seconds{service}        measured CPU per request
//	mcp_tuner_memory_floor_distance_ratio{service}    GC CPU above the memory-bound floor, as a ratio to it
//	mcp_tuner_memory_guard_events_total{service}      agents' emergency memory guard engagements seen
package tuner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/tuner/policy"
	"github.com/mcplane/mcp/tuner/signals"

	"github.com/mcplane/mcp/runtime/knob"
)

// SignalSource gives the tuner its signal windows (a *signals.Store).
type SignalSource interface {
	Instances(service string) []signals.Key
	Window(k signals.Key, since time.Time) []signals.Sample
}

// InstanceSource gives the tuner the registered instances (the control plane's registry).
type InstanceSource interface {
	Instances(service string) (uint64, []apiv1.Instance)
	InstanceEvents(id string) []apiv1.AuditEvent
}

// Recorder stores decisions and pushes apply-mode ones to the agents (the control plane
// core), and settles their outcome.
type Recorder interface {
	Decide(ctx context.Context, d apiv1.Decision) (apiv1.Decision, error)
	Settle(ctx context.Context, id string, outcome apiv1.Outcome, observed map[string]float64, note string) error
}

// Actuator applies apply-mode decisions somewhere other than the agents (an HPA, a
// Deployment's environment). It returns ErrNotMine for decisions it does not handle.
type Actuator interface {
	Name() string
	Apply(ctx context.Context, p policy.Policy, d apiv1.Decision) error
}

// ErrNotMine: the actuator (or advisor) has nothing to do for this decision or policy.
var ErrNotMine = errors.New("not for this actuator")

// HPAAdvisor recommends a workload's HPA target utilization (in a cluster). windows holds
// every sample the store keeps of the service's instances.
type HPAAdvisor interface {
	RecommendHPA(ctx context.Context, p policy.Policy, service string, windows map[signals.Key][]signals.Sample) (current, target int, reason string, err error)
}

// PolicySource lists the policies in force.
type PolicySource interface {
	Policies() []policy.Policy
}

// Clock is the tuner's time source.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Config is the tuner's static configuration.
type Config struct {
	// Interval is how often every policy is evaluated.
	Interval time.Duration `yaml:"interval"`
	// Window is how much signal history an evaluation averages.
	Window time.Duration `yaml:"window"`
	// Settle is how long after a change its signals are ignored (they mix both settings).
	Settle time.Duration `yaml:"settle"`
	// MinGain is the least CPU saving (fraction of total CPU) a further GOGC step must be
	// predicted to bring.
	MinGain float64 `yaml:"min_gain"`
	// MinSamples is how many samples per instance an evaluation needs.
	MinSamples int `yaml:"min_samples"`
	// CeilingFor is how long a GOGC that measured no better is remembered as a ceiling.
	CeilingFor time.Duration `yaml:"ceiling_for"`
}

// DefaultConfig evaluates every 15 s over the last minute.
func DefaultConfig() Config {
	return Config{Interval: 15 * time.Second, Window: time.Minute, Settle: 15 * time.Second, MinGain: 0.02,
		MinSamples: 3, CeilingFor: 30 * time.Minute}
}

// Validate checks the configuration; errors name the key under tuner:.
func (c Config) Validate() error {
	var errs []error
	if c.Interval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("tuner.interval: %v is below 100ms", c.Interval))
	}
	if c.Window < c.Interval {
		errs = append(errs, fmt.Errorf("tuner.window: %v is shorter than tuner.interval (%v)", c.Window, c.Interval))
	}
	if c.Settle < 0 {
		errs = append(errs, fmt.Errorf("tuner.settle: %v is negative", c.Settle))
	}
	if c.MinGain <= 0 || c.MinGain >= 1 {
		errs = append(errs, fmt.Errorf("tuner.min_gain: %v, want a fraction in (0, 1)", c.MinGain))
	}
	if c.MinSamples < 1 {
		errs = append(errs, fmt.Errorf("tuner.min_samples: %d, want at least 1", c.MinSamples))
	}
	return errors.Join(errs...)
}

// Tuner is the tuning loop.
type Tuner struct {
	cfg       Config
	log       *zap.Logger
	signals   SignalSource
	instances InstanceSource
	rec       Recorder
	policies  PolicySource
	actuators []Actuator
	hpa       HPAAdvisor
	clock     Clock
	m         *metrics

	mu        sync.Mutex
	workloads map[string]*workload // policy key + "\x00" + service
}

// Option configures New.
type Option func(*Tuner)

// WithClock replaces the system clock.
func WithClock(c Clock) Option { return func(t *Tuner) { t.clock = c } }

// WithHPAAdvisor lets the tuner tune HPA target utilization.
func WithHPAAdvisor(a HPAAdvisor) Option { return func(t *Tuner) { t.hpa = a } }

// WithActuators adds actuators besides the agent push.
func WithActuators(a ...Actuator) Option {
	return func(t *Tuner) { t.actuators = append(t.actuators, a...) }
}

// New creates a tuner.
func New(cfg Config, sig SignalSource, inst InstanceSource, rec Recorder, pol PolicySource, log *zap.Logger,
	reg prometheus.Registerer, opts ...Option) (*Tuner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	t := &Tuner{cfg: cfg, log: log, signals: sig, instances: inst, rec: rec, policies: pol, clock: systemClock{},
		workloads: map[string]*workload{}}
	for _, o := range opts {
		o(t)
	}
	t.m = newMetrics(reg)
	return t, nil
}

// Run evaluates every policy each Interval until ctx ends. A failed evaluation is logged
// and counted, and the loop goes on.
func (t *Tuner) Run(ctx context.Context) {
	tick := time.NewTicker(t.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := t.Evaluate(ctx); err != nil {
				t.log.Warn("tuner evaluation failed", zap.Error(err))
			}
		}
	}
}

// Evaluate runs one pass over every policy and the services it covers.
func (t *Tuner) Evaluate(ctx context.Context) error {
	now := t.clock.Now()
	var errs []error
	live := map[string]bool{}
	for _, p := range t.policies.Policies() {
		for _, svc := range t.servicesOf(p) {
			w := t.workload(p, svc)
			live[w.key] = true
			if err := t.step(ctx, p, w, now); err != nil {
				errs = append(errs, fmt.Errorf("policy %s, service %s: %w", p.Key(), svc, err))
			}
		}
	}
	t.mu.Lock()
	for k := range t.workloads {
		if !live[k] {
			delete(t.workloads, k)
		}
	}
	t.mu.Unlock()
	err := errors.Join(errs...)
	if err != nil {
		t.m.evaluations.WithLabelValues("error").Inc()
	} else {
		t.m.evaluations.WithLabelValues("ok").Inc()
	}
	return err
}

// servicesOf lists the services a policy covers: those with registered agents, and those
// that only send telemetry (in a cluster, tuned through their Deployment).
func (t *Tuner) servicesOf(p policy.Policy) []string {
	_, insts := t.instances.Instances("")
	seen := map[string]bool{}
	var out []string
	for _, i := range insts {
		if !seen[i.Service] && p.Matches(i.Service, i.Labels) {
			seen[i.Service] = true
			out = append(out, i.Service)
		}
	}
	for _, k := range t.signals.Instances("") {
		if !seen[k.Service] && p.Matches(k.Service, nil) {
			seen[k.Service] = true
			out = append(out, k.Service)
		}
	}
	sort.Strings(out)
	return out
}

func (t *Tuner) workload(p policy.Policy, svc string) *workload {
	key := p.Key() + "\x00" + svc
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.workloads[key]
	if !ok {
		w = newWorkload(key, p.Key(), svc)
		t.workloads[key] = w
	}
	return w
}

// newWorkload starts tracking a service under a policy, in the steady phase.
func newWorkload(key, policyKey, service string) *workload {
	return &workload{key: key, policy: policyKey, service: service, phase: PhaseSteady,
		status: WorkloadStatus{Service: service, Policy: policyKey, Phase: PhaseSteady}}
}

// NoteChange tells the tuner that a workload's knobs were last changed at a time, by a
// decision another tuner made (the previous leader, in a cluster), so that its cooldown and
// change budget hold across a failover.
func (t *Tuner) NoteChange(policyKey, service, decisionID string, at time.Time) {
	key := policyKey + "\x00" + service
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.workloads[key]
	if !ok {
		w = newWorkload(key, policyKey, service)
		t.workloads[key] = w
	}
	if at.After(w.lastChange) {
		w.lastChange = at
		w.changes = append(w.changes, at)
		w.status.LastDecision = decisionID
	}
}

// Status reports every workload the tuner tracks, by policy.
func (t *Tuner) Status() map[string][]WorkloadStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string][]WorkloadStatus{}
	for _, w := range t.workloads {
		out[w.policy] = append(out[w.policy], w.status)
	}
	for _, ws := range out {
		sort.Slice(ws, func(i, j int) bool { return ws[i].Service < ws[j].Service })
	}
	return out
}

// WorkloadStatus is what the tuner reports about one workload.
type WorkloadStatus struct {
	Service     string      `json:"service"`
	Policy      string      `json:"policy"`
	Phase       Phase       `json:"phase"`
	Instances   int         `json:"instances"`
	Current     knob.Change `json:"current"`
	Recommended knob.Change `json:"recommended"`
	// HPATarget is the HPA's target utilization now, RecommendedHPATarget the one the tuner
	// would set, and AppliedHPATarget the one its last apply-mode decision set (in a cluster).
	HPATarget            *int               `json:"hpa_target_utilization,omitempty"`
	RecommendedHPATarget *int               `json:"recommended_hpa_target_utilization,omitempty"`
	AppliedHPATarget     *int               `json:"applied_hpa_target_utilization,omitempty"`
	Reason               string             `json:"reason"`
	LastDecision         string             `json:"last_decision,omitempty"`
	Evaluated            time.Time          `json:"evaluated"`
	Evidence             map[string]float64 `json:"evidence,omitempty"`
	// FloorDistance is how far GC CPU is above the memory-bound floor, as a ratio to it
	// (nil until the model could be fitted).
	FloorDistance *float64 `json:"floor_distance,omitempty"`
}

// Phase is where the tuner is with a workload.
type Phase string

const (
	PhaseSteady   Phase = "steady"
	PhaseCanary   Phase = "canary"
	PhaseWatching Phase = "watching"
)

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// actuate hands an apply-mode decision to the other actuators.
func (t *Tuner) actuate(ctx context.Context, p policy.Policy, d apiv1.Decision) {
	if d.Mode != apiv1.ModeApply {
		return
	}
	t.m.actuations.WithLabelValues("agent", "ok").Inc()
	for _, a := range t.actuators {
		err := a.Apply(ctx, p, d)
		switch {
		case err == nil:
			t.m.actuations.WithLabelValues(a.Name(), "ok").Inc()
		case errors.Is(err, ErrNotMine):
		default:
			t.m.actuations.WithLabelValues(a.Name(), "failed").Inc()
			t.log.Warn("actuation failed", zap.String("actuator", a.Name()), zap.String("decision", d.ID), zap.Error(err))
		}
	}
}
