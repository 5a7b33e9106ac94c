package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Mode is how far a policy's automation may go.
// +kubebuilder:validation:Enum=observe;recommend;apply
type Mode string

const (
	// ModeObserve computes and records decisions, changes nothing.
	ModeObserve Mode = "observe"
	// ModeRecommend records decisions as recommendations for a person to apply.
	ModeRecommend Mode = "recommend"
	// ModeApply applies decisions: live knobs through the agents, HPA targets in the cluster.
	ModeApply Mode = "apply"
)

// TuningPolicySpec is what a team asks of MCP for some workloads.
// +kubebuilder:validation:XValidation:rule="!has(self.knobs.hpaTargetUtilization) || has(self.target.workloadRef) || has(self.target.hpaName)",message="knobs.hpaTargetUtilization needs target.workloadRef or target.hpaName"
type TuningPolicySpec struct {
	// Target selects the workloads the policy tunes.
	Target Target `json:"target"`

	// Mode is observe, recommend or apply.
	// +kubebuilder:default=observe
	// +optional
	Mode Mode `json:"mode,omitempty"`

	// Objectives are what tuning must respect.
	// +optional
	Objectives Objectives `json:"objectives,omitempty"`

	// Knobs are the knobs the policy may change, each within bounds. A knob left out is
	// not tuned.
	Knobs KnobBounds `json:"knobs"`

	// ChangeBudget limits how fast knobs change.
	// +optional
	ChangeBudget ChangeBudget `json:"changeBudget,omitempty"`

	// Canary tries each change on one instance first, compared against its peers.
	// +optional
	Canary Canary `json:"canary,omitempty"`

	// Rollback undoes a change that made things worse.
	// +optional
	Rollback RollbackRules `json:"rollback,omitempty"`
}

// Target selects workloads: by MCP service name (the agents' service.name), by the agents'
// labels, or by a Kubernetes workload.
// +kubebuilder:validation:XValidation:rule="(has(self.services) && size(self.services) > 0) || has(self.selector) || has(self.workloadRef)",message="target needs services, selector or workloadRef"
type Target struct {
	// Services are MCP service names.
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +optional
	Services []string `json:"services,omitempty"`

	// Selector matches agents by their labels (MCP_LABELS) or, in a cluster, pods by theirs.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// WorkloadRef names a Deployment or StatefulSet in the policy's namespace.
	// +optional
	WorkloadRef *WorkloadReference `json:"workloadRef,omitempty"`

	// HPAName names the HorizontalPodAutoscaler whose target utilization the policy tunes;
	// by default the one whose scaleTargetRef is the workload.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	HPAName string `json:"hpaName,omitempty"`
}

// WorkloadReference names a workload.
type WorkloadReference struct {
	// Kind is Deployment or StatefulSet.
	// +kubebuilder:validation:Enum=Deployment;StatefulSet
	Kind string `json:"kind"`
	// Name is the workload's name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Service is the MCP service name of its pods' agents; default: Name.
	// +optional
	Service string `json:"service,omitempty"`
}

// Objectives are what tuning must respect.
type Objectives struct {
	// LatencyP99 is the p99 latency SLO; tuning never trades it away.
	// +optional
	LatencyP99 *metav1.Duration `json:"latencyP99,omitempty"`

	// MemoryHeadroomPercent is the share of the memory limit the peak heap leaves free.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=90
	// +kubebuilder:default=10
	// +optional
	MemoryHeadroomPercent *int32 `json:"memoryHeadroomPercent,omitempty"`

	// MaxErrorRatePermille is the highest error rate (per thousand requests) tolerated.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	MaxErrorRatePermille *int32 `json:"maxErrorRatePermille,omitempty"`
}

