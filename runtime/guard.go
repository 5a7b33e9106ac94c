package runtime

import (
	"fmt"
	goruntime "runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	agentv1 "github.com/mcplane/mcp/api/agent/v1"
	"github.com/mcplane/mcp/runtime/knob"
)

// GuardState describes the emergency memory guard.
type GuardState struct {
	// Active is true while the guard holds GOGC down.
	Active bool `json:"active"`
	// GOGC is the value the guard holds while active.
	GOGC int `json:"gogc,omitempty"`
	// Activations counts the times the guard engaged since Start.
	Activations uint64 `json:"activations"`
	// Since is when the guard last engaged.
	Since time.Time `json:"since,omitzero"`
}

type guardState struct {
	GuardState
	calm int // consecutive cycles below the release threshold
}

const (
	// guardHysteresis: the guard releases below (fraction − hysteresis) × limit...
	guardHysteresis = 0.10
	// guardReleaseCycles: ...after this many consecutive GC cycles there.
	guardReleaseCycles = 3
	// guardHeadroom: the emergency GOGC aims the heap goal at this fraction of the limit.
	guardHeadroom    = 0.95
	minEmergencyGOGC = 10
	maxEmergencyGOGC = 50
)

// emergencyGOGC is the GOGC whose heap goal, live × (1 + GOGC/100), stays under
// guardHeadroom × limit, within [minEmergencyGOGC, maxEmergencyGOGC].
func emergencyGOGC(live, limit int64) int {
	if live <= 0 {
		return maxEmergencyGOGC
	}
	g := int((guardHeadroom*float64(limit)/float64(live) - 1) * 100)
	return min(max(g, minEmergencyGOGC), maxEmergencyGOGC)
}

// afterGC runs after every GC cycle, on the runtime's finalizer goroutine: it must be quick
// and must not block. It compares the live heap with the container's memory limit and
// engages, tightens or releases the guard. An operator's GOGC is never overridden.
func (a *Agent) afterGC() {
	live := liveHeap()
	now := a.cfg.clock.Now()
	a.mu.Lock()
	limit := a.limits.MemoryBytes
	frac := 0.0
	if limit > 0 {
		frac = float64(live) / float64(limit)
	}
	desired := a.desired.GOGC
	var ev *Event
	switch g := &a.guard; {
	case limit <= 0 || a.operator.GOGC != "":
		if g.Active { // the limit went away: nothing left to guard
			g.Active, g.calm = false, 0
			debug.SetGCPercent(desired)
			ev = &Event{Kind: agentv1.EventMemoryGuardReleased, Message: "no memory limit in force"}
		}
	case !g.Active && frac >= a.cfg.guardFraction:
		target := emergencyGOGC(live, limit)
		if desired != knob.GOGCOff && desired <= target {
			break // GOGC is already at least as conservative as the guard would make it
		}
		g.Active, g.GOGC, g.calm, g.Since = true, target, 0, now
		g.Activations++
		debug.SetGCPercent(target)
		ev = &Event{Kind: agentv1.EventMemoryGuardEngaged, Message: fmt.Sprintf(
			"live heap %s is %.0f%% of the %s memory limit (threshold %.0f%%): GOGC %s→%d",
			knob.FormatBytes(live), frac*100, knob.FormatBytes(limit), a.cfg.guardFraction*100, knob.FormatGOGC(desired), target)}
	case g.Active && frac < a.cfg.guardFraction-guardHysteresis:
		g.calm++
		if g.calm >= guardReleaseCycles {
			g.Active, g.calm = false, 0
			debug.SetGCPercent(desired)
			ev = &Event{Kind: agentv1.EventMemoryGuardReleased, Message: fmt.Sprintf(
				"live heap %s is %.0f%% of the memory limit for %d cycles: GOGC %d→%s",
				knob.FormatBytes(live), frac*100, guardReleaseCycles, g.GOGC, knob.FormatGOGC(desired))}
		}
	case g.Active:
		g.calm = 0
		if target := emergencyGOGC(live, limit); target < g.GOGC {
			g.GOGC = target
			debug.SetGCPercent(target)
		}
	}
	listeners := a.listeners
	gogc := a.guard.GOGC
	a.mu.Unlock()
	if ev == nil {
		return
	}
	ev.Time, ev.LiveHeap, ev.Limit, ev.GOGC = now, live, limit, gogc
	if ev.Kind == agentv1.EventMemoryGuardEngaged {
		a.stats.guardActivations.Add(1)
		a.log.Warn("memory guard engaged", zap.Int64("live_heap_bytes", live), zap.Int64("limit_bytes", limit),
			zap.Int("gogc", gogc), zap.String("reason", ev.Message))
	} else {
		a.log.Info("memory guard released", zap.Int64("live_heap_bytes", live), zap.Int64("limit_bytes", limit),
			zap.Int("gogc", desired), zap.String("reason", ev.Message))
	}
	for _, l := range listeners {
		l(*ev)
	}
}

// gcHook calls fn after every GC cycle, using a finalizer on an object that only lives until
// the next collection and is re-armed each time.
type gcHook struct {
	fn      func()
	stopped atomic.Bool
}

// gcSentinel is large enough and holds a pointer, so it is never placed in the tiny
// allocator, whose blocks are freed (and finalized) together.
type gcSentinel struct {
	h *gcHook
	_ [16]byte
}

func startGCHook(fn func()) *gcHook {
	h := &gcHook{fn: fn}
	h.arm()
	return h
}

func (h *gcHook) arm() {
	goruntime.SetFinalizer(&gcSentinel{h: h}, (*gcSentinel).fire)
}

func (s *gcSentinel) fire() {
	if s.h.stopped.Load() {
		return
	}
	s.h.fn()
	s.h.arm()
}

func (h *gcHook) stop() { h.stopped.Store(true) }

// agentStats are the agent's own counters, read by both metric exporters.
type agentStats struct {
	applied          atomic.Uint64
	rejected         atomic.Uint64
	gogcChanges      atomic.Uint64
	guardActivations atomic.Uint64
}
