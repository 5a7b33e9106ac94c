package overhead

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mcplane/mcp/internal/loadgen"
)

// Variant is one way of running demoapp.
type Variant string

const (
	// NoAgent is demoapp --no-agent: the same service with a plain Prometheus Go
	// collector and nothing else, the baseline.
	NoAgent Variant = "no-agent"
	// Agent is demoapp with the agent: OTLP metrics, traces and logs exported to a
	// receiver, and Prometheus scraping its /metrics.
	Agent Variant = "agent"
	// AgentProfiling is Agent with continuous profiling uploading to a Pyroscope-protocol
	// endpoint as well.
	AgentProfiling Variant = "agent+profiling"
)

// Variants are the variants every round runs, in the first round's order.
var Variants = []Variant{NoAgent, Agent, AgentProfiling}

// Targets are the most CPU per request each variant may use relative to NoAgent: the
// agent's budget is 1% without profiling and 3% with it.
var Targets = map[Variant]float64{Agent: 1.01, AgentProfiling: 1.03}

// RunResult is one run of one variant.
type RunResult struct {
	Variant Variant `json:"variant"`
	Round   int     `json:"round"` // from 1
	Order   int     `json:"order"` // position within the round, from 1
	// Requests, Errors and Dropped are the load generator's counts for the measured window.
	Requests uint64 `json:"requests"`
	Errors   uint64 `json:"errors"`
	Dropped  uint64 `json:"dropped"`
	// CPUSeconds is demoapp's CPU time (user + system, all threads) in the window.
	CPUSeconds          float64 `json:"cpu_seconds"`
	CPUMicrosPerRequest float64 `json:"cpu_us_per_request"`
	WindowSeconds       float64 `json:"window_seconds"`
	// MachineBusyPercent is how busy the whole machine was in the window (100% = every
	// core); HarnessCPUSeconds is this process's share (load generators and sinks of all
	// the variants running in the window).
	MachineBusyPercent float64 `json:"machine_busy_percent"`
	HarnessCPUSeconds  float64 `json:"harness_cpu_seconds"`
	P50Millis          float64 `json:"p50_ms"`
	P99Millis          float64 `json:"p99_ms"`
	P999Millis         float64 `json:"p999_ms"`
	MaxSendDelayMillis float64 `json:"max_send_delay_ms"`
	// Scrapes counts /metrics scrapes over the process's life; Received is what its sinks
	// got from it, warm-up and shutdown flush included.
	Scrapes  int        `json:"scrapes"`
	Received sinkCounts `json:"received"`

	latency loadgen.Histogram
}

// Summary is one variant over all rounds.
type Summary struct {
	Variant             Variant `json:"variant"`
	Runs                int     `json:"runs"`
	Requests            uint64  `json:"requests"`
	CPUSeconds          float64 `json:"cpu_seconds"`
	CPUMicrosPerRequest float64 `json:"cpu_us_per_request"` // all CPU over all requests
	// Ratio is the median over rounds of this variant's CPU per request divided by the
	// no-agent run's of the same round; RoundRatios are the per-round values.
	Ratio       float64   `json:"ratio"`
	RoundRatios []float64 `json:"round_ratios"`
	P50Millis   float64   `json:"p50_ms"`
	P99Millis   float64   `json:"p99_ms"`
	// Target is the highest Ratio allowed (0: none); TargetMet says whether Ratio is
	// within it.
	Target    float64 `json:"target,omitempty"`
	TargetMet bool    `json:"target_met"`
}

// Report is a whole benchmark.
type Report struct {
	Started  time.Time    `json:"started"`
	Finished time.Time    `json:"finished"`
	Config   ReportConfig `json:"config"`
	Machine  Machine      `json:"machine"`
	Runs     []RunResult  `json:"runs"`
	Summary  []Summary    `json:"summary"`
	// TargetsMet is true when every variant with a target met it.
	TargetsMet bool     `json:"targets_met"`
	Warnings   []string `json:"warnings,omitempty"`
}

