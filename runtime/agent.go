package runtime

import (
	"context"
	"errors"
	"fmt"
	"math"
	goruntime "runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/mcplane/mcp/runtime/knob"
)

// Agent is a running MCP agent. Create it with Start; Stop it before the process exits so
// buffered telemetry is flushed.
type Agent struct {
	cfg     config
	log     *zap.Logger
	sampler *sampler
	usage   UsageProvider
	tel     *telemetry
	prof    profiler
	stats   agentStats
	sess    *session

	mu sync.Mutex
	// Everything below is guarded by mu.
	desired   knob.Values // what the owners of each knob asked for; the guard may hold GOGC lower
	sources   knob.Sources
	operator  knob.Sources // knob.SourceOperatorEnv for each knob the operator set, else ""
	baseline  knob.Values  // the knobs as Start chose them, for Reset
	baseSrc   knob.Sources
	limits    ContainerLimits
	limitErr  string
	decision  string // the last decision applied
	guard     guardState
	listeners []func(Event)

	hook     *gcHook
	stopOnce sync.Once
	cancel   context.CancelFunc
	done     chan struct{}
}

// running is true while an Agent is started in this process.
var running atomic.Bool

// State is what the agent reports about itself: knobs in effect and where they came from,
// the container's limits, and the memory guard.
type State struct {
	Service    string          `json:"service"`
	Instance   string          `json:"instance"`
	GoVersion  string          `json:"go_version"`
	Knobs      knob.Values     `json:"knobs"`
	Sources    knob.Sources    `json:"sources"`
	Limits     ContainerLimits `json:"limits"`
	LimitError string          `json:"limit_error,omitempty"`
	Guard      GuardState      `json:"guard"`
	DecisionID string          `json:"decision_id,omitempty"`
}

// Start starts the agent: it reads the container limits, sets GOMEMLIMIT (and GOMAXPROCS
// in CPU-request mode) unless the operator set them, arms the memory guard, and starts
// telemetry, profiling and the control plane session as configured. It returns an error only
// for invalid configuration, naming the option or variable to fix; an unreachable control
// plane or collector is not an error (the service runs as it would without MCP).
func Start(ctx context.Context, opts ...Option) (*Agent, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	// The knobs are process-wide: two agents would fight over them.
	if !running.CompareAndSwap(false, true) {
		return nil, errors.New("an MCP agent is already running in this process; Stop it before starting another")
	}
	started := false
	defer func() {
		if !started {
			running.Store(false)
		}
	}()
	a := &Agent{
		cfg:     cfg,
		log:     cfg.logger.With(zap.String("component", "mcp-agent")),
		sampler: newSampler(),
		usage:   cgroupUsage(),
		done:    make(chan struct{}),
	}
	a.initKnobs()

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel
	if a.tel, err = startTelemetry(runCtx, a); err != nil {
		cancel()
		return nil, err
	}
	if a.prof, err = startProfiling(a); err != nil {
		cancel()
		_ = a.tel.shutdown(context.Background())
		return nil, err
	}
	if a.cfg.guardEnabled {
		a.hook = startGCHook(a.afterGC)
	}
	if a.cfg.endpoint != "" {
		if a.sess, err = newSession(a); err != nil {
			cancel()
			_ = a.tel.shutdown(context.Background())
			if a.prof != nil {
				_ = a.prof.Stop()
			}
			return nil, err
		}
		go a.sess.run(runCtx)
	}
	go a.loop(runCtx)
	started = true
	st := a.State()
	a.log.Info("agent started",
		zap.String("service", st.Service), zap.String("instance", st.Instance),
		zap.Stringer("knobs", st.Knobs),
		zap.String("gogc_source", string(st.Sources.GOGC)),
		zap.String("gomemlimit_source", string(st.Sources.MemoryLimit)),
		zap.String("gomaxprocs_source", string(st.Sources.GOMAXPROCS)),
		zap.Int64("container_memory_bytes", st.Limits.MemoryBytes),
		zap.Float64("container_cpu_cores", st.Limits.CPUCores))
	return a, nil
}

