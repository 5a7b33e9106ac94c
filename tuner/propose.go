package tuner

import (
	"context"
	"math"
	"strings"
	"time"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/runtime/knob"
	"github.com/mcplane/mcp/tuner/policy"
	"github.com/mcplane/mcp/tuner/signals"
)

// proposal is what the tuner would change for a workload, and why: a change to its
// processes' knobs and to its HPA target, what a rollback restores, and what the model
// predicts.
type proposal struct {
	knobs, prev   knob.Change
	hpa, prevHPA  *int
	reasons       []string
	prediction    map[string]float64
	floorDistance float64 // GC CPU above the memory-bound floor, as a ratio to it; NaN until the model fits
}

func (p proposal) empty() bool { return p.knobs.IsEmpty() && p.hpa == nil }

func (p proposal) reason() string { return strings.Join(p.reasons, "; ") }

// what is the change proposed, to tell a proposal already on record.
func (p proposal) what() string {
	return apiv1.Decision{Knobs: p.knobs, HPATargetUtilization: p.hpa}.What()
}

// evaluation is what every knob's proposer reads: one workload under one policy, its
// signals over the window, its instances.
type evaluation struct {
	ctx   context.Context
	p     policy.Policy
	w     *workload
	agg   Aggregate
	insts []apiv1.Instance
	keys  []signals.Key
	now   time.Time
}

// operatorOwns reports whether the operator set a knob (src picks its source) on every
// instance: then MCP leaves it alone.
func (e evaluation) operatorOwns(src func(knob.Sources) knob.Source) bool {
	for _, i := range e.insts {
		if src(i.Sources) != knob.SourceOperatorEnv {
			return false
		}
	}
	return len(e.insts) > 0
}

// propose asks each knob's proposer in turn. GOMEMLIMIT goes first: the GOGC proposer
// reasons about the memory limit it leaves in force.
func (t *Tuner) propose(e evaluation) proposal {
	prop := proposal{floorDistance: math.NaN()}
	memRatio := t.proposeGOMEMLIMIT(e, &prop)
	t.proposeGOGC(e, memRatio, &prop)
	t.proposeGOMAXPROCS(e, &prop)
	t.proposeHPATarget(e, &prop)
	return prop
}
