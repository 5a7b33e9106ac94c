// Package controlplane is MCP's control plane core: the agent protocol server (sessions,
// registry and health), decisions (validated, stored durably, then pushed to every
// matching connected instance, and to instances that connect later), and the
// acknowledgements that come back.
//
// Metrics (registered on the registerer given to New):
//
//	mcp_agents_connected                       agent sessions up on this replica
//	mcp_instances{health}                      instances by health
//	mcp_agent_sessions_total{result}           sessions opened: registered, refused
//	mcp_agent_messages_total{type}             messages received from agents
//	mcp_agent_messages_invalid_total           malformed messages (session closed with InvalidArgument)
//	mcp_agent_auth_failures_total              sessions refused for a wrong or missing token
//	mcp_knob_pushes_total{result}              knob updates: applied, rejected, failed (send error)
//	mcp_knob_push_latency_seconds              from a decision being stored to an agent's ack
//	mcp_decisions_total{source,mode}           decisions created
//	mcp_store_operations_total{op,result}      store operations
//	mcp_store_operation_duration_seconds{op}   store latency
package controlplane

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/controlplane/store"
)

// Config is the core's static configuration.
type Config struct {
	// HeartbeatInterval is what agents are told to use.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// SuspectAfter is how many heartbeats may be missed before an instance is suspect.
	SuspectAfter int `yaml:"suspect_after"`
	// GoneAfter is how long an instance may be silent before it is gone (the TTL).
	GoneAfter time.Duration `yaml:"gone_after"`
	// RemoveAfter is how long a gone instance stays listed before it is removed.
	RemoveAfter time.Duration `yaml:"remove_after"`
	// Token is the bearer token agents must present; empty means none is required.
	Token string `yaml:"-"`
	// Replica names this control plane process in instance listings.
	Replica string `yaml:"-"`
	// PushWorkers send knob updates in parallel during a fan-out.
	PushWorkers int `yaml:"push_workers"`
	// AckTimeout is how long a pushed decision waits for acknowledgements before its
	// outcome is settled with what arrived.
	AckTimeout time.Duration `yaml:"ack_timeout"`
}

// DefaultConfig returns the defaults: 10 s heartbeats, suspect after 3 missed, gone after
// 60 s, removed 5 minutes later.
func DefaultConfig() Config {
	return Config{
		HeartbeatInterval: 10 * time.Second,
		SuspectAfter:      3,
		GoneAfter:         60 * time.Second,
		RemoveAfter:       5 * time.Minute,
		PushWorkers:       16,
		AckTimeout:        30 * time.Second,
	}
}

// Validate checks the configuration; errors name the YAML key (under agents:).
func (c Config) Validate() error {
	var errs []error
	if c.HeartbeatInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("agents.heartbeat_interval: %v is below 100ms", c.HeartbeatInterval))
	}
	if c.SuspectAfter < 1 {
		errs = append(errs, fmt.Errorf("agents.suspect_after: %d, want at least 1 missed heartbeat", c.SuspectAfter))
	}
	if c.GoneAfter <= time.Duration(c.SuspectAfter)*c.HeartbeatInterval {
		errs = append(errs, fmt.Errorf("agents.gone_after: %v must be longer than suspect_after × heartbeat_interval (%v)",
			c.GoneAfter, time.Duration(c.SuspectAfter)*c.HeartbeatInterval))
	}
	if c.RemoveAfter < 0 {
		errs = append(errs, fmt.Errorf("agents.remove_after: %v is negative", c.RemoveAfter))
	}
	if c.PushWorkers < 1 {
		errs = append(errs, fmt.Errorf("agents.push_workers: %d, want at least 1", c.PushWorkers))
	}
	if c.AckTimeout <= 0 {
		errs = append(errs, fmt.Errorf("agents.ack_timeout: %v, want a positive duration", c.AckTimeout))
	}
	return errors.Join(errs...)
}

// Clock is the core's time source; tests inject their own.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Core is the control plane core. Create it with New, serve its gRPC service, Run it.
type Core struct {
	cfg     Config
	log     *zap.Logger
	store   store.Store
	reg     *Registry
	m       *metrics
	clock   Clock
	ackQ    chan apiv1.Ack
	auditQ  chan apiv1.AuditEvent
	flushed chan struct{}

	mu        sync.Mutex
	desired   map[store.Target]store.Desired
	pending   map[string]*pendingDecision
	observers []func(apiv1.Decision)
}