// Stop stops the agent: telemetry is flushed (for up to 5 s), profiling and the control
// plane session end. The knobs keep their current values. Stop is safe to call more than once.
func (a *Agent) Stop() error {
	var err error
	a.stopOnce.Do(func() {
		a.cancel()
		<-a.done
		if a.hook != nil {
			a.hook.stop()
		}
		if a.sess != nil {
			a.sess.wait()
		}
		if a.prof != nil {
			err = errors.Join(err, a.prof.Stop())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = errors.Join(err, a.tel.shutdown(ctx))
		running.Store(false)
		a.log.Info("agent stopped")
	})
	return err
}

// operatorEnv reports whether the operator set name in the environment.
func (a *Agent) operatorEnv(name string) bool {
	v, ok := a.cfg.lookupEnv(name)
	return ok && v != ""
}

// initKnobs decides the starting knobs and their sources. Only called from Start.
func (a *Agent) initKnobs() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.readLimitsLocked()
	a.desired = a.liveKnobs()
	a.desired.GOMAXPROCS = 0 // Go's default until someone owns it
	a.sources = knob.Sources{GOGC: knob.SourceGoDefault, MemoryLimit: knob.SourceGoDefault, GOMAXPROCS: knob.SourceGoDefault}
	if a.operatorEnv("GOGC") {
		a.operator.GOGC, a.sources.GOGC = knob.SourceOperatorEnv, knob.SourceOperatorEnv
	}
	if a.operatorEnv("GOMEMLIMIT") {
		a.operator.MemoryLimit, a.sources.MemoryLimit = knob.SourceOperatorEnv, knob.SourceOperatorEnv
	}
	if a.operatorEnv("GOMAXPROCS") {
		a.operator.GOMAXPROCS, a.sources.GOMAXPROCS = knob.SourceOperatorEnv, knob.SourceOperatorEnv
		a.desired.GOMAXPROCS = goruntime.GOMAXPROCS(0)
	}
	a.followLimitsLocked()
	a.baseline, a.baseSrc = a.desired, a.sources
}

// liveKnobs reads the knobs in effect from the Go runtime.
//
// GOGC is read from runtime/metrics: debug.SetGCPercent has no read-only form, and setting
// it to read it would turn the GC off for a moment (and stop the world twice) on every
// scrape, export and heartbeat. debug.SetMemoryLimit with a negative value only reads.
func (a *Agent) liveKnobs() knob.Values {
	return knob.Values{GOGC: currentGOGC(), MemoryLimit: debug.SetMemoryLimit(-1), GOMAXPROCS: goruntime.GOMAXPROCS(0)}
}

// readLimitsLocked re-reads the container limits. A malformed cgroup file is logged once
// per distinct message and treated as no limit.
func (a *Agent) readLimitsLocked() {
	l, err := a.cfg.limits()
	msg := ""
	if err != nil {
		msg = err.Error()
		if msg != a.limitErr {
			a.log.Warn("container limits unreadable; treating them as not set", zap.Error(err))
		}
	}
	a.limitErr = msg
	if l.MemoryBytes < 0 {
		l.MemoryBytes = 0
	}
	if l.CPUCores < 0 || math.IsNaN(l.CPUCores) {
		l.CPUCores = 0
	}
	if l != a.limits {
		a.log.Info("container limits", zap.Int64("memory_bytes", l.MemoryBytes), zap.Float64("cpu_cores", l.CPUCores))
	}
	a.limits = l
}

