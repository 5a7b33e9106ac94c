package tuner

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"go.uber.org/zap"

	agentv1 "github.com/mcplane/mcp/api/agent/v1"
	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/runtime/knob"
	"github.com/mcplane/mcp/tuner/policy"
	"github.com/mcplane/mcp/tuner/signals"
)

// This file is the per-workload state machine:
//
//	steady ──decision (canary)──► canary ──canary no worse──► watching ──window passed, no regression──► steady
//	   │                            └──────canary worse: rollback────────────────────────────────────────► steady
//	   └──────decision (no canary)──► watching ──regression, OOM or restart: rollback──────────────────────► steady
//
// What to change comes from the proposers (propose*.go, one per knob); what counts as worse
// and how a change is undone, from rollback.go.

// workload is the tuner's state for one service under one policy. Only touched from
// Evaluate (one goroutine at a time) and Status (under Tuner.mu, for status).
type workload struct {
	key, policy, service string
	phase                Phase
	status               WorkloadStatus

	change     *change
	changes    []time.Time // decisions applied in the last hour
	lastChange time.Time
	ceiling    int // a GOGC that measured no better, remembered until ceilingTo
	ceilingTo  time.Time
	guardUntil time.Time // no GOGC raise until then: an agent's memory guard engaged
	guardSeen  map[string]time.Time
	lastRec    string // the last observe/recommend proposal recorded
}

// change is a decision being canaried or watched.
type change struct {
	decision  apiv1.Decision
	canary    string // instance id, during the canary phase
	prev      knob.Change
	prevHPA   *int
	baseline  Aggregate
	appliedAt time.Time
	snapshot  map[string]instanceMark
}

// instanceMark is what an instance looked like when a change was made, to tell a restart
// or an OOM kill afterwards.
type instanceMark struct {
	hostname   string
	registered time.Time
	oomKills   uint64
	healthy    bool
}

func (t *Tuner) step(ctx context.Context, p policy.Policy, w *workload, now time.Time) error {
	_, insts := t.instances.Instances(w.service)
	keys := t.signals.Instances(w.service)
	t.noteGuardEvents(w, insts, now)
	var err error
	switch w.phase {
	case PhaseCanary:
		err = t.stepCanary(ctx, p, w, insts, keys, now)
	case PhaseWatching:
		err = t.stepWatching(ctx, p, w, insts, keys, now)
	default:
		err = t.stepSteady(ctx, p, w, insts, keys, now)
	}
	t.mu.Lock()
	w.status.Service, w.status.Policy, w.status.Phase, w.status.Instances, w.status.Evaluated = w.service, w.policy, w.phase, len(insts), now
	t.mu.Unlock()
	return err
}

// noteGuardEvents counts agents' memory guard engagements; the tuner never raises GOGC
// for ten minutes after one (the guard's evidence is that memory is tight).
func (t *Tuner) noteGuardEvents(w *workload, insts []apiv1.Instance, now time.Time) {
	if w.guardSeen == nil {
		w.guardSeen = map[string]time.Time{}
	}
	for _, i := range insts {
		for _, e := range t.instances.InstanceEvents(i.ID) {
			if e.Kind != agentv1.EventMemoryGuardEngaged || !e.Time.After(w.guardSeen[i.ID]) {
				continue
			}
			w.guardSeen[i.ID] = e.Time
			w.guardUntil = now.Add(10 * time.Minute)
			t.m.guardEvents.WithLabelValues(w.service).Inc()
			t.log.Info("memory guard event: holding GOGC", zap.String("service", w.service), zap.String("instance", i.ID), zap.String("message", e.Message))
		}
	}
}

func (t *Tuner) setStatus(w *workload, current knob.Change, prop proposal, reason string, ev map[string]float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w.status.Current, w.status.Recommended, w.status.RecommendedHPATarget, w.status.Reason = current, prop.knobs, prop.hpa, reason
	if ev != nil {
		w.status.Evidence = ev
	}
}