// pendingDecision tracks a pushed decision until every targeted instance answered or the
// ack timeout passed.
type pendingDecision struct {
	id       string
	pushedAt time.Time
	waiting  map[string]bool // instance → still waiting
	summary  apiv1.AckSummary
	dirty    bool
	// recovered: left pending by a previous control plane process (killed before its
	// acknowledgements were flushed). Agents confirm it when they re-register reporting it;
	// acked keeps them from being counted twice.
	recovered bool
	acked     map[string]bool
	// settled: the tuner already gave the decision its outcome; acks only update counts.
	settled bool
}

// done reports whether every targeted instance has answered.
func (p *pendingDecision) done() bool {
	if p.recovered {
		return p.summary.Targeted > 0 && p.summary.Applied+p.summary.Rejected >= p.summary.Targeted
	}
	return len(p.waiting) == 0
}

// Option configures New.
type Option func(*Core)

// WithClock replaces the system clock.
func WithClock(c Clock) Option { return func(core *Core) { core.clock = c } }

// New creates the core on a store, loading the knob sets in force.
func New(cfg Config, st store.Store, log *zap.Logger, reg prometheus.Registerer, opts ...Option) (*Core, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	c := &Core{
		cfg:     cfg,
		log:     log,
		reg:     NewRegistry(),
		clock:   systemClock{},
		ackQ:    make(chan apiv1.Ack, 65536),
		auditQ:  make(chan apiv1.AuditEvent, 4096),
		flushed: make(chan struct{}),
		desired: map[store.Target]store.Desired{},
		pending: map[string]*pendingDecision{},
	}
	for _, o := range opts {
		o(c)
	}
	c.m = newMetrics(reg, c.reg)
	c.store = instrumentStore(st, c.m)
	desired, err := c.store.ListDesired(context.Background())
	if err != nil {
		return nil, fmt.Errorf("load knob sets in force: %w", err)
	}
	for _, d := range desired {
		c.desired[d.Target] = d
	}
	if err := c.recoverPending(context.Background()); err != nil {
		return nil, err
	}
	return c, nil
}

// recoverPending picks up decisions a previous process pushed but did not settle, so their
// outcome is settled from the acknowledgements that were stored and the agents'
// confirmations when they re-register.
func (c *Core) recoverPending(ctx context.Context) error {
	recent, err := c.store.ListDecisions(ctx, store.DecisionFilter{Limit: 1000})
	if err != nil {
		return fmt.Errorf("load recent decisions: %w", err)
	}
	now := c.clock.Now()
	for _, d := range recent {
		if d.Outcome != apiv1.OutcomePending {
			continue
		}
		acks, err := c.store.ListAcks(ctx, d.ID)
		if err != nil {
			return fmt.Errorf("load acknowledgements of %s: %w", d.ID, err)
		}
		p := &pendingDecision{id: d.ID, pushedAt: now, recovered: true, acked: map[string]bool{},
			summary: apiv1.AckSummary{Targeted: d.Acks.Targeted}, dirty: true}
		for _, a := range acks {
			p.acked[a.Instance] = true
			if a.Applied {
				p.summary.Applied++
			} else {
				p.summary.Rejected++
			}
		}
		c.pending[d.ID] = p
		c.log.Info("decision left pending by a previous run; settling it", zap.String("decision", d.ID))
	}
	return nil
}

