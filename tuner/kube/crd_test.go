package kube

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/mcplane/mcp/api/v1alpha1"
)

// TestAPIServerRejectsInvalidPolicies sends invalid TuningPolicies to the real API server
// and checks each is refused with the field path that is wrong — the CRD's schema and CEL
// rules at work, not MCP's code.
func TestAPIServerRejectsInvalidPolicies(t *testing.T) {
	needAPIServer(t)
	tests := []struct {
		name, spec, want string
	}{
		{"gogc below 25", `{target: {services: [a]}, knobs: {gogc: {min: 10, max: 300}}}`, "spec.knobs: Invalid value: gogc must stay within [25, 2000]"},
		{"min above max", `{target: {services: [a]}, knobs: {gogc: {min: 500, max: 300}}}`, "spec.knobs.gogc: Invalid value: min must not exceed max"},
		{"no knob", `{target: {services: [a]}, knobs: {}}`, "spec.knobs: Invalid value: name at least one knob"},
		{"no target", `{target: {}, knobs: {gogc: {min: 50, max: 300}}}`, "spec.target: Invalid value: target needs services, selector or workloadRef"},
		{"bad mode", `{target: {services: [a]}, mode: yolo, knobs: {gogc: {min: 50, max: 300}}}`, `spec.mode: Unsupported value: "yolo"`},
		{"gomemlimit above 98", `{target: {services: [a]}, knobs: {gomemlimit: {min: 50, max: 99}}}`, "spec.knobs.gomemlimit.max: Invalid value: 99"},
		{"hpa without workload", `{target: {services: [a]}, knobs: {hpaTargetUtilization: {min: 50, max: 80}}}`, "knobs.hpaTargetUtilization needs target.workloadRef or target.hpaName"},
		{"bad workload kind", `{target: {workloadRef: {kind: Pod, name: x}}, knobs: {gogc: {min: 50, max: 300}}}`, `spec.target.workloadRef.kind: Unsupported value: "Pod"`},
		{"headroom 95", `{target: {services: [a]}, objectives: {memoryHeadroomPercent: 95}, knobs: {gogc: {min: 50, max: 300}}}`, "spec.objectives.memoryHeadroomPercent: Invalid value: 95"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var spec v1alpha1.TuningPolicySpec
			if err := yaml.Unmarshal([]byte(tt.spec), &spec); err != nil {
				t.Fatal(err)
			}
			tp := &v1alpha1.TuningPolicy{ObjectMeta: metav1.ObjectMeta{Name: "invalid", Namespace: "default"}, Spec: spec}
			err := testClient.Create(ctx(t), tp)
			if err == nil {
				_ = testClient.Delete(ctx(t), tp)
				t.Fatalf("the API server accepted %s", tt.spec)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestAPIServerDefaultsPolicies(t *testing.T) {
	needAPIServer(t)
	tp := &v1alpha1.TuningPolicy{ObjectMeta: metav1.ObjectMeta{Name: "defaults", Namespace: "default"},
		Spec: v1alpha1.TuningPolicySpec{Target: v1alpha1.Target{Services: []string{"a"}}, Knobs: v1alpha1.KnobBounds{GOGC: &v1alpha1.IntRange{Min: 50, Max: 400}}}}
	if err := testClient.Create(ctx(t), tp); err != nil {
		t.Fatal(err)
	}
	defer testClient.Delete(ctx(t), tp)
	if tp.Spec.Mode != v1alpha1.ModeObserve || tp.Spec.ChangeBudget.Cooldown == nil || tp.Spec.ChangeBudget.Cooldown.Duration.String() != "2m0s" ||
		*tp.Spec.Objectives.MemoryHeadroomPercent != 10 || *tp.Spec.Rollback.LatencyP99IncreasePercent != 20 {
		t.Errorf("server-side defaults = %+v", tp.Spec)
	}
}
