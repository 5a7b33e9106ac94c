package controlplane

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/controlplane/store"

	"github.com/mcplane/mcp/runtime/knob"
)

// ErrorKind classifies an error for the API: what the caller did wrong.
type ErrorKind int

const (
	// KindInvalid: the request is malformed or out of bounds (HTTP 400).
	KindInvalid ErrorKind = iota + 1
	// KindNotFound: it names something that does not exist (HTTP 404).
	KindNotFound
	// KindConflict: it cannot apply to the current state (HTTP 409).
	KindConflict
)

// Error is an error the caller can fix; Msg says how.
type Error struct {
	Kind ErrorKind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func invalid(format string, args ...any) error {
	return &Error{Kind: KindInvalid, Msg: fmt.Sprintf(format, args...)}
}

// Decide validates a decision against the registry, stores it (with the knob set it
// leaves in force) and, in apply mode, pushes it to every connected instance it covers.
// The caller fills Service, Instance, Knobs, Mode, Source, Reason and any evidence; Decide
// fills the rest. When Decide returns without error the decision is durable; nothing is
// stored or pushed when it returns an error.
func (c *Core) Decide(ctx context.Context, d apiv1.Decision) (apiv1.Decision, error) {
	if d.Mode == "" {
		d.Mode = apiv1.ModeApply
	}
	req := apiv1.DecisionRequest{Service: d.Service, Instance: d.Instance, Knobs: d.Knobs, HPATargetUtilization: d.HPATargetUtilization, Mode: d.Mode}
	if err := req.Validate(); err != nil {
		return d, invalid("%v", err)
	}
	_, targets := c.reg.Instances(d.Service)
	if d.Instance != "" {
		inst, ok := c.reg.Instance(d.Instance)
		if !ok || inst.Service != d.Service {
			return d, &Error{Kind: KindNotFound, Msg: fmt.Sprintf(
				"instance %q of service %q is not registered (mcp instances --service %s lists them)", d.Instance, d.Service, d.Service)}
		}
		targets = []apiv1.Instance{inst}
	}
	c.mu.Lock()
	_, hasDesired := c.desired[store.Target{Service: d.Service}]
	c.mu.Unlock()
	if len(targets) == 0 && !hasDesired && d.Workload == "" && d.Source != apiv1.SourceKubernetes {
		return d, &Error{Kind: KindNotFound, Msg: fmt.Sprintf(
			"service %q is not known: no instance of it has registered (mcp instances lists them)", d.Service)}
	}
	if err := checkAgainstInstances(d.Knobs, targets); err != nil {
		return d, err
	}

	now := c.clock.Now()
	d.ID = newDecisionID(now)
	d.CreatedAt, d.UpdatedAt = now, now
	if d.Before == nil && len(targets) > 0 && sameKnobs(targets) {
		k := targets[0].Knobs
		d.Before = &k
	}
	var desired []store.Desired
	var conns []*conn
	if d.Mode == apiv1.ModeApply {
		d.Outcome = apiv1.OutcomePending
		desired = c.nextDesired(d, now)
		// The sessions are chosen before storing so the stored decision says how many
		// instances it went to, even if this process dies before any ack is flushed.
		conns = c.pushTargets(d)
		d.Acks.Targeted = len(conns)
		if len(conns) == 0 {
			d.Outcome = apiv1.OutcomeNoInstances
		}
	} else {
		d.Outcome = apiv1.OutcomeRecorded
	}
	if err := c.store.CreateDecision(ctx, d, desired...); err != nil {
		return d, fmt.Errorf("store decision: %w", err)
	}
	c.m.decisions.WithLabelValues(d.Source, string(d.Mode)).Inc()
	c.audit(apiv1.AuditEvent{DecisionID: d.ID, Time: now, Kind: apiv1.AuditCreated,
		Message: fmt.Sprintf("%s decision by %s for %s: %s (%s)", d.Mode, d.Source, targetName(d), d.What(), d.Reason)})
	c.log.Info("decision created", zap.String("decision", d.ID), zap.String("service", d.Service),
		zap.String("instance", d.Instance), zap.String("mode", string(d.Mode)), zap.String("source", d.Source),
		zap.String("knobs", d.What()), zap.String("reason", d.Reason))
	if desired != nil {
		c.setDesired(desired)
		c.push(d, conns, now)
	}
	c.mu.Lock()
	observers := c.observers
	c.mu.Unlock()
	for _, fn := range observers {
		fn(d)
	}
	return d, nil
}

// Deliver pushes a decision another replica stored (learned through a watch) to this
// replica's own agents, without storing it again.
func (c *Core) Deliver(d apiv1.Decision) int {
	if d.Mode != apiv1.ModeApply {
		return 0
	}
	target := store.Target{Service: d.Service, Instance: d.Instance}
	c.mu.Lock()
	cur := c.desired[target]
	c.mu.Unlock()
	if cur.DecisionID >= d.ID { // ids sort by time: this one is old news
		return 0
	}
	c.setDesired(c.nextDesired(d, d.CreatedAt))
	conns := c.pushTargets(d)
	c.push(d, conns, c.clock.Now())
	return len(conns)
}

func targetName(d apiv1.Decision) string {
	if d.Instance != "" {
		return d.Service + "/" + d.Instance
	}
	return d.Service
}

func sameKnobs(insts []apiv1.Instance) bool {
	for _, i := range insts[1:] {
		if i.Knobs != insts[0].Knobs {
			return false
		}
	}
	return true
}

// checkAgainstInstances refuses knob values no targeted instance could take: a memory limit
// above an instance's container, or a knob every targeted instance's operator owns.
func checkAgainstInstances(k knob.Change, targets []apiv1.Instance) error {
	if len(targets) == 0 {
		return nil
	}
	if m := k.MemoryLimit; m != nil {
		for _, i := range targets {
			if lim := i.Limits.MemoryBytes; lim > 0 && *m > knob.MemoryLimitCeiling(lim) {
				return invalid("knobs.memory_limit_bytes: %s is above %v × the container memory limit (%s) of instance %s",
					knob.FormatBytes(*m), knob.MaxMemoryLimitRatio, knob.FormatBytes(lim), i.ID)
			}
		}
	}
	if k.MemoryLimitRatio != nil {
		for _, i := range targets {
			if i.Limits.MemoryBytes == 0 {
				return invalid("knobs.memory_limit_ratio: instance %s has no container memory limit to take a ratio of; give memory_limit_bytes", i.ID)
			}
		}
	}
	owned := func(name string, src func(knob.Sources) knob.Source) error {
		for _, i := range targets {
			if src(i.Sources) != knob.SourceOperatorEnv {
				return nil
			}
		}
		return &Error{Kind: KindConflict, Msg: fmt.Sprintf("%s is set by the operator on every targeted instance; MCP never overrides it", name)}
	}
	var errs []string
	if k.GOGC != nil {
		if err := owned("GOGC", func(s knob.Sources) knob.Source { return s.GOGC }); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if k.MemoryLimit != nil || k.MemoryLimitRatio != nil {
		if err := owned("GOMEMLIMIT", func(s knob.Sources) knob.Source { return s.MemoryLimit }); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if k.GOMAXPROCS != nil {
		if err := owned("GOMAXPROCS", func(s knob.Sources) knob.Source { return s.GOMAXPROCS }); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return &Error{Kind: KindConflict, Msg: strings.Join(errs, "; ")}
	}
	return nil
}

// pushTargets returns the sessions a decision goes to: every connected instance it covers,
// none when it changes no runtime knob (an HPA target is the cluster's, not the agents').
func (c *Core) pushTargets(d apiv1.Decision) []*conn {
	if d.Knobs.IsEmpty() {
		return nil
	}
	return c.reg.connected(d.Service, d.Instance)
}

// push sends a decision's knob change to conns in parallel and starts waiting for their
// acknowledgements.
func (c *Core) push(d apiv1.Decision, conns []*conn, at time.Time) {
	if len(conns) == 0 {
		return
	}
	p := &pendingDecision{id: d.ID, pushedAt: at, waiting: make(map[string]bool, len(conns))}
	for _, cn := range conns {
		p.waiting[cn.instance] = true
	}
	p.summary.Targeted = len(conns)
	c.mu.Lock()
	c.pending[d.ID] = p
	c.mu.Unlock()
	msg := knobUpdateProto(d.ID, d.Knobs)
	c.fanOut(conns, func(cn *conn) {
		cn.pushedAt(d.ID, at)
		if err := cn.send(msg); err != nil {
			c.m.pushes.WithLabelValues("failed").Inc()
			c.log.Warn("knob push failed", zap.String("decision", d.ID), zap.String("instance", cn.instance), zap.Error(err))
		}
	})
	c.audit(apiv1.AuditEvent{DecisionID: d.ID, Time: c.clock.Now(), Kind: apiv1.AuditPushed,
		Message: fmt.Sprintf("pushed to %d connected instances", len(conns))})
}

// nextDesired returns the knob changes an apply-mode decision leaves in force: its target's
// set merged with the decision's knobs and, for a service-wide decision, the service's
// instance-level sets without the knobs it just changed (the newer, wider decision wins).
func (c *Core) nextDesired(d apiv1.Decision, now time.Time) []store.Desired {
	if d.Knobs.IsEmpty() {
		return nil // an HPA target only: nothing changes for the agents
	}
	target := store.Target{Service: d.Service, Instance: d.Instance}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := []store.Desired{{Target: target, Knobs: c.desired[target].Knobs.Merge(d.Knobs), DecisionID: d.ID, UpdatedAt: now}}
	if d.Instance == "" {
		for t, cur := range c.desired {
			if t.Service == d.Service && t.Instance != "" {
				out = append(out, store.Desired{Target: t, Knobs: cur.Knobs.Without(d.Knobs), DecisionID: cur.DecisionID, UpdatedAt: now})
			}
		}
	}
	return out
}

// setDesired records knob sets now in force; an empty set removes its target.
func (c *Core) setDesired(ds []store.Desired) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range ds {
		if d.Knobs.IsEmpty() {
			delete(c.desired, d.Target)
		} else {
			c.desired[d.Target] = d
		}
	}
}

// fanOut runs fn for every session on PushWorkers goroutines.
func (c *Core) fanOut(conns []*conn, fn func(*conn)) {
	if len(conns) == 0 {
		return
	}
	workers := min(c.cfg.PushWorkers, len(conns))
	ch := make(chan *conn)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for cn := range ch {
				fn(cn)
			}
		})
	}
	for _, cn := range conns {
		ch <- cn
	}
	close(ch)
	wg.Wait()
}

