package scale_test

import (
	"context"
	"log"
	"os"

	"github.com/mcplane/mcp/bench/scale"
)

// Run the benchmark — 10,000 simulated agents against mcp serve, and 10,000
// etcd watchers in the same run — and print the table `mcp bench scale` prints.
func ExampleRun() {
	cfg := scale.DefaultConfig()
	r, err := scale.Run(context.Background(), cfg, os.Stderr)
	if err != nil {
		log.Fatal(err)
	}
	if err := r.WriteTable(os.Stdout); err != nil {
		log.Fatal(err)
	}
}
