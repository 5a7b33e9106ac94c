package kube

import (
	"math"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/api/v1alpha1"
)

// knobValues converts a knob set for a TuningPolicy's status.
func knobValues(k apiv1.KnobSet) v1alpha1.KnobValues {
	var v v1alpha1.KnobValues
	if k.GOGC != nil {
		g := int32(*k.GOGC)
		v.GOGC = &g
	}
	if k.MemoryLimit != nil {
		b := *k.MemoryLimit
		v.GOMEMLIMITBytes = &b
	}
	if k.MemoryLimitRatio != nil {
		p := int32(math.Round(*k.MemoryLimitRatio * 100))
		v.GOMEMLIMITPercent = &p
	}
	if k.GOMAXPROCS != nil {
		p := int32(*k.GOMAXPROCS)
		v.GOMAXPROCS = &p
	}
	if k.HPATargetUtilization != nil {
		h := int32(*k.HPATargetUtilization)
		v.HPATargetUtilization = &h
	}
	return v
}

// knobSet converts status knob values back to a knob set.
func knobSet(v v1alpha1.KnobValues) apiv1.KnobSet {
	var k apiv1.KnobSet
	if v.GOGC != nil {
		g := int(*v.GOGC)
		k.GOGC = &g
	}
	if v.GOMEMLIMITBytes != nil {
		b := *v.GOMEMLIMITBytes
		k.MemoryLimit = &b
	}
	if v.GOMEMLIMITPercent != nil {
		r := float64(*v.GOMEMLIMITPercent) / 100
		k.MemoryLimitRatio = &r
	}
	if v.GOMAXPROCS != nil {
		p := int(*v.GOMAXPROCS)
		k.GOMAXPROCS = &p
	}
	if v.HPATargetUtilization != nil {
		h := int(*v.HPATargetUtilization)
		k.HPATargetUtilization = &h
	}
	return k
}
