package kube

import (
	"math"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/api/v1alpha1"
	"github.com/mcplane/mcp/controlplane/cptest"
	"github.com/mcplane/mcp/runtime/knob"
	"github.com/mcplane/mcp/tuner"
	"github.com/mcplane/mcp/tuner/policy"
)

// TestClusterPathKeepsTheDecidedValue pushes one decision through the cluster path — the
// leader's core stores it, the policy's status carries it through the real API server, a
// follower reads the status and pushes it to its own agent — and checks that the agent gets
// the decided GOMEMLIMIT ratio bit for bit. (The status used to carry a whole percent: the
// follower pushed 0.87 where the leader decided 0.8731….)
func TestClusterPathKeepsTheDecidedValue(t *testing.T) {
	needAPIServer(t)
	const ratio = 0.8731234567891234
	const service = "exact"
	tp := &v1alpha1.TuningPolicy{ObjectMeta: metav1.ObjectMeta{Name: "exact", Namespace: "default"},
		Spec: v1alpha1.TuningPolicySpec{Mode: v1alpha1.ModeApply, Target: v1alpha1.Target{Services: []string{service}},
			Knobs: v1alpha1.KnobBounds{GOMEMLIMIT: &v1alpha1.PercentRange{Min: 50, Max: 95}}}}
	if err := testClient.Create(ctx(t), tp); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = testClient.Delete(ctx(t), tp) })
	p, err := policy.Resolve(*tp)
	if err != nil {
		t.Fatal(err)
	}

	// The leader decides and writes the policy's status.
	leader := newCore(t)
	r, d := ratio, apiv1.Decision{Service: service, Workload: "Deployment/exact", Knobs: knob.Change{MemoryLimitRatio: new(float64)},
		Mode: apiv1.ModeApply, Source: apiv1.SourceTuner, Policy: p.Key(), Reason: "test"}
	*d.Knobs.MemoryLimitRatio = r
	d, err = leader.Decide(ctx(t), d)
	if err != nil {
		t.Fatal(err)
	}
	tn, err := tuner.New(tuner.DefaultConfig(), &fakeSignals{service: service, start: time.Now()}, leader.Registry(), leader,
		&clusterPolicies{m: map[types.NamespacedName]policy.Policy{}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tn.NoteChange(p.Key(), service, d.ID, d.CreatedAt)
	rec := &policyReconciler{client: testClient, policies: &clusterPolicies{m: map[types.NamespacedName]policy.Policy{}},
		tuner: tn, cp: leader, events: events.NewFakeRecorder(10), log: zaptest.NewLogger(t), requeue: time.Minute}
	if _, err := rec.Reconcile(ctx(t), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "default", Name: "exact"}}); err != nil {
		t.Fatal(err)
	}

	// A follower reads the status from the API server and pushes it to its agent.
	follower := newCore(t)
	agent := &cptest.FakeAgent{Service: service, ID: "exact-0", GOGCValue: 100, MemLimit: 400 << 20, Container: 512 << 20}
	cptest.Connect(t, cptest.Serve(t, follower), agent)
	cptest.Eventually(t, "the agent registered", func() bool { _, insts := follower.Registry().Instances(service); return len(insts) == 1 })
	var got v1alpha1.TuningPolicy
	if err := testClient.Get(ctx(t), types.NamespacedName{Namespace: "default", Name: "exact"}, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Status.Workloads) != 1 || got.Status.Workloads[0].Applied.GOMEMLIMITRatio == nil {
		t.Fatalf("status workloads = %+v, want the decision's ratio applied", got.Status.Workloads)
	}
	(&deliverer{cp: follower, log: zaptest.NewLogger(t)}).deliver(&got)
	cptest.Eventually(t, "the follower's agent gets the decision", func() bool { return len(agent.Applied()) > 0 })
	u := agent.Applied()[len(agent.Applied())-1]
	if u.GetDecisionId() != d.ID || u.MemoryLimitRatio == nil || math.Float64bits(u.GetMemoryLimitRatio()) != math.Float64bits(ratio) {
		t.Fatalf("the agent got decision %s with ratio %v (status %q); the leader decided %s with %v",
			u.GetDecisionId(), u.GetMemoryLimitRatio(), *got.Status.Workloads[0].Applied.GOMEMLIMITRatio, d.ID, ratio)
	}
}
