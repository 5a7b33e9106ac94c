// Package store keeps the control plane's durable state — decisions with their
// acknowledgements and audit trail, the knob sets decisions leave in force, and tuning
// policies — behind one interface, with an embedded bbolt implementation and an in-memory
// one for tests. Other backends (etcd, Kubernetes) implement the same interface.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/runtime/knob"
)

// ErrNotFound is returned for a missing record.
var ErrNotFound = errors.New("not found")

// Store is the control plane's durable state. Every method that returns without error has
// made its change durable (the bbolt store fsyncs before it returns).
type Store interface {
	// CreateDecision stores a new decision and, in the same transaction, the knob sets it
	// leaves in force (none for decisions that change nothing, such as observe-mode ones;
	// a Desired with an empty knob set removes its target). Either all is stored or nothing.
	CreateDecision(ctx context.Context, d apiv1.Decision, desired ...Desired) error
	// UpdateDecision changes a stored decision through fn, atomically.
	UpdateDecision(ctx context.Context, id string, fn func(*apiv1.Decision) error) (apiv1.Decision, error)
	GetDecision(ctx context.Context, id string) (apiv1.Decision, error)
	// ListDecisions returns decisions newest first.
	ListDecisions(ctx context.Context, f DecisionFilter) ([]apiv1.Decision, error)

	RecordAcks(ctx context.Context, acks []apiv1.Ack) error
	ListAcks(ctx context.Context, decisionID string) ([]apiv1.Ack, error)
	AppendAudit(ctx context.Context, events ...apiv1.AuditEvent) error
	ListAudit(ctx context.Context, decisionID string) ([]apiv1.AuditEvent, error)

	// ListDesired returns the knob sets in force, one per target.
	ListDesired(ctx context.Context) ([]Desired, error)

	PutPolicy(ctx context.Context, p StoredPolicy) error
	GetPolicy(ctx context.Context, name string) (StoredPolicy, error)
	ListPolicies(ctx context.Context) ([]StoredPolicy, error)
	DeletePolicy(ctx context.Context, name string) error

	Close() error
}

// Target is what a knob set applies to: a service, or one instance of it.
type Target struct {
	Service  string `json:"service"`
	Instance string `json:"instance,omitempty"`
}

func (t Target) key() string { return t.Service + "\x00" + t.Instance }

func (t Target) String() string {
	if t.Instance == "" {
		return t.Service
	}
	return t.Service + "/" + t.Instance
}

// Desired is the knob set in force for a target, and the decision that last changed it.
type Desired struct {
	Target     Target      `json:"target"`
	Knobs      knob.Change `json:"knobs"`
	DecisionID string      `json:"decision_id"`
	UpdatedAt  time.Time   `json:"updated_at"`
}

