package pipeline

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Target is the lowest throughput a pipeline with MCP's components may have, relative to the
// same workload's baseline pipeline.
const Target = 0.9

// RunResult is one run of one variant.
type RunResult struct {
	Variant  string   `json:"variant"`
	Workload Workload `json:"workload"`
	Round    int      `json:"round"` // from 1
	Order    int      `json:"order"` // position within the round, from 1
	// Items are the data points (metrics) or profile uploads (profiles) the collector
	// acknowledged in the measured window; Requests the requests answered 200.
	Items    uint64 `json:"items"`
	Requests uint64 `json:"requests"`
	// Refused are requests answered with an error status, Errors requests without answer.
	Refused       uint64  `json:"refused"`
	Errors        uint64  `json:"errors"`
	LastRefusal   string  `json:"last_refusal,omitempty"`
	WindowSeconds float64 `json:"window_seconds"`
	PerSecond     float64 `json:"per_second"`
	// CPUSeconds is what the kernel counted against the collector's cgroup in the window;
	// CPUCores is that over the window (at most 1: the quota).
	CPUSeconds   float64 `json:"cpu_seconds"`
	CPUCores     float64 `json:"cpu_cores"`
	PerCPUSecond float64 `json:"per_cpu_second"`
	// ThrottledFraction is the share of CFS periods in which the quota stopped the collector.
	ThrottledFraction float64 `json:"throttled_fraction"`
	MemoryPeakBytes   int64   `json:"memory_peak_bytes"`
	// LoaderCPUCores is the load generator's CPU use over the window (this process).
	LoaderCPUCores float64 `json:"loader_cpu_cores"`
	GOMAXPROCS     int     `json:"gomaxprocs"`
	// Store is what the mcpsignals exporter took in over the collector's life (warm-up and
	// shutdown flush included), for the variants that have it.
	Store *StoreCounts `json:"store,omitempty"`
}

// StoreCounts are the tuner store's counters at the end of a run.
type StoreCounts struct {
	MetricPoints uint64 `json:"metric_points"`
	// ProfileUploads is mcp_profiles_received_total, which counts one per profile (sample
	// type) summarised: a heap upload counts four.
	ProfileUploads uint64 `json:"profile_uploads"`
	Instances      int    `json:"instances"`
	Services       int    `json:"services"`
}

// Summary is one variant over all rounds.
type Summary struct {
	Variant    string   `json:"variant"`
	Workload   Workload `json:"workload"`
	Pipeline   string   `json:"pipeline"`
	Diagnostic bool     `json:"diagnostic,omitempty"`
	Runs       int      `json:"runs"`
	// PerSecond, CPUCores and PerCPUSecond are medians over rounds.
	PerSecond    float64 `json:"per_second"`
	CPUCores     float64 `json:"cpu_cores"`
	PerCPUSecond float64 `json:"per_cpu_second"`
	// Ratio is the median over rounds of PerCPUSecond divided by the same round's baseline
	// of the workload: throughput on one core, whether or not the collector got all of its
	// core from a shared machine. RoundRatios are the per-round values. WallRatio is the
	// same for PerSecond, equal to Ratio when both collectors used their whole core. Zero for
	// the baselines.
	Ratio           float64   `json:"ratio,omitempty"`
	RoundRatios     []float64 `json:"round_ratios,omitempty"`
	WallRatio       float64   `json:"wall_ratio,omitempty"`
	RoundWallRatios []float64 `json:"round_wall_ratios,omitempty"`
	// Target is the lowest Ratio allowed (0: none applies); TargetMet whether Ratio reaches it.
	Target    float64 `json:"target,omitempty"`
	TargetMet bool    `json:"target_met"`
}

// Report is a whole benchmark.
type Report struct {
	Started  time.Time    `json:"started"`
	Finished time.Time    `json:"finished"`
	Config   ReportConfig `json:"config"`
	Machine  Machine      `json:"machine"`
	Payload  Payload      `json:"payload"`
	Runs     []RunResult  `json:"runs"`
	Summary  []Summary    `json:"summary"`
	// TargetsMet is true when every variant with a target met it.
	TargetsMet bool     `json:"targets_met"`
	Warnings   []string `json:"warnings,omitempty"`
}

// ReportConfig is Config as recorded in a report.
type ReportConfig struct {
	Rounds             int    `json:"rounds"`
	Duration           string `json:"duration"`
	Warmup             string `json:"warmup"`
	Senders            int    `json:"senders"`
	Instances          int    `json:"instances"`
	Services           int    `json:"services"`
	ProfileCapture     string `json:"profile_capture"`
	CollectorMemoryMiB int    `json:"collector_memory_mib"`
}

func reportConfig(c Config) ReportConfig {
	return ReportConfig{Rounds: c.Rounds, Duration: c.Duration.String(), Warmup: c.Warmup.String(), Senders: c.Senders,
		Instances: c.Instances, Services: c.Services, ProfileCapture: c.ProfileCapture.String(), CollectorMemoryMiB: c.CollectorMemoryMiB}
}

// Payload describes what was sent.
type Payload struct {
	MetricPointsPerExport int `json:"metric_points_per_export"`
	CPUProfileSamples     int `json:"cpu_profile_samples"`
	HeapProfileSamples    int `json:"heap_profile_samples"`
	CPUUploadBytes        int `json:"cpu_upload_bytes"`
	HeapUploadBytes       int `json:"heap_upload_bytes"`
	CPUOTLPBytes          int `json:"cpu_otlp_bytes"`
	HeapOTLPBytes         int `json:"heap_otlp_bytes"`
}

