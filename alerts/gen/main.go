// Command gen writes the PrometheusRule derived from alerts/rules/*.yaml; go generate ./alerts
// runs it.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mcplane/mcp/alerts"
)

func main() {
	out := flag.String("o", "prometheusrule.yaml", "file to write")
	flag.Parse()
	b, err := alerts.PrometheusRule()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
