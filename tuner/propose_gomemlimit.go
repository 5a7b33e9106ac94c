package tuner

import (
	"math"

	"github.com/mcplane/mcp/runtime/knob"
)

// proposeGOMEMLIMIT sets GOMEMLIMIT to the share of the container's memory limit the
// policy's headroom leaves, within the policy's bounds, and returns that ratio (0 when the
// policy does not tune GOMEMLIMIT or there is no limit to take a share of).
func (t *Tuner) proposeGOMEMLIMIT(e evaluation, prop *proposal) float64 {
	p, agg := e.p, e.agg
	if p.MemLimit == nil || agg.MemoryLimit <= 0 || e.operatorOwns(func(s knob.Sources) knob.Source { return s.MemoryLimit }) {
		return 0
	}
	ratio := math.Min(math.Max(1-p.Headroom, p.MemLimit.Min), p.MemLimit.Max)
	if cur := agg.GOMEMLIMIT / agg.MemoryLimit; !finite(cur) || math.Abs(cur-ratio) > 0.01 {
		prop.knobs.MemoryLimitRatio = &ratio
		if finite(cur) && cur < 1 {
			prev := math.Round(cur*1000) / 1000
			prop.prev.MemoryLimitRatio = &prev
		}
	}
	return ratio
}