func (t *Tuner) stepSteady(ctx context.Context, p policy.Policy, w *workload, insts []apiv1.Instance, keys []signals.Key, now time.Time) error {
	agg := aggregate(t.signals, keys, now.Add(-t.cfg.Window), nil)
	current := currentKnobs(agg)
	t.recordGauges(w.service, agg)
	if agg.Instances == 0 || agg.Samples < t.cfg.MinSamples*agg.Instances {
		t.setStatus(w, current, proposal{}, fmt.Sprintf("waiting for signals: %d samples from %d instances in the last %v",
			agg.Samples, agg.Instances, t.cfg.Window), nil)
		return nil
	}
	prop := t.propose(evaluation{ctx: ctx, p: p, w: w, agg: agg, insts: insts, keys: keys, now: now})
	if fd := prop.floorDistance; finite(fd) {
		t.m.floorDistance.WithLabelValues(w.service).Set(fd)
		t.mu.Lock()
		w.status.FloorDistance = &fd
		t.mu.Unlock()
	}
	t.setStatus(w, current, prop, prop.reason(), agg.evidence())
	if prop.empty() {
		return nil
	}
	if p.Mode != apiv1.ModeApply {
		if prop.what() == w.lastRec {
			return nil // the same proposal is already on record
		}
		d, err := t.rec.Decide(ctx, t.decision(p, w, "", prop, agg))
		if err != nil {
			return fmt.Errorf("record %s decision: %w", p.Mode, err)
		}
		w.lastRec = prop.what()
		t.countDecision(w.service, p.Mode, d)
		t.mu.Lock()
		w.status.LastDecision = d.ID
		t.mu.Unlock()
		return nil
	}
	if wait := w.lastChange.Add(p.Cooldown).Sub(now); wait > 0 {
		t.setStatus(w, current, prop, prop.reason()+fmt.Sprintf(" (cooldown: %v left)", wait.Round(time.Second)), nil)
		return nil
	}
	w.changes = within(w.changes, now.Add(-time.Hour))
	if len(w.changes) >= p.MaxPerHour {
		t.setStatus(w, current, prop, prop.reason()+fmt.Sprintf(" (change budget: %d changes in the last hour)", len(w.changes)), nil)
		return nil
	}
	canary := ""
	if p.Canary {
		canary = pickCanary(insts)
	}
	d, err := t.rec.Decide(ctx, t.decision(p, w, canary, prop, agg))
	if err != nil {
		return fmt.Errorf("apply decision: %w", err)
	}
	t.actuate(ctx, p, d)
	t.countDecision(w.service, p.Mode, d)
	t.noteApplied(w, d)
	w.lastChange = now
	w.changes = append(w.changes, now)
	w.change = &change{decision: d, canary: canary, prev: prop.prev, prevHPA: prop.prevHPA, baseline: agg, appliedAt: now, snapshot: mark(insts)}
	w.phase = PhaseWatching
	if canary != "" {
		w.phase = PhaseCanary
	}
	t.mu.Lock()
	w.status.LastDecision = d.ID
	t.mu.Unlock()
	t.log.Info("tuner decision", zap.String("service", w.service), zap.String("policy", p.Key()), zap.String("decision", d.ID),
		zap.String("canary", canary), zap.String("knobs", d.What()), zap.String("reason", d.Reason))
	return nil
}

func (t *Tuner) stepCanary(ctx context.Context, p policy.Policy, w *workload, insts []apiv1.Instance, keys []signals.Key, now time.Time) error {
	c := w.change
	if now.Before(c.appliedAt.Add(p.CanaryWindow)) {
		return nil
	}
	since := c.appliedAt.Add(t.cfg.Settle)
	canary := aggregate(t.signals, keys, since, func(k signals.Key) bool { return k.Instance == c.canary })
	peers := aggregate(t.signals, keys, since, func(k signals.Key) bool { return k.Instance != c.canary })
	if regs := t.regressed(p, peers, canary, c, insts); len(regs) > 0 {
		return t.rollBack(ctx, p, w, c.canary, regs, canary, now)
	}
	// The canary did no worse than its peers: the whole service follows.
	d, err := t.rec.Decide(ctx, apiv1.Decision{Service: w.service, Knobs: c.decision.Knobs, HPATargetUtilization: c.decision.HPATargetUtilization,
		Mode: p.Mode, Source: apiv1.SourceTuner, Policy: p.Key(),
		Reason:   "canary " + c.canary + " did no worse than its peers over " + p.CanaryWindow.String() + ": " + c.decision.Reason,
		Evidence: c.decision.Evidence, Prediction: c.decision.Prediction, Observed: canary.evidence()})
	if err != nil {
		return fmt.Errorf("promote canary: %w", err)
	}
	_ = t.rec.Settle(ctx, c.decision.ID, apiv1.OutcomeKept, canary.evidence(), "canary compared with its peers: kept, and applied to the service in "+d.ID)
	t.actuate(ctx, p, d)
	t.noteApplied(w, d)
	w.change = &change{decision: d, prev: c.prev, prevHPA: c.prevHPA, baseline: c.baseline, appliedAt: now, snapshot: mark(insts)}
	w.phase = PhaseWatching
	w.lastChange = now
	t.mu.Lock()
	w.status.LastDecision = d.ID
	t.mu.Unlock()
	return nil
}

