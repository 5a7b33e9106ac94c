package tuner

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/tuner/policy"
)

// RegressionKind is what got worse after a change: the reason label of
// mcp_tuner_rollbacks_total, and what code checks, never the text.
type RegressionKind string

// Kinds of regression, from the most severe to the least: a rollback's metric label is the
// most severe kind among its regressions.
const (
	RegressionOOM           RegressionKind = "oom"
	RegressionRestart       RegressionKind = "restart"
	RegressionLatency       RegressionKind = "latency"
	RegressionErrors        RegressionKind = "errors"
	RegressionGCCPU         RegressionKind = "gc_cpu"
	RegressionCPUPerRequest RegressionKind = "cpu_per_request"
)

// regressionKinds lists every kind, most severe first.
var regressionKinds = []RegressionKind{RegressionOOM, RegressionRestart, RegressionLatency, RegressionErrors,
	RegressionGCCPU, RegressionCPUPerRequest}

// Regression is one thing that got worse: its kind, and the figures for people
// ("p99 3.1ms → 4.4ms (+42%)").
type Regression struct {
	Kind   RegressionKind
	Detail string
}

// Regressions are everything that got worse after one change.
type Regressions []Regression

// String renders the regressions for the audit trail and logs.
func (r Regressions) String() string {
	parts := make([]string, len(r))
	for i, g := range r {
		parts[i] = g.Detail
	}
	return strings.Join(parts, "; ")
}

// Worst is the most severe kind among the regressions.
func (r Regressions) Worst() RegressionKind {
	for _, k := range regressionKinds {
		for _, g := range r {
			if g.Kind == k {
				return k
			}
		}
	}
	return ""
}

