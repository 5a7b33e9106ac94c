package hpa_test

import (
	"context"
	"log"
	"os"

	"github.com/mcplane/mcp/bench/hpa"
)

// Run the benchmark — seven simulated days, static targets of 50%, 70% and 80%
// against MCP's HPA model — and print the table `mcp bench hpa` prints.
func ExampleRun() {
	r, err := hpa.Run(context.Background(), hpa.DefaultConfig(), os.Stderr)
	if err != nil {
		log.Fatal(err)
	}
	if err := r.WriteTable(os.Stdout); err != nil {
		log.Fatal(err)
	}
}
