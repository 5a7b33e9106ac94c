// Package policy turns TuningPolicy objects — from the cluster or from YAML files — into
// the concrete, validated settings the tuner works with.
package policy

import (
	"bytes"
	"errors"
	"fmt"

	"os"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/api/v1alpha1"
)

// Range is an inclusive integer range.
type Range struct{ Min, Max int }

// Clamp returns v within the range.
func (r Range) Clamp(v int) int { return min(max(v, r.Min), r.Max) }

// RatioRange is an inclusive range of fractions.
type RatioRange struct{ Min, Max float64 }

// Rollback holds the thresholds that undo a change (fractions, not percents).
type Rollback struct {
	Window            time.Duration
	P99Increase       float64
	ErrorRateIncrease float64
	GCCPUIncrease     float64
	CPUPerReqIncrease float64
	OnOOMOrRestart    bool
}

// Policy is a validated TuningPolicy with every default filled in.
type Policy struct {
	Name       string
	Namespace  string
	Generation int64
	Mode       apiv1.Mode

	Services []string
	Selector labels.Selector // nil: no label selector
	Workload *v1alpha1.WorkloadReference
	HPAName  string

	LatencySLO   time.Duration // 0: none
	Headroom     float64
	MaxErrorRate float64 // 0: none

	GOGC           *Range
	MemLimit       *RatioRange
	GOMAXPROCS     bool
	UseCPURequest  bool
	ThrottledLimit float64
	HPATarget      *Range

	MaxStep      float64 // a knob changes by at most this fraction of its value per decision
	Cooldown     time.Duration
	MaxPerHour   int
	Canary       bool
	CanaryWindow time.Duration
	Rollback     Rollback
}

// Key names the policy uniquely.
func (p Policy) Key() string {
	if p.Namespace == "" {
		return p.Name
	}
	return p.Namespace + "/" + p.Name
}

// Matches reports whether the policy covers a service with the given agent labels.
func (p Policy) Matches(service string, agentLabels map[string]string) bool {
	if slices.Contains(p.Services, service) {
		return true
	}
	if p.Workload != nil {
		name := p.Workload.Service
		if name == "" {
			name = p.Workload.Name
		}
		if name == service {
			return true
		}
	}
	return p.Selector != nil && !p.Selector.Empty() && p.Selector.Matches(labels.Set(agentLabels))
}

// InvalidError lists every problem of a policy, each with its field path.
type InvalidError struct {
	Policy   string
	Problems []string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("policy %q is invalid: %s", e.Policy, strings.Join(e.Problems, "; "))
}

