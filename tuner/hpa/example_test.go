package hpa_test

import (
	"fmt"
	"log"
	"math"
	"time"

	"github.com/mcplane/mcp/tuner/hpa"
	"github.com/mcplane/mcp/tuner/policy"
)

// A workload observed a minute at a time at 40–70% CPU utilization, with p99 latency
// rising from 77 ms to 153 ms, under a 200 ms SLO: the model finds where p99 reaches
// 200 ms and takes off the HPA's tolerance and the load growth a 75 s scale-up lag lets in.
func ExampleRecommend() {
	var obs []hpa.Observation
	for u := 40; u <= 70; u++ {
		// What a single-threaded pod with 10 ms of CPU per request shows (M/M/1):
		// p99 = 10ms × ln(100) / (1 − utilization).
		p99 := 0.010 * math.Log(100) / (1 - float64(u)/100)
		for range 5 {
			obs = append(obs, hpa.Observation{Utilization: float64(u) / 100, P99: p99})
		}
	}
	growth := hpa.EstimateGrowth([]float64{1000, 1020, 1030, 1050, 1060, 1080}, 0.99)

	cfg := hpa.DefaultConfig()
	cfg.SLO = 200 * time.Millisecond
	cfg.Bounds = policy.Range{Min: 40, Max: 90}
	cfg.Current = 60
	cfg.MaxStep = 0.25
	cfg.LoadGrowth = growth
	r, _, err := hpa.Recommend(obs, hpa.DefaultFitConfig(), cfg)
	if err != nil {
		log.Fatal(err) // wraps hpa.ErrNotEnoughData until enough levels are observed
	}
	fmt.Println(r.Target)
	fmt.Println(r.Reason)
	// Output:
	// 68
	// p99 SLO 200ms reached at 77% utilization; −7% for HPA tolerance 0.1; −2% for 1m15s scale-up lag at +1.9%/min load growth → target 68%, within [40, 90] (M/M/1 fit, service 10.0ms, 31 levels 40–70%, error 0.0%)
}
