package tuner

import (
	"fmt"
	"math"

	"github.com/mcplane/mcp/runtime/knob"
)

// proposeGOMAXPROCS brings GOMAXPROCS down to the CPU limit (rounded up) when it is above
// it, and one step down when the container is throttled in more periods than the policy
// allows.
func (t *Tuner) proposeGOMAXPROCS(e evaluation, prop *proposal) {
	p, agg := e.p, e.agg
	if !p.GOMAXPROCS || e.operatorOwns(func(s knob.Sources) knob.Source { return s.GOMAXPROCS }) || !finite(agg.GOMAXPROCS) {
		return
	}
	procs := int(agg.GOMAXPROCS)
	switch {
	case agg.CPULimit > 0 && procs > max(1, int(math.Ceil(agg.CPULimit))):
		want := max(1, int(math.Ceil(agg.CPULimit)))
		prop.knobs.GOMAXPROCS = &want
		prop.reasons = append(prop.reasons, fmt.Sprintf("GOMAXPROCS %d is above the %.2g-core CPU limit → %d", procs, agg.CPULimit, want))
	case finite(agg.Throttled) && agg.Throttled > p.ThrottledLimit && procs > 1:
		want := procs - 1
		prop.knobs.GOMAXPROCS = &want
		prop.reasons = append(prop.reasons, fmt.Sprintf("throttled in %.0f%% of CPU periods → GOMAXPROCS %d→%d", 100*agg.Throttled, procs, want))
	}
	if prop.knobs.GOMAXPROCS != nil {
		prev := procs
		prop.prev.GOMAXPROCS = &prev
	}
}
