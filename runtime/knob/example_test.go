package knob_test

import (
	"errors"
	"fmt"

	"github.com/mcplane/mcp/runtime/knob"
)

// A change is checked on its own (Validate), then against one process (Resolve): all of it
// applies, or none of it.
func ExampleResolve() {
	cur := knob.Values{GOGC: 100, MemoryLimit: 460 << 20, GOMAXPROCS: 2}
	limits := knob.Limits{ContainerMemory: 512 << 20, LiveHeap: 100 << 20, NumCPU: 4}

	gogc, ratio := 200, 0.8
	next, err := knob.Resolve(cur, knob.Change{GOGC: &gogc, MemoryLimitRatio: &ratio}, limits)
	fmt.Println(next, err)

	tooBig := int64(1 << 30)
	_, err = knob.Resolve(cur, knob.Change{GOGC: &gogc, MemoryLimit: &tooBig}, limits)
	fmt.Println(errors.Is(err, knob.ErrRejected), err)
	// Output:
	// GOGC=200 GOMEMLIMIT=409.6MiB GOMAXPROCS=2 <nil>
	// true knob update rejected: GOMEMLIMIT 1GiB is above 0.98 × the container memory limit of 512MiB (501.8MiB)
}

// GOMEMLIMIT as people write it: a size, in any unit Go or Kubernetes use, or a share of the
// container's limit.
func ExampleParseMemoryLimit() {
	for _, s := range []string{"512Mi", "512MiB", "0.8", "80%"} {
		b, r, _ := knob.ParseMemoryLimit(s)
		if b != nil {
			fmt.Println(s, "→", knob.FormatBytes(*b))
		} else {
			fmt.Println(s, "→ ratio", *r)
		}
	}
	// Output:
	// 512Mi → 512MiB
	// 512MiB → 512MiB
	// 0.8 → ratio 0.8
	// 80% → ratio 0.8
}

func ExampleChange_Merge() {
	gogc, procs := 200, 1
	inForce := knob.Change{GOGC: &gogc}
	fmt.Println(inForce.Merge(knob.Change{GOMAXPROCS: &procs}))
	// Output: GOGC=200 GOMAXPROCS=1
}
