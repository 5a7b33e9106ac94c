package kube

import (
	"context"

	"go.uber.org/zap"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/api/v1alpha1"
)

// deliverer runs on every replica, leader or not: it watches TuningPolicy statuses and
// pushes the knob sets in force to the agents connected to this replica. The leader made
// the decisions; the status carries them.
type deliverer struct {
	cache cache.Cache
	cp    ControlPlane
	log   *zap.Logger
}

// NeedLeaderElection is false: every replica serves its own agents.
func (d *deliverer) NeedLeaderElection() bool { return false }

func (d *deliverer) Start(ctx context.Context) error {
	inf, err := d.cache.GetInformer(ctx, &v1alpha1.TuningPolicy{})
	if err != nil {
		return err
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { d.deliver(obj) },
		UpdateFunc: func(_, obj any) { d.deliver(obj) },
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

func (d *deliverer) deliver(obj any) {
	tp, ok := obj.(*v1alpha1.TuningPolicy)
	if !ok || tp.Spec.Mode != v1alpha1.ModeApply {
		return
	}
	for _, w := range tp.Status.Workloads {
		if w.LastDecision == "" {
			continue
		}
		k, _, err := knobChange(w.Applied)
		if err != nil {
			d.log.Warn("TuningPolicy status not pushed", zap.String("policy", tp.Namespace+"/"+tp.Name),
				zap.String("service", w.Service), zap.Error(err))
			continue
		}
		if k.IsEmpty() {
			continue
		}
		dec := apiv1.Decision{ID: w.LastDecision, Service: w.Service, Knobs: k, Mode: apiv1.ModeApply, Source: apiv1.SourceKubernetes,
			Policy: tp.Namespace + "/" + tp.Name}
		if w.LastDecisionTime != nil {
			dec.CreatedAt = w.LastDecisionTime.Time
		}
		if n := d.cp.Deliver(dec); n > 0 {
			d.log.Info("decision from the cluster pushed to this replica's agents", zap.String("decision", dec.ID),
				zap.String("service", dec.Service), zap.Int("instances", n))
		}
	}
}