// followLimitsLocked derives the automatic knobs from the current limits: GOMEMLIMIT from
// the memory limit, GOMAXPROCS from the CPU request. knob.Values owned by the operator are never
// touched; control plane values are only clamped into the new bounds.
func (a *Agent) followLimitsLocked() {
	next := a.desired
	src := a.sources
	mem := a.limits.MemoryBytes
	switch src.MemoryLimit {
	case knob.SourceGoDefault, knob.SourceCgroup:
		if mem > 0 {
			next.MemoryLimit, src.MemoryLimit = int64(a.cfg.memLimitRatio*float64(mem)), knob.SourceCgroup
		} else if src.MemoryLimit == knob.SourceCgroup {
			next.MemoryLimit, src.MemoryLimit = knob.NoMemoryLimit, knob.SourceGoDefault
		}
	case knob.SourceControlPlane:
		if ceiling := knob.MemoryLimitCeiling(mem); next.MemoryLimit > ceiling {
			a.log.Warn("container memory limit shrank below GOMEMLIMIT; clamping",
				zap.Int64("gomemlimit_bytes", next.MemoryLimit), zap.Int64("ceiling_bytes", ceiling))
			next.MemoryLimit = ceiling
		}
	}
	if next.GOGC == knob.GOGCOff && next.MemoryLimit == knob.NoMemoryLimit && src.GOGC != knob.SourceOperatorEnv {
		next.GOGC, src.GOGC = 100, knob.SourceGoDefault
	}
	switch src.GOMAXPROCS {
	case knob.SourceGoDefault, knob.SourceCPURequest:
		if a.cfg.cpuRequest > 0 && a.limits.CPUCores == 0 {
			p := int(math.Ceil(a.cfg.cpuRequest))
			next.GOMAXPROCS, src.GOMAXPROCS = min(max(p, 1), numCPU()), knob.SourceCPURequest
		} else if src.GOMAXPROCS == knob.SourceCPURequest {
			next.GOMAXPROCS, src.GOMAXPROCS = 0, knob.SourceGoDefault
		}
	}
	if next != a.desired || src != a.sources {
		a.applyLocked(next)
		a.sources = src
		a.log.Info("knobs follow container limits", zap.Stringer("knobs", a.desired),
			zap.String("gomemlimit_source", string(src.MemoryLimit)), zap.String("gomaxprocs_source", string(src.GOMAXPROCS)))
	}
}

// applyLocked makes next the desired knobs and puts them into effect, the memory limit
// first when it shrinks so the heap goal never overshoots. GOMAXPROCS 0 returns to Go's
// default. The guard may keep GOGC lower than desired.
func (a *Agent) applyLocked(next knob.Values) {
	if next.MemoryLimit != a.desired.MemoryLimit {
		debug.SetMemoryLimit(next.MemoryLimit)
	}
	gogc := next.GOGC
	if a.guard.Active && (gogc == knob.GOGCOff || gogc > a.guard.GOGC) {
		gogc = a.guard.GOGC
	}
	if cur := debug.SetGCPercent(gogc); cur != gogc {
		a.stats.gogcChanges.Add(1)
	}
	// GOMAXPROCS 0 means Go's own default, which Go keeps following the CPU limit; any
	// explicit runtime.GOMAXPROCS call would stop that, so it is only made for real values.
	switch {
	case next.GOMAXPROCS == 0 && a.desired.GOMAXPROCS != 0:
		goruntime.SetDefaultGOMAXPROCS()
	case next.GOMAXPROCS != 0 && next.GOMAXPROCS != goruntime.GOMAXPROCS(0):
		goruntime.GOMAXPROCS(next.GOMAXPROCS)
	}
	a.desired = next
}

