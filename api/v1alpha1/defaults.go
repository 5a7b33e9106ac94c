package v1alpha1

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Default fills unset fields with the defaults the CRD's markers give, so that a policy read
// from a file behaves as the same policy applied to a cluster.
func (p *TuningPolicy) Default() {
	s := &p.Spec
	if s.Mode == "" {
		s.Mode = ModeObserve
	}
	if s.Objectives.MemoryHeadroomPercent == nil {
		s.Objectives.MemoryHeadroomPercent = ptr[int32](10)
	}
	if g := s.Knobs.GOMAXPROCS; g != nil && g.ThrottledPercent == nil {
		g.ThrottledPercent = ptr[int32](20)
	}
	b := &s.ChangeBudget
	if b.MaxStepPercent == nil {
		b.MaxStepPercent = ptr[int32](100)
	}
	if b.Cooldown == nil {
		b.Cooldown = &metav1.Duration{Duration: 2 * time.Minute}
	}
	if b.MaxChangesPerHour == nil {
		b.MaxChangesPerHour = ptr[int32](12)
	}
	if s.Canary.Window == nil {
		s.Canary.Window = &metav1.Duration{Duration: 2 * time.Minute}
	}
	r := &s.Rollback
	if r.Window == nil {
		r.Window = &metav1.Duration{Duration: 2 * time.Minute}
	}
	if r.LatencyP99IncreasePercent == nil {
		r.LatencyP99IncreasePercent = ptr[int32](20)
	}
	if r.ErrorRateIncreasePermille == nil {
		r.ErrorRateIncreasePermille = ptr[int32](5)
	}
	if r.GCCPUIncreasePercent == nil {
		r.GCCPUIncreasePercent = ptr[int32](25)
	}
	if r.CPUPerRequestIncreasePercent == nil {
		r.CPUPerRequestIncreasePercent = ptr[int32](5)
	}
	if r.OnOOMOrRestart == nil {
		r.OnOOMOrRestart = ptr(true)
	}
}

func ptr[T any](v T) *T { return &v }

