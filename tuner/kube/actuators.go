package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/tuner"
	"github.com/mcplane/mcp/tuner/policy"

	"github.com/mcplane/mcp/runtime/knob"
)

// Annotations MCP writes on the objects it changes.
const (
	annLastDecision = "mcp.mcplane.dev/last-decision"
	// annRequestAtTarget is the pod CPU request (millicores) when the HPA target was set, so
	// a later change of the request can keep the scale point.
	annRequestAtTarget = "mcp.mcplane.dev/cpu-request-at-target"
	// annManagedEnv lists the environment variables MCP set on a workload.
	annManagedEnv = "mcp.mcplane.dev/managed-env"
	// annNeedsRollout marks a workload whose pods take an env change only when they restart.
	annNeedsRollout = "mcp.mcplane.dev/needs-rollout"
)

// hpaActuator sets an HPA's CPU target utilization.
type hpaActuator struct{ client client.Client }

func (h *hpaActuator) Name() string { return "hpa" }

// findHPA returns the policy's HPA: by name, or the one scaling its workload.
func findHPA(ctx context.Context, c client.Client, p policy.Policy) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	if p.HPAName != "" {
		var hpa autoscalingv2.HorizontalPodAutoscaler
		if err := c.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: p.HPAName}, &hpa); err != nil {
			return nil, fmt.Errorf("get HPA %s/%s (spec.target.hpaName): %w", p.Namespace, p.HPAName, err)
		}
		return &hpa, nil
	}
	if p.Workload == nil {
		return nil, fmt.Errorf("policy %s names no workload or HPA", p.Key())
	}
	var list autoscalingv2.HorizontalPodAutoscalerList
	if err := c.List(ctx, &list, client.InNamespace(p.Namespace)); err != nil {
		return nil, fmt.Errorf("list HPAs in %s: %w", p.Namespace, err)
	}
	for i := range list.Items {
		ref := list.Items[i].Spec.ScaleTargetRef
		if ref.Kind == p.Workload.Kind && ref.Name == p.Workload.Name {
			return &list.Items[i], nil
		}
	}
	return nil, fmt.Errorf("no HPA in %s scales %s %s", p.Namespace, p.Workload.Kind, p.Workload.Name)
}

// cpuTarget finds the HPA's CPU utilization target: its index in spec.metrics and value.
func cpuTarget(hpa *autoscalingv2.HorizontalPodAutoscaler) (int, int32, error) {
	for i, m := range hpa.Spec.Metrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
			m.Resource.Target.Type == autoscalingv2.UtilizationMetricType && m.Resource.Target.AverageUtilization != nil {
			return i, *m.Resource.Target.AverageUtilization, nil
		}
	}
	return -1, 0, fmt.Errorf("HPA %s/%s has no CPU utilization target to tune", hpa.Namespace, hpa.Name)
}

// Apply patches the HPA's CPU target. spec.metrics is an atomic list, so the patch tests
// the list it read before replacing it: a concurrent edit makes the patch fail rather than
// be lost. A decision already applied (the HPA carries its id) is not applied again.
func (h *hpaActuator) Apply(ctx context.Context, p policy.Policy, d apiv1.Decision) error {
	if d.HPATargetUtilization == nil {
		return tuner.ErrNotMine
	}
	hpa, err := findHPA(ctx, h.client, p)
	if err != nil {
		return err
	}
	if hpa.Annotations[annLastDecision] == d.ID {
		return nil
	}
	idx, cur, err := cpuTarget(hpa)
	if err != nil {
		return err
	}
	want := int32(*d.HPATargetUtilization)
	metrics := hpa.DeepCopy().Spec.Metrics
	metrics[idx].Resource.Target.AverageUtilization = &want
	ops := []map[string]any{
		{"op": "test", "path": "/spec/metrics", "value": hpa.Spec.Metrics},
		{"op": "replace", "path": "/spec/metrics", "value": metrics},
	}
	anns := map[string]string{annLastDecision: d.ID}
	if req, err := podCPURequest(ctx, h.client, p.Namespace, hpa.Spec.ScaleTargetRef.Kind, hpa.Spec.ScaleTargetRef.Name); err == nil && req > 0 {
		anns[annRequestAtTarget] = strconv.FormatInt(req, 10)
	}
	ops = append(ops, annotationOps(hpa.Annotations, anns)...)
	body, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	if err := h.client.Patch(ctx, hpa, client.RawPatch(types.JSONPatchType, body)); err != nil {
		return fmt.Errorf("patch HPA %s/%s target %d%%→%d%%: %w", hpa.Namespace, hpa.Name, cur, want, err)
	}
	return nil
}

