// Command mcp is the Microservice Control Plane: the control plane server, the collector,
// the demo, the benchmarks and the client verbs, in one binary.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "mcp:", err)
		os.Exit(1)
	}
}
