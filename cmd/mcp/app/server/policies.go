package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/mcplane/mcp/api/v1alpha1"
	"github.com/mcplane/mcp/controlplane/httpapi"
	"github.com/mcplane/mcp/controlplane/store"
	"github.com/mcplane/mcp/tuner"
	"github.com/mcplane/mcp/tuner/policy"
)

// policyService serves /api/v1/policies: policies from the policy file (read-only) and
// policies put through the API, kept in the store.
type policyService struct {
	set   *policy.Set
	store store.Store
	tuner *tuner.Tuner
	// inCluster: policies live in the Kubernetes API; the API only shows them.
	inCluster bool

	mu    sync.Mutex
	specs map[string]v1alpha1.TuningPolicySpec // as written, for display
}

func newPolicyService(set *policy.Set, st store.Store, t *tuner.Tuner) *policyService {
	return &policyService{set: set, store: st, tuner: t, specs: map[string]v1alpha1.TuningPolicySpec{}}
}

// loadStored puts the policies kept in the store into the set (at start-up).
func (ps *policyService) loadStored(ctx context.Context) error {
	stored, err := ps.store.ListPolicies(ctx)
	if err != nil {
		return fmt.Errorf("load policies: %w", err)
	}
	for _, sp := range stored {
		p, tp, err := parseOne(sp.Spec)
		if err != nil {
			return fmt.Errorf("stored policy %s: %w", sp.Name, err)
		}
		if err := ps.set.Put(p); err != nil {
			return err
		}
		ps.mu.Lock()
		ps.specs[p.Key()] = tp.Spec
		ps.mu.Unlock()
	}
	return nil
}

func parseOne(body []byte) (policy.Policy, v1alpha1.TuningPolicy, error) {
	ps, err := policy.Parse(body)
	if err != nil {
		return policy.Policy{}, v1alpha1.TuningPolicy{}, err
	}
	if len(ps) != 1 {
		return policy.Policy{}, v1alpha1.TuningPolicy{}, fmt.Errorf("want exactly one TuningPolicy, got %d", len(ps))
	}
	var tp v1alpha1.TuningPolicy
	_ = yaml.Unmarshal(body, &tp) // already validated by Parse
	return ps[0], tp, nil
}

func (ps *policyService) view(p policy.Policy) httpapi.PolicyView {
	src := "api"
	if ps.set.FromFile(p.Key()) {
		src = "file"
	}
	v := httpapi.PolicyView{Name: p.Key(), Source: src, Mode: string(p.Mode), Workloads: []tuner.WorkloadStatus{}}
	ps.mu.Lock()
	if spec, ok := ps.specs[p.Key()]; ok {
		v.Spec = spec
	}
	ps.mu.Unlock()
	if ps.tuner != nil {
		if ws, ok := ps.tuner.Status()[p.Key()]; ok {
			v.Workloads = ws
		}
	}
	return v
}

func (ps *policyService) List(context.Context) ([]httpapi.PolicyView, error) {
	var out []httpapi.PolicyView
	if ps.inCluster {
		for key, ws := range ps.tuner.Status() {
			out = append(out, httpapi.PolicyView{Name: key, Source: "kubernetes", Workloads: ws})
		}
		return out, nil
	}
	for _, p := range ps.set.Policies() {
		out = append(out, ps.view(p))
	}
	return out, nil
}

func (ps *policyService) Get(_ context.Context, name string) (httpapi.PolicyView, error) {
	p, ok := ps.set.Get(name)
	if !ok {
		return httpapi.PolicyView{}, fmt.Errorf("%w: no policy named %q (mcp policy list shows them)", httpapi.ErrPolicyNotFound, name)
	}
	return ps.view(p), nil
}

func (ps *policyService) Put(ctx context.Context, name string, body []byte) (httpapi.PolicyView, bool, error) {
	if ps.inCluster {
		return httpapi.PolicyView{}, false, fmt.Errorf("%w: in a cluster, policies are TuningPolicy objects: kubectl apply -f", httpapi.ErrPolicyConflict)
	}
	p, tp, err := parseOne(body)
	if err != nil {
		return httpapi.PolicyView{}, false, fmt.Errorf("%w: %v", httpapi.ErrPolicyInvalid, err)
	}
	if p.Key() != name {
		return httpapi.PolicyView{}, false, fmt.Errorf("%w: metadata.name %q does not match the URL's %q", httpapi.ErrPolicyInvalid, p.Key(), name)
	}
	if ps.set.FromFile(name) {
		return httpapi.PolicyView{}, false, fmt.Errorf("%w: policy %q comes from the policy file; change it there", httpapi.ErrPolicyConflict, name)
	}
	_, existed := ps.set.Get(name)
	raw, err := json.Marshal(tp)
	if err != nil {
		return httpapi.PolicyView{}, false, err
	}
	// Stored first: a policy acknowledged to the caller survives a restart.
	if err := ps.store.PutPolicy(ctx, store.StoredPolicy{Name: name, Spec: raw, UpdatedAt: time.Now()}); err != nil {
		return httpapi.PolicyView{}, false, fmt.Errorf("store policy: %w", err)
	}
	if err := ps.set.Put(p); err != nil {
		return httpapi.PolicyView{}, false, fmt.Errorf("%w: %v", httpapi.ErrPolicyConflict, err)
	}
	ps.mu.Lock()
	ps.specs[name] = tp.Spec
	ps.mu.Unlock()
	return ps.view(p), !existed, nil
}

func (ps *policyService) Delete(ctx context.Context, name string) error {
	if ps.inCluster {
		return fmt.Errorf("%w: in a cluster, policies are TuningPolicy objects: kubectl delete tuningpolicy", httpapi.ErrPolicyConflict)
	}
	if ps.set.FromFile(name) {
		return fmt.Errorf("%w: policy %q comes from the policy file; remove it there", httpapi.ErrPolicyConflict, name)
	}
	if err := ps.store.DeletePolicy(ctx, name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: no policy named %q", httpapi.ErrPolicyNotFound, name)
		}
		return err
	}
	ps.mu.Lock()
	delete(ps.specs, name)
	ps.mu.Unlock()
	return ps.set.Delete(name)
}
