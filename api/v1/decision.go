package apiv1

import (
	"fmt"
	"strings"
	"time"

	"github.com/mcplane/mcp/runtime/knob"
)

// Mode is how far automation may go.
type Mode string

const (
	// ModeObserve: compute and record, change nothing, show nothing as actionable.
	ModeObserve Mode = "observe"
	// ModeRecommend: record the decision as a recommendation for a person to apply.
	ModeRecommend Mode = "recommend"
	// ModeApply: push the change to the agents (or the cluster).
	ModeApply Mode = "apply"
)

// Valid reports whether m is one of the modes.
func (m Mode) Valid() bool { return m == ModeObserve || m == ModeRecommend || m == ModeApply }

// Outcome is where a decision stands.
type Outcome string

const (
	OutcomePending     Outcome = "pending"     // pushed, acknowledgements outstanding
	OutcomeApplied     Outcome = "applied"     // every instance reached applied it
	OutcomePartial     Outcome = "partial"     // some instances rejected it
	OutcomeRejected    Outcome = "rejected"    // every instance rejected it
	OutcomeRecorded    Outcome = "recorded"    // observe / recommend: nothing pushed
	OutcomeKept        Outcome = "kept"        // the tuner confirmed it after its window
	OutcomeRolledBack  Outcome = "rolled-back" // the tuner undid it on a regression
	OutcomeSuperseded  Outcome = "superseded"  // a later decision replaced it before it settled
	OutcomeNoInstances Outcome = "no-instances"
)

// Who makes decisions (Decision.Source).
const (
	// SourceAPI: a person or automation through the HTTP API (mcp knobs set).
	SourceAPI = "api"
	// SourceTuner: the tuner, under a policy.
	SourceTuner = "tuner"
	// SourceKubernetes: a decision another replica made, learned from a TuningPolicy status.
	SourceKubernetes = "kubernetes"
)

// Kinds of audit events (AuditEvent.Kind).
const (
	AuditCreated = "created"
	AuditPushed  = "pushed"
	AuditOutcome = "outcome"
	AuditNote    = "note"
)

// Decision is one change to a workload's knobs, with its evidence and what became of it.
// Decisions are stored durably before anything is pushed.
type Decision struct {
	ID       string `json:"id"`
	Service  string `json:"service"`
	Instance string `json:"instance,omitempty"` // empty: every instance of the service
	// Namespace and Workload name the Kubernetes workload, when the decision is for one.
	Namespace string       `json:"namespace,omitempty"`
	Workload  string       `json:"workload,omitempty"`
	Mode      Mode         `json:"mode"`
	Source    string       `json:"source"` // SourceAPI, SourceTuner, SourceKubernetes
	Policy    string       `json:"policy,omitempty"`
	Before    *knob.Values `json:"before,omitempty"`
	// Knobs is the change to the processes' runtime knobs; HPATargetUtilization the change
	// to the workload's HPA (a workload setting, not a process knob). One of them is set.
	Knobs                knob.Change `json:"knobs"`
	HPATargetUtilization *int        `json:"hpa_target_utilization,omitempty"`
	// Reason is the human explanation in numbers, e.g. "live heap 212MiB of 512MiB, GC CPU
	// 18% → GOGC 100→260, predicted GC CPU 7%".
	Reason string `json:"reason"`
	// Evidence holds the signal values the decision was made on; Prediction what the model
	// expects afterwards; Observed what was measured after it.
	Evidence   map[string]float64 `json:"evidence,omitempty"`
	Prediction map[string]float64 `json:"prediction,omitempty"`
	Observed   map[string]float64 `json:"observed,omitempty"`
	// Canary is the instance tried first, when the policy asks for a canary.
	Canary    string    `json:"canary,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	Outcome   Outcome   `json:"outcome"`
	// Acks summarises the agents' acknowledgements.
	Acks      AckSummary `json:"acks"`
	UpdatedAt time.Time  `json:"updated_at"`
	// RollbackOf names the decision this one undoes.
	RollbackOf string `json:"rollback_of,omitempty"`
}

// AckSummary counts acknowledgements.
type AckSummary struct {
	Targeted int `json:"targeted"`
	Applied  int `json:"applied"`
	Rejected int `json:"rejected"`
}

// Ack is one instance's answer to a decision.
type Ack struct {
	DecisionID string       `json:"decision_id"`
	Instance   string       `json:"instance"`
	Applied    bool         `json:"applied"`
	Reason     string       `json:"reason,omitempty"`
	Knobs      *knob.Values `json:"knobs,omitempty"`
	At         time.Time    `json:"at"`
	// LatencySeconds is from the push to the acknowledgement.
	LatencySeconds float64 `json:"latency_seconds"`
}

// AuditEvent is one entry in a decision's audit trail.
type AuditEvent struct {
	DecisionID string    `json:"decision_id"`
	Time       time.Time `json:"time"`
	Kind       string    `json:"kind"` // AuditCreated, AuditPushed, AuditOutcome, AuditNote
	Message    string    `json:"message"`
}

// DecisionRequest is the body of POST /api/v1/decisions: a manual knob change.
type DecisionRequest struct {
	Service  string      `json:"service"`
	Instance string      `json:"instance,omitempty"`
	Knobs    knob.Change `json:"knobs"`
	// HPATargetUtilization is the HPA's target CPU utilization in percent (Kubernetes only).
	HPATargetUtilization *int   `json:"hpa_target_utilization,omitempty"`
	Reason               string `json:"reason,omitempty"`
	// Mode defaults to apply.
	Mode Mode `json:"mode,omitempty"`
}

// Validate checks the request on its own; errors name the JSON field.
func (r DecisionRequest) Validate() error {
	var problems []string
	if strings.TrimSpace(r.Service) == "" {
		problems = append(problems, "service: required")
	}
	if r.Mode != "" && !r.Mode.Valid() {
		problems = append(problems, fmt.Sprintf("mode: %q is not one of observe, recommend, apply", r.Mode))
	}
	if h := r.HPATargetUtilization; h != nil && (*h < 1 || *h > 100) {
		problems = append(problems, fmt.Sprintf("hpa_target_utilization: %d is outside [1, 100]", *h))
	}
	switch {
	case r.HPATargetUtilization == nil && r.Knobs.IsEmpty():
		problems = append(problems, "knobs: set at least one of gogc, memory_limit_bytes, memory_limit_ratio, gomaxprocs or reset, or hpa_target_utilization")
	case !r.Knobs.IsEmpty():
		if err := r.Knobs.Validate("knobs."); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// DecisionList is the answer to GET /api/v1/decisions.
type DecisionList struct {
	Decisions []Decision `json:"decisions"`
}

// DecisionDetail is the answer to GET /api/v1/decisions/{id}.
type DecisionDetail struct {
	Decision
	AckList []Ack        `json:"ack_list"`
	Audit   []AuditEvent `json:"audit"`
}

// Error is every error body of the API.
type Error struct {
	Error string `json:"error"`
}

// What describes what a decision changes, as the CLI and the audit trail print it: its
// knob change and its HPA target.
func (d Decision) What() string {
	s := d.Knobs.String()
	if h := d.HPATargetUtilization; h != nil {
		if s != "" {
			s += " "
		}
		s += fmt.Sprintf("HPA target=%d%%", *h)
	}
	return s
}
