package runtime_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/mcplane/mcp/runtime"

	"github.com/mcplane/mcp/runtime/knob"
)

// The common case: start the agent, serve its metrics, wrap the handlers.
func ExampleStart() {
	agent, err := runtime.Start(context.Background(),
		runtime.WithServiceName("checkout"),
		// Limits normally come from the container's cgroups; fixed here for the example.
		runtime.WithLimitProvider(runtime.FixedLimits(runtime.ContainerLimits{MemoryBytes: 512 << 20})),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer agent.Stop()

	mux := http.NewServeMux()
	mux.Handle("/metrics", agent.MetricsHandler())
	mux.Handle("/", agent.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	})))

	st := agent.State()
	fmt.Println(st.Knobs.MemoryLimit>>20, "MiB from", st.Sources.MemoryLimit)
	// Output: 460 MiB from cgroup
}

// Knob changes are bounded and all-or-nothing.
func ExampleAgent_SetKnobs() {
	agent, err := runtime.Start(context.Background(),
		runtime.WithLimitProvider(runtime.FixedLimits(runtime.ContainerLimits{MemoryBytes: 512 << 20})))
	if err != nil {
		log.Fatal(err)
	}
	defer agent.Stop()
	defer agent.Reset()

	gogc := 150
	st, err := agent.SetKnobs(knob.Change{GOGC: &gogc}, "d-42")
	fmt.Println(st.Knobs.GOGC, st.Sources.GOGC, st.DecisionID, err)

	bad, tooBig := -5, int64(1<<30)
	_, err = agent.SetKnobs(knob.Change{GOGC: &bad, MemoryLimit: &tooBig}, "")
	fmt.Println(err)
	fmt.Println(agent.State().Knobs.GOGC)
	// Output:
	// 150 control-plane d-42 <nil>
	// knob update rejected: GOMEMLIMIT 1GiB is above 0.98 × the container memory limit of 512MiB (501.8MiB); GOGC -5 is outside [25, 2000]
	// 150
}