// DesiredFor is the knob set in force for an instance: its service's, overlaid with its
// own, and the decision that last changed it.
func (c *Core) DesiredFor(service, instance string) (knob.Change, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	svc := c.desired[store.Target{Service: service}]
	inst, ok := c.desired[store.Target{Service: service, Instance: instance}]
	if !ok {
		return svc.Knobs, svc.DecisionID
	}
	id := inst.DecisionID
	if svc.DecisionID > id {
		id = svc.DecisionID
	}
	return svc.Knobs.Merge(inst.Knobs), id
}

// Desired returns the knob set in force for a target, if any.
func (c *Core) Desired(service, instance string) (store.Desired, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.desired[store.Target{Service: service, Instance: instance}]
	return d, ok
}

// audit queues an audit event for the next flush.
func (c *Core) audit(e apiv1.AuditEvent) {
	select {
	case c.auditQ <- e:
	default:
		c.log.Warn("audit queue full; event dropped", zap.String("decision", e.DecisionID), zap.String("kind", e.Kind))
	}
}

var errSessionClosed = errors.New("session closed")

// Settle records what became of a decision: its outcome (kept, rolled-back), the figures
// observed after it, and a note in its audit trail.
func (c *Core) Settle(ctx context.Context, id string, outcome apiv1.Outcome, observed map[string]float64, note string) error {
	now := c.clock.Now()
	_, err := c.store.UpdateDecision(ctx, id, func(d *apiv1.Decision) error {
		d.Outcome, d.UpdatedAt = outcome, now
		if observed != nil {
			d.Observed = observed
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("settle decision %s: %w", id, err)
	}
	// A settled decision no longer waits for acknowledgements to decide its outcome.
	c.mu.Lock()
	if p, ok := c.pending[id]; ok {
		p.settled = true
	}
	c.mu.Unlock()
	c.audit(apiv1.AuditEvent{DecisionID: id, Time: now, Kind: apiv1.AuditOutcome, Message: string(outcome) + ": " + note})
	return nil
}

// Decision reads a stored decision.
func (c *Core) Decision(ctx context.Context, id string) (apiv1.Decision, error) {
	return c.store.GetDecision(ctx, id)
}