// confirmRecovered counts an instance that re-registers reporting a recovered pending
// decision as having applied it.
func (c *Core) confirmRecovered(instance, decisionID string) {
	if decisionID == "" {
		return
	}
	c.mu.Lock()
	p, ok := c.pending[decisionID]
	if !ok || !p.recovered || p.acked[instance] {
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	select {
	case c.ackQ <- apiv1.Ack{DecisionID: decisionID, Instance: instance, Applied: true, At: c.clock.Now(),
		Reason: "confirmed by the agent after a control plane restart"}:
	default:
	}
}

// Registry is the core's instance registry.
func (c *Core) Registry() *Registry { return c.reg }

// Store is the core's (instrumented) store.
func (c *Core) Store() store.Store { return c.store }

// OnDecision registers fn to be called with every decision created (after it is stored).
func (c *Core) OnDecision(fn func(apiv1.Decision)) {
	c.mu.Lock()
	c.observers = append(c.observers, fn)
	c.mu.Unlock()
}

// Run sweeps instance health, flushes acknowledgements to the store and settles pushed
// decisions, until ctx ends; then it flushes what is left.
func (c *Core) Run(ctx context.Context) {
	defer close(c.flushed)
	// Health moves in heartbeat intervals, so sweeping twice an interval is precise enough;
	// a sweep walks every instance, which at 10,000 is not free.
	sweep := time.NewTicker(c.cfg.HeartbeatInterval / 2)
	defer sweep.Stop()
	flush := time.NewTicker(250 * time.Millisecond)
	defer flush.Stop()
	var acks []apiv1.Ack
	var audit []apiv1.AuditEvent
	for {
		select {
		case <-ctx.Done():
			acks, audit = c.drain(acks, audit)
			c.flush(context.Background(), acks, audit)
			return
		case a := <-c.ackQ:
			acks = append(acks, a)
			c.noteAck(a)
		case e := <-c.auditQ:
			audit = append(audit, e)
		case <-sweep.C:
			now := c.clock.Now()
			suspect := time.Duration(c.cfg.SuspectAfter)*c.cfg.HeartbeatInterval + c.cfg.HeartbeatInterval/2
			if n := c.reg.sweep(now, suspect, c.cfg.GoneAfter, c.cfg.RemoveAfter); n > 0 {
				c.log.Debug("instance health changed", zap.Int("instances", n))
			}
			c.m.updateGauges()
		case <-flush.C:
			acks, audit = c.drain(acks, audit)
			c.flush(ctx, acks, audit)
			acks, audit = acks[:0], audit[:0]
		}
	}
}

// drain takes whatever is queued without blocking.
func (c *Core) drain(acks []apiv1.Ack, audit []apiv1.AuditEvent) ([]apiv1.Ack, []apiv1.AuditEvent) {
	for {
		select {
		case a := <-c.ackQ:
			acks = append(acks, a)
			c.noteAck(a)
		case e := <-c.auditQ:
			audit = append(audit, e)
		default:
			return acks, audit
		}
	}
}

// flush writes acknowledgements and audit events, and settles decisions whose
// acknowledgements are all in or whose time is up. A failed write is logged and counted;
// the loop goes on.
func (c *Core) flush(ctx context.Context, acks []apiv1.Ack, audit []apiv1.AuditEvent) {
	if err := c.store.RecordAcks(ctx, acks); err != nil {
		c.log.Error("record acknowledgements", zap.Int("acks", len(acks)), zap.Error(err))
	}
	now := c.clock.Now()
	type settle struct {
		id      string
		summary apiv1.AckSummary
		final   bool
		settled bool
	}
	var updates []settle
	c.mu.Lock()
	for id, p := range c.pending {
		final := p.done() || now.Sub(p.pushedAt) > c.cfg.AckTimeout
		if p.dirty || final {
			updates = append(updates, settle{id: id, summary: p.summary, final: final, settled: p.settled})
			p.dirty = false
		}
		if final {
			delete(c.pending, id)
		}
	}
	c.mu.Unlock()
	for _, u := range updates {
		_, err := c.store.UpdateDecision(ctx, u.id, func(d *apiv1.Decision) error {
			d.Acks = u.summary
			d.UpdatedAt = now
			if u.final && d.Outcome == apiv1.OutcomePending && !u.settled {
				d.Outcome = settledOutcome(u.summary)
				audit = append(audit, apiv1.AuditEvent{DecisionID: d.ID, Time: now, Kind: apiv1.AuditOutcome,
					Message: fmt.Sprintf("%s: %d of %d instances applied it, %d rejected it",
						d.Outcome, u.summary.Applied, u.summary.Targeted, u.summary.Rejected)})
			}
			return nil
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			c.log.Error("update decision", zap.String("decision", u.id), zap.Error(err))
		}
	}
	if err := c.store.AppendAudit(ctx, audit...); err != nil {
		c.log.Error("append audit", zap.Int("events", len(audit)), zap.Error(err))
	}
}

func settledOutcome(s apiv1.AckSummary) apiv1.Outcome {
	switch {
	case s.Targeted == 0:
		return apiv1.OutcomeNoInstances
	case s.Applied == s.Targeted:
		return apiv1.OutcomeApplied
	case s.Applied == 0 && s.Rejected > 0:
		return apiv1.OutcomeRejected
	case s.Rejected > 0 || s.Applied > 0:
		return apiv1.OutcomePartial
	}
	return apiv1.OutcomePending
}

// noteAck counts an acknowledgement against its pending decision. Only called from Run.
func (c *Core) noteAck(a apiv1.Ack) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pending[a.DecisionID]
	switch {
	case !ok:
		return
	case p.recovered:
		if p.acked[a.Instance] {
			return
		}
		p.acked[a.Instance] = true
	case !p.waiting[a.Instance]:
		return
	default:
		delete(p.waiting, a.Instance)
	}
	if a.Applied {
		p.summary.Applied++
	} else {
		p.summary.Rejected++
	}
	p.dirty = true
}

// Flushed is closed once Run has returned and flushed everything it held.
func (c *Core) Flushed() <-chan struct{} { return c.flushed }

// newDecisionID returns an id that sorts by creation time.
func newDecisionID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("d-%s-%s", now.UTC().Format("20060102T150405.000Z"), hex.EncodeToString(b[:]))
}
