package tuner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/tuner/model"
	"github.com/mcplane/mcp/tuner/policy"
	"github.com/mcplane/mcp/tuner/signals"
)

// workload is the tuner's state for one service under one policy. Only touched from
// Evaluate (one goroutine at a time) and Status (under Tuner.mu, for status).
type workload struct {
	key, policy, service string
	phase                Phase
	status               WorkloadStatus

	change     *change
	changes    []time.Time // decisions applied in the last hour
	lastChange time.Time
	ceiling    int // a GOGC that measured no better, remembered until ceilingUntil
	ceilingTo  time.Time
	guardUntil time.Time // no GOGC raise until then: an agent's memory guard engaged
	guardSeen  map[string]time.Time
	lastRec    string // the last observe/recommend proposal recorded
}

// change is a decision being canaried or watched.
type change struct {
	decision  apiv1.Decision
	canary    string // instance id, during the canary phase
	prev      apiv1.KnobSet
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
			if e.Kind != "memory-guard-engaged" || !e.Time.After(w.guardSeen[i.ID]) {
				continue
			}
			w.guardSeen[i.ID] = e.Time
			w.guardUntil = now.Add(10 * time.Minute)
			t.m.guardEvents.WithLabelValues(w.service).Inc()
			t.log.Info("memory guard event: holding GOGC", zap.String("service", w.service), zap.String("instance", i.ID), zap.String("message", e.Message))
		}
	}
}

func (t *Tuner) setStatus(w *workload, current, recommended apiv1.KnobSet, reason string, ev map[string]float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w.status.Current, w.status.Recommended, w.status.Reason = current, recommended, reason
	if ev != nil {
		w.status.Evidence = ev
	}
}

// proposal is what the tuner would change, and why.
type proposal struct {
	knobs      apiv1.KnobSet
	prev       apiv1.KnobSet
	reason     string
	prediction map[string]float64
}

