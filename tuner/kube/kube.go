// Package kube runs MCP's tuner in a Kubernetes cluster: TuningPolicy objects are the
// policies, the tuner runs on the one replica holding a Lease (leader election), every
// replica pushes the decisions it reads from the policies' status to its own agents, and
// actuators change HorizontalPodAutoscaler targets and, for workloads without the agent,
// Deployment environments. Status and Events are written back to the policies.
//
// The permissions it needs, least privilege (controller-gen writes deploy/rbac from these):
//
// +kubebuilder:rbac:groups=mcp.mcplane.dev,resources=tuningpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=mcp.mcplane.dev,resources=tuningpolicies/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
package kube

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/zapr"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/source"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/api/v1alpha1"
	"github.com/mcplane/mcp/controlplane/store"
	"github.com/mcplane/mcp/tuner"
	"github.com/mcplane/mcp/tuner/policy"
)

// Options configure the controller.
type Options struct {
	// Config reaches the API server.
	Config *rest.Config
	// Namespace limits the controller to one namespace; empty watches all.
	Namespace string
	// LeaderElectionNamespace and LeaderElectionID name the Lease. Default: Namespace (or
	// "default") and "mcp-tuner".
	LeaderElectionNamespace string
	LeaderElectionID        string
	// LeaseDuration, RenewDeadline and RetryPeriod time the election: a leader that stops
	// without releasing the Lease is replaced within about LeaseDuration + RetryPeriod.
	// Default: 10s, 7s, 2s.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// StatusInterval is how often each policy's status is refreshed. Default: 15s.
	StatusInterval time.Duration
	// ControllerName names the policy controller (and its metrics). Default: tuningpolicy.
	ControllerName string

	// KeepLeaseOnStop leaves the Lease to expire when the controller stops, as after a
	// crash; by default a stopping leader releases it so another replica takes over at once.
	KeepLeaseOnStop bool

	// ControlPlane is the control plane on this replica; Instances its registry.
	ControlPlane ControlPlane
	Instances    tuner.InstanceSource
	Signals      tuner.SignalSource
	Tuner        tuner.Config
	Logger       *zap.Logger
	Registry     prometheus.Registerer
	// TunerOptions are passed to the tuner (tests inject a clock).
	TunerOptions []tuner.Option
}

// ControlPlane is what the controller needs of the control plane on its replica (the
// control plane core implements it): deciding and settling (the tuner's Recorder), reading
// a stored decision and the knob change in force for a service, and pushing a decision
// another replica made to this replica's own agents.
type ControlPlane interface {
	tuner.Recorder
	Decision(ctx context.Context, id string) (apiv1.Decision, error)
	Desired(service, instance string) (store.Desired, bool)
	Deliver(d apiv1.Decision) int
}

var setLoggerOnce sync.Once

// Controller is the in-cluster tuner.
type Controller struct {
	mgr    manager.Manager
	tuner  *tuner.Tuner
	leader atomic.Bool
}

