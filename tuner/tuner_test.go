package tuner

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/api/v1alpha1"
	"github.com/mcplane/mcp/tuner/policy"
	"github.com/mcplane/mcp/tuner/signals"

	"github.com/mcplane/mcp/runtime/knob"
)

const mib = 1 << 20

type staticPolicies []policy.Policy

func (s staticPolicies) Policies() []policy.Policy { return s }

func mustPolicy(t *testing.T, mode v1alpha1.Mode, edit func(*v1alpha1.TuningPolicySpec)) policy.Policy {
	t.Helper()
	tp := v1alpha1.TuningPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: v1alpha1.TuningPolicySpec{
		Target: v1alpha1.Target{Services: []string{"svc"}}, Mode: mode,
		Knobs:        v1alpha1.KnobBounds{GOGC: &v1alpha1.IntRange{Min: 25, Max: 2000}},
		ChangeBudget: v1alpha1.ChangeBudget{Cooldown: &metav1.Duration{Duration: time.Minute}},
		Rollback:     v1alpha1.RollbackRules{Window: &metav1.Duration{Duration: 2 * time.Minute}},
	}}
	if edit != nil {
		edit(&tp.Spec)
	}
	p, err := policy.Resolve(tp)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// workloadSample is one 10 s sample of a service with 50 MiB live allocating 200 MiB/s: at
// GOGC g the model's GC CPU is 0.2 × 100/g cores on top of 0.8 cores of work.
type workloadSample struct {
	gogc, cpuPerReq, p99, errRate, throttled, procs, cpuLimit float64
}

func (w workloadSample) at(ts time.Time) signals.Sample {
	gc := 0.2 * 100 / w.gogc
	cpu := 0.8 + gc
	rps := 1000.0
	if w.cpuPerReq > 0 {
		rps = cpu / w.cpuPerReq
	}
	procs := w.procs
	if procs == 0 {
		procs = 2
	}
	return signals.Sample{Time: ts, Interval: 10 * time.Second, GCCPUFraction: gc / cpu, GCCPUCores: gc, RuntimeCPUCores: cpu, CPUCores: cpu,
		GCCyclesPerSecond: 200 * mib / (50 * mib * w.gogc / 100), LiveHeapBytes: 50 * mib, HeapGoalBytes: 50 * mib * (1 + w.gogc/100),
		AllocBytesPerSecond: 200 * mib, RuntimeMemoryBytes: 50*mib*(1+w.gogc/100) + 10*mib, MemoryLimitBytes: 512 * mib,
		CPULimitCores: w.cpuLimit, ThrottledFraction: w.throttled, GOGC: w.gogc, GOMEMLIMIT: math.MaxInt64, GOMAXPROCS: procs,
		RequestsPerSecond: rps, LatencyP50: w.p99 / 4, LatencyP99: w.p99, ErrorRate: w.errRate, CPUPerRequest: cpu / rps,
		ContainerCPUCores: math.NaN(), ContainerMemoryBytes: math.NaN(), GuardActive: 0}
}

type harness struct {
	t     *testing.T
	clk   *fakeClock
	sig   *fakeSignals
	inst  *fakeInstances
	rec   *fakeRecorder
	tuner *Tuner
}

func newHarness(t *testing.T, p policy.Policy, ids ...string) *harness {
	t.Helper()
	if len(ids) == 0 {
		ids = []string{"i-1"}
	}
	h := &harness{t: t, clk: &fakeClock{now: time.Unix(1_700_000_000, 0)}, sig: &fakeSignals{}, inst: &fakeInstances{events: map[string][]apiv1.AuditEvent{}}, rec: &fakeRecorder{}}
	for _, id := range ids {
		h.inst.insts = append(h.inst.insts, apiv1.Instance{ID: id, Service: "svc", Hostname: "host-" + id, Health: apiv1.HealthHealthy, Connected: true,
			RegisteredAt: h.clk.now.Add(-time.Hour), Sources: knob.Sources{GOGC: "go-default", MemoryLimit: "cgroup", GOMAXPROCS: "go-default"},
			Usage: &apiv1.Usage{}})
	}
	tu, err := New(DefaultConfig(), h.sig, h.inst, h.rec, staticPolicies{p}, nil, nil, WithClock(h.clk))
	if err != nil {
		t.Fatal(err)
	}
	h.tuner = tu
	return h
}

