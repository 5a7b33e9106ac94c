package main

import (
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "mcp",
		Short:         "Microservice Control Plane: live GC, memory and CPU tuning for Go services",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newVersionCmd(), newServeCmd(), newCollectorCmd(), newPolicyCmd(), newBenchCmd(), newDemoCmd())
	addClientCommands(root)
	return root
}
