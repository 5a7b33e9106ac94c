// Package model predicts how GOGC and GOMEMLIMIT change a Go service's GC CPU and peak heap,
// from what the service does now: its live heap, allocation rate, GC CPU per cycle and
// memory limit. It is a prior: the tuner confirms each step with measured CPU per request.
package model

import (
	"fmt"
	"math"
)

// Observed is a workload's state, averaged over a window.
type Observed struct {
	LiveHeap    float64 // bytes live after GC
	HeapGoal    float64 // bytes, at the current GOGC
	AllocRate   float64 // bytes allocated per second
	GCCores     float64 // GC CPU per second of wall time
	CPUCores    float64 // the process's CPU per second of wall time
	GCCycles    float64 // GC cycles per second
	RuntimeMem  float64 // bytes the Go runtime holds (heap and everything else)
	MemoryLimit float64 // the container's limit in bytes; 0: none
	GOGC        float64 // in effect; -1: off
	GOMEMLIMIT  float64 // in effect; ≥ 2^62: none
}

// Model is fitted to one observation.
type Model struct {
	o Observed
	// roots are the bytes of stacks and globals, which Go counts in the heap goal.
	roots float64
	// costPerCycle is GC CPU seconds per cycle per byte marked (live heap and roots).
	costPerByte float64
	// overhead is the runtime memory besides the heap goal (metadata, stacks, free spans).
	overhead float64
}

// ErrInsufficient means the observation lacks what the model needs.
type ErrInsufficient struct{ What string }

func (e ErrInsufficient) Error() string { return "not enough data to model GC: " + e.What }

// Fit builds the model from an observation.
func Fit(o Observed) (*Model, error) {
	switch {
	case !(o.LiveHeap > 0):
		return nil, ErrInsufficient{"no live heap figure"}
	case !(o.AllocRate > 0):
		return nil, ErrInsufficient{"no allocation"}
	case !(o.GCCycles > 0) || !(o.GCCores >= 0):
		return nil, ErrInsufficient{"no GC cycles in the window"}
	case !(o.CPUCores > 0):
		return nil, ErrInsufficient{"no CPU figure"}
	}
	m := &Model{o: o}
	if o.GOGC > 0 && o.HeapGoal > 0 {
		// goal = live × (1 + g/100) + roots × g/100, so roots follow from the goal.
		g := o.GOGC / 100
		m.roots = math.Max(0, (o.HeapGoal-o.LiveHeap*(1+g))/g)
		if !memoryLimited(o, o.HeapGoal) {
			// Only trust the goal when GOMEMLIMIT did not cut it.
		} else {
			m.roots = 0
		}
	}
	m.costPerByte = o.GCCores / o.GCCycles / (o.LiveHeap + m.roots)
	if o.RuntimeMem > 0 && o.HeapGoal > 0 {
		m.overhead = math.Max(0, o.RuntimeMem-o.HeapGoal)
	}
	return m, nil
}

func memoryLimited(o Observed, goal float64) bool {
	return o.GOMEMLIMIT > 0 && o.GOMEMLIMIT < 1<<62 && goal >= o.GOMEMLIMIT*0.95
}

// Goal is the heap goal at a GOGC (−1: off) and GOMEMLIMIT (0 or ≥ 2^62: none).
func (m *Model) Goal(gogc, memLimit float64) float64 {
	goal := math.Inf(1)
	if gogc >= 0 {
		goal = m.o.LiveHeap*(1+gogc/100) + m.roots*gogc/100
	}
	if memLimit > 0 && memLimit < 1<<62 {
		goal = math.Min(goal, memLimit-m.overhead)
	}
	return goal
}

// Prediction is what the model expects at some knob values.
type Prediction struct {
	GOGC, MemLimit float64
	Goal           float64 // heap goal
	PeakMemory     float64 // runtime memory at the goal
	CyclesPerSec   float64
	GCCores        float64
	GCFraction     float64 // of the process's CPU, mutator CPU unchanged
	CPUCores       float64 // mutator + predicted GC
}

// Predict the GC at a GOGC and GOMEMLIMIT.
func (m *Model) Predict(gogc, memLimit float64) Prediction {
	p := Prediction{GOGC: gogc, MemLimit: memLimit, Goal: m.Goal(gogc, memLimit)}
	p.PeakMemory = p.Goal + m.overhead
	room := p.Goal - m.o.LiveHeap
	if room <= 0 || math.IsInf(room, 1) {
		p.CyclesPerSec = math.Inf(1)
		if math.IsInf(room, 1) {
			p.CyclesPerSec = 0
		}
	} else {
		p.CyclesPerSec = m.o.AllocRate / room
	}
	p.GCCores = p.CyclesPerSec * m.costPerByte * (m.o.LiveHeap + m.roots)
	mutator := math.Max(m.o.CPUCores-m.o.GCCores, 0)
	p.CPUCores = mutator + p.GCCores
	if p.CPUCores > 0 {
		p.GCFraction = p.GCCores / p.CPUCores
	}
	return p
}

// MaxGOGCForMemory is the highest GOGC whose peak memory stays within budget bytes (the
// memory limit less the headroom); 0 when even GOGC 1 does not fit.
func (m *Model) MaxGOGCForMemory(budget float64) float64 {
	avail := budget - m.overhead - m.o.LiveHeap
	if avail <= 0 {
		return 0
	}
	return avail / (m.o.LiveHeap + m.roots) * 100
}

// Floor is the GC CPU the workload would pay if the GC ran only when the memory budget
// forced it (GOGC off, GOMEMLIMIT at the budget): the least GC CPU its memory allows.
func (m *Model) Floor(budget float64) Prediction {
	return m.Predict(-1, budget)
}

