package dashboards_test

import (
	"fmt"
	"log"

	"github.com/mcplane/mcp/dashboards"
)

// Every query of every dashboard, ready to send to Prometheus: an end-to-end test runs each
// against a real Prometheus scraping a real service and expects data.
func ExampleQueries() {
	qs, err := dashboards.Queries()
	if err != nil {
		log.Fatal(err)
	}
	for _, q := range qs {
		if q.Dashboard == "MCP / Go runtime fleet" && q.Panel == "GOGC" {
			fmt.Println(q.PromQL())
		}
	}
	// Output: go_gc_gogc_percent{job=~".+",instance=~".+"}
}

func ExampleSubstitute() {
	fmt.Println(dashboards.Substitute(`rate(x{job=~"$job"}[$__rate_interval])`,
		map[string]string{"job": "checkout", "__rate_interval": "5m"}))
	// Output: rate(x{job=~"checkout"}[5m])
}
