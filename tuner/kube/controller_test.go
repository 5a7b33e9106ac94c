package kube

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/api/v1alpha1"
	"github.com/mcplane/mcp/controlplane"
	"github.com/mcplane/mcp/controlplane/cptest"
	"github.com/mcplane/mcp/controlplane/store"
	"github.com/mcplane/mcp/tuner"
	"github.com/mcplane/mcp/tuner/signals"
)

// fakeSignals serves a synthetic signal history: two pods of a service over the last 40
// minutes, their CPU utilization stepping through 30%–90% of their 500m request with p99
// from an M/M/4 curve (5 ms service time), and a GC-heavy runtime at GOGC 100.
type fakeSignals struct {
	service string
	start   time.Time
}

func (f *fakeSignals) Instances(service string) []signals.Key {
	if service != "" && service != f.service {
		return nil
	}
	return []signals.Key{{Service: f.service, Instance: "pod-a"}, {Service: f.service, Instance: "pod-b"}}
}

func (f *fakeSignals) Window(k signals.Key, since time.Time) []signals.Sample {
	var out []signals.Sample
	for i := range 240 { // 40 minutes of 10 s samples
		ts := f.start.Add(time.Duration(i) * 10 * time.Second)
		if ts.Before(since) || ts.After(time.Now()) {
			continue
		}
		// Load holds each level for four minutes, as traffic does between changes.
		levels := []float64{0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.6, 0.4}
		util := levels[(i/6/4)%len(levels)]
		p99 := 0.005 * mm4p99(util)
		gc := 0.05
		out = append(out, signals.Sample{Time: ts, Interval: 10 * time.Second,
			CPUCores: util * 0.5, RuntimeCPUCores: util * 0.5, GCCPUCores: gc, GCCPUFraction: gc / (util * 0.5),
			GCCyclesPerSecond: 4, LiveHeapBytes: 50 << 20, HeapGoalBytes: 100 << 20, AllocBytesPerSecond: 200 << 20,
			RuntimeMemoryBytes: 110 << 20, MemoryLimitBytes: 512 << 20, GOGC: 100, GOMEMLIMIT: math.MaxInt64, GOMAXPROCS: 2,
			CPULimitCores: math.NaN(), ThrottledFraction: math.NaN(), ContainerCPUCores: math.NaN(), ContainerMemoryBytes: math.NaN(),
			GuardActive: 0, GCAssistFraction: 0, RequestsPerSecond: util * 100, LatencyP50: 0.005, LatencyP99: p99, ErrorRate: 0,
			CPUPerRequest: 0.005})
	}
	return out
}

// mm4p99 is an M/M/4 queue's p99 response time in units of the service time (Erlang C).
func mm4p99(rho float64) float64 {
	const c = 4
	a := c * rho
	sum, term := 0.0, 1.0
	for k := range c {
		if k > 0 {
			term *= a / float64(k)
		}
		sum += term
	}
	last := term * a / c
	pw := last / (1 - rho) / (sum + last/(1-rho))
	// p99 of wait + service, approximated by the larger of the two tails.
	wait := 0.0
	if pw > 0.01 {
		wait = math.Log(pw/0.01) / (c * (1 - rho))
	}
	return math.Log(100) + wait
}

type replica struct {
	ctrl   *Controller
	core   *controlplane.Core
	cancel context.CancelFunc
	done   chan struct{}
}

var replicas int