func (t *Tuner) stepSteady(ctx context.Context, p policy.Policy, w *workload, insts []apiv1.Instance, keys []signals.Key, now time.Time) error {
	agg := aggregate(t.signals, keys, now.Add(-t.cfg.Window), nil)
	current := currentKnobs(agg)
	t.recordGauges(w.service, agg)
	if agg.Instances == 0 || agg.Samples < t.cfg.MinSamples*agg.Instances {
		t.setStatus(w, current, apiv1.KnobSet{}, fmt.Sprintf("waiting for signals: %d samples from %d instances in the last %v",
			agg.Samples, agg.Instances, t.cfg.Window), nil)
		return nil
	}
	prop, floorDist := t.propose(ctx, p, w, agg, insts, keys, now)
	if finite(floorDist) {
		t.m.floorDistance.WithLabelValues(w.service).Set(floorDist)
		t.mu.Lock()
		w.status.FloorDistance = &floorDist
		t.mu.Unlock()
	}
	t.setStatus(w, current, prop.knobs, prop.reason, agg.evidence())
	if prop.knobs.IsEmpty() {
		return nil
	}
	if p.Mode != apiv1.ModeApply {
		if prop.knobs.String() == w.lastRec {
			return nil // the same proposal is already on record
		}
		d, err := t.rec.Decide(ctx, t.decision(p, w, "", prop, agg))
		if err != nil {
			return fmt.Errorf("record %s decision: %w", p.Mode, err)
		}
		w.lastRec = prop.knobs.String()
		t.countDecision(w.service, p.Mode, prop.knobs)
		t.mu.Lock()
		w.status.LastDecision = d.ID
		t.mu.Unlock()
		return nil
	}
	if wait := w.lastChange.Add(p.Cooldown).Sub(now); wait > 0 {
		t.setStatus(w, current, prop.knobs, prop.reason+fmt.Sprintf(" (cooldown: %v left)", wait.Round(time.Second)), nil)
		return nil
	}
	w.changes = within(w.changes, now.Add(-time.Hour))
	if len(w.changes) >= p.MaxPerHour {
		t.setStatus(w, current, prop.knobs, prop.reason+fmt.Sprintf(" (change budget: %d changes in the last hour)", len(w.changes)), nil)
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
	t.countDecision(w.service, p.Mode, prop.knobs)
	w.lastChange = now
	w.changes = append(w.changes, now)
	w.change = &change{decision: d, canary: canary, prev: prop.prev, baseline: agg, appliedAt: now, snapshot: mark(insts)}
	w.phase = PhaseWatching
	if canary != "" {
		w.phase = PhaseCanary
	}
	t.mu.Lock()
	w.status.LastDecision = d.ID
	t.mu.Unlock()
	t.log.Info("tuner decision", zap.String("service", w.service), zap.String("policy", p.Key()), zap.String("decision", d.ID),
		zap.String("canary", canary), zap.Stringer("knobs", prop.knobs), zap.String("reason", prop.reason))
	return nil
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

// restarts finds OOM kills and restarts since a snapshot: a higher OOM kill count, a
// healthy instance gone suspect or missing, or a new registration from a known host.
func restarts(before map[string]instanceMark, insts []apiv1.Instance, since time.Time) []string {
	var out []string
	now := map[string]apiv1.Instance{}
	hosts := map[string]bool{}
	for id, m := range before {
		hosts[m.hostname] = true
		_ = id
	}
	for _, i := range insts {
		now[i.ID] = i
		m, known := before[i.ID]
		switch {
		case known && i.Usage != nil && i.Usage.OOMKills > m.oomKills:
			out = append(out, fmt.Sprintf("%s was OOM-killed", i.ID))
		case known && m.healthy && i.Health != apiv1.HealthHealthy:
			out = append(out, fmt.Sprintf("%s turned %s", i.ID, i.Health))
		case known && i.RegisteredAt.After(m.registered):
			out = append(out, fmt.Sprintf("%s restarted", i.ID))
		case !known && i.RegisteredAt.After(since) && i.Hostname != "" && hosts[i.Hostname]:
			out = append(out, fmt.Sprintf("%s restarted (new process on %s)", i.ID, i.Hostname))
		}
	}
	for id, m := range before {
		if _, ok := now[id]; !ok && m.healthy {
			out = append(out, fmt.Sprintf("%s disappeared", id))
		}
	}
	sort.Strings(out)
	return out
}

func (t *Tuner) stepCanary(ctx context.Context, p policy.Policy, w *workload, insts []apiv1.Instance, keys []signals.Key, now time.Time) error {
	c := w.change
	if now.Before(c.appliedAt.Add(p.CanaryWindow)) {
		return nil
	}
	since := c.appliedAt.Add(t.cfg.Settle)
	canary := aggregate(t.signals, keys, since, func(k signals.Key) bool { return k.Instance == c.canary })
	peers := aggregate(t.signals, keys, since, func(k signals.Key) bool { return k.Instance != c.canary })
	if why := t.regressed(p, peers, canary, c, insts); why != "" {
		return t.rollBack(ctx, p, w, c.canary, why, canary, now)
	}
	// The canary did no worse than its peers: the whole service follows.
	d, err := t.rec.Decide(ctx, apiv1.Decision{Service: w.service, Knobs: c.decision.Knobs, Mode: p.Mode, Source: "tuner",
		Policy: p.Key(), Reason: "canary " + c.canary + " did no worse than its peers over " + p.CanaryWindow.String() + ": " + c.decision.Reason,
		Evidence: c.decision.Evidence, Prediction: c.decision.Prediction, Observed: canary.evidence()})
	if err != nil {
		return fmt.Errorf("promote canary: %w", err)
	}
	_ = t.rec.Settle(ctx, c.decision.ID, apiv1.OutcomeKept, canary.evidence(), "canary compared with its peers: kept, and applied to the service in "+d.ID)
	t.actuate(ctx, p, d)
	w.change = &change{decision: d, prev: c.prev, baseline: c.baseline, appliedAt: now, snapshot: mark(insts)}
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
			return t.rollBack(ctx, p, w, "", strings.Join(r, ", "), post, now)
		}
	}
	if now.Before(c.appliedAt.Add(p.Rollback.Window)) {
		return nil
	}
	if why := t.regressed(p, c.baseline, post, c, insts); why != "" {
		return t.rollBack(ctx, p, w, "", why, post, now)
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

// regressed compares after with before under the policy's rollback rules and returns why it
// is worse, or "".
func (t *Tuner) regressed(p policy.Policy, before, after Aggregate, c *change, insts []apiv1.Instance) string {
	r := p.Rollback
	var why []string
	if finite(before.P99) && finite(after.P99) && after.P99 > before.P99*(1+r.P99Increase) && after.P99-before.P99 > 0.001 {
		why = append(why, fmt.Sprintf("p99 %.1fms → %.1fms (+%.0f%%)", 1000*before.P99, 1000*after.P99, 100*(after.P99/before.P99-1)))
	}
	if p.LatencySLO > 0 && finite(after.P99) && after.P99 > p.LatencySLO.Seconds() && (!finite(before.P99) || before.P99 <= p.LatencySLO.Seconds()) {
		why = append(why, fmt.Sprintf("p99 %.1fms is over the %v SLO", 1000*after.P99, p.LatencySLO))
	}
	if finite(before.ErrorRate) && finite(after.ErrorRate) && after.ErrorRate-before.ErrorRate > r.ErrorRateIncrease {
		why = append(why, fmt.Sprintf("error rate %.2f%% → %.2f%%", 100*before.ErrorRate, 100*after.ErrorRate))
	}
	// Two points absolute at least: a GC share of 1% doubling is noise, not a regression.
	if finite(before.GCFrac) && finite(after.GCFrac) && after.GCFrac > before.GCFrac*(1+r.GCCPUIncrease) && after.GCFrac-before.GCFrac > 0.02 {
		why = append(why, fmt.Sprintf("GC CPU %.1f%% → %.1f%%", 100*before.GCFrac, 100*after.GCFrac))
	}
	if finite(before.CPUPerReq) && finite(after.CPUPerReq) && after.CPUPerReq > before.CPUPerReq*(1+r.CPUPerReqIncrease) {
		why = append(why, fmt.Sprintf("CPU per request %.3gms → %.3gms (+%.0f%%)", 1000*before.CPUPerReq, 1000*after.CPUPerReq,
			100*(after.CPUPerReq/before.CPUPerReq-1)))
	}
	if r.OnOOMOrRestart {
		why = append(why, restarts(c.snapshot, insts, c.appliedAt)...)
	}
	return strings.Join(why, "; ")
}

// rollBack undoes the change in progress (on the canary only, when instance is set).
func (t *Tuner) rollBack(ctx context.Context, p policy.Policy, w *workload, instance, why string, observed Aggregate, now time.Time) error {
	c := w.change
	w.change, w.phase, w.lastChange = nil, PhaseSteady, now
	t.m.rollbacks.WithLabelValues(w.service, rollbackReason(why)).Inc()
	if g := c.decision.Knobs.GOGC; g != nil && finite(c.baseline.GOGC) && float64(*g) > c.baseline.GOGC {
		w.ceiling, w.ceilingTo = int(c.baseline.GOGC), now.Add(t.cfg.CeilingFor)
	}
	t.log.Warn("tuner rollback", zap.String("service", w.service), zap.String("decision", c.decision.ID), zap.String("why", why))
	if c.prev.IsEmpty() {
		_ = t.rec.Settle(ctx, c.decision.ID, apiv1.OutcomeRolledBack, observed.evidence(), "regression ("+why+"), nothing to restore")
		return nil
	}
	d, err := t.rec.Decide(ctx, apiv1.Decision{Service: w.service, Instance: instance, Knobs: c.prev, Mode: p.Mode, Source: "tuner",
		Policy: p.Key(), RollbackOf: c.decision.ID, Reason: "rollback of " + c.decision.ID + ": " + why, Observed: observed.evidence()})
	if err != nil {
		return fmt.Errorf("roll back %s: %w", c.decision.ID, err)
	}
	t.actuate(ctx, p, d)
	if err := t.rec.Settle(ctx, c.decision.ID, apiv1.OutcomeRolledBack, observed.evidence(), why+"; undone by "+d.ID); err != nil {
		t.log.Warn("settle decision", zap.String("decision", c.decision.ID), zap.Error(err))
	}
	t.mu.Lock()
	w.status.LastDecision = d.ID
	t.mu.Unlock()
	return nil
}

func rollbackReason(why string) string {
	switch {
	case strings.Contains(why, "OOM"):
		return "oom"
	case strings.Contains(why, "restarted"), strings.Contains(why, "disappeared"), strings.Contains(why, "turned"):
		return "restart"
	case strings.Contains(why, "p99"):
		return "latency"
	case strings.Contains(why, "error rate"):
		return "errors"
	case strings.Contains(why, "GC CPU"):
		return "gc_cpu"
	case strings.Contains(why, "CPU per request"):
		return "cpu_per_request"
	}
	return "other"
}

// propose computes the knob changes for a workload and the floor distance.
func (t *Tuner) propose(ctx context.Context, p policy.Policy, w *workload, agg Aggregate, insts []apiv1.Instance, keys []signals.Key, now time.Time) (proposal, float64) {
	var prop proposal
	var reasons []string
	floorDist := math.NaN()
	owned := func(src func(apiv1.KnobSources) string) bool {
		for _, i := range insts {
			if src(i.Sources) != "operator-env" {
				return false
			}
		}
		return len(insts) > 0
	}
	memRatio := 0.0
	if p.MemLimit != nil && agg.MemoryLimit > 0 && !owned(func(s apiv1.KnobSources) string { return s.MemoryLimit }) {
		memRatio = math.Min(math.Max(1-p.Headroom, p.MemLimit.Min), p.MemLimit.Max)
		if cur := agg.GOMEMLIMIT / agg.MemoryLimit; !finite(cur) || math.Abs(cur-memRatio) > 0.01 {
			prop.knobs.MemoryLimitRatio = &memRatio
			if finite(cur) && cur < 1 {
				prev := math.Round(cur*1000) / 1000
				prop.prev.MemoryLimitRatio = &prev
			}
		}
	}
	if p.GOGC != nil {
		switch {
		case owned(func(s apiv1.KnobSources) string { return s.GOGC }):
			reasons = append(reasons, "GOGC is set by the operator")
		default:
			m, err := model.Fit(agg.observed())
			if err != nil {
				reasons = append(reasons, err.Error())
				break
			}
			cfg := model.ChooseConfig{MinGOGC: p.GOGC.Min, MaxGOGC: p.GOGC.Max, Headroom: p.Headroom, MaxStep: p.MaxStep,
				MinGain: t.cfg.MinGain, SetMemLimit: memRatio > 0, MemLimitRatio: memRatio}
			if w.ceiling > 0 && now.Before(w.ceilingTo) {
				cfg.Ceiling = w.ceiling
			}
			ch := m.Choose(cfg)
			if now.Before(w.guardUntil) && finite(agg.GOGC) && float64(ch.GOGC) > agg.GOGC {
				ch.GOGC = int(agg.GOGC) // the guard says memory is tight: no raise
				ch.Reason += "; held: an agent's memory guard engaged recently"
			}
			budget := math.Inf(1)
			if agg.MemoryLimit > 0 {
				budget = agg.MemoryLimit * (1 - p.Headroom)
			}
			if fl := m.Floor(budget).GCCores; fl > 0 && finite(agg.GCCores) {
				floorDist = agg.GCCores/fl - 1
			}
			prop.prediction = map[string]float64{
				"gc_cpu_fraction": ch.Predicted.GCFraction, "gc_cpu_cores": ch.Predicted.GCCores,
				"peak_memory_bytes": ch.Predicted.PeakMemory, "floor_gc_cpu_fraction": ch.Floor.GCFraction,
			}
			t.m.gcFraction.WithLabelValues(w.service, "predicted").Set(ch.Predicted.GCFraction)
			cur := agg.GOGC
			if finite(cur) && cur > 0 && math.Abs(float64(ch.GOGC)-cur)/cur >= 0.05 {
				g := ch.GOGC
				prop.knobs.GOGC = &g
				prev := int(math.Round(cur))
				prop.prev.GOGC = &prev
			}
			reasons = append(reasons, ch.Reason)
		}
	}
	if p.GOMAXPROCS && !owned(func(s apiv1.KnobSources) string { return s.GOMAXPROCS }) && finite(agg.GOMAXPROCS) {
		procs := int(agg.GOMAXPROCS)
		switch {
		case agg.CPULimit > 0 && procs > max(1, int(math.Ceil(agg.CPULimit))):
			want := max(1, int(math.Ceil(agg.CPULimit)))
			prop.knobs.GOMAXPROCS = &want
			reasons = append(reasons, fmt.Sprintf("GOMAXPROCS %d is above the %.2g-core CPU limit → %d", procs, agg.CPULimit, want))
		case finite(agg.Throttled) && agg.Throttled > p.ThrottledLimit && procs > 1:
			want := procs - 1
			prop.knobs.GOMAXPROCS = &want
			reasons = append(reasons, fmt.Sprintf("throttled in %.0f%% of CPU periods → GOMAXPROCS %d→%d", 100*agg.Throttled, procs, want))
		}
		if prop.knobs.GOMAXPROCS != nil {
			prev := procs
			prop.prev.GOMAXPROCS = &prev
		}
	}
	if p.HPATarget != nil && t.hpa != nil {
		windows := make(map[signals.Key][]signals.Sample, len(keys))
		for _, k := range keys {
			windows[k] = t.signals.Window(k, time.Time{})
		}
		cur, target, why, err := t.hpa.RecommendHPA(ctx, p, w.service, windows)
		switch {
		case errors.Is(err, ErrNotMine):
		case err != nil:
			reasons = append(reasons, "HPA target kept: "+err.Error())
		case target != cur:
			prop.knobs.HPATargetUtilization = &target
			prop.prev.HPATargetUtilization = &cur
			reasons = append(reasons, why)
			t.m.knobValue.WithLabelValues(w.service, "hpa_target").Set(float64(cur))
		default:
			t.m.knobValue.WithLabelValues(w.service, "hpa_target").Set(float64(cur))
		}
	}
	prop.reason = strings.Join(reasons, "; ")
	return prop, floorDist
}

func (t *Tuner) decision(p policy.Policy, w *workload, canary string, prop proposal, agg Aggregate) apiv1.Decision {
	d := apiv1.Decision{Service: w.service, Instance: canary, Canary: canary, Knobs: prop.knobs, Mode: p.Mode, Source: "tuner",
		Policy: p.Key(), Reason: prop.reason, Evidence: agg.evidence(), Prediction: prop.prediction}
	if p.Workload != nil {
		d.Namespace, d.Workload = p.Namespace, p.Workload.Kind+"/"+p.Workload.Name
	}
	return d
}

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
		case err == ErrNotMine:
		default:
			t.m.actuations.WithLabelValues(a.Name(), "failed").Inc()
			t.log.Warn("actuation failed", zap.String("actuator", a.Name()), zap.String("decision", d.ID), zap.Error(err))
		}
	}
}