// annotationOps adds or replaces annotations in a JSON patch.
func annotationOps(existing map[string]string, add map[string]string) []map[string]any {
	if existing == nil {
		return []map[string]any{{"op": "add", "path": "/metadata/annotations", "value": add}}
	}
	var ops []map[string]any
	for k, v := range add {
		ops = append(ops, map[string]any{"op": "add", "path": "/metadata/annotations/" + strings.ReplaceAll(k, "/", "~1"), "value": v})
	}
	return ops
}

// podCPURequest is the sum of the CPU requests (millicores) of a workload's pod containers.
func podCPURequest(ctx context.Context, c client.Client, ns, kind, name string) (int64, error) {
	var spec corev1.PodSpec
	switch kind {
	case "Deployment":
		var d appsv1.Deployment
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &d); err != nil {
			return 0, err
		}
		spec = d.Spec.Template.Spec
	case "StatefulSet":
		var s appsv1.StatefulSet
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &s); err != nil {
			return 0, err
		}
		spec = s.Spec.Template.Spec
	default:
		return 0, fmt.Errorf("workload kind %q: want Deployment or StatefulSet", kind)
	}
	var m int64
	for _, ctr := range spec.Containers {
		if q, ok := ctr.Resources.Requests[corev1.ResourceCPU]; ok {
			m += q.MilliValue()
		}
	}
	return m, nil
}

// envActuator is the fallback for workloads whose pods run without the MCP agent: it
// writes GOGC and GOMEMLIMIT into the Deployment's containers' environment. Pods take it
// when they restart, so the workload is marked as needing a rollout. Variables the
// operator set in the manifest are never touched: only those MCP set before (listed in an
// annotation) or absent ones.
type envActuator struct {
	client client.Client
	// agents reports whether a service has connected agents.
	agents func(service string) int
}

func (e *envActuator) Name() string { return "deployment-env" }

func (e *envActuator) Apply(ctx context.Context, p policy.Policy, d apiv1.Decision) error {
	k := d.Knobs
	if (k.GOGC == nil && k.MemoryLimit == nil && k.MemoryLimitRatio == nil) || p.Workload == nil || p.Workload.Kind != "Deployment" {
		return tuner.ErrNotMine
	}
	if e.agents(d.Service) > 0 {
		return tuner.ErrNotMine // the agents took it live
	}
	var dep appsv1.Deployment
	if err := e.client.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: p.Workload.Name}, &dep); err != nil {
		return fmt.Errorf("get Deployment %s/%s: %w", p.Namespace, p.Workload.Name, err)
	}
	managed := map[string]bool{}
	for _, v := range strings.Split(dep.Annotations[annManagedEnv], ",") {
		if v != "" {
			managed[v] = true
		}
	}
	next := dep.DeepCopy()
	changed := false
	for i := range next.Spec.Template.Spec.Containers {
		ctr := &next.Spec.Template.Spec.Containers[i]
		set := func(name, value string) {
			for j := range ctr.Env {
				if ctr.Env[j].Name == name {
					if !managed[name] || ctr.Env[j].Value == value {
						return // the operator's, or already so
					}
					ctr.Env[j].Value, changed = value, true
					return
				}
			}
			ctr.Env = append(ctr.Env, corev1.EnvVar{Name: name, Value: value})
			managed[name], changed = true, true
		}
		if k.GOGC != nil {
			v := strconv.Itoa(*k.GOGC)
			if *k.GOGC < 0 {
				v = "off"
			}
			set("GOGC", v)
		}
		if b := envMemLimit(ctr, k); b > 0 {
			set("GOMEMLIMIT", strconv.FormatInt(b, 10))
		}
	}
	if !changed {
		return nil
	}
	var names []string
	for n := range managed {
		names = append(names, n)
	}
	slices.Sort(names)
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	next.Annotations[annManagedEnv] = strings.Join(names, ",")
	next.Annotations[annLastDecision] = d.ID
	next.Annotations[annNeedsRollout] = "true"
	if err := e.client.Patch(ctx, next, client.MergeFromWithOptions(&dep, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("patch Deployment %s/%s env: %w", p.Namespace, p.Workload.Name, err)
	}
	return nil
}

// envMemLimit is GOMEMLIMIT in bytes for a container: given, or a ratio of its memory limit.
func envMemLimit(ctr *corev1.Container, k knob.Change) int64 {
	if k.MemoryLimit != nil {
		return *k.MemoryLimit
	}
	if k.MemoryLimitRatio != nil {
		if q, ok := ctr.Resources.Limits[corev1.ResourceMemory]; ok {
			return int64(float64(q.Value()) * *k.MemoryLimitRatio)
		}
	}
	return 0
}
