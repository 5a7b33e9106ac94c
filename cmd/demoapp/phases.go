package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Phase is one step of a --phases schedule: for Duration, the workload is the previous
// one with Patch applied.
type Phase struct {
	Duration time.Duration
	Patch    WorkloadPatch
}

func (p Phase) String() string {
	if s := p.Patch.String(); s != "" {
		return p.Duration.String() + ":" + s
	}
	return p.Duration.String()
}

// ParsePhases parses a schedule such as
//
//	60s:live=64,garbage=256;60s:live=200,garbage=64;30s:cpu=500
//
// Phases are separated by ";", each a duration, then optionally ":" and comma-separated
// settings: live (MiB, also live_heap_mib), garbage (KiB per request, also garbage_kib) and
// cpu (µs per request, also cpu_us). A setting a phase does not name keeps its value from
// the phase before. Errors name the phase (from 1) and the setting.
func ParsePhases(spec string) ([]Phase, error) {
	var phases []Phase
	parts := strings.Split(spec, ";")
	for i, raw := range parts {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			if i == len(parts)-1 && i > 0 {
				break // a trailing ";" is harmless
			}
			return nil, fmt.Errorf("phase %d is empty: want DURATION[:key=value,...], e.g. 60s:live=64,garbage=256", i+1)
		}
		p, err := parsePhase(raw)
		if err != nil {
			return nil, fmt.Errorf("phase %d (%q): %w", i+1, raw, err)
		}
		phases = append(phases, p)
	}
	return phases, nil
}

func parsePhase(s string) (Phase, error) {
	durText, settings, _ := strings.Cut(s, ":")
	d, err := time.ParseDuration(strings.TrimSpace(durText))
	if err != nil || d <= 0 {
		return Phase{}, fmt.Errorf("duration %q: want a positive Go duration such as 60s or 5m", durText)
	}
	p := Phase{Duration: d}
	if strings.TrimSpace(settings) == "" {
		return p, nil
	}
	for _, kv := range strings.Split(settings, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if !ok {
			return Phase{}, fmt.Errorf("setting %q: want key=value with key live, garbage or cpu", kv)
		}
		var dst **int
		var limit int
		switch key {
		case "live", "live_heap_mib":
			dst, limit = &p.Patch.LiveHeapMiB, maxLiveHeapMiB
		case "garbage", "garbage_kib":
			dst, limit = &p.Patch.GarbageKiB, maxGarbageKiB
		case "cpu", "cpu_us":
			dst, limit = &p.Patch.CPUMicros, maxCPUMicros
		default:
			return Phase{}, fmt.Errorf("unknown setting %q: want live (MiB), garbage (KiB) or cpu (µs)", key)
		}
		if *dst != nil {
			return Phase{}, fmt.Errorf("setting %s given twice", key)
		}
		n, err := strconv.Atoi(val)
		if err != nil || n < 0 || n > limit {
			return Phase{}, fmt.Errorf("%s=%q: want a whole number from 0 to %d", key, val, limit)
		}
		*dst = &n
	}
	return p, nil
}

// phaseRunner walks a schedule, once or repeating.
type phaseRunner struct {
	phases []Phase
	repeat bool
	// apply starts phase i; it runs on the runner's goroutine, and the phase's time starts
	// before it, so a slow live heap resize is part of the phase.
	apply func(i int, p Phase)
	// after is time.After, replaced in tests.
	after func(time.Duration) <-chan time.Time
}

// run applies the phases in order until the schedule ends (the last phase's workload
// then stays) or ctx is done.
func (r *phaseRunner) run(ctx context.Context) {
	if len(r.phases) == 0 {
		return
	}
	after := r.after
	if after == nil {
		after = time.After
	}
	for {
		for i, p := range r.phases {
			done := after(p.Duration)
			r.apply(i, p)
			select {
			case <-done:
			case <-ctx.Done():
				return
			}
		}
		if !r.repeat {
			return
		}
	}
}