func currentKnobs(a Aggregate) apiv1.KnobSet {
	var k apiv1.KnobSet
	if finite(a.GOGC) {
		g := int(math.Round(a.GOGC))
		k.GOGC = &g
	}
	if finite(a.GOMEMLIMIT) && a.GOMEMLIMIT < apiv1.NoMemoryLimit/2 {
		b := int64(a.GOMEMLIMIT)
		k.MemoryLimit = &b
	}
	if finite(a.GOMAXPROCS) {
		p := int(a.GOMAXPROCS)
		k.GOMAXPROCS = &p
	}
	return k
}

func (t *Tuner) countDecision(service string, mode apiv1.Mode, k apiv1.KnobSet) {
	for knob, set := range map[string]bool{"gogc": k.GOGC != nil, "gomemlimit": k.MemoryLimit != nil || k.MemoryLimitRatio != nil,
		"gomaxprocs": k.GOMAXPROCS != nil, "hpa_target": k.HPATargetUtilization != nil} {
		if set {
			t.m.decisions.WithLabelValues(service, knob, string(mode)).Inc()
		}
	}
}

// rollbackReasons are the reason label values of mcp_tuner_rollbacks_total.
var rollbackReasons = []string{"oom", "restart", "latency", "errors", "gc_cpu", "cpu_per_request", "other"}

func (t *Tuner) recordGauges(service string, a Aggregate) {
	// Rollback counters start at zero for every service, so increase() sees the first one.
	for _, r := range rollbackReasons {
		t.m.rollbacks.WithLabelValues(service, r)
	}
	for knob, v := range map[string]float64{"gogc": a.GOGC, "gomemlimit": a.GOMEMLIMIT, "gomaxprocs": a.GOMAXPROCS} {
		if finite(v) {
			t.m.knobValue.WithLabelValues(service, knob).Set(v)
		}
	}
	if finite(a.GCFrac) {
		t.m.gcFraction.WithLabelValues(service, "observed").Set(a.GCFrac)
	}
	if finite(a.CPUPerReq) {
		t.m.cpuPerReq.WithLabelValues(service).Set(a.CPUPerReq)
	}
}