// StoredPolicy is a tuning policy document as the store keeps it; the tuner parses and
// validates the spec.
type StoredPolicy struct {
	Name      string          `json:"name"`
	Spec      json.RawMessage `json:"spec"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// DecisionFilter selects decisions; zero fields match everything.
type DecisionFilter struct {
	Service  string
	Instance string
	Policy   string
	Limit    int
}

func (f DecisionFilter) match(d *apiv1.Decision) bool {
	return (f.Service == "" || d.Service == f.Service) &&
		(f.Instance == "" || d.Instance == f.Instance) &&
		(f.Policy == "" || d.Policy == f.Policy)
}

// The buckets, and how keys are laid out in them. Decision ids sort by time, so a reverse
// scan of the decisions bucket is newest first.
const (
	bucketDecisions = "decisions" // id → Decision
	bucketAcks      = "acks"      // decisionID/instance → Ack
	bucketAudit     = "audit"     // decisionID/seq → AuditEvent
	bucketDesired   = "desired"   // service\x00instance → Desired
	bucketPolicies  = "policies"  // name → StoredPolicy
)

var buckets = []string{bucketDecisions, bucketAcks, bucketAudit, bucketDesired, bucketPolicies}

// kv is the small transactional key-value surface both backends provide; the typed store
// is written once on top of it.
type kv interface {
	update(fn func(tx) error) error
	// batch is update for many small concurrent writers: they may share one commit.
	batch(fn func(tx) error) error
	view(fn func(tx) error) error
	close() error
}

type tx interface {
	get(bucket, key string) []byte
	put(bucket, key string, val []byte) error
	del(bucket, key string) error
	// scan visits keys with the prefix in order (or reverse order) until fn returns false.
	scan(bucket, prefix string, reverse bool, fn func(key string, val []byte) bool) error
}

// kvStore implements Store on a kv.
type kvStore struct {
	db  kv
	now func() time.Time
}

func (s *kvStore) CreateDecision(ctx context.Context, d apiv1.Decision, desired ...Desired) error {
	if d.ID == "" {
		return errors.New("create decision: empty id")
	}
	return s.db.update(func(t tx) error {
		if t.get(bucketDecisions, d.ID) != nil {
			return fmt.Errorf("create decision %s: it already exists", d.ID)
		}
		if err := putJSON(t, bucketDecisions, d.ID, d); err != nil {
			return err
		}
		for _, des := range desired {
			if des.Knobs.IsEmpty() {
				if err := t.del(bucketDesired, des.Target.key()); err != nil {
					return err
				}
				continue
			}
			if err := putJSON(t, bucketDesired, des.Target.key(), des); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *kvStore) UpdateDecision(ctx context.Context, id string, fn func(*apiv1.Decision) error) (apiv1.Decision, error) {
	var out apiv1.Decision
	err := s.db.update(func(t tx) error {
		raw := t.get(bucketDecisions, id)
		if raw == nil {
			return fmt.Errorf("decision %s: %w", id, ErrNotFound)
		}
		var d apiv1.Decision
		if err := json.Unmarshal(raw, &d); err != nil {
			return fmt.Errorf("decode decision %s: %w", id, err)
		}
		if err := fn(&d); err != nil {
			return err
		}
		out = d
		return putJSON(t, bucketDecisions, id, d)
	})
	return out, err
}

func (s *kvStore) GetDecision(ctx context.Context, id string) (apiv1.Decision, error) {
	var d apiv1.Decision
	err := s.db.view(func(t tx) error {
		raw := t.get(bucketDecisions, id)
		if raw == nil {
			return fmt.Errorf("decision %s: %w", id, ErrNotFound)
		}
		return json.Unmarshal(raw, &d)
	})
	return d, err
}

func (s *kvStore) ListDecisions(ctx context.Context, f DecisionFilter) ([]apiv1.Decision, error) {
	var out []apiv1.Decision
	err := s.db.view(func(t tx) error {
		var derr error
		err := t.scan(bucketDecisions, "", true, func(_ string, v []byte) bool {
			var d apiv1.Decision
			if derr = json.Unmarshal(v, &d); derr != nil {
				return false
			}
			if f.match(&d) {
				out = append(out, d)
			}
			return f.Limit <= 0 || len(out) < f.Limit
		})
		return errors.Join(err, derr)
	})
	return out, err
}

func (s *kvStore) RecordAcks(ctx context.Context, acks []apiv1.Ack) error {
	if len(acks) == 0 {
		return nil
	}
	return s.db.batch(func(t tx) error {
		for _, a := range acks {
			if err := putJSON(t, bucketAcks, a.DecisionID+"/"+a.Instance, a); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *kvStore) ListAcks(ctx context.Context, decisionID string) ([]apiv1.Ack, error) {
	return scanJSON[apiv1.Ack](s.db, bucketAcks, decisionID+"/")
}

func (s *kvStore) AppendAudit(ctx context.Context, events ...apiv1.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	return s.db.batch(func(t tx) error {
		for _, e := range events {
			// The key sorts by time within a decision; the nanoseconds keep it unique.
			key := fmt.Sprintf("%s/%020d", e.DecisionID, e.Time.UnixNano())
			for t.get(bucketAudit, key) != nil {
				e.Time = e.Time.Add(time.Nanosecond)
				key = fmt.Sprintf("%s/%020d", e.DecisionID, e.Time.UnixNano())
			}
			if err := putJSON(t, bucketAudit, key, e); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *kvStore) ListAudit(ctx context.Context, decisionID string) ([]apiv1.AuditEvent, error) {
	return scanJSON[apiv1.AuditEvent](s.db, bucketAudit, decisionID+"/")
}

func (s *kvStore) ListDesired(ctx context.Context) ([]Desired, error) {
	return scanJSON[Desired](s.db, bucketDesired, "")
}

func (s *kvStore) PutPolicy(ctx context.Context, p StoredPolicy) error {
	if strings.TrimSpace(p.Name) == "" {
		return errors.New("put policy: empty name")
	}
	return s.db.update(func(t tx) error { return putJSON(t, bucketPolicies, p.Name, p) })
}

func (s *kvStore) GetPolicy(ctx context.Context, name string) (StoredPolicy, error) {
	var p StoredPolicy
	err := s.db.view(func(t tx) error {
		raw := t.get(bucketPolicies, name)
		if raw == nil {
			return fmt.Errorf("policy %s: %w", name, ErrNotFound)
		}
		return json.Unmarshal(raw, &p)
	})
	return p, err
}

func (s *kvStore) ListPolicies(ctx context.Context) ([]StoredPolicy, error) {
	return scanJSON[StoredPolicy](s.db, bucketPolicies, "")
}

func (s *kvStore) DeletePolicy(ctx context.Context, name string) error {
	return s.db.update(func(t tx) error {
		if t.get(bucketPolicies, name) == nil {
			return fmt.Errorf("policy %s: %w", name, ErrNotFound)
		}
		return t.del(bucketPolicies, name)
	})
}

func (s *kvStore) Close() error { return s.db.close() }

func putJSON(t tx, bucket, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s/%s: %w", bucket, key, err)
	}
	return t.put(bucket, key, b)
}

func scanJSON[T any](db kv, bucket, prefix string) ([]T, error) {
	var out []T
	err := db.view(func(t tx) error {
		var derr error
		err := t.scan(bucket, prefix, false, func(k string, v []byte) bool {
			var x T
			if derr = json.Unmarshal(v, &x); derr != nil {
				derr = fmt.Errorf("decode %s/%s: %w", bucket, k, derr)
				return false
			}
			out = append(out, x)
			return true
		})
		return errors.Join(err, derr)
	})
	return out, err
}
