package policy

import (
	"strings"
	"testing"
	"time"

	apiv1 "github.com/mcplane/mcp/api/v1"
)

func TestLoadFile(t *testing.T) {
	ps, err := LoadFile("testdata/policies.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 {
		t.Fatalf("got %d policies", len(ps))
	}
	c := ps[0]
	if c.Name != "checkout" || c.Mode != apiv1.ModeApply || c.LatencySLO != 250*time.Millisecond || c.Headroom != 0.15 ||
		*c.GOGC != (Range{50, 800}) || *c.MemLimit != (RatioRange{0.7, 0.9}) || !c.GOMAXPROCS || c.ThrottledLimit != 0.2 ||
		c.MaxStep != 0.5 || c.Cooldown != 5*time.Minute || c.MaxPerHour != 12 || !c.Canary || c.CanaryWindow != 3*time.Minute ||
		c.Rollback.Window != 2*time.Minute || c.Rollback.P99Increase != 0.2 || !c.Rollback.OnOOMOrRestart {
		t.Errorf("checkout = %+v", c)
	}
	if !c.Matches("payments", nil) || c.Matches("other", nil) {
		t.Error("service matching is wrong")
	}
	b := ps[1]
	if b.Mode != apiv1.ModeObserve || !b.Matches("etl", map[string]string{"tier": "batch"}) || b.Matches("etl", map[string]string{"tier": "web"}) {
		t.Errorf("batch = %+v", b)
	}
}

func TestInvalidPoliciesNameTheField(t *testing.T) {
	head := "apiVersion: mcp.mcplane.dev/v1alpha1\nkind: TuningPolicy\nmetadata: {name: p}\n"
	tests := []struct{ doc, want string }{
		{head + "spec: {target: {services: [a]}, knobs: {gogc: {min: 10, max: 300}}}", "spec.knobs.gogc.min: Invalid value: 10: must be between 25 and 2000"},
		{head + "spec: {target: {services: [a]}, knobs: {gogc: {min: 500, max: 300}}}", "spec.knobs.gogc: Invalid value"},
		{head + "spec: {target: {services: [a]}, knobs: {}}", "spec.knobs: Required value: name at least one knob"},
		{head + "spec: {target: {}, knobs: {gogc: {min: 50, max: 300}}}", "spec.target: Required value"},
		{head + "spec: {target: {services: [a]}, mode: yolo, knobs: {gogc: {min: 50, max: 300}}}", `spec.mode: Unsupported value: "yolo"`},
		{head + "spec: {target: {services: [a]}, knobs: {gomemlimit: {min: 50, max: 99}}}", "spec.knobs.gomemlimit.max"},
		{head + "spec: {target: {services: [a]}, knobs: {hpaTargetUtilization: {min: 50, max: 80}}}", "needs target.workloadRef or target.hpaName"},
		{head + "spec: {target: {services: [a, a]}, knobs: {gogc: {min: 50, max: 300}}}", "spec.target.services[1]: Duplicate value"},
		{head + "spec: {target: {services: [a]}, knobs: {gogc: {min: 50, max: 300}}, changeBudget: {cooldown: -1m}}", "spec.changeBudget.cooldown"},
		{head + "spec: {target: {services: [a]}, knobs: {gogc: {min: 50, max: 300}}, colour: red}", `unknown field "spec.colour"`},
		{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}", "want apiVersion mcp.mcplane.dev/v1alpha1, kind TuningPolicy"},
		{"apiVersion: mcp.mcplane.dev/v1alpha1\nkind: TuningPolicy\nspec: {target: {services: [a]}, knobs: {gogc: {min: 50, max: 300}}}", "metadata.name: Required value"},
		{head + "spec: {target: {services: [a]}, knobs: {gogc: {min: 50, max: 300}}}\n---\n" + head + "spec: {target: {services: [b]}, knobs: {gogc: {min: 50, max: 300}}}", `policy "p" is already defined in document 1`},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tt.doc, err, tt.want)
		}
	}
}

func TestSetKeepsFileAndAPIApart(t *testing.T) {
	s := NewSet()
	if err := s.LoadFile("testdata/policies.yaml"); err != nil {
		t.Fatal(err)
	}
	ps, _ := Parse([]byte("apiVersion: mcp.mcplane.dev/v1alpha1\nkind: TuningPolicy\nmetadata: {name: checkout}\nspec: {target: {services: [a]}, knobs: {gogc: {min: 50, max: 300}}}"))
	if err := s.Put(ps[0]); err == nil || !strings.Contains(err.Error(), "comes from the policy file") {
		t.Errorf("Put over a file policy = %v", err)
	}
	ps[0].Name = "api"
	if err := s.Put(ps[0]); err != nil {
		t.Fatal(err)
	}
	if len(s.Policies()) != 3 || s.FromFile("api") || !s.FromFile("checkout") {
		t.Errorf("policies = %v", s.Policies())
	}
	if err := s.Delete("batch"); err == nil {
		t.Error("deleted a file policy through the API")
	}
	if err := s.Delete("api"); err != nil || len(s.Policies()) != 2 {
		t.Errorf("delete = %v", err)
	}
}