func (t *Tuner) stepWatching(ctx context.Context, p policy.Policy, w *workload, insts []apiv1.Instance, keys []signals.Key, now time.Time) error {
	c := w.change
	post := aggregate(t.signals, keys, c.appliedAt.Add(t.cfg.Settle), nil)
	// A restart or OOM kill is acted on at once, not at the end of the window.
	if p.Rollback.OnOOMOrRestart {
		if r := restarts(c.snapshot, insts, c.appliedAt); len(r) > 0 {
			return t.rollBack(ctx, p, w, "", r, post, now)
		}
	}
	if now.Before(c.appliedAt.Add(p.Rollback.Window)) {
		return nil
	}
	if regs := t.regressed(p, c.baseline, post, c, insts); len(regs) > 0 {
		return t.rollBack(ctx, p, w, "", regs, post, now)
	}
	note := "kept: no regression over " + p.Rollback.Window.String()
	// Feedback: a GOGC raise that did not lower CPU per request sets a ceiling there.
	if g := c.decision.Knobs.GOGC; g != nil && finite(c.baseline.GOGC) && float64(*g) > c.baseline.GOGC &&
		finite(post.CPUPerReq) && finite(c.baseline.CPUPerReq) && post.CPUPerReq > c.baseline.CPUPerReq*0.99 {
		w.ceiling, w.ceilingTo = *g, now.Add(t.cfg.CeilingFor)
		note += fmt.Sprintf("; CPU per request did not fall (%.3gms → %.3gms), so GOGC stops at %d",
			1000*c.baseline.CPUPerReq, 1000*post.CPUPerReq, *g)
	}
	if err := t.rec.Settle(ctx, c.decision.ID, apiv1.OutcomeKept, post.evidence(), note); err != nil {
		t.log.Warn("settle decision", zap.String("decision", c.decision.ID), zap.Error(err))
	}
	if finite(post.GCFrac) {
		t.m.gcFraction.WithLabelValues(w.service, "observed").Set(post.GCFrac)
	}
	w.change, w.phase = nil, PhaseSteady
	return nil
}

// noteApplied records in the workload's status the HPA target an apply-mode decision set.
func (t *Tuner) noteApplied(w *workload, d apiv1.Decision) {
	if d.Mode != apiv1.ModeApply || d.HPATargetUtilization == nil || d.Instance != "" {
		return
	}
	t.mu.Lock()
	w.status.AppliedHPATarget = d.HPATargetUtilization
	t.mu.Unlock()
}

func within(ts []time.Time, since time.Time) []time.Time {
	out := ts[:0]
	for _, t := range ts {
		if t.After(since) {
			out = append(out, t)
		}
	}
	return out
}

// pickCanary chooses the canary: a healthy instance, the same one every time for a stable
// comparison; none when there are no peers to compare it with.
func pickCanary(insts []apiv1.Instance) string {
	var healthy []string
	for _, i := range insts {
		if i.Health == apiv1.HealthHealthy && i.Connected {
			healthy = append(healthy, i.ID)
		}
	}
	if len(healthy) < 2 {
		return ""
	}
	sort.Strings(healthy)
	return healthy[0]
}

func mark(insts []apiv1.Instance) map[string]instanceMark {
	out := make(map[string]instanceMark, len(insts))
	for _, i := range insts {
		m := instanceMark{hostname: i.Hostname, registered: i.RegisteredAt, healthy: i.Health == apiv1.HealthHealthy}
		if i.Usage != nil {
			m.oomKills = i.Usage.OOMKills
		}
		out[i.ID] = m
	}
	return out
}

func (t *Tuner) decision(p policy.Policy, w *workload, canary string, prop proposal, agg Aggregate) apiv1.Decision {
	d := apiv1.Decision{Service: w.service, Instance: canary, Canary: canary, Knobs: prop.knobs, HPATargetUtilization: prop.hpa,
		Mode: p.Mode, Source: apiv1.SourceTuner, Policy: p.Key(), Reason: prop.reason(), Evidence: agg.evidence(), Prediction: prop.prediction}
	if p.Workload != nil {
		d.Namespace, d.Workload = p.Namespace, p.Workload.Kind+"/"+p.Workload.Name
	}
	return d
}

// currentKnobs are the knobs in effect, as the workload's signals report them.
func currentKnobs(a Aggregate) knob.Change {
	var k knob.Change
	if finite(a.GOGC) {
		g := int(math.Round(a.GOGC))
		k.GOGC = &g
	}
	if finite(a.GOMEMLIMIT) && a.GOMEMLIMIT < knob.NoMemoryLimit/2 {
		b := int64(a.GOMEMLIMIT)
		k.MemoryLimit = &b
	}
	if finite(a.GOMAXPROCS) {
		p := int(a.GOMAXPROCS)
		k.GOMAXPROCS = &p
	}
	return k
}
