package pyroscopereceiver_test

import (
	"context"
	"fmt"
	"log"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/mcplane/mcp/collector/pyroscopereceiver"
)

// A profiles receiver for pyroscope-go clients, handing their uploads to the
// next consumer of a pipeline (here one that drops them).
func ExampleNewFactory() {
	factory := pyroscopereceiver.NewFactory()
	cfg := factory.CreateDefaultConfig().(*pyroscopereceiver.Config)
	fmt.Println(factory.Type(), cfg.NetAddr.Endpoint)

	// Any free port, so the example runs next to a real Pyroscope.
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	set := receivertest.NewNopSettings(factory.Type())
	r, err := factory.CreateProfiles(context.Background(), set, cfg, consumertest.NewNop())
	if err != nil {
		log.Fatal(err)
	}
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		log.Fatal(err)
	}
	// pyroscope.Start(pyroscope.Config{ServerAddress: "http://<endpoint>", ...})
	// in a Go service now uploads here.
	if err := r.Shutdown(context.Background()); err != nil {
		log.Fatal(err)
	}
	fmt.Println("started and stopped")
	// Output:
	// pyroscope localhost:4040
	// started and stopped
}