// run advances the clock in 10 s steps for d, adding a sample per instance each step
// (from sampleFor) and evaluating every 15 s as the loop would.
func (h *harness) run(d time.Duration, sampleFor func(id string) workloadSample) {
	h.t.Helper()
	end := h.clk.now.Add(d)
	lastEval := h.clk.now
	for h.clk.now.Before(end) {
		h.clk.now = h.clk.now.Add(5 * time.Second)
		if h.clk.now.Unix()%10 == 0 {
			for _, i := range h.inst.insts {
				h.sig.add(signals.Key{Service: "svc", Instance: i.ID}, sampleFor(i.ID).at(h.clk.now))
			}
		}
		if h.clk.now.Sub(lastEval) >= 15*time.Second {
			lastEval = h.clk.now
			if err := h.tuner.Evaluate(context.Background()); err != nil {
				h.t.Fatalf("Evaluate: %v", err)
			}
		}
	}
}

func steady(gogc float64) func(string) workloadSample {
	return func(string) workloadSample { return workloadSample{gogc: gogc, p99: 0.02} }
}

// follow simulates a service that takes the tuner's apply-mode decisions, starting at
// GOGC start: each instance reports the GOGC last decided for it or its service.
func (h *harness) follow(start float64, edit func(s *workloadSample)) func(string) workloadSample {
	return func(id string) workloadSample {
		g := start
		for _, d := range h.rec.all() {
			if d.Mode == apiv1.ModeApply && d.Knobs.GOGC != nil && (d.Instance == "" || d.Instance == id) {
				g = float64(*d.Knobs.GOGC)
			}
		}
		s := workloadSample{gogc: g, p99: 0.02}
		if edit != nil {
			edit(&s)
		}
		return s
	}
}

func TestRaisesGOGCForAllocationHeavyWorkload(t *testing.T) {
	h := newHarness(t, mustPolicy(t, v1alpha1.ModeApply, nil))
	h.run(time.Minute, steady(100))
	ds := h.rec.all()
	if len(ds) != 1 {
		t.Fatalf("decisions = %+v", ds)
	}
	d := ds[0]
	if d.Knobs.GOGC == nil || *d.Knobs.GOGC != 200 || d.Mode != apiv1.ModeApply || d.Source != "tuner" || d.Policy != "p" {
		t.Errorf("decision = %+v", d)
	}
	if !strings.HasPrefix(d.Reason, "live heap 50MiB of 512MiB, GC CPU 20% → GOGC 100→200, predicted GC CPU 11%") {
		t.Errorf("reason = %q", d.Reason)
	}
	if d.Evidence["gc_cpu_fraction"] == 0 || d.Prediction["gc_cpu_fraction"] == 0 {
		t.Errorf("evidence %v, prediction %v", d.Evidence, d.Prediction)
	}
	if st := h.tuner.Status()["p"][0]; st.Phase != PhaseWatching || st.LastDecision != d.ID {
		t.Errorf("status = %+v", st)
	}
}

func TestKeepsAnImprovementAndStepsAgain(t *testing.T) {
	h := newHarness(t, mustPolicy(t, v1alpha1.ModeApply, nil))
	// The changes work: GC CPU and CPU per request fall with each step.
	h.run(4*time.Minute, h.follow(100, nil))
	ds := h.rec.all()
	if h.rec.outcomes[ds[0].ID] != apiv1.OutcomeKept {
		t.Fatalf("first decision outcome = %q (%s)", h.rec.outcomes[ds[0].ID], h.rec.notes[ds[0].ID])
	}
	if len(ds) < 2 || *ds[1].Knobs.GOGC != 400 {
		t.Fatalf("after a kept step the tuner should step again to 400: %+v", ds)
	}
}

func TestFlatCPUPerRequestSetsACeiling(t *testing.T) {
	h := newHarness(t, mustPolicy(t, v1alpha1.ModeApply, nil))
	// GOGC 200 lowers GC CPU, but CPU per request stays where it was: the bigger heap
	// costs what GC saves.
	perReq := workloadSample{gogc: 100}.at(time.Time{}).CPUPerRequest
	h.run(4*time.Minute, h.follow(100, func(s *workloadSample) { s.cpuPerReq = perReq }))
	ds := h.rec.all()
	if h.rec.outcomes[ds[0].ID] != apiv1.OutcomeKept || !strings.Contains(h.rec.notes[ds[0].ID], "GOGC stops at 200") {
		t.Fatalf("outcome %q, note %q", h.rec.outcomes[ds[0].ID], h.rec.notes[ds[0].ID])
	}
	h.run(5*time.Minute, h.follow(100, func(s *workloadSample) { s.cpuPerReq = perReq }))
	for _, d := range h.rec.all()[1:] {
		if d.Knobs.GOGC != nil && *d.Knobs.GOGC > 200 {
			t.Errorf("raised GOGC past the measured ceiling: %+v", d)
		}
	}
}