// KnobBounds are the knobs a policy may change and their bounds.
// +kubebuilder:validation:XValidation:rule="has(self.gogc) || has(self.gomemlimit) || has(self.gomaxprocs) || has(self.hpaTargetUtilization)",message="name at least one knob to tune: gogc, gomemlimit, gomaxprocs or hpaTargetUtilization"
// +kubebuilder:validation:XValidation:rule="!has(self.gogc) || (self.gogc.min >= 25 && self.gogc.max <= 2000)",message="gogc must stay within [25, 2000]"
// +kubebuilder:validation:XValidation:rule="!has(self.hpaTargetUtilization) || self.hpaTargetUtilization.max <= 100",message="hpaTargetUtilization.max must be at most 100"
type KnobBounds struct {
	// GOGC is tuned within [min, max] (the agent's own bounds are 25 and 2000).
	// +optional
	GOGC *IntRange `json:"gogc,omitempty"`

	// GOMEMLIMIT is tuned within [min, max] percent of the container memory limit.
	// +optional
	GOMEMLIMIT *PercentRange `json:"gomemlimit,omitempty"`

	// GOMAXPROCS is corrected when it exceeds the CPU limit or the container is throttled.
	// +optional
	GOMAXPROCS *GOMAXPROCSPolicy `json:"gomaxprocs,omitempty"`

	// HPATargetUtilization is the HPA's CPU target utilization, tuned within [min, max]
	// percent.
	// +optional
	HPATargetUtilization *IntRange `json:"hpaTargetUtilization,omitempty"`
}

// IntRange is an inclusive range.
// +kubebuilder:validation:XValidation:rule="self.min <= self.max",message="min must not exceed max"
type IntRange struct {
	// +kubebuilder:validation:Minimum=1
	Min int32 `json:"min"`
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=2000
	Max int32 `json:"max"`
}

// PercentRange is an inclusive range of percentages.
// +kubebuilder:validation:XValidation:rule="self.min <= self.max",message="min must not exceed max"
type PercentRange struct {
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=98
	Min int32 `json:"min"`
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=98
	Max int32 `json:"max"`
}

// GOMAXPROCSPolicy says how GOMAXPROCS may be corrected.
type GOMAXPROCSPolicy struct {
	// Enabled lets the tuner lower GOMAXPROCS to ceil(CPU limit) (at least 1) when it is
	// above that or the container is heavily throttled.
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// UseCPURequest sets GOMAXPROCS from the CPU request when there is no CPU limit.
	// +optional
	UseCPURequest bool `json:"useCPURequest,omitempty"`
	// ThrottledPercent is the share of CFS periods throttled that counts as heavy.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=20
	// +optional
	ThrottledPercent *int32 `json:"throttledPercent,omitempty"`
}

// ChangeBudget limits how fast knobs change.
type ChangeBudget struct {
	// MaxStepPercent is the largest relative change of a knob in one decision.
	// +kubebuilder:validation:Minimum=5
	// +kubebuilder:validation:Maximum=1000
	// +kubebuilder:default=100
	// +optional
	MaxStepPercent *int32 `json:"maxStepPercent,omitempty"`
	// Cooldown is the least time between two changes of a workload.
	// +kubebuilder:default="2m"
	// +optional
	Cooldown *metav1.Duration `json:"cooldown,omitempty"`
	// MaxChangesPerHour bounds decisions per workload per hour.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=120
	// +kubebuilder:default=12
	// +optional
	MaxChangesPerHour *int32 `json:"maxChangesPerHour,omitempty"`
}

// Canary tries changes on one instance first.
type Canary struct {
	// Enabled turns canaries on (they need at least two instances).
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// Window is how long the canary runs before it is compared with its peers.
	// +kubebuilder:default="2m"
	// +optional
	Window *metav1.Duration `json:"window,omitempty"`
}