// Observed returns what the model was fitted to.
func (m *Model) Observed() Observed { return m.o }

// Choice is the model's proposal.
type Choice struct {
	GOGC       int
	MemLimit   int64 // 0: leave GOMEMLIMIT alone
	Current    Prediction
	Predicted  Prediction
	Floor      Prediction
	Reason     string
	MemoryCap  int // highest GOGC the memory budget allows
	Diminished bool
}

// ChooseConfig bounds the choice.
type ChooseConfig struct {
	MinGOGC, MaxGOGC int
	// Headroom is the share of the memory limit the peak must leave free.
	Headroom float64
	// SetMemLimit asks for a GOMEMLIMIT as well, at MemLimitRatio × the limit.
	SetMemLimit   bool
	MemLimitRatio float64
	// MaxStep bounds the change relative to the current GOGC (1 = may double).
	MaxStep float64
	// MinGain is the least predicted CPU saving (fraction of total CPU) a further GOGC
	// step must bring; past it the heap grows for nothing (diminishing returns).
	MinGain float64
	// Ceiling, when > 0, is a GOGC measured feedback showed to be no better.
	Ceiling int
}

// Choose proposes GOGC (and GOMEMLIMIT) that minimise predicted CPU while the peak stays
// within the memory budget, stepping from the current GOGC within MaxStep, and stopping
// where further steps save less than MinGain of total CPU.
func (m *Model) Choose(c ChooseConfig) Choice {
	o := m.o
	cur := o.GOGC
	if cur <= 0 {
		cur = 100 // GOGC off: reason from Go's default
	}
	var ch Choice
	budget := math.Inf(1)
	if o.MemoryLimit > 0 {
		budget = o.MemoryLimit * (1 - c.Headroom)
	}
	memLimit := o.GOMEMLIMIT
	if c.SetMemLimit && o.MemoryLimit > 0 {
		memLimit = math.Floor(o.MemoryLimit * c.MemLimitRatio)
		ch.MemLimit = int64(memLimit)
	}
	ch.Current = m.Predict(o.GOGC, o.GOMEMLIMIT)
	ch.Floor = m.Floor(budget)
	capGOGC := float64(c.MaxGOGC)
	if !math.IsInf(budget, 1) {
		memCap := m.MaxGOGCForMemory(budget)
		ch.MemoryCap = int(memCap)
		capGOGC = math.Min(capGOGC, memCap)
	} else {
		ch.MemoryCap = c.MaxGOGC
	}
	if c.Ceiling > 0 {
		capGOGC = math.Min(capGOGC, float64(c.Ceiling))
	}
	// The knee: the lowest GOGC past which another ×1.5 saves less than MinGain of the
	// CPU. Above it the heap grows for little, and the costs the model does not see (page
	// faults, cache misses) take over.
	knee := float64(c.MaxGOGC)
	for g := float64(c.MinGOGC); g <= float64(c.MaxGOGC); g *= 1.05 {
		now, next := m.Predict(g, memLimit).CPUCores, m.Predict(g*1.5, memLimit).CPUCores
		if now <= 0 || (now-next)/now < c.MinGain {
			knee = g
			break
		}
	}
	target := math.Min(knee, capGOGC)
	if o.GOGC > 0 && target < cur && cur <= capGOGC {
		target = cur // GC is already cheap here and memory allows it: no change
	}
	// One step at a time, within the change budget.
	lo, hi := cur/(1+c.MaxStep), cur*(1+c.MaxStep)
	best := math.Max(math.Min(target, hi), lo)
	if capGOGC < best { // memory comes first, whatever the step
		best = capGOGC
	}
	best = math.Max(best, float64(c.MinGOGC))
	ch.Diminished = math.Abs(best-knee) < 1e-6 && knee < capGOGC
	ch.GOGC = int(math.Floor(best + 1e-9)) // down: a cap must not be overshot by rounding
	if ch.GOGC > c.MaxGOGC {
		ch.GOGC = c.MaxGOGC
	}
	if ch.GOGC < c.MinGOGC {
		ch.GOGC = c.MinGOGC
	}
	ch.Predicted = m.Predict(float64(ch.GOGC), memLimit)
	ch.Reason = m.reason(ch, cur, budget)
	return ch
}

func (m *Model) reason(ch Choice, cur, budget float64) string {
	o := m.o
	lim := "no memory limit"
	if o.MemoryLimit > 0 {
		lim = "of " + mib(o.MemoryLimit)
	}
	var s string
	if float64(ch.GOGC) == o.GOGC {
		s = fmt.Sprintf("live heap %s %s, GC CPU %.0f%%: GOGC %d kept", mib(o.LiveHeap), lim, 100*ch.Current.GCFraction, ch.GOGC)
	} else {
		s = fmt.Sprintf("live heap %s %s, GC CPU %.0f%% → GOGC %s→%d, predicted GC CPU %.0f%%",
			mib(o.LiveHeap), lim, 100*ch.Current.GCFraction, gogcString(o.GOGC), ch.GOGC, 100*ch.Predicted.GCFraction)
	}
	if !math.IsInf(budget, 1) {
		s += fmt.Sprintf(", peak %s of %s budget, memory-bound floor %.0f%%", mib(ch.Predicted.PeakMemory), mib(budget), 100*ch.Floor.GCFraction)
	}
	if ch.MemLimit > 0 {
		s += ", GOMEMLIMIT " + mib(float64(ch.MemLimit))
	}
	if ch.Diminished {
		s += " (further steps save too little CPU)"
	}
	_ = cur
	return s
}

func mib(b float64) string { return fmt.Sprintf("%.0fMiB", b/(1<<20)) }

func gogcString(g float64) string {
	if g < 0 {
		return "off"
	}
	return fmt.Sprintf("%.0f", g)
}
