package model

import (
	"errors"
	"math"
	"strings"
	"testing"
)

const mb = 1 << 20

// observed is a workload with 50 MiB live, 200 MiB/s allocation, GOGC 100 (goal 100 MiB):
// 4 cycles per second at 0.05 CPU-seconds each = 0.2 cores of GC out of 1 core.
func observed() Observed {
	return Observed{LiveHeap: 50 * mb, HeapGoal: 100 * mb, AllocRate: 200 * mb, GCCores: 0.2, CPUCores: 1,
		GCCycles: 4, RuntimeMem: 110 * mb, MemoryLimit: 512 * mb, GOGC: 100, GOMEMLIMIT: math.MaxInt64}
}

func TestPredictReproducesTheObservation(t *testing.T) {
	m, err := Fit(observed())
	if err != nil {
		t.Fatal(err)
	}
	p := m.Predict(100, math.MaxInt64)
	if math.Abs(p.GCCores-0.2) > 1e-9 || math.Abs(p.CyclesPerSec-4) > 1e-9 || math.Abs(p.GCFraction-0.2) > 1e-9 {
		t.Errorf("prediction at the current knobs = %+v, want the observation back", p)
	}
	p3 := m.Predict(300, math.MaxInt64)
	// goal 200 MiB → 150 MiB of room → 1.33 cycles/s → 0.067 cores.
	if math.Abs(p3.GCCores-0.2/3) > 1e-9 || math.Abs(p3.PeakMemory-210*mb) > 1 {
		t.Errorf("GOGC 300: %+v", p3)
	}
	if p3.CPUCores >= p.CPUCores {
		t.Errorf("a higher GOGC should cost less GC CPU: %v ≥ %v", p3.CPUCores, p.CPUCores)
	}
}

func TestMemoryLimitCapsTheGoal(t *testing.T) {
	m, _ := Fit(observed())
	p := m.Predict(-1, 300*mb)
	if p.Goal != 290*mb { // overhead is 10 MiB
		t.Errorf("goal with GOGC off and a 300 MiB limit = %v MiB", p.Goal/mb)
	}
	if cap := m.MaxGOGCForMemory(460 * mb); math.Abs(cap-800) > 1e-9 {
		t.Errorf("GOGC cap for 460 MiB = %v, want (460-10-50)/50×100 = 800", cap)
	}
	if m.MaxGOGCForMemory(40*mb) != 0 {
		t.Error("a budget below the live heap allows some GOGC")
	}
	floor := m.Floor(460 * mb)
	if floor.GCCores >= m.Predict(800, math.MaxInt64).GCCores+1e-9 || floor.Goal != 450*mb {
		t.Errorf("floor = %+v", floor)
	}
}

func TestChooseStepsUpWithinBudgetAndStep(t *testing.T) {
	m, _ := Fit(observed())
	c := m.Choose(ChooseConfig{MinGOGC: 25, MaxGOGC: 2000, Headroom: 0.1, MaxStep: 1, MinGain: 0.02})
	if c.GOGC != 200 {
		t.Errorf("first step = GOGC %d, want 200 (doubling is the step budget)", c.GOGC)
	}
	if !strings.HasPrefix(c.Reason, "live heap 50MiB of 512MiB, GC CPU 20% → GOGC 100→200, predicted GC CPU 11%") {
		t.Errorf("reason = %q", c.Reason)
	}
	// From far up, the memory cap (≈ 800 for 461 MiB) wins over the step.
	o := observed()
	o.GOGC, o.HeapGoal = 1600, 50*mb*17
	m2, _ := Fit(o)
	c2 := m2.Choose(ChooseConfig{MinGOGC: 25, MaxGOGC: 2000, Headroom: 0.1, MaxStep: 0.5, MinGain: 0.001})
	if c2.GOGC > 822 || c2.GOGC < 780 {
		t.Errorf("GOGC above the memory cap chose %d, want about 820", c2.GOGC)
	}
}

func TestChooseStopsAtDiminishingReturns(t *testing.T) {
	m, _ := Fit(observed())
	c := m.Choose(ChooseConfig{MinGOGC: 25, MaxGOGC: 2000, Headroom: 0.1, MaxStep: 100, MinGain: 0.02})
	// GC is 0.2 cores at 100; at the knee another ×1.5 saves < 2% of CPU.
	if c.GOGC < 300 || c.GOGC > 800 || !c.Diminished {
		t.Errorf("unbounded step chose GOGC %d (diminished %v)", c.GOGC, c.Diminished)
	}
	pNow, pNext := m.Predict(float64(c.GOGC), math.MaxInt64), m.Predict(float64(c.GOGC)*1.5, math.MaxInt64)
	if (pNow.CPUCores-pNext.CPUCores)/pNow.CPUCores >= 0.02 {
		t.Errorf("at the chosen GOGC another ×1.5 still saves %.3f", (pNow.CPUCores-pNext.CPUCores)/pNow.CPUCores)
	}
}

func TestChooseHonoursCeilingAndSetsMemLimit(t *testing.T) {
	m, _ := Fit(observed())
	c := m.Choose(ChooseConfig{MinGOGC: 25, MaxGOGC: 2000, Headroom: 0.1, MaxStep: 10, MinGain: 0.001, Ceiling: 150,
		SetMemLimit: true, MemLimitRatio: 0.9})
	if c.GOGC != 150 || c.MemLimit != int64(math.Floor(0.9*float64(512*mb))) {
		t.Errorf("choice = GOGC %d, GOMEMLIMIT %d", c.GOGC, c.MemLimit)
	}
}

func TestChooseKeepsCheapGC(t *testing.T) {
	o := observed()
	o.GCCores, o.GCCycles = 0.001, 4 // GC is nearly free
	m, _ := Fit(o)
	if c := m.Choose(ChooseConfig{MinGOGC: 25, MaxGOGC: 2000, Headroom: 0.1, MaxStep: 1, MinGain: 0.02}); c.GOGC != 100 {
		t.Errorf("cheap GC: GOGC %d, want 100 kept", c.GOGC)
	}
}

func TestChooseLowersGOGCWhenMemoryRequires(t *testing.T) {
	o := observed()
	o.LiveHeap, o.HeapGoal, o.GOGC = 300*mb, 900*mb, 200
	m, _ := Fit(o)
	c := m.Choose(ChooseConfig{MinGOGC: 25, MaxGOGC: 2000, Headroom: 0.1, MaxStep: 0.25, MinGain: 0.02})
	if c.GOGC >= 200 || float64(c.Predicted.PeakMemory) > 512*mb*0.9+1 {
		t.Errorf("over the budget chose GOGC %d peak %v MiB", c.GOGC, c.Predicted.PeakMemory/mb)
	}
}

func TestFitNeedsData(t *testing.T) {
	o := observed()
	o.GCCycles = 0
	var ie ErrInsufficient
	if _, err := Fit(o); !errors.As(err, &ie) || !strings.Contains(err.Error(), "no GC cycles") {
		t.Errorf("Fit without cycles = %v", err)
	}
}