// Resolve defaults and validates a TuningPolicy.
func Resolve(tp v1alpha1.TuningPolicy) (Policy, error) {
	tp = *tp.DeepCopy()
	tp.Default()
	if errs := tp.Validate(); len(errs) > 0 {
		ie := &InvalidError{Policy: tp.Name}
		for _, e := range errs {
			ie.Problems = append(ie.Problems, e.Error())
		}
		return Policy{}, ie
	}
	s := tp.Spec
	p := Policy{
		Name: tp.Name, Namespace: tp.Namespace, Generation: tp.Generation, Mode: apiv1.Mode(s.Mode),
		Services: s.Target.Services, Workload: s.Target.WorkloadRef, HPAName: s.Target.HPAName,
		Headroom:     float64(*s.Objectives.MemoryHeadroomPercent) / 100,
		MaxStep:      float64(*s.ChangeBudget.MaxStepPercent) / 100,
		Cooldown:     s.ChangeBudget.Cooldown.Duration,
		MaxPerHour:   int(*s.ChangeBudget.MaxChangesPerHour),
		Canary:       s.Canary.Enabled,
		CanaryWindow: s.Canary.Window.Duration,
		Rollback: Rollback{
			Window:            s.Rollback.Window.Duration,
			P99Increase:       float64(*s.Rollback.LatencyP99IncreasePercent) / 100,
			ErrorRateIncrease: float64(*s.Rollback.ErrorRateIncreasePermille) / 1000,
			GCCPUIncrease:     float64(*s.Rollback.GCCPUIncreasePercent) / 100,
			CPUPerReqIncrease: float64(*s.Rollback.CPUPerRequestIncreasePercent) / 100,
			OnOOMOrRestart:    *s.Rollback.OnOOMOrRestart,
		},
	}
	if s.Target.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(s.Target.Selector)
		if err != nil {
			return Policy{}, &InvalidError{Policy: tp.Name, Problems: []string{"spec.target.selector: " + err.Error()}}
		}
		p.Selector = sel
	}
	if d := s.Objectives.LatencyP99; d != nil {
		p.LatencySLO = d.Duration
	}
	if v := s.Objectives.MaxErrorRatePermille; v != nil {
		p.MaxErrorRate = float64(*v) / 1000
	}
	if r := s.Knobs.GOGC; r != nil {
		p.GOGC = &Range{Min: int(r.Min), Max: int(r.Max)}
	}
	if r := s.Knobs.GOMEMLIMIT; r != nil {
		p.MemLimit = &RatioRange{Min: float64(r.Min) / 100, Max: float64(r.Max) / 100}
	}
	if g := s.Knobs.GOMAXPROCS; g != nil {
		p.GOMAXPROCS, p.UseCPURequest = g.Enabled, g.UseCPURequest
		p.ThrottledLimit = float64(*g.ThrottledPercent) / 100
	}
	if r := s.Knobs.HPATargetUtilization; r != nil {
		p.HPATarget = &Range{Min: int(r.Min), Max: int(r.Max)}
	}
	return p, nil
}

// LoadFile reads every TuningPolicy of a YAML file (documents separated by ---). Unknown
// fields, a wrong apiVersion or kind, and invalid policies are errors naming the document
// and the field; nothing is returned unless every policy is valid.
func LoadFile(path string) ([]Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policies: %w", err)
	}
	ps, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ps, nil
}

// Parse reads TuningPolicy documents from YAML; see LoadFile.
func Parse(b []byte) ([]Policy, error) {
	var out []Policy
	var errs []error
	names := map[string]int{}
	for i, doc := range splitDocuments(b) {
		var tp v1alpha1.TuningPolicy
		if err := decodeStrict(doc, &tp); err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", i+1, err))
			continue
		}
		if tp.APIVersion != v1alpha1.GroupVersion.String() || tp.Kind != "TuningPolicy" {
			errs = append(errs, fmt.Errorf("document %d: apiVersion %q, kind %q: want apiVersion %s, kind TuningPolicy",
				i+1, tp.APIVersion, tp.Kind, v1alpha1.GroupVersion))
			continue
		}
		p, err := Resolve(tp)
		if err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", i+1, err))
			continue
		}
		if prev, dup := names[p.Key()]; dup {
			errs = append(errs, fmt.Errorf("document %d: policy %q is already defined in document %d", i+1, p.Key(), prev))
			continue
		}
		names[p.Key()] = i + 1
		out = append(out, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// splitDocuments splits multi-document YAML, skipping empty documents.
func splitDocuments(b []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		if len(bytes.TrimSpace(stripComments(cur.Bytes()))) > 0 {
			docs = append(docs, bytes.Clone(cur.Bytes()))
		}
		cur.Reset()
	}
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if t := bytes.TrimRight(line, " \t\r\n"); bytes.Equal(t, []byte("---")) {
			flush()
			continue
		}
		cur.Write(line)
	}
	flush()
	return docs
}

func stripComments(b []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.Split(b, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out.Write(line)
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

// decodeStrict decodes YAML as the API server would: unknown and duplicate fields are
// errors naming their path (spec.colour).
func decodeStrict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return fmt.Errorf("not valid YAML: %w", err)
	}
	strict, err := kjson.UnmarshalStrict(j, v)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}
