package kube

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/api/v1alpha1"
	"github.com/mcplane/mcp/tuner/policy"

	"github.com/mcplane/mcp/runtime/knob"
)

func ptr[T any](v T) *T { return &v }

// workload creates a Deployment and its HPA (CPU target 50%) in a fresh namespace.
func workload(t *testing.T, name string, env ...corev1.EnvVar) (ns string) {
	t.Helper()
	c := ctx(t)
	ns = name
	if err := testClient.Create(c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": name}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "example/app:1", Env: env,
					Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
						Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
					},
				}}},
			},
		},
	}
	if err := testClient.Create(c, dep); err != nil {
		t.Fatal(err)
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			MinReplicas:    ptr[int32](2), MaxReplicas: 20,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr[int32](50)}}}},
		},
	}
	if err := testClient.Create(c, hpa); err != nil {
		t.Fatal(err)
	}
	return ns
}

func workloadPolicy(ns, name string) policy.Policy {
	return policy.Policy{Name: name, Namespace: ns, Mode: apiv1.ModeApply, Workload: &v1alpha1.WorkloadReference{Kind: "Deployment", Name: name}}
}

func TestHPAActuatorPatchesTargetOnce(t *testing.T) {
	needAPIServer(t)
	ns := workload(t, "hpa-actuator")
	a := &hpaActuator{client: testClient}
	d := apiv1.Decision{ID: "d-1", Service: "hpa-actuator", Mode: apiv1.ModeApply, HPATargetUtilization: ptr(70)}
	if err := a.Apply(ctx(t), workloadPolicy(ns, "hpa-actuator"), d); err != nil {
		t.Fatal(err)
	}
	var hpa autoscalingv2.HorizontalPodAutoscaler
	if err := testClient.Get(ctx(t), types.NamespacedName{Namespace: ns, Name: "hpa-actuator"}, &hpa); err != nil {
		t.Fatal(err)
	}
	if got := *hpa.Spec.Metrics[0].Resource.Target.AverageUtilization; got != 70 {
		t.Errorf("target = %d, want 70", got)
	}
	if hpa.Annotations[annLastDecision] != "d-1" || hpa.Annotations[annRequestAtTarget] != "500" {
		t.Errorf("annotations = %v", hpa.Annotations)
	}
	rv := hpa.ResourceVersion
	// The same decision again changes nothing.
	if err := a.Apply(ctx(t), workloadPolicy(ns, "hpa-actuator"), d); err != nil {
		t.Fatal(err)
	}
	_ = testClient.Get(ctx(t), types.NamespacedName{Namespace: ns, Name: "hpa-actuator"}, &hpa)
	if hpa.ResourceVersion != rv {
		t.Errorf("re-applying a decision patched the HPA again")
	}
}

func TestHPAActuatorTestOpCatchesConcurrentEdit(t *testing.T) {
	needAPIServer(t)
	ns := workload(t, "hpa-race")
	var hpa autoscalingv2.HorizontalPodAutoscaler
	if err := testClient.Get(ctx(t), types.NamespacedName{Namespace: ns, Name: "hpa-race"}, &hpa); err != nil {
		t.Fatal(err)
	}
	stale := hpa.DeepCopy()
	hpa.Spec.Metrics[0].Resource.Target.AverageUtilization = ptr[int32](65) // someone else edits
	if err := testClient.Update(ctx(t), &hpa); err != nil {
		t.Fatal(err)
	}
	// A patch built from the stale read must fail, not overwrite the edit.
	a := &hpaActuator{client: &staleReader{Client: testClient, hpa: stale}}
	err := a.Apply(ctx(t), workloadPolicy(ns, "hpa-race"), apiv1.Decision{ID: "d-2", HPATargetUtilization: ptr(80)})
	if err == nil {
		t.Fatal("a patch from a stale read succeeded")
	}
	_ = testClient.Get(ctx(t), types.NamespacedName{Namespace: ns, Name: "hpa-race"}, &hpa)
	if got := *hpa.Spec.Metrics[0].Resource.Target.AverageUtilization; got != 65 {
		t.Errorf("the concurrent edit was lost: target %d", got)
	}
}

func TestEnvActuatorLeavesOperatorEnvAlone(t *testing.T) {
	needAPIServer(t)
	ns := workload(t, "env-fallback", corev1.EnvVar{Name: "GOGC", Value: "300"})
	a := &envActuator{client: testClient, agents: func(string) int { return 0 }}
	d := apiv1.Decision{ID: "d-3", Service: "env-fallback", Mode: apiv1.ModeApply,
		Knobs: knob.Change{GOGC: ptr(150), MemoryLimitRatio: ptr(0.9)}}
	if err := a.Apply(ctx(t), workloadPolicy(ns, "env-fallback"), d); err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	if err := testClient.Get(ctx(t), types.NamespacedName{Namespace: ns, Name: "env-fallback"}, &dep); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	if env["GOGC"] != "300" || env["GOMEMLIMIT"] != "483183820" {
		t.Errorf("env = %v, want the operator's GOGC kept and GOMEMLIMIT = 0.9 × 512Mi", env)
	}
	if dep.Annotations[annNeedsRollout] != "true" || dep.Annotations[annManagedEnv] != "GOMEMLIMIT" {
		t.Errorf("annotations = %v", dep.Annotations)
	}
	// With agents connected, the actuator leaves the Deployment alone.
	a.agents = func(string) int { return 2 }
	if err := a.Apply(ctx(t), workloadPolicy(ns, "env-fallback"), d); err == nil || err.Error() != "not for this actuator" {
		t.Errorf("with agents: %v", err)
	}
}