// restarts finds OOM kills and restarts since a snapshot: a higher OOM kill count, a
// healthy instance gone suspect or missing, or a new registration from a known host.
func restarts(before map[string]instanceMark, insts []apiv1.Instance, since time.Time) Regressions {
	var out Regressions
	now := map[string]apiv1.Instance{}
	hosts := map[string]bool{}
	for _, m := range before {
		hosts[m.hostname] = true
	}
	for _, i := range insts {
		now[i.ID] = i
		m, known := before[i.ID]
		switch {
		case known && i.Usage != nil && i.Usage.OOMKills > m.oomKills:
			out = append(out, Regression{RegressionOOM, fmt.Sprintf("%s was OOM-killed", i.ID)})
		case known && m.healthy && i.Health != apiv1.HealthHealthy:
			out = append(out, Regression{RegressionRestart, fmt.Sprintf("%s turned %s", i.ID, i.Health)})
		case known && i.RegisteredAt.After(m.registered):
			out = append(out, Regression{RegressionRestart, fmt.Sprintf("%s restarted", i.ID)})
		case !known && i.RegisteredAt.After(since) && i.Hostname != "" && hosts[i.Hostname]:
			out = append(out, Regression{RegressionRestart, fmt.Sprintf("%s restarted (new process on %s)", i.ID, i.Hostname)})
		}
	}
	for id, m := range before {
		if _, ok := now[id]; !ok && m.healthy {
			out = append(out, Regression{RegressionRestart, fmt.Sprintf("%s disappeared", id)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Detail < out[j].Detail })
	return out
}

// regressed compares after with before under the policy's rollback rules and returns what
// got worse (nothing: the change stays).
func (t *Tuner) regressed(p policy.Policy, before, after Aggregate, c *change, insts []apiv1.Instance) Regressions {
	r := p.Rollback
	var out Regressions
	if finite(before.P99) && finite(after.P99) && after.P99 > before.P99*(1+r.P99Increase) && after.P99-before.P99 > 0.001 {
		out = append(out, Regression{RegressionLatency, fmt.Sprintf("p99 %.1fms → %.1fms (+%.0f%%)",
			1000*before.P99, 1000*after.P99, 100*(after.P99/before.P99-1))})
	}
	if p.LatencySLO > 0 && finite(after.P99) && after.P99 > p.LatencySLO.Seconds() && (!finite(before.P99) || before.P99 <= p.LatencySLO.Seconds()) {
		out = append(out, Regression{RegressionLatency, fmt.Sprintf("p99 %.1fms is over the %v SLO", 1000*after.P99, p.LatencySLO)})
	}
	if finite(before.ErrorRate) && finite(after.ErrorRate) && after.ErrorRate-before.ErrorRate > r.ErrorRateIncrease {
		out = append(out, Regression{RegressionErrors, fmt.Sprintf("error rate %.2f%% → %.2f%%", 100*before.ErrorRate, 100*after.ErrorRate)})
	}
	// Two points absolute at least: a GC share of 1% doubling is noise, not a regression.
	if finite(before.GCFrac) && finite(after.GCFrac) && after.GCFrac > before.GCFrac*(1+r.GCCPUIncrease) && after.GCFrac-before.GCFrac > 0.02 {
		out = append(out, Regression{RegressionGCCPU, fmt.Sprintf("GC CPU %.1f%% → %.1f%%", 100*before.GCFrac, 100*after.GCFrac)})
	}
	if finite(before.CPUPerReq) && finite(after.CPUPerReq) && after.CPUPerReq > before.CPUPerReq*(1+r.CPUPerReqIncrease) {
		out = append(out, Regression{RegressionCPUPerRequest, fmt.Sprintf("CPU per request %.3gms → %.3gms (+%.0f%%)",
			1000*before.CPUPerReq, 1000*after.CPUPerReq, 100*(after.CPUPerReq/before.CPUPerReq-1))})
	}
	if r.OnOOMOrRestart {
		out = append(out, restarts(c.snapshot, insts, c.appliedAt)...)
	}
	return out
}

// rollBack undoes the change in progress (on the canary only, when instance is set).
func (t *Tuner) rollBack(ctx context.Context, p policy.Policy, w *workload, instance string, regs Regressions, observed Aggregate, now time.Time) error {
	c := w.change
	w.change, w.phase, w.lastChange = nil, PhaseSteady, now
	why := regs.String()
	t.m.rollbacks.WithLabelValues(w.service, string(regs.Worst())).Inc()
	if g := c.decision.Knobs.GOGC; g != nil && finite(c.baseline.GOGC) && float64(*g) > c.baseline.GOGC {
		w.ceiling, w.ceilingTo = int(c.baseline.GOGC), now.Add(t.cfg.CeilingFor)
	}
	t.log.Warn("tuner rollback", zap.String("service", w.service), zap.String("decision", c.decision.ID),
		zap.String("regression", string(regs.Worst())), zap.String("why", why))
	if c.prev.IsEmpty() && c.prevHPA == nil {
		_ = t.rec.Settle(ctx, c.decision.ID, apiv1.OutcomeRolledBack, observed.evidence(), "regression ("+why+"), nothing to restore")
		return nil
	}
	d, err := t.rec.Decide(ctx, apiv1.Decision{Service: w.service, Instance: instance, Knobs: c.prev, HPATargetUtilization: c.prevHPA,
		Mode: p.Mode, Source: apiv1.SourceTuner, Policy: p.Key(), RollbackOf: c.decision.ID,
		Reason: "rollback of " + c.decision.ID + ": " + why, Observed: observed.evidence()})
	if err != nil {
		return fmt.Errorf("roll back %s: %w", c.decision.ID, err)
	}
	t.actuate(ctx, p, d)
	t.noteApplied(w, d)
	if err := t.rec.Settle(ctx, c.decision.ID, apiv1.OutcomeRolledBack, observed.evidence(), why+"; undone by "+d.ID); err != nil {
		t.log.Warn("settle decision", zap.String("decision", c.decision.ID), zap.Error(err))
	}
	t.mu.Lock()
	w.status.LastDecision = d.ID
	t.mu.Unlock()
	return nil
}
