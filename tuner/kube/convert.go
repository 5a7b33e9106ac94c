package kube

import (
	"fmt"
	"strconv"

	"github.com/mcplane/mcp/api/v1alpha1"
	"github.com/mcplane/mcp/runtime/knob"
)

// This file is the one boundary between the knob types and a TuningPolicy's status: the
// leader writes decisions there, and every replica reads them back to push to its agents,
// so the two functions below must round-trip exactly (a ratio is written as the shortest
// decimal that reads back as the same float64).

// knobValues writes a knob change, and an HPA target, for a TuningPolicy's status.
func knobValues(c knob.Change, hpa *int) v1alpha1.KnobValues {
	var v v1alpha1.KnobValues
	if c.GOGC != nil {
		g := int32(*c.GOGC)
		v.GOGC = &g
	}
	if c.MemoryLimit != nil {
		b := *c.MemoryLimit
		v.GOMEMLIMITBytes = &b
	}
	if c.MemoryLimitRatio != nil {
		r := strconv.FormatFloat(*c.MemoryLimitRatio, 'f', -1, 64)
		v.GOMEMLIMITRatio = &r
	}
	if c.GOMAXPROCS != nil {
		p := int32(*c.GOMAXPROCS)
		v.GOMAXPROCS = &p
	}
	if hpa != nil {
		h := int32(*hpa)
		v.HPATargetUtilization = &h
	}
	return v
}

// knobChange reads a TuningPolicy status's knob values back: the knob change and the HPA
// target. A ratio that does not parse (a status edited by hand) is an error naming it.
func knobChange(v v1alpha1.KnobValues) (knob.Change, *int, error) {
	var c knob.Change
	if v.GOGC != nil {
		g := int(*v.GOGC)
		c.GOGC = &g
	}
	if v.GOMEMLIMITBytes != nil {
		b := *v.GOMEMLIMITBytes
		c.MemoryLimit = &b
	}
	if v.GOMEMLIMITRatio != nil {
		r, err := strconv.ParseFloat(*v.GOMEMLIMITRatio, 64)
		if err != nil {
			return knob.Change{}, nil, fmt.Errorf("gomemlimitRatio %q: %w", *v.GOMEMLIMITRatio, err)
		}
		c.MemoryLimitRatio = &r
	}
	if v.GOMAXPROCS != nil {
		p := int(*v.GOMAXPROCS)
		c.GOMAXPROCS = &p
	}
	var hpa *int
	if v.HPATargetUtilization != nil {
		h := int(*v.HPATargetUtilization)
		hpa = &h
	}
	return c, hpa, nil
}