func TestRollsBackOnLatencyRegression(t *testing.T) {
	h := newHarness(t, mustPolicy(t, v1alpha1.ModeApply, nil))
	h.run(4*time.Minute, h.follow(100, func(s *workloadSample) {
		if s.gogc > 100 {
			s.p99 = 0.05
		}
	}))
	ds := h.rec.all()
	if len(ds) < 2 {
		t.Fatalf("no rollback: %+v", ds)
	}
	rb := ds[1]
	if rb.RollbackOf != ds[0].ID || rb.Knobs.GOGC == nil || *rb.Knobs.GOGC != 100 || !strings.Contains(rb.Reason, "p99 20.0ms → 50.0ms") {
		t.Errorf("rollback = %+v", rb)
	}
	if h.rec.outcomes[ds[0].ID] != apiv1.OutcomeRolledBack {
		t.Errorf("original outcome = %q", h.rec.outcomes[ds[0].ID])
	}
}

func TestRollsBackAtOnceOnOOMKill(t *testing.T) {
	h := newHarness(t, mustPolicy(t, v1alpha1.ModeApply, nil))
	h.run(time.Minute, steady(100))
	h.inst.update("i-1", func(i *apiv1.Instance) { i.Usage.OOMKills = 1 })
	h.run(20*time.Second, steady(200))
	ds := h.rec.all()
	if len(ds) != 2 || ds[1].RollbackOf != ds[0].ID || !strings.Contains(ds[1].Reason, "i-1 was OOM-killed") {
		t.Fatalf("decisions after an OOM kill = %+v", ds)
	}
}

func TestCanaryPromotedWhenNoWorse(t *testing.T) {
	p := mustPolicy(t, v1alpha1.ModeApply, func(s *v1alpha1.TuningPolicySpec) { s.Canary.Enabled = true })
	h := newHarness(t, p, "i-1", "i-2", "i-3")
	h.run(time.Minute, steady(100))
	ds := h.rec.all()
	if len(ds) != 1 || ds[0].Instance != "i-1" || ds[0].Canary != "i-1" {
		t.Fatalf("canary decision = %+v", ds)
	}
	h.run(3*time.Minute, func(id string) workloadSample {
		if id == "i-1" {
			return workloadSample{gogc: 200, p99: 0.02}
		}
		return workloadSample{gogc: 100, p99: 0.02}
	})
	ds = h.rec.all()
	if len(ds) < 2 || ds[1].Instance != "" || *ds[1].Knobs.GOGC != 200 || !strings.Contains(ds[1].Reason, "canary i-1 did no worse") {
		t.Fatalf("promotion = %+v", ds)
	}
}

func TestCanaryRolledBackWhenWorseThanPeers(t *testing.T) {
	p := mustPolicy(t, v1alpha1.ModeApply, func(s *v1alpha1.TuningPolicySpec) { s.Canary.Enabled = true })
	h := newHarness(t, p, "i-1", "i-2")
	h.run(time.Minute, steady(100))
	h.run(3*time.Minute, func(id string) workloadSample {
		if id == "i-1" {
			return workloadSample{gogc: 200, p99: 0.02, errRate: 0.05}
		}
		return workloadSample{gogc: 100, p99: 0.02}
	})
	ds := h.rec.all()
	if len(ds) < 2 || ds[1].Instance != "i-1" || ds[1].RollbackOf != ds[0].ID || !strings.Contains(ds[1].Reason, "error rate") {
		t.Fatalf("canary rollback = %+v", ds)
	}
}

func TestObserveModeRecordsOnceAndChangesNothing(t *testing.T) {
	h := newHarness(t, mustPolicy(t, v1alpha1.ModeObserve, nil))
	h.run(3*time.Minute, steady(100))
	ds := h.rec.all()
	if len(ds) != 1 || ds[0].Mode != apiv1.ModeObserve || ds[0].Outcome != apiv1.OutcomeRecorded {
		t.Fatalf("observe decisions = %+v", ds)
	}
	if st := h.tuner.Status()["p"][0]; st.Phase != PhaseSteady || st.Recommended.GOGC == nil || *st.Recommended.GOGC != 200 {
		t.Errorf("status = %+v", st)
	}
}

