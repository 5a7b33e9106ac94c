package alerts_test

import (
	"fmt"
	"log"

	"github.com/mcplane/mcp/alerts"
)

// List the alerts with their severity, as an end-to-end test loading the rules into a real
// Prometheus would.
func ExampleRules() {
	rules, err := alerts.Rules()
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rules {
		if r.Alert == "MCPGoLiveHeapNearMemoryLimit" {
			fmt.Println(r.Alert, r.Labels["severity"], r.For)
		}
	}
	// Output:
	// MCPGoLiveHeapNearMemoryLimit warning 15m
	// MCPGoLiveHeapNearMemoryLimit critical 5m
}

func ExamplePrometheusRule() {
	b, err := alerts.PrometheusRule()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(b) > 0)
	// Output: true
}