// Validate checks a policy the way the API server does with the CRD's schema and CEL rules,
// for policies read from files. Every problem is reported with its field path.
func (p *TuningPolicy) Validate() field.ErrorList {
	var errs field.ErrorList
	if p.Name == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "name"), "every policy needs a name"))
	}
	spec := field.NewPath("spec")
	s := &p.Spec
	t := spec.Child("target")
	if len(s.Target.Services) == 0 && s.Target.Selector == nil && s.Target.WorkloadRef == nil {
		errs = append(errs, field.Required(t, "target needs services, selector or workloadRef"))
	}
	if len(s.Target.Services) > 256 {
		errs = append(errs, field.TooMany(t.Child("services"), len(s.Target.Services), 256))
	}
	seen := map[string]bool{}
	for i, svc := range s.Target.Services {
		if svc == "" {
			errs = append(errs, field.Required(t.Child("services").Index(i), "empty service name"))
		} else if seen[svc] {
			errs = append(errs, field.Duplicate(t.Child("services").Index(i), svc))
		}
		seen[svc] = true
	}
	if s.Target.Selector != nil {
		if _, err := metav1.LabelSelectorAsSelector(s.Target.Selector); err != nil {
			errs = append(errs, field.Invalid(t.Child("selector"), s.Target.Selector, err.Error()))
		}
	}
	if w := s.Target.WorkloadRef; w != nil {
		if w.Kind != "Deployment" && w.Kind != "StatefulSet" {
			errs = append(errs, field.NotSupported(t.Child("workloadRef", "kind"), w.Kind, []string{"Deployment", "StatefulSet"}))
		}
		if w.Name == "" {
			errs = append(errs, field.Required(t.Child("workloadRef", "name"), ""))
		}
	}
	switch s.Mode {
	case ModeObserve, ModeRecommend, ModeApply, "":
	default:
		errs = append(errs, field.NotSupported(spec.Child("mode"), s.Mode, []string{"observe", "recommend", "apply"}))
	}
	o := spec.Child("objectives")
	if d := s.Objectives.LatencyP99; d != nil && d.Duration <= 0 {
		errs = append(errs, field.Invalid(o.Child("latencyP99"), d.Duration.String(), "must be positive"))
	}
	errs = append(errs, intIn(o.Child("memoryHeadroomPercent"), s.Objectives.MemoryHeadroomPercent, 1, 90)...)
	errs = append(errs, intIn(o.Child("maxErrorRatePermille"), s.Objectives.MaxErrorRatePermille, 0, 1000)...)

	k := spec.Child("knobs")
	if r := s.Knobs.GOGC; r != nil {
		errs = append(errs, rangeIn(k.Child("gogc"), r.Min, r.Max, 25, 2000)...)
	}
	if r := s.Knobs.GOMEMLIMIT; r != nil {
		errs = append(errs, rangeIn(k.Child("gomemlimit"), r.Min, r.Max, 10, 98)...)
	}
	if g := s.Knobs.GOMAXPROCS; g != nil {
		errs = append(errs, intIn(k.Child("gomaxprocs", "throttledPercent"), g.ThrottledPercent, 1, 100)...)
	}
	if r := s.Knobs.HPATargetUtilization; r != nil {
		errs = append(errs, rangeIn(k.Child("hpaTargetUtilization"), r.Min, r.Max, 1, 100)...)
		if s.Target.WorkloadRef == nil && s.Target.HPAName == "" {
			errs = append(errs, field.Invalid(k.Child("hpaTargetUtilization"), "", "needs target.workloadRef or target.hpaName"))
		}
	}
	if s.Knobs.GOGC == nil && s.Knobs.GOMEMLIMIT == nil && s.Knobs.GOMAXPROCS == nil && s.Knobs.HPATargetUtilization == nil {
		errs = append(errs, field.Required(k, "name at least one knob to tune: gogc, gomemlimit, gomaxprocs or hpaTargetUtilization"))
	}
	b := spec.Child("changeBudget")
	errs = append(errs, intIn(b.Child("maxStepPercent"), s.ChangeBudget.MaxStepPercent, 5, 1000)...)
	errs = append(errs, intIn(b.Child("maxChangesPerHour"), s.ChangeBudget.MaxChangesPerHour, 1, 120)...)
	errs = append(errs, positive(b.Child("cooldown"), s.ChangeBudget.Cooldown)...)
	errs = append(errs, positive(spec.Child("canary", "window"), s.Canary.Window)...)
	r := spec.Child("rollback")
	errs = append(errs, positive(r.Child("window"), s.Rollback.Window)...)
	for name, v := range map[string]*int32{
		"latencyP99IncreasePercent": s.Rollback.LatencyP99IncreasePercent, "errorRateIncreasePermille": s.Rollback.ErrorRateIncreasePermille,
		"gcCPUIncreasePercent": s.Rollback.GCCPUIncreasePercent, "cpuPerRequestIncreasePercent": s.Rollback.CPUPerRequestIncreasePercent,
	} {
		errs = append(errs, intIn(r.Child(name), v, 1, 100000)...)
	}
	return errs
}

func intIn(path *field.Path, v *int32, lo, hi int32) field.ErrorList {
	if v == nil || (*v >= lo && *v <= hi) {
		return nil
	}
	return field.ErrorList{field.Invalid(path, *v, fmt.Sprintf("must be between %d and %d", lo, hi))}
}

func rangeIn(path *field.Path, minV, maxV, lo, hi int32) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, intIn(path.Child("min"), &minV, lo, hi)...)
	errs = append(errs, intIn(path.Child("max"), &maxV, lo, hi)...)
	if minV > maxV {
		errs = append(errs, field.Invalid(path, fmt.Sprintf("min %d, max %d", minV, maxV), "min must not exceed max"))
	}
	return errs
}

func positive(path *field.Path, d *metav1.Duration) field.ErrorList {
	if d == nil || d.Duration > 0 {
		return nil
	}
	return field.ErrorList{field.Invalid(path, d.Duration.String(), "must be a positive duration")}
}
