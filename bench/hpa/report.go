package hpa

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// StrategyResult is one strategy over the whole simulation.
type StrategyResult struct {
	Name string `json:"name"`
	// ReplicaHours is pods × hours, starting pods included (they hold their requests).
	ReplicaHours float64 `json:"replica_hours"`
	// SLOViolationMinutes counts minutes whose p99 was over the SLO; SpikeViolationMinutes
	// are those of them during a spike or the 10 minutes after one.
	SLOViolationMinutes   int `json:"slo_violation_minutes"`
	SpikeViolationMinutes int `json:"spike_violation_minutes"`
	// RatioToBaseline is ReplicaHours over static-50's.
	RatioToBaseline float64 `json:"replica_hours_ratio"`
	// MeanTarget is the time-weighted mean HPA target (percent); FinalTarget the last.
	MeanTarget  float64 `json:"mean_target"`
	FinalTarget int     `json:"final_target"`
	// MeanUtilization is the mean over minutes of ready pods' CPU utilization (fraction).
	MeanUtilization float64 `json:"mean_utilization"`
	PeakReplicas    int     `json:"peak_replicas"`
	ScaleEvents     int     `json:"scale_events"`
	// TargetChanges and LastReason are the mcp strategy's decisions.
	TargetChanges []TargetChange `json:"target_changes,omitempty"`
	LastReason    string         `json:"last_reason,omitempty"`
}

// Report is a whole benchmark.
type Report struct {
	Strategies []StrategyResult `json:"strategies"`
	Config     ReportConfig     `json:"config"`
	Spikes     []Spike          `json:"spikes"`
	// Target is the issue's: mcp at most MaxRatio of static-50's replica-hours with no
	// more SLO-violation minutes.
	Target    ReportTarget `json:"target"`
	TargetMet bool         `json:"target_met"`
}

// ReportTarget is the benchmark's target and how mcp did against it.
type ReportTarget struct {
	MaxRatio            float64 `json:"max_replica_hours_ratio"`
	Ratio               float64 `json:"replica_hours_ratio"`
	ViolationMinutes    int     `json:"slo_violation_minutes"`
	MaxViolationMinutes int     `json:"max_slo_violation_minutes"`
}

// ReportConfig is Config as recorded in a report.
type ReportConfig struct {
	Seed          uint64  `json:"seed"`
	Days          int     `json:"days"`
	SLOMillis     float64 `json:"slo_ms"`
	StartDelay    string  `json:"start_delay"`
	Cores         int     `json:"cores"`
	ServiceMillis float64 `json:"service_time_ms"`
	PeakRate      float64 `json:"peak_rate"`
	SpikesPerDay  float64 `json:"spikes_per_day"`
	MCPBounds     [2]int  `json:"mcp_bounds"`
}

// maxRatio is the target for mcp's replica-hours relative to static-50's.
const maxRatio = 0.8

func newReport(cfg Config, tr trace, results []StrategyResult) Report {
	base := results[0].ReplicaHours
	for i := range results {
		if base > 0 {
			results[i].RatioToBaseline = results[i].ReplicaHours / base
		}
	}
	r := Report{Strategies: results, Spikes: tr.spikes,
		Config: ReportConfig{Seed: cfg.Seed, Days: cfg.Days, SLOMillis: float64(cfg.SLO.Microseconds()) / 1000,
			StartDelay: cfg.StartDelay.String(), Cores: cfg.Cores, ServiceMillis: float64(cfg.ServiceTime.Microseconds()) / 1000,
			PeakRate: cfg.PeakRate, SpikesPerDay: cfg.SpikesPerDay, MCPBounds: [2]int{cfg.MCP.Bounds.Min, cfg.MCP.Bounds.Max}}}
	for _, s := range results {
		if s.Name == "mcp" {
			r.Target = ReportTarget{MaxRatio: maxRatio, Ratio: s.RatioToBaseline, ViolationMinutes: s.SLOViolationMinutes,
				MaxViolationMinutes: results[0].SLOViolationMinutes}
			r.TargetMet = s.RatioToBaseline <= maxRatio && s.SLOViolationMinutes <= results[0].SLOViolationMinutes
		}
	}
	if r.Spikes == nil {
		r.Spikes = []Spike{}
	}
	return r
}

// WriteTable prints the comparison.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "strategy\treplica-hours\tvs static-50\tSLO-violation min\tof which in spikes\tmean target\tmean utilization\tpeak replicas\t")
	for _, s := range r.Strategies {
		fmt.Fprintf(tw, "%s\t%.1f\t%.3f\t%d\t%d\t%.1f%%\t%.1f%%\t%d\t\n", s.Name, s.ReplicaHours, s.RatioToBaseline,
			s.SLOViolationMinutes, s.SpikeViolationMinutes, s.MeanTarget, 100*s.MeanUtilization, s.PeakReplicas)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	c := r.Config
	fmt.Fprintf(w, "\n%d days, seed %d, %d spikes; %d-core pods, %.0fms CPU per request, p99 SLO %.0fms, pod start %s\n",
		c.Days, c.Seed, len(r.Spikes), c.Cores, c.ServiceMillis, c.SLOMillis, c.StartDelay)
	verdict := "MET"
	if !r.TargetMet {
		verdict = "MISSED"
	}
	t := r.Target
	_, err := fmt.Fprintf(w, "target: mcp ≤ %.2f× static-50's replica-hours with no more SLO-violation minutes: %.3f×, %d vs %d minutes — %s\n",
		t.MaxRatio, t.Ratio, t.ViolationMinutes, t.MaxViolationMinutes, verdict)
	return err
}

// WriteJSON writes the report as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