// ReportConfig is Config as recorded in a report.
type ReportConfig struct {
	Rate           float64  `json:"rate"`
	Duration       string   `json:"duration"`
	Warmup         string   `json:"warmup"`
	Rounds         int      `json:"rounds"`
	Parallel       bool     `json:"parallel"`
	LiveHeapMiB    int      `json:"live_heap_mib"`
	GarbageKiB     int      `json:"garbage_kib"`
	CPUMicros      int      `json:"cpu_us"`
	ScrapeInterval string   `json:"scrape_interval"`
	AgentEnv       []string `json:"agent_env,omitempty"`
}

// Machine describes where the benchmark ran.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model,omitempty"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	GoVersion string `json:"go_version"`
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// summarize computes each variant's summary from the runs. A round without a usable
// no-agent run contributes no ratios.
func summarize(runs []RunResult) []Summary {
	baseline := map[int]float64{}
	for _, r := range runs {
		if r.Variant == NoAgent && r.Requests > 0 {
			baseline[r.Round] = r.CPUMicrosPerRequest
		}
	}
	var out []Summary
	for _, v := range Variants {
		s := Summary{Variant: v, Target: Targets[v]}
		var lat loadgen.Histogram
		for _, r := range runs {
			if r.Variant != v {
				continue
			}
			s.Runs++
			s.Requests += r.Requests
			s.CPUSeconds += r.CPUSeconds
			lat.Merge(&r.latency)
			if b := baseline[r.Round]; b > 0 && r.Requests > 0 {
				s.RoundRatios = append(s.RoundRatios, r.CPUMicrosPerRequest/b)
			}
		}
		if s.Runs == 0 {
			continue
		}
		if s.Requests > 0 {
			s.CPUMicrosPerRequest = s.CPUSeconds * 1e6 / float64(s.Requests)
		}
		s.Ratio = median(s.RoundRatios)
		s.P50Millis, s.P99Millis = millis(lat.Quantile(0.5)), millis(lat.Quantile(0.99))
		s.TargetMet = s.Target == 0 || (s.Ratio > 0 && s.Ratio <= s.Target)
		out = append(out, s)
	}
	return out
}

// median of xs; 0 when empty.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func percent(ratio float64) string { return fmt.Sprintf("%+.2f%%", (ratio-1)*100) }

// WriteTable writes the summary table and the verdict on the targets.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "variant\truns\trequests\tCPU-s\tCPU µs/req\tvs no-agent\tper round\tp50\tp99")
	for _, s := range r.Summary {
		vs, rounds := "—", "—"
		if s.Variant != NoAgent && len(s.RoundRatios) > 0 {
			vs = fmt.Sprintf("%.3f (%s)", s.Ratio, percent(s.Ratio))
			parts := make([]string, len(s.RoundRatios))
			for i, x := range s.RoundRatios {
				parts[i] = percent(x)
			}
			rounds = strings.Join(parts, " ")
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.1f\t%s\t%s\t%.2fms\t%.2fms\n",
			s.Variant, s.Runs, s.Requests, s.CPUSeconds, s.CPUMicrosPerRequest, vs, rounds, s.P50Millis, s.P99Millis)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	fmt.Fprintln(w, "\ntargets (median over rounds of CPU per request relative to no-agent in the same round):")
	for _, s := range r.Summary {
		if s.Target == 0 {
			continue
		}
		verdict := "met"
		if !s.TargetMet {
			verdict = "NOT MET"
		}
		got := "no data"
		if len(s.RoundRatios) > 0 {
			got = percent(s.Ratio)
		}
		fmt.Fprintf(w, "  %-16s at most %s: %s, %s\n", s.Variant, percent(s.Target), got, verdict)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintln(w, "warning:", warn)
	}
	return nil
}

// WriteJSON writes the whole report, every run included.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write JSON report: %w", err)
	}
	return nil
}