// SetKnobs applies a knob change on behalf of the control plane (decisionID names the
// decision that asked for it, or is empty): all of it, or, if any part is out of bounds or
// belongs to the operator, none of it, with a *knob.RejectedError saying why. A Reset change
// returns every knob to its start-up value. It returns the state after the change.
func (a *Agent) SetKnobs(c knob.Change, decisionID string) (State, error) {
	if c.IsEmpty() {
		return a.State(), &knob.RejectedError{Reason: "the change sets no knob"}
	}
	if c.Reset {
		if err := c.Validate(""); err != nil {
			return a.State(), &knob.RejectedError{Reason: err.Error()}
		}
		return a.Reset(), nil
	}
	const source = knob.SourceControlPlane
	live := liveHeap()
	a.mu.Lock()
	cur := a.desired
	next, err := knob.Resolve(cur, c, knob.Limits{
		ContainerMemory: a.limits.MemoryBytes,
		LiveHeap:        live,
		NumCPU:          numCPU(),
		Operator:        a.operator,
	})
	if err != nil {
		a.mu.Unlock()
		a.stats.rejected.Add(1)
		a.log.Warn("knob change rejected", zap.String("decision", decisionID), zap.Error(err))
		return a.State(), err
	}
	a.applyLocked(next)
	if c.GOGC != nil {
		a.sources.GOGC = source
	}
	if c.MemoryLimit != nil || c.MemoryLimitRatio != nil {
		a.sources.MemoryLimit = source
	}
	if c.GOMAXPROCS != nil {
		a.sources.GOMAXPROCS = source
		if *c.GOMAXPROCS == 0 {
			a.sources.GOMAXPROCS = knob.SourceGoDefault
		}
	}
	if decisionID != "" {
		a.decision = decisionID
	}
	a.mu.Unlock()
	a.stats.applied.Add(1)
	st := a.State()
	a.log.Info("knobs applied", zap.String("decision", decisionID), zap.String("source", string(source)),
		zap.Stringer("before", cur), zap.Stringer("after", st.Knobs))
	return st, nil
}

// Reset returns every knob the agent manages to what Start chose (operator settings, cgroup
// derived values, Go defaults), as when the control plane withdraws its decisions.
func (a *Agent) Reset() State {
	a.mu.Lock()
	a.applyLocked(a.baseline)
	a.sources = a.baseSrc
	a.decision = ""
	a.followLimitsLocked()
	a.mu.Unlock()
	a.log.Info("knobs reset to start-up values")
	return a.State()
}

// State reports the agent's current state.
func (a *Agent) State() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := a.liveKnobs()
	src := a.sources
	if a.guard.Active {
		src.GOGC = knob.SourceEmergencyGuard
	}
	return State{
		Service:    a.cfg.serviceName,
		Instance:   a.cfg.instanceID,
		GoVersion:  goruntime.Version(),
		Knobs:      k,
		Sources:    src,
		Limits:     a.limits,
		LimitError: a.limitErr,
		Guard:      a.guard.GuardState,
		DecisionID: a.decision,
	}
}

func numCPU() int { return goruntime.NumCPU() }

// Runtime returns a fresh snapshot of the Go runtime's memory and GC figures.
func (a *Agent) Runtime() RuntimeSummary { return a.sampler.summary() }

// loop re-reads the container limits; it is the agent's one background goroutine besides
// the session and telemetry.
func (a *Agent) loop(ctx context.Context) {
	defer close(a.done)
	t := a.cfg.clock.NewTicker(a.cfg.limitRefresh)
	defer t.Stop()
	for {
		select {
		case <-t.C():
			a.refreshLimits()
		case <-ctx.Done():
			return
		}
	}
}

// refreshLimits re-reads the limits and follows any change.
func (a *Agent) refreshLimits() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.readLimitsLocked()
	a.followLimitsLocked()
}

// Subscribe registers fn to be told of agent events (the memory guard engaging or
// releasing). fn must not block: it may run on the runtime's finalizer goroutine.
func (a *Agent) Subscribe(fn func(Event)) {
	a.mu.Lock()
	a.listeners = append(a.listeners, fn)
	a.mu.Unlock()
}

// Event is something the agent did on its own, reported to the control plane afterwards.
type Event struct {
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"` // agentv1.EventMemoryGuardEngaged or agentv1.EventMemoryGuardReleased
	Message  string    `json:"message"`
	LiveHeap int64     `json:"live_heap_bytes"`
	Limit    int64     `json:"limit_bytes"`
	GOGC     int       `json:"gogc"`
}

// String formats a State for logs and the demo.
func (s State) String() string {
	return fmt.Sprintf("%s/%s %s (gogc:%s gomemlimit:%s gomaxprocs:%s)", s.Service, s.Instance, s.Knobs,
		s.Sources.GOGC, s.Sources.MemoryLimit, s.Sources.GOMAXPROCS)
}
