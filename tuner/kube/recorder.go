package kube

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/api/v1alpha1"
)

// recorder is the tuner's Recorder in a cluster: the control plane core stores and pushes
// the decision; the policy gets an Event and its status is refreshed at once, so the other
// replicas (watching it) push the decision to their own agents.
type recorder struct {
	cp      ControlPlane
	events  events.EventRecorder
	client  client.Client
	refresh chan<- event.GenericEvent
}

func policyRef(key string) types.NamespacedName {
	for i := range len(key) {
		if key[i] == '/' {
			return types.NamespacedName{Namespace: key[:i], Name: key[i+1:]}
		}
	}
	return types.NamespacedName{Name: key}
}

func (r *recorder) Decide(ctx context.Context, d apiv1.Decision) (apiv1.Decision, error) {
	d, err := r.cp.Decide(ctx, d)
	if err != nil {
		return d, err
	}
	r.notify(ctx, d.Policy, "Normal", "Decision", string(d.Mode), fmt.Sprintf("%s %s: %s (%s)", d.ID, d.Service, d.What(), d.Reason))
	return d, nil
}

func (r *recorder) Settle(ctx context.Context, id string, o apiv1.Outcome, observed map[string]float64, note string) error {
	if err := r.cp.Settle(ctx, id, o, observed, note); err != nil {
		return err
	}
	d, err := r.cp.Decision(ctx, id)
	if err == nil {
		kind := "Normal"
		if o == apiv1.OutcomeRolledBack {
			kind = "Warning"
		}
		r.notify(ctx, d.Policy, kind, "Outcome", string(o), fmt.Sprintf("%s %s: %s", id, o, note))
	}
	return nil
}

func (r *recorder) notify(ctx context.Context, policyKey, kind, reason, action, note string) {
	ref := policyRef(policyKey)
	var tp v1alpha1.TuningPolicy
	if err := r.client.Get(ctx, ref, &tp); err != nil {
		return
	}
	r.events.Eventf(&tp, nil, kind, reason, action, "%s", truncate(note, 1000))
	select {
	case r.refresh <- event.GenericEvent{Object: &tp}:
	default: // a refresh is queued already
	}
}
