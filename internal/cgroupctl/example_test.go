package cgroupctl_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"

	"github.com/mcplane/mcp/internal/cgroupctl"
)

// Running a command in a container-like cgroup with 64 MiB and half a core, as the benchmarks
// do. It needs root (or a delegated cgroup), so it has no Output and is not run by go test;
// the tests in group_linux_test.go do the same for real.
func ExampleCreate() {
	g, err := cgroupctl.Create("bench", cgroupctl.Limits{MemoryBytes: 64 << 20, CPUCores: 0.5})
	if errors.Is(err, cgroupctl.ErrNotWritable) {
		fmt.Println("cannot run here:", err) // says why: not root, read-only, no controllers...
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()

	cmd := exec.Command("demoapp")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := g.Start(cmd); err != nil { // inside the group before its first instruction
		log.Fatal(err)
	}
	if err := g.SetMemoryLimit(128 << 20); err != nil { // an in-place resize, seen at once inside
		log.Fatal(err)
	}
	err = cmd.Wait()
	s, _ := g.Stats()
	fmt.Printf("exit %v; OOM kills %d, throttled %.1fs\n", err, s.OOMKills, s.CPUThrottledSeconds)
}