func startReplica(t *testing.T, sig tuner.SignalSource, core *controlplane.Core, keepLease bool) *replica {
	t.Helper()
	cfg := tuner.DefaultConfig()
	cfg.Interval, cfg.Window = time.Second, time.Minute
	c, err := New(Options{Config: testCfg, ControlPlane: core, Instances: core.Registry(), Signals: sig, Tuner: cfg, Logger: zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)), LeaderElectionNamespace: "default",
		LeaderElectionID: "mcp-tuner-test", StatusInterval: time.Second, KeepLeaseOnStop: keepLease,
		ControllerName: fmt.Sprintf("tuningpolicy-%d", replicas)})
	replicas++
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{ctrl: c, core: core, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := c.Start(ctx); err != nil {
			t.Errorf("controller: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

func newCore(t *testing.T) *controlplane.Core {
	t.Helper()
	core, err := controlplane.New(cptest.Config(), store.NewMemory(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go core.Run(ctx)
	t.Cleanup(func() {
		cancel()
		<-core.Flushed()
	})
	return core
}

// TestControllerTunesHPAAndElectsOneLeader is the cluster story end to end on a real API
// server: a TuningPolicy, a Deployment and its HPA, and the workload's signals lead the
// elected replica to patch the HPA target within bounds and write the policy's status;
// the other replica pushes the leader's GOGC decision to its own agent; when the leader
// stops without releasing its Lease the other takes over within 20 s and applies nothing
// twice.
func TestControllerTunesHPAAndElectsOneLeader(t *testing.T) {
	needAPIServer(t)
	ns := workload(t, "shop")
	sig := &fakeSignals{service: "shop", start: time.Now().Add(-40 * time.Minute)}
	tp := &v1alpha1.TuningPolicy{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns}, Spec: v1alpha1.TuningPolicySpec{
		Target:     v1alpha1.Target{WorkloadRef: &v1alpha1.WorkloadReference{Kind: "Deployment", Name: "shop"}},
		Mode:       v1alpha1.ModeApply,
		Objectives: v1alpha1.Objectives{LatencyP99: &metav1.Duration{Duration: 60 * time.Millisecond}},
		Knobs: v1alpha1.KnobBounds{HPATargetUtilization: &v1alpha1.IntRange{Min: 40, Max: 85},
			GOGC: &v1alpha1.IntRange{Min: 50, Max: 400}},
		ChangeBudget: v1alpha1.ChangeBudget{Cooldown: &metav1.Duration{Duration: 10 * time.Minute}},
	}}
	if err := testClient.Create(ctx(t), tp); err != nil {
		t.Fatal(err)
	}

	coreA, coreB := newCore(t), newCore(t)
	// An agent connected to each replica's core.
	var agents []*cptest.FakeAgent
	for _, core := range []*controlplane.Core{coreA, coreB} {
		srv := cptestServe(t, core)
		a := &cptest.FakeAgent{Service: "shop", ID: "agent-" + srv, GOGCValue: 100}
		cptest.Connect(t, srv, a)
		agents = append(agents, a)
	}
	a := startReplica(t, sig, coreA, true)
	b := startReplica(t, sig, coreB, true)
	var leader, follower *replica
	eventually(t, "a leader", 30*time.Second, func() bool {
		switch {
		case a.ctrl.IsLeader() && !b.ctrl.IsLeader():
			leader, follower = a, b
		case b.ctrl.IsLeader() && !a.ctrl.IsLeader():
			leader, follower = b, a
		}
		return leader != nil
	})

	var hpa autoscalingv2.HorizontalPodAutoscaler
	hpaTarget := func() int32 {
		_ = testClient.Get(ctx(t), types.NamespacedName{Namespace: ns, Name: "shop"}, &hpa)
		return *hpa.Spec.Metrics[0].Resource.Target.AverageUtilization
	}
	eventually(t, "the HPA target patched", 60*time.Second, func() bool {
		if hpaTarget() != 50 {
			return true
		}
		t.Logf("tuner status: %+v", leader.ctrl.Tuner().Status())
		time.Sleep(2 * time.Second)
		return false
	})
	target := hpaTarget()
	if target < 40 || target > 85 {
		t.Errorf("HPA target %d%% is outside the policy's [40, 85]", target)
	}
	firstDecision := hpa.Annotations[annLastDecision]
	t.Logf("HPA target 50%% → %d%% by %s", target, firstDecision)

	var got v1alpha1.TuningPolicy
	eventually(t, "status written", 30*time.Second, func() bool {
		_ = testClient.Get(ctx(t), types.NamespacedName{Namespace: ns, Name: "shop"}, &got)
		return len(got.Status.Workloads) == 1 && got.Status.Workloads[0].Applied.HPATargetUtilization != nil &&
			got.Status.LastEvaluation != nil
	})
	ws := got.Status.Workloads[0]
	if *ws.Applied.HPATargetUtilization != target || ws.LastDecision == "" || ws.Reason == "" {
		t.Errorf("status = %+v", ws)
	}
	if c := metaCondition(got.Status.Conditions, "Ready"); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Ready condition = %+v", c)
	}
	// The leader also decided GOGC; the follower pushed it to its own agent.
	gogc := ws.Applied.GOGC
	if gogc == nil {
		t.Fatalf("no GOGC decision in the status: %+v", ws)
	}
	followerAgent := agents[0]
	if follower == b {
		followerAgent = agents[1]
	}
	eventually(t, "the follower's agent gets GOGC", 30*time.Second, func() bool { return followerAgent.GOGC() == *gogc })

	// The leader stops without releasing the Lease, as a crash would.
	stopped := time.Now()
	leader.cancel()
	<-leader.done
	eventually(t, "the follower takes over", 20*time.Second, func() bool { return follower.ctrl.IsLeader() })
	t.Logf("takeover after %v", time.Since(stopped).Round(100*time.Millisecond))
	// The new leader evaluates the same workload and finds nothing to change again.
	time.Sleep(5 * time.Second)
	if hpaTarget() != target || hpa.Annotations[annLastDecision] != firstDecision {
		t.Errorf("after the takeover the HPA was changed again: target %d, decision %s", hpaTarget(), hpa.Annotations[annLastDecision])
	}
	// Within the policy's cooldown, the new leader decides nothing at all: the previous
	// leader's decision time came with the policy's status.
	ds, _ := follower.core.Store().ListDecisions(context.Background(), store.DecisionFilter{Service: "shop"})
	for _, d := range ds {
		if d.Source == "tuner" {
			t.Errorf("the new leader decided again within the cooldown: %s %s", d.ID, d.Knobs)
		}
	}
}

func metaCondition(cs []metav1.Condition, typ string) *metav1.Condition {
	for i := range cs {
		if cs[i].Type == typ {
			return &cs[i]
		}
	}
	return nil
}

var serveMu sync.Mutex

// cptestServe serves a core's agent API on loopback and returns its address.
func cptestServe(t *testing.T, core *controlplane.Core) string {
	serveMu.Lock()
	defer serveMu.Unlock()
	return cptest.Serve(t, core)
}

var _ = apiv1.ModeApply