// Scheme has the types the controller reads and writes.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// New builds the controller; Start runs it.
func New(o Options) (*Controller, error) {
	if o.Config == nil || o.ControlPlane == nil || o.Instances == nil || o.Signals == nil {
		return nil, errors.New("kube controller: Config, ControlPlane, Instances and Signals are required")
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.LeaderElectionID == "" {
		o.LeaderElectionID = "mcp-tuner"
	}
	if o.LeaderElectionNamespace == "" {
		o.LeaderElectionNamespace = "default"
		if o.Namespace != "" {
			o.LeaderElectionNamespace = o.Namespace
		}
	}
	if o.LeaseDuration == 0 {
		o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = 10*time.Second, 7*time.Second, 2*time.Second
	}
	if o.StatusInterval == 0 {
		o.StatusInterval = 15 * time.Second
	}
	if o.ControllerName == "" {
		o.ControllerName = "tuningpolicy"
	}
	scheme, err := Scheme()
	if err != nil {
		return nil, err
	}
	mopts := ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsserver.Options{BindAddress: "0"}, // mcp serve has /metrics
		HealthProbeBindAddress:        "0",
		LeaderElection:                true,
		LeaderElectionID:              o.LeaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: !o.KeepLeaseOnStop,
		LeaseDuration:                 &o.LeaseDuration,
		RenewDeadline:                 &o.RenewDeadline,
		RetryPeriod:                   &o.RetryPeriod,
		Logger:                        zapr.NewLogger(o.Logger.Named("controller-runtime")),
	}
	if o.Namespace != "" {
		mopts.Cache = cache.Options{DefaultNamespaces: map[string]cache.Config{o.Namespace: {}}}
	}
	// client-go's informers log through controller-runtime's global logger.
	setLoggerOnce.Do(func() { ctrl.SetLogger(mopts.Logger) })
	mgr, err := ctrl.NewManager(o.Config, mopts)
	if err != nil {
		return nil, fmt.Errorf("kube controller: %w", err)
	}
	c := &Controller{mgr: mgr}
	policies := &clusterPolicies{m: map[types.NamespacedName]policy.Policy{}}
	evRec := mgr.GetEventRecorder("mcp-tuner")
	refresh := make(chan event.GenericEvent, 64)
	rec := &recorder{cp: o.ControlPlane, events: evRec, client: mgr.GetClient(), refresh: refresh}
	agents := func(service string) int {
		_, insts := o.Instances.Instances(service)
		n := 0
		for _, i := range insts {
			if i.Connected {
				n++
			}
		}
		return n
	}
	topts := append([]tuner.Option{tuner.WithActuators(&hpaActuator{client: mgr.GetClient()}, &envActuator{client: mgr.GetClient(), agents: agents}),
		tuner.WithHPAAdvisor(&hpaAdvisor{client: mgr.GetClient()})}, o.TunerOptions...)
	if c.tuner, err = tuner.New(o.Tuner, o.Signals, o.Instances, rec, policies, o.Logger.Named("tuner"), o.Registry, topts...); err != nil {
		return nil, err
	}
	r := &policyReconciler{client: mgr.GetClient(), policies: policies, tuner: c.tuner, cp: o.ControlPlane, events: evRec,
		log: o.Logger.Named("policy"), requeue: o.StatusInterval}
	err = ctrl.NewControllerManagedBy(mgr).
		Named(o.ControllerName).
		For(&v1alpha1.TuningPolicy{}).
		WatchesRawSource(source.Channel(refresh, &handler.EnqueueRequestForObject{})).
		Complete(r)
	if err != nil {
		return nil, fmt.Errorf("kube controller: %w", err)
	}
	if err := mgr.Add(&deliverer{cache: mgr.GetCache(), cp: o.ControlPlane, log: o.Logger.Named("deliver")}); err != nil {
		return nil, err
	}
	if err := mgr.Add(&tunerRunnable{c: c, tuner: c.tuner, log: o.Logger, reader: mgr.GetAPIReader(), namespace: o.Namespace}); err != nil {
		return nil, err
	}
	return c, nil
}

// Start runs the controller until ctx ends.
func (c *Controller) Start(ctx context.Context) error { return c.mgr.Start(ctx) }

// IsLeader reports whether this replica tunes.
func (c *Controller) IsLeader() bool { return c.leader.Load() }

// Tuner is the controller's tuner.
func (c *Controller) Tuner() *tuner.Tuner { return c.tuner }

// Elected is closed when this replica becomes the leader.
func (c *Controller) Elected() <-chan struct{} { return c.mgr.Elected() }

// tunerRunnable runs the tuning loop on the leader only.
type tunerRunnable struct {
	c         *Controller
	tuner     *tuner.Tuner
	log       *zap.Logger
	reader    client.Reader
	namespace string // "" when watching every namespace
}

func (t *tunerRunnable) NeedLeaderElection() bool { return true }

func (t *tunerRunnable) Start(ctx context.Context) error {
	t.c.leader.Store(true)
	defer t.c.leader.Store(false)
	// The previous leader's decisions are in the policies' status: their times keep the
	// cooldowns, so a failover does not repeat a change.
	var list v1alpha1.TuningPolicyList
	var opts []client.ListOption
	if t.namespace != "" {
		opts = append(opts, client.InNamespace(t.namespace)) // namespaced RBAC allows no more
	}
	if err := t.reader.List(ctx, &list, opts...); err != nil {
		return fmt.Errorf("read policies' last decisions: %w", err)
	}
	for _, tp := range list.Items {
		for _, w := range tp.Status.Workloads {
			if w.LastDecisionTime != nil {
				t.tuner.NoteChange(tp.Namespace+"/"+tp.Name, w.Service, w.LastDecision, w.LastDecisionTime.Time)
			}
		}
	}
	t.log.Info("elected: this replica tunes", zap.Int("policies", len(list.Items)))
	t.tuner.Run(ctx)
	return nil
}
