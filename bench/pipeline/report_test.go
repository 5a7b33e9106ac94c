package pipeline

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// TestSummarize checks the ratios on synthetic runs: per round against the same round's
// baseline, the median over rounds, and the target on the one-core ratio.
func TestSummarize(t *testing.T) {
	rep := &Report{Config: ReportConfig{Rounds: 3}}
	add := func(v Variant, round int, perSecond, perCPU, cores float64) {
		rep.Runs = append(rep.Runs, RunResult{Variant: v.Name, Workload: v.Workload, Round: round,
			PerSecond: perSecond, PerCPUSecond: perCPU, CPUCores: cores})
	}
	// Round 2's machine was busy: wall throughput halved, per CPU-second unchanged.
	add(MetricsBaseline, 1, 100, 100, 1)
	add(MetricsMCP, 1, 92, 92, 1)
	add(MetricsBaseline, 2, 50, 100, 0.5)
	add(MetricsMCP, 2, 95, 95, 1)
	add(MetricsBaseline, 3, 100, 100, 1)
	add(MetricsMCP, 3, 80, 80, 1)
	add(ProfilesBaseline, 1, 10, 10, 1)
	add(ProfilesMCP, 1, 2, 2, 1)
	rep.summarize([]Variant{MetricsBaseline, MetricsMCP, ProfilesBaseline, ProfilesMCP})

	byName := map[string]Summary{}
	for _, s := range rep.Summary {
		byName[s.Variant] = s
	}
	m := byName[MetricsMCP.Name]
	if want := []float64{0.92, 0.95, 0.8}; !approxEqual(m.RoundRatios, want) {
		t.Errorf("metrics/mcp round ratios = %v, want %v", m.RoundRatios, want)
	}
	if math.Abs(m.Ratio-0.92) > 1e-9 || !m.TargetMet || m.Target != Target {
		t.Errorf("metrics/mcp = ratio %v met %v target %v, want the median 0.92, met", m.Ratio, m.TargetMet, m.Target)
	}
	if math.Abs(m.WallRatio-0.92) > 1e-9 {
		t.Errorf("metrics/mcp wall ratio = %v, want the median of 0.92, 1.9, 0.8", m.WallRatio)
	}
	p := byName[ProfilesMCP.Name]
	if p.TargetMet || math.Abs(p.Ratio-0.2) > 1e-9 {
		t.Errorf("profiles/mcp = %+v, want ratio 0.2, not met", p)
	}
	if rep.TargetsMet {
		t.Error("TargetsMet with profiles/mcp at 0.2")
	}
	if b := byName[MetricsBaseline.Name]; b.Target != 0 || len(b.RoundRatios) != 0 || b.Runs != 3 {
		t.Errorf("baseline summary = %+v, want no ratio or target, 3 runs", b)
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "0.50 of its core") {
		t.Errorf("warnings = %q, want one about round 2's baseline", rep.Warnings)
	}

	var table, js bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"metrics/mcp", "0.920", "0.92 0.95 0.80", "≥ 0.90 met", "≥ 0.90 NOT met"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Runs) != len(rep.Runs) || back.TargetsMet {
		t.Errorf("JSON round trip: %v, %d runs", err, len(back.Runs))
	}
}

func approxEqual(got, want []float64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			return false
		}
	}
	return true
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
