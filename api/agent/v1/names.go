package agentv1

// Kinds of AgentEvent: what an agent did on its own and reports afterwards.
const (
	// EventMemoryGuardEngaged: the live heap neared the memory limit and the agent lowered
	// GOGC at once, without a round trip.
	EventMemoryGuardEngaged = "memory-guard-engaged"
	// EventMemoryGuardReleased: the live heap stayed low again and GOGC is back where the
	// knob's owner put it.
	EventMemoryGuardReleased = "memory-guard-released"
)

// AuthorizationHeader is the metadata key of the bearer token on a session ("Bearer <token>").
const AuthorizationHeader = "authorization"
