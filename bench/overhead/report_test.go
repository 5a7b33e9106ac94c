package overhead

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testRuns are three rounds in which the agent costs about 1% and profiling about 2.5%.
func testRuns() []RunResult {
	var runs []RunResult
	perReq := map[Variant][]float64{
		NoAgent:        {500, 510, 490},
		Agent:          {505, 520, 494},
		AgentProfiling: {510, 525, 505},
	}
	for round := 1; round <= 3; round++ {
		for i, v := range roundOrder(round) {
			us := perReq[v][round-1]
			r := RunResult{Variant: v, Round: round, Order: i + 1, Requests: 10_000, CPUMicrosPerRequest: us, CPUSeconds: us * 10_000 / 1e6}
			for j := range 100 {
				r.latency.Record(time.Duration(j+1) * 100 * time.Microsecond)
			}
			runs = append(runs, r)
		}
	}
	return runs
}

func TestSummarize(t *testing.T) {
	sum := summarize(testRuns())
	if len(sum) != 3 {
		t.Fatalf("summaries = %d, want 3", len(sum))
	}
	agent, prof := sum[1], sum[2]
	// Agent per round: 1.010, 1.0196, 1.0082 → median 1.010: just within its 1% target.
	if agent.Variant != Agent || agent.Ratio < 1.0099 || agent.Ratio > 1.0101 || !agent.TargetMet {
		t.Errorf("agent: %+v, want ratio 1.010 and the target met", agent)
	}
	// Profiling per round: 1.020, 1.0294, 1.0306 → median 1.0294: within 3%.
	if prof.Ratio < 1.0293 || prof.Ratio > 1.0295 || !prof.TargetMet {
		t.Errorf("agent+profiling: %+v, want ratio 1.0294 and the target met", prof)
	}
	if sum[0].Target != 0 || !sum[0].TargetMet || sum[0].Requests != 30_000 || sum[0].Runs != 3 {
		t.Errorf("no-agent: %+v", sum[0])
	}
	if sum[0].P50Millis < 4.9 || sum[0].P50Millis > 5.1 {
		t.Errorf("merged p50 = %vms, want 5ms", sum[0].P50Millis)
	}
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

func TestRoundOrder(t *testing.T) {
	seen := map[Variant][]int{}
	for round := 1; round <= len(Variants); round++ {
		for pos, v := range roundOrder(round) {
			seen[v] = append(seen[v], pos)
		}
	}
	for v, positions := range seen {
		taken := map[int]bool{}
		for _, p := range positions {
			taken[p] = true
		}
		if len(taken) != len(Variants) {
			t.Errorf("%s ran in positions %v over %d rounds, want each position once", v, positions, len(Variants))
		}
	}
}

// TestWriteTable compares the table with testdata/table.golden; set UPDATE_GOLDEN=1 to
// rewrite it after an intended change.
func TestWriteTable(t *testing.T) {
	rep := &Report{Summary: summarize(testRuns()), Warnings: []string{"round 2 agent: 3 errors and 0 dropped requests: demoapp could not keep up with --rate"}}
	rep.Summary[2].Target, rep.Summary[2].TargetMet = 1.02, false // show a miss
	var buf bytes.Buffer
	if err := rep.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "table.golden")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if buf.String() != string(want) {
		t.Errorf("table:\n%s\nwant:\n%s", buf.String(), want)
	}

	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Summary) != 3 || back.Summary[1].Ratio != rep.Summary[1].Ratio {
		t.Errorf("JSON report does not round-trip: %v", err)
	}
}
