package controlplane

import (
	"context"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	apiv1 "github.com/mcplane/mcp/api/v1"
)

// Registry is the set of instances with agents, their health, and a change index that
// watchers block on. It is the control plane's service discovery view.
type Registry struct {
	mu        sync.RWMutex
	instances map[string]*entry
	index     uint64
	changed   chan struct{} // closed and replaced on every change
}

type entry struct {
	inst   apiv1.Instance
	conn   *conn // nil when no session is up
	events []apiv1.AuditEvent
}

// maxInstanceEvents bounds the agent events kept per instance.
const maxInstanceEvents = 32

func NewRegistry() *Registry {
	return &Registry{instances: map[string]*entry{}, changed: make(chan struct{})}
}

// bumpLocked records a visible change and wakes watchers. Only called with mu held.
func (r *Registry) bumpLocked() {
	r.index++
	close(r.changed)
	r.changed = make(chan struct{})
}

// register adds or replaces an instance and returns the session it replaces, if any.
func (r *Registry) register(inst apiv1.Instance, c *conn) (replaced *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.instances[inst.ID]; ok {
		replaced = e.conn
		inst.RegisteredAt = e.inst.RegisteredAt
		e.inst, e.conn = inst, c
	} else {
		r.instances[inst.ID] = &entry{inst: inst, conn: c}
	}
	r.bumpLocked()
	return replaced
}

// heartbeat updates an instance from a heartbeat. Watchers are only woken when something
// they show changed (knobs, limits, guard), not for every heartbeat.
func (r *Registry) heartbeat(id string, c *conn, now time.Time, update func(*apiv1.Instance)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.instances[id]
	if !ok || e.conn != c {
		return // a replaced session's late heartbeat
	}
	before := e.inst
	update(&e.inst)
	e.inst.LastHeartbeat = now
	wasHealthy := e.inst.Health == apiv1.HealthHealthy
	e.inst.Health = apiv1.HealthHealthy
	if !wasHealthy || before.Knobs != e.inst.Knobs || before.Sources != e.inst.Sources ||
		before.Limits != e.inst.Limits || before.Guard != e.inst.Guard || before.DecisionID != e.inst.DecisionID {
		r.bumpLocked()
	}
}

// disconnected marks an instance's session as ended: it turns suspect at once.
func (r *Registry) disconnected(id string, c *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.instances[id]
	if !ok || e.conn != c {
		return
	}
	e.conn = nil
	e.inst.Connected = false
	if e.inst.Health == apiv1.HealthHealthy {
		e.inst.Health = apiv1.HealthSuspect
	}
	r.bumpLocked()
}

// addEvent keeps an agent event with the instance.
func (r *Registry) addEvent(id string, ev apiv1.AuditEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.instances[id]; ok {
		e.events = append(e.events, ev)
		if len(e.events) > maxInstanceEvents {
			e.events = e.events[len(e.events)-maxInstanceEvents:]
		}
		r.bumpLocked()
	}
}

// sweep moves instances along healthy → suspect → gone as heartbeats go missing, and removes
// those gone for longer than removeAfter. It returns how many changed.
func (r *Registry) sweep(now time.Time, suspectAfter, goneAfter, removeAfter time.Duration) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := 0
	for id, e := range r.instances {
		silent := now.Sub(e.inst.LastHeartbeat)
		switch {
		case silent > goneAfter+removeAfter:
			delete(r.instances, id)
			changed++
		case silent > goneAfter && e.inst.Health != apiv1.HealthGone:
			e.inst.Health = apiv1.HealthGone
			changed++
		case silent > suspectAfter && e.inst.Health == apiv1.HealthHealthy:
			e.inst.Health = apiv1.HealthSuspect
			changed++
		}
	}
	if changed > 0 {
		r.bumpLocked()
	}
	return changed
}

// Index is the current change index.
func (r *Registry) Index() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.index
}

// Wait blocks until the index passes after, or ctx ends; it returns the index then.
func (r *Registry) Wait(ctx context.Context, after uint64) uint64 {
	for {
		r.mu.RLock()
		idx, ch := r.index, r.changed
		r.mu.RUnlock()
		if idx > after {
			return idx
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return idx
		}
	}
}

// Instances lists instances (of one service, if given), sorted by service and id.
func (r *Registry) Instances(service string) (uint64, []apiv1.Instance) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []apiv1.Instance
	for _, e := range r.instances {
		if service == "" || e.inst.Service == service {
			out = append(out, e.inst)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].ID < out[j].ID
	})
	return r.index, out
}

// Instance returns one instance.
func (r *Registry) Instance(id string) (apiv1.Instance, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.instances[id]
	if !ok {
		return apiv1.Instance{}, false
	}
	return e.inst, true
}

// InstanceEvents returns the agent events kept for an instance, oldest first.
func (r *Registry) InstanceEvents(id string) []apiv1.AuditEvent {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if e, ok := r.instances[id]; ok {
		return slices.Clone(e.events)
	}
	return nil
}

// Services lists the services with at least one instance, counting instances by health.
func (r *Registry) Services() (uint64, map[string]*apiv1.Service) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := map[string]*apiv1.Service{}
	for _, e := range r.instances {
		s, ok := out[e.inst.Service]
		if !ok {
			s = &apiv1.Service{Name: e.inst.Service, Health: map[apiv1.Health]int{}}
			out[e.inst.Service] = s
		}
		s.Instances++
		s.Health[e.inst.Health]++
	}
	return r.index, out
}

// connected returns the live sessions of the instances a target covers.
func (r *Registry) connected(service, instance string) []*conn {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*conn
	for _, e := range r.instances {
		if e.conn != nil && e.inst.Service == service && (instance == "" || e.inst.ID == instance) {
			out = append(out, e.conn)
		}
	}
	return out
}

// counts returns the number of connected sessions and instances by health.
func (r *Registry) counts() (connected int, byHealth map[apiv1.Health]int) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	byHealth = map[apiv1.Health]int{apiv1.HealthHealthy: 0, apiv1.HealthSuspect: 0, apiv1.HealthGone: 0}
	for _, e := range r.instances {
		if e.conn != nil {
			connected++
		}
		byHealth[e.inst.Health]++
	}
	return connected, maps.Clone(byHealth)
}