func TestChangeBudget(t *testing.T) {
	p := mustPolicy(t, v1alpha1.ModeApply, func(s *v1alpha1.TuningPolicySpec) {
		s.ChangeBudget.Cooldown = &metav1.Duration{Duration: 10 * time.Minute}
		s.Rollback.Window = &metav1.Duration{Duration: 30 * time.Second}
	})
	h := newHarness(t, p)
	h.run(6*time.Minute, h.follow(100, nil)) // kept after 30 s, but the cooldown holds the next step
	if ds := h.rec.all(); len(ds) != 1 {
		t.Fatalf("decisions inside the cooldown = %+v", ds)
	}
	if st := h.tuner.Status()["p"][0]; !strings.Contains(st.Reason, "cooldown") {
		t.Errorf("status reason = %q", st.Reason)
	}
}

func TestOperatorOwnedGOGCIsLeftAlone(t *testing.T) {
	h := newHarness(t, mustPolicy(t, v1alpha1.ModeApply, nil))
	h.inst.update("i-1", func(i *apiv1.Instance) { i.Sources.GOGC = "operator-env" })
	h.run(2*time.Minute, steady(100))
	if ds := h.rec.all(); len(ds) != 0 {
		t.Fatalf("decisions for an operator-owned GOGC = %+v", ds)
	}
	if st := h.tuner.Status()["p"][0]; !strings.Contains(st.Reason, "GOGC is set by the operator") {
		t.Errorf("status reason = %q", st.Reason)
	}
}

func TestMemoryGuardEventHoldsGOGC(t *testing.T) {
	h := newHarness(t, mustPolicy(t, v1alpha1.ModeApply, nil))
	h.inst.events["i-1"] = []apiv1.AuditEvent{{Time: h.clk.now, Kind: "memory-guard-engaged", Message: "live heap 90% of the limit"}}
	h.clk.now = h.clk.now.Add(time.Second)
	h.run(2*time.Minute, steady(100))
	if ds := h.rec.all(); len(ds) != 0 {
		t.Fatalf("the tuner raised GOGC right after a memory guard event: %+v", ds)
	}
}

func TestGOMAXPROCSAboveCPULimit(t *testing.T) {
	p := mustPolicy(t, v1alpha1.ModeApply, func(s *v1alpha1.TuningPolicySpec) {
		s.Knobs = v1alpha1.KnobBounds{GOMAXPROCS: &v1alpha1.GOMAXPROCSPolicy{Enabled: true}}
	})
	h := newHarness(t, p)
	h.run(time.Minute, func(string) workloadSample {
		return workloadSample{gogc: 100, p99: 0.02, procs: 2, cpuLimit: 0.5, throttled: 0.6}
	})
	ds := h.rec.all()
	if len(ds) != 1 || ds[0].Knobs.GOMAXPROCS == nil || *ds[0].Knobs.GOMAXPROCS != 1 || !strings.Contains(ds[0].Reason, "GOMAXPROCS 2 is above the 0.5-core CPU limit → 1") {
		t.Fatalf("decisions = %+v", ds)
	}
}

func TestGOMEMLIMITSetWithGOGC(t *testing.T) {
	p := mustPolicy(t, v1alpha1.ModeApply, func(s *v1alpha1.TuningPolicySpec) {
		s.Knobs.GOMEMLIMIT = &v1alpha1.PercentRange{Min: 50, Max: 95}
	})
	h := newHarness(t, p)
	h.run(time.Minute, steady(100))
	ds := h.rec.all()
	if len(ds) != 1 || ds[0].Knobs.MemoryLimitRatio == nil || *ds[0].Knobs.MemoryLimitRatio != 0.9 || ds[0].Knobs.GOGC == nil {
		t.Fatalf("decisions = %+v", ds)
	}
	if !strings.Contains(ds[0].Reason, "GOMEMLIMIT 461MiB") {
		t.Errorf("reason = %q", ds[0].Reason)
	}
}

func TestWaitsForSignals(t *testing.T) {
	h := newHarness(t, mustPolicy(t, v1alpha1.ModeApply, nil))
	h.run(15*time.Second, steady(100))
	if ds := h.rec.all(); len(ds) != 0 {
		t.Fatalf("decided on one sample: %+v", ds)
	}
	if st := h.tuner.Status()["p"][0]; !strings.HasPrefix(st.Reason, "waiting for signals") {
		t.Errorf("status reason = %q", st.Reason)
	}
}