// RollbackRules undo a change when, over the observation window after it, a figure got
// worse by more than its threshold.
type RollbackRules struct {
	// Window is how long a change is watched before it is kept.
	// +kubebuilder:default="2m"
	// +optional
	Window *metav1.Duration `json:"window,omitempty"`
	// LatencyP99IncreasePercent rolls back when p99 rose by more than this.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default=20
	// +optional
	LatencyP99IncreasePercent *int32 `json:"latencyP99IncreasePercent,omitempty"`
	// ErrorRateIncreasePermille rolls back when the error rate rose by more than this many
	// errors per thousand requests.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default=5
	// +optional
	ErrorRateIncreasePermille *int32 `json:"errorRateIncreasePermille,omitempty"`
	// GCCPUIncreasePercent rolls back when the GC CPU fraction rose by more than this.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default=25
	// +optional
	GCCPUIncreasePercent *int32 `json:"gcCPUIncreasePercent,omitempty"`
	// CPUPerRequestIncreasePercent rolls back when CPU per request rose by more than this.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default=5
	// +optional
	CPUPerRequestIncreasePercent *int32 `json:"cpuPerRequestIncreasePercent,omitempty"`
	// OnOOMOrRestart rolls back when an instance is OOM-killed or restarts.
	// +kubebuilder:default=true
	// +optional
	OnOOMOrRestart *bool `json:"onOOMOrRestart,omitempty"`
}

// TuningPolicyStatus is what MCP observed and did.
type TuningPolicyStatus struct {
	// Conditions: Ready (the policy is valid and evaluated), Degraded (an actuation failed).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Workloads are the workloads the policy matched, with their knobs.
	// +listType=map
	// +listMapKey=service
	// +optional
	Workloads []WorkloadStatus `json:"workloads,omitempty"`
	// LastEvaluation is when the tuner last evaluated the policy.
	// +optional
	LastEvaluation *metav1.Time `json:"lastEvaluation,omitempty"`
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// WorkloadStatus is one workload's current and recommended knobs.
type WorkloadStatus struct {
	// Service is the MCP service name.
	Service string `json:"service"`
	// Instances is how many instances report.
	Instances int32 `json:"instances"`
	// Current are the knobs in force.
	// +optional
	Current KnobValues `json:"current,omitempty"`
	// Recommended are the knobs the tuner would set, and Reason why, in numbers.
	// +optional
	Recommended KnobValues `json:"recommended,omitempty"`
	// +optional
	Reason string `json:"reason,omitempty"`
	// Applied are the knobs the policy's decisions put in force; every MCP replica pushes
	// them to the agents connected to it.
	// +optional
	Applied KnobValues `json:"applied,omitempty"`
	// LastDecision is the id of the last decision for the workload.
	// +optional
	LastDecision string `json:"lastDecision,omitempty"`
	// LastDecisionTime is when it was made.
	// +optional
	LastDecisionTime *metav1.Time `json:"lastDecisionTime,omitempty"`
	// Phase is where the tuner is with the workload: steady, canary, watching, cooldown.
	// +optional
	Phase string `json:"phase,omitempty"`
}

// KnobValues are knob values; unset means not tuned or unknown.
type KnobValues struct {
	// +optional
	GOGC *int32 `json:"gogc,omitempty"`
	// +optional
	GOMEMLIMITBytes *int64 `json:"gomemlimitBytes,omitempty"`
	// GOMEMLIMITRatio is GOMEMLIMIT as a fraction of each instance's memory limit, written
	// exactly as it was decided (the shortest decimal that reads back as the same number),
	// so every replica pushes the same value to its agents.
	// +kubebuilder:validation:Pattern=`^0?\.[0-9]+$`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	GOMEMLIMITRatio *string `json:"gomemlimitRatio,omitempty"`
	// +optional
	GOMAXPROCS *int32 `json:"gomaxprocs,omitempty"`
	// +optional
	HPATargetUtilization *int32 `json:"hpaTargetUtilization,omitempty"`
}

// TuningPolicy is a team's request to MCP: which workloads to tune, how far and how fast.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=tp
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type TuningPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   TuningPolicySpec   `json:"spec"`
	Status TuningPolicyStatus `json:"status,omitempty"`
}

// TuningPolicyList is a list of TuningPolicy.
// +kubebuilder:object:root=true
type TuningPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TuningPolicy `json:"items"`
}

func init() {
	SchemeBuilder.Register(&TuningPolicy{}, &TuningPolicyList{})
}