// Machine describes where the benchmark ran.
type Machine struct {
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpu_model,omitempty"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	GoVersion  string `json:"go_version"`
	MCPVersion string `json:"mcp_version"`
}

func cpuModel(cpuinfo string) string {
	for line := range strings.SplitSeq(cpuinfo, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// summarize computes the per-variant medians and the ratios against each workload's
// baseline, round by round.
func (r *Report) summarize(variants []Variant) {
	baseline := map[Workload]string{}
	for _, v := range variants {
		if !v.MCP && !v.Diagnostic {
			baseline[v.Workload] = v.Name
		}
	}
	byRound := map[string]map[int]RunResult{}
	for _, run := range r.Runs {
		if byRound[run.Variant] == nil {
			byRound[run.Variant] = map[int]RunResult{}
		}
		byRound[run.Variant][run.Round] = run
	}
	r.TargetsMet = true
	for _, v := range variants {
		s := Summary{Variant: v.Name, Workload: v.Workload, Pipeline: v.Pipeline, Diagnostic: v.Diagnostic}
		var rates, cores, perCPU []float64
		for round := 1; round <= r.Config.Rounds; round++ {
			run, ok := byRound[v.Name][round]
			if !ok {
				continue
			}
			s.Runs++
			rates, cores, perCPU = append(rates, run.PerSecond), append(cores, run.CPUCores), append(perCPU, run.PerCPUSecond)
			if run.Refused > 0 || run.Errors > 0 {
				r.Warnings = append(r.Warnings, fmt.Sprintf("round %d %s: %d requests refused, %d unanswered (last refusal: %s)",
					round, v.Name, run.Refused, run.Errors, run.LastRefusal))
			}
			if run.CPUCores < 0.9 {
				r.Warnings = append(r.Warnings, fmt.Sprintf("round %d %s: the collector used %.2f of its core; the load or the machine held it back",
					round, v.Name, run.CPUCores))
			}
			base, ok := byRound[baseline[v.Workload]][round]
			if v.Name == baseline[v.Workload] || !ok || base.PerSecond == 0 {
				continue
			}
			s.RoundWallRatios = append(s.RoundWallRatios, run.PerSecond/base.PerSecond)
			if base.PerCPUSecond > 0 {
				s.RoundRatios = append(s.RoundRatios, run.PerCPUSecond/base.PerCPUSecond)
			}
		}
		s.PerSecond, s.CPUCores, s.PerCPUSecond = median(rates), median(cores), median(perCPU)
		s.Ratio, s.WallRatio = median(s.RoundRatios), median(s.RoundWallRatios)
		if v.MCP && !v.Diagnostic && len(s.RoundRatios) > 0 {
			s.Target = Target
			s.TargetMet = s.Ratio >= Target
			r.TargetsMet = r.TargetsMet && s.TargetMet
		}
		r.Summary = append(r.Summary, s)
	}
}

// WriteTable writes the summary as a table, then the warnings.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "collector throughput on one core: %d rounds of %s (after %s warm-up), %d senders, %d instances of %d services, %d CPUs (%s), %s\n",
		r.Config.Rounds, r.Config.Duration, r.Config.Warmup, r.Config.Senders, r.Config.Instances, r.Config.Services, r.Machine.CPUs, r.Machine.CPUModel, r.Machine.GoVersion)
	fmt.Fprintf(w, "payload: %d points per agent export; CPU profile %d samples, heap profile %d samples\n\n",
		r.Payload.MetricPointsPerExport, r.Payload.CPUProfileSamples, r.Payload.HeapProfileSamples)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "variant\tpipeline\tthroughput/s\tcores used\tper CPU-s (one core)\tB/A one core\t(rounds)\tB/A wall\ttarget\t")
	for _, s := range r.Summary {
		ratio, rounds, wallRatio, target := "", "", "", ""
		if len(s.RoundRatios) > 0 {
			ratio = fmt.Sprintf("%.3f", s.Ratio)
			parts := make([]string, len(s.RoundRatios))
			for i, x := range s.RoundRatios {
				parts[i] = fmt.Sprintf("%.2f", x)
			}
			rounds = strings.Join(parts, " ")
			wallRatio = fmt.Sprintf("%.3f", s.WallRatio)
		}
		if s.Target > 0 {
			met := "met"
			if !s.TargetMet {
				met = "NOT met"
			}
			target = fmt.Sprintf("≥ %.2f %s", s.Target, met)
		} else if s.Diagnostic {
			target = "(diagnostic)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f %s\t%.2f\t%.0f\t%s\t%s\t%s\t%s\t\n",
			s.Variant, s.Pipeline, s.PerSecond, unit(s.Workload), s.CPUCores, s.PerCPUSecond, ratio, rounds, wallRatio, target)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nthroughput: data points (metrics) or pprof profiles (profiles) acknowledged per second of wall time; per CPU-s: per second of CPU the")
	fmt.Fprintln(w, "collector used (its cgroup's counter; at most one core), i.e. throughput on one core. B/A: median over rounds of each round's")
	fmt.Fprintln(w, "ratio to the baseline of its workload; the target applies to B/A on one core.")
	for _, warn := range r.Warnings {
		fmt.Fprintln(w, "warning:", warn)
	}
	return nil
}

// WriteJSON writes the whole report, every run included.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
