package cgroupctl

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/mcplane/mcp/runtime/cgroups"
)

// helperEnv selects a helper mode when the test binary is started again as a child process in
// a Group: the standard helper-process pattern. The child runs the mode instead of the tests.
const helperEnv = "MCP_CGROUPS_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	os.Exit(m.Run())
}

// seen is what a helper in "limits" mode reports: what NewReader sees from inside a group.
type seen struct {
	Memory      int64   `json:"memory"`
	MemoryError string  `json:"memory_error"`
	CPU         float64 `json:"cpu"`
	CPUError    string  `json:"cpu_error"`
	Cgroup      string  `json:"cgroup"` // /proc/self/cgroup
}

func runHelper(mode string) int {
	switch mode {
	case "limits":
		// Reports once at start and again for every line on stdin, until stdin closes.
		in := bufio.NewScanner(os.Stdin)
		enc := json.NewEncoder(os.Stdout)
		for {
			var s seen
			r := cgroups.NewReader()
			var err error
			if s.Memory, err = r.MemoryLimit(); err != nil {
				s.MemoryError = err.Error()
			}
			if s.CPU, err = r.CPUQuota(); err != nil {
				s.CPUError = err.Error()
			}
			b, _ := os.ReadFile("/proc/self/cgroup")
			s.Cgroup = string(b)
			if err := enc.Encode(s); err != nil {
				return 1
			}
			if !in.Scan() {
				return 0
			}
		}
	case "burn":
		// Burns CPU on two threads until stdin closes (or 30 s pass, should the test die).
		stop := make(chan struct{})
		go func() {
			bufio.NewScanner(os.Stdin).Scan()
			close(stop)
		}()
		deadline := time.Now().Add(30 * time.Second)
		done := make(chan int)
		for range 2 {
			go func() {
				n := 0
				for time.Now().Before(deadline) {
					select {
					case <-stop:
						done <- n
						return
					default:
					}
					for range 100_000 {
						n++
					}
				}
				done <- n
			}()
		}
		<-done
		<-done
		return 0
	case "alloc":
		// Allocates and touches 256 MiB: far above the limits the tests set.
		b := make([]byte, 256<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		fmt.Println("allocated", len(b))
		return 0
	case "args":
		return encodeTo(os.Args[1:])
	case "create":
		// Create as whoever this process runs as; reports the error.
		g, err := Create("unprivileged", Limits{MemoryBytes: 64 << 20})
		if err == nil {
			g.Close()
			return encodeTo(createResult{})
		}
		return encodeTo(createResult{Error: err.Error(), NotWritable: errors.Is(err, ErrNotWritable)})
	}
	fmt.Fprintf(os.Stderr, "unknown %s mode %q\n", helperEnv, mode)
	return 2
}

// createResult is what a helper in "create" mode reports.
type createResult struct {
	Error       string `json:"error"`
	NotWritable bool   `json:"not_writable"`
}

func encodeTo(v any) int {
	if err := json.NewEncoder(os.Stdout).Encode(v); err != nil {
		return 1
	}
	return 0
}
