package kube

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mcplane/mcp/api/v1alpha1"
	"github.com/mcplane/mcp/tuner"
	"github.com/mcplane/mcp/tuner/policy"
)

// clusterPolicies is the tuner's PolicySource in a cluster: the valid TuningPolicy objects,
// as the reconciler last saw them.
type clusterPolicies struct {
	mu sync.RWMutex
	m  map[types.NamespacedName]policy.Policy
}

func (c *clusterPolicies) Policies() []policy.Policy {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]policy.Policy, 0, len(c.m))
	for _, p := range c.m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

func (c *clusterPolicies) set(k types.NamespacedName, p *policy.Policy) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p == nil {
		delete(c.m, k)
	} else {
		c.m[k] = *p
	}
}

// policyReconciler keeps the tuner's policies in step with the cluster and writes each
// policy's status: conditions, the workloads it covers with their knobs and reasons.
type policyReconciler struct {
	client   client.Client
	policies *clusterPolicies
	tuner    *tuner.Tuner
	cp       ControlPlane
	events   events.EventRecorder
	log      *zap.Logger
	requeue  time.Duration
}

// Reconcile follows the CronJob tutorial's shape: get, ignore not-found, rebuild status
// from the world, update status, requeue. An invalid policy is reported in its status and
// an Event and not retried until it changes.
func (r *policyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var tp v1alpha1.TuningPolicy
	if err := r.client.Get(ctx, req.NamespacedName, &tp); err != nil {
		r.policies.set(req.NamespacedName, nil)
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	p, err := policy.Resolve(tp)
	status := tp.Status.DeepCopy()
	status.ObservedGeneration = tp.Generation
	now := metav1.Now()
	if err != nil {
		r.policies.set(req.NamespacedName, nil)
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse,
			Reason: "Invalid", Message: err.Error(), ObservedGeneration: tp.Generation})
		r.events.Eventf(&tp, nil, "Warning", "Invalid", "Validate", "%v", err)
		return ctrl.Result{}, r.updateStatus(ctx, &tp, status)
	}
	r.policies.set(req.NamespacedName, &p)
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue,
		Reason: "Evaluated", Message: fmt.Sprintf("mode %s", p.Mode), ObservedGeneration: tp.Generation})
	status.Workloads = r.workloads(p, tp.Status.Workloads)
	status.LastEvaluation = &now
	return ctrl.Result{RequeueAfter: r.requeue}, r.updateStatus(ctx, &tp, status)
}

// workloads builds the status entries from what the tuner reports and the knob sets in
// force.
func (r *policyReconciler) workloads(p policy.Policy, prev []v1alpha1.WorkloadStatus) []v1alpha1.WorkloadStatus {
	prevHPA := map[string]*int32{}
	for _, w := range prev {
		prevHPA[w.Service] = w.Applied.HPATargetUtilization
	}
	var out []v1alpha1.WorkloadStatus
	for _, w := range r.tuner.Status()[p.Key()] {
		ws := v1alpha1.WorkloadStatus{Service: w.Service, Instances: int32(w.Instances), Current: knobValues(w.Current, w.HPATarget),
			Recommended: knobValues(w.Recommended, w.RecommendedHPATarget), Reason: truncate(w.Reason, 1024), Phase: string(w.Phase),
			LastDecision: w.LastDecision}
		if d, ok := r.cp.Desired(w.Service, ""); ok {
			ws.Applied = knobValues(d.Knobs, nil)
			ws.LastDecision = d.DecisionID
			t := metav1.NewTime(d.UpdatedAt)
			ws.LastDecisionTime = &t
		}
		// The HPA target is no agent's knob: the status keeps the last one a decision set,
		// across leaders, until a newer decision sets another.
		ws.Applied.HPATargetUtilization = prevHPA[w.Service]
		if h := w.AppliedHPATarget; h != nil {
			v := int32(*h)
			ws.Applied.HPATargetUtilization = &v
		}
		out = append(out, ws)
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func (r *policyReconciler) updateStatus(ctx context.Context, tp *v1alpha1.TuningPolicy, status *v1alpha1.TuningPolicyStatus) error {
	tp.Status = *status
	if err := r.client.Status().Update(ctx, tp); err != nil {
		var conflict interface{ Status() metav1.Status }
		if errors.As(err, &conflict) && conflict.Status().Reason == metav1.StatusReasonConflict {
			return nil // a newer version is queued already
		}
		return fmt.Errorf("update status of %s/%s: %w", tp.Namespace, tp.Name, err)
	}
	return nil
}
