package main

import (
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"go.uber.org/zap"
)

// GC modes other than Go's defaults, for `mcp bench tuning`'s contenders. They only make
// sense with --no-agent: the agent manages the same knobs.
const (
	gcModeDefault      = "default"
	gcModeAutomemlimit = "automemlimit"
	gcModeGOGCTuner    = "gogctuner"
)

// startGCMode applies the GC mode at start-up.
func startGCMode(mode string, log *zap.Logger) error {
	switch mode {
	case "", gcModeDefault:
		return nil
	case gcModeAutomemlimit:
		// The automemlimit module itself, as its users run it: GOMEMLIMIT at 90% of the
		// cgroup's memory limit.
		limit, err := memlimit.Set(
			memlimit.WithRatio(0.9),
			memlimit.WithProvider(memlimit.FromCgroup),
			memlimit.WithLogger(slog.New(slog.DiscardHandler)),
		)
		if err != nil {
			return fmt.Errorf("automemlimit: %w", err)
		}
		log.Info("gc mode", zap.String("mode", mode), zap.Int64("gomemlimit_bytes", limit))
		return nil
	case gcModeGOGCTuner:
		limit, err := memlimit.FromCgroup()
		if err != nil {
			return fmt.Errorf("gogctuner needs a cgroup memory limit: %w", err)
		}
		startGOGCTuner(int64(limit))
		log.Info("gc mode", zap.String("mode", mode), zap.Uint64("memory_limit_bytes", limit))
		return nil
	}
	return fmt.Errorf("--gc-mode %q: want default, automemlimit or gogctuner", mode)
}

// startGOGCTuner is a re-implementation, from Uber's published description ("How We Saved
// 70K Cores Across 30 Mission-Critical Services", 2021), of its GOGC tuner: after every GC
// cycle, GOGC = (hard target / live heap − 1) × 100 with the hard target at 70% of the
// container's memory limit, kept within [minGOGC, maxGOGC]. It is not Uber's code.
func startGOGCTuner(limit int64) {
	const (
		targetRatio = 0.7
		minGOGC     = 25
		maxGOGC     = 500
	)
	target := float64(limit) * targetRatio
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var last atomic.Int64
	var arm func()
	arm = func() {
		sentinel := &struct {
			_ *int
			_ [16]byte
		}{}
		runtime.SetFinalizer(sentinel, func(any) {
			metrics.Read(sample)
			live := float64(sample[0].Value.Uint64())
			if live > 0 {
				g := int64(math.Round((target/live - 1) * 100))
				g = min(max(g, minGOGC), maxGOGC)
				if last.Swap(g) != g {
					debug.SetGCPercent(int(g))
				}
			}
			arm()
		})
	}
	arm()
}
