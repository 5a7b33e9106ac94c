package tuner

import (
	"context"
	"fmt"
	"sync"
	"time"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/tuner/signals"
)

// fakeSignals is a signal source the test fills by hand.
type fakeSignals struct {
	mu      sync.Mutex
	samples map[signals.Key][]signals.Sample
}

func (f *fakeSignals) add(k signals.Key, s signals.Sample) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.samples == nil {
		f.samples = map[signals.Key][]signals.Sample{}
	}
	f.samples[k] = append(f.samples[k], s)
}

func (f *fakeSignals) Instances(service string) []signals.Key {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []signals.Key
	for k := range f.samples {
		if k.Service == service {
			out = append(out, k)
		}
	}
	return out
}

func (f *fakeSignals) Window(k signals.Key, since time.Time) []signals.Sample {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []signals.Sample
	for _, s := range f.samples[k] {
		if !s.Time.Before(since) {
			out = append(out, s)
		}
	}
	return out
}

// fakeInstances is a registry the test fills by hand.
type fakeInstances struct {
	mu     sync.Mutex
	insts  []apiv1.Instance
	events map[string][]apiv1.AuditEvent
}

func (f *fakeInstances) Instances(service string) (uint64, []apiv1.Instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []apiv1.Instance
	for _, i := range f.insts {
		if service == "" || i.Service == service {
			out = append(out, i)
		}
	}
	return 1, out
}

func (f *fakeInstances) InstanceEvents(id string) []apiv1.AuditEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.events[id]
}

func (f *fakeInstances) update(id string, fn func(*apiv1.Instance)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.insts {
		if f.insts[i].ID == id {
			fn(&f.insts[i])
		}
	}
}

// fakeRecorder keeps decisions and outcomes in memory.
type fakeRecorder struct {
	mu        sync.Mutex
	decisions []apiv1.Decision
	outcomes  map[string]apiv1.Outcome
	notes     map[string]string
}

func (f *fakeRecorder) Decide(_ context.Context, d apiv1.Decision) (apiv1.Decision, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d.ID = fmt.Sprintf("d-%d", len(f.decisions)+1)
	d.Outcome = apiv1.OutcomePending
	if d.Mode != apiv1.ModeApply {
		d.Outcome = apiv1.OutcomeRecorded
	}
	f.decisions = append(f.decisions, d)
	return d, nil
}

func (f *fakeRecorder) Settle(_ context.Context, id string, o apiv1.Outcome, _ map[string]float64, note string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.outcomes == nil {
		f.outcomes, f.notes = map[string]apiv1.Outcome{}, map[string]string{}
	}
	f.outcomes[id], f.notes[id] = o, note
	return nil
}

func (f *fakeRecorder) all() []apiv1.Decision {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiv1.Decision(nil), f.decisions...)
}

// fakeClock is moved by the test.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }
