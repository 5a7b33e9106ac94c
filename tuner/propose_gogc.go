package tuner

import (
	"math"

	"github.com/mcplane/mcp/runtime/knob"
	"github.com/mcplane/mcp/tuner/model"
)

// proposeGOGC fits the GC model to the workload's signals and steps GOGC toward the value
// that minimises predicted CPU within the memory budget (memRatio is the GOMEMLIMIT ratio the
// GOMEMLIMIT proposer leaves in force, 0 for none). It holds GOGC below a ceiling that
// measured no better, and below where it was while an agent's memory guard engaged recently.
func (t *Tuner) proposeGOGC(e evaluation, memRatio float64, prop *proposal) {
	p, w, agg := e.p, e.w, e.agg
	if p.GOGC == nil {
		return
	}
	if e.operatorOwns(func(s knob.Sources) knob.Source { return s.GOGC }) {
		prop.reasons = append(prop.reasons, "GOGC is set by the operator")
		return
	}
	m, err := model.Fit(agg.observed())
	if err != nil {
		prop.reasons = append(prop.reasons, err.Error())
		return
	}
	cfg := model.ChooseConfig{MinGOGC: p.GOGC.Min, MaxGOGC: p.GOGC.Max, Headroom: p.Headroom, MaxStep: p.MaxStep,
		MinGain: t.cfg.MinGain, SetMemLimit: memRatio > 0, MemLimitRatio: memRatio}
	if w.ceiling > 0 && e.now.Before(w.ceilingTo) {
		cfg.Ceiling = w.ceiling
	}
	ch := m.Choose(cfg)
	if e.now.Before(w.guardUntil) && finite(agg.GOGC) && float64(ch.GOGC) > agg.GOGC {
		ch.GOGC = int(agg.GOGC) // the guard says memory is tight: no raise
		ch.Reason += "; held: an agent's memory guard engaged recently"
	}
	budget := math.Inf(1)
	if agg.MemoryLimit > 0 {
		budget = agg.MemoryLimit * (1 - p.Headroom)
	}
	if fl := m.Floor(budget).GCCores; fl > 0 && finite(agg.GCCores) {
		prop.floorDistance = agg.GCCores/fl - 1
	}
	prop.prediction = map[string]float64{
		"gc_cpu_fraction": ch.Predicted.GCFraction, "gc_cpu_cores": ch.Predicted.GCCores,
		"peak_memory_bytes": ch.Predicted.PeakMemory, "floor_gc_cpu_fraction": ch.Floor.GCFraction,
	}
	t.m.gcFraction.WithLabelValues(w.service, "predicted").Set(ch.Predicted.GCFraction)
	if cur := agg.GOGC; finite(cur) && cur > 0 && math.Abs(float64(ch.GOGC)-cur)/cur >= 0.05 {
		g := ch.GOGC
		prop.knobs.GOGC = &g
		prev := int(math.Round(cur))
		prop.prev.GOGC = &prev
	}
	prop.reasons = append(prop.reasons, ch.Reason)
}
