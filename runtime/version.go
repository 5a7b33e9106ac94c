package runtime

import "runtime/debug"

// modulePath is the agent module's path, as services require it.
const modulePath = "github.com/mcplane/mcp/runtime"

// agentVersion is the version of the agent module this process was built with, as the
// service's go.mod required it; "dev" in this repository's own builds, where the module is
// taken from the working tree.
func agentVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	for _, d := range bi.Deps {
		if d.Path == modulePath && d.Replace == nil && d.Version != "" && d.Version != "(devel)" {
			return d.Version
		}
	}
	return "dev"
}
