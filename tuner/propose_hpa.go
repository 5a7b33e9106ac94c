package tuner

import (
	"errors"
	"time"

	"github.com/mcplane/mcp/tuner/signals"
)

// proposeHPATarget asks the HPA advisor (in a cluster) for the workload's HPA target
// utilization. It reads every sample the store keeps, not just the window: the advisor
// models load over a longer span.
func (t *Tuner) proposeHPATarget(e evaluation, prop *proposal) {
	if e.p.HPATarget == nil || t.hpa == nil {
		return
	}
	windows := make(map[signals.Key][]signals.Sample, len(e.keys))
	for _, k := range e.keys {
		windows[k] = t.signals.Window(k, time.Time{})
	}
	cur, target, why, err := t.hpa.RecommendHPA(e.ctx, e.p, e.w.service, windows)
	switch {
	case errors.Is(err, ErrNotMine):
		return
	case err != nil:
		prop.reasons = append(prop.reasons, "HPA target kept: "+err.Error())
		return
	case target != cur:
		prop.hpa, prop.prevHPA = &target, &cur
		prop.reasons = append(prop.reasons, why)
	}
	t.mu.Lock()
	e.w.status.HPATarget = &cur
	t.mu.Unlock()
	t.m.knobValue.WithLabelValues(e.w.service, "hpa_target").Set(float64(cur))
}
