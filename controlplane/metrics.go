package controlplane

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/controlplane/store"
)

type metrics struct {
	reg          *Registry
	connected    prometheus.Gauge
	instances    *prometheus.GaugeVec
	sessions     *prometheus.CounterVec
	messages     *prometheus.CounterVec
	invalid      prometheus.Counter
	authFailures prometheus.Counter
	pushes       *prometheus.CounterVec
	pushLatency  prometheus.Histogram
	decisions    *prometheus.CounterVec
	storeOps     *prometheus.CounterVec
	storeLatency *prometheus.HistogramVec
}

func newMetrics(r prometheus.Registerer, reg *Registry) *metrics {
	m := &metrics{
		reg:       reg,
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "mcp_agents_connected", Help: "Agent sessions up on this replica."}),
		instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mcp_instances", Help: "Registered instances by health."}, []string{"health"}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mcp_agent_sessions_total",
			Help: "Agent sessions opened, by result (registered, refused)."}, []string{"result"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mcp_agent_messages_total",
			Help: "Messages received from agents, by type."}, []string{"type"}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{Name: "mcp_agent_messages_invalid_total",
			Help: "Malformed agent messages; their sessions were closed with InvalidArgument."}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "mcp_agent_auth_failures_total",
			Help: "Agent sessions refused for a wrong or missing bearer token."}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mcp_knob_pushes_total",
			Help: "Knob updates pushed to agents, by result (applied, rejected, failed)."}, []string{"result"}),
		pushLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "mcp_knob_push_latency_seconds",
			Help:    "Time from a decision being stored to an agent acknowledging it.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mcp_decisions_total",
			Help: "Decisions created, by source and mode."}, []string{"source", "mode"}),
		storeOps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mcp_store_operations_total",
			Help: "Store operations, by operation and result (ok, not_found, error)."}, []string{"op", "result"}),
		storeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mcp_store_operation_duration_seconds",
			Help: "Store operation latency.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9)}, []string{"op"}),
	}
	if r != nil {
		r.MustRegister(m.connected, m.instances, m.sessions, m.messages, m.invalid, m.authFailures, m.pushes,
			m.pushLatency, m.decisions, m.storeOps, m.storeLatency)
	}
	return m
}

func (m *metrics) updateGauges() {
	connected, byHealth := m.reg.counts()
	m.connected.Set(float64(connected))
	for h, n := range byHealth {
		m.instances.WithLabelValues(string(h)).Set(float64(n))
	}
}

// instrumentedStore counts and times every store operation (a decorator on Store).
type instrumentedStore struct {
	store.Store
	m *metrics
}

func instrumentStore(s store.Store, m *metrics) store.Store {
	return &instrumentedStore{Store: s, m: m}
}

func (s *instrumentedStore) observe(op string, start time.Time, err error) {
	s.m.storeLatency.WithLabelValues(op).Observe(time.Since(start).Seconds())
	result := "ok"
	switch {
	case errors.Is(err, store.ErrNotFound):
		result = "not_found"
	case err != nil:
		result = "error"
	}
	s.m.storeOps.WithLabelValues(op, result).Inc()
}

func (s *instrumentedStore) CreateDecision(ctx context.Context, d apiv1.Decision, desired ...store.Desired) error {
	start := time.Now()
	err := s.Store.CreateDecision(ctx, d, desired...)
	s.observe("create_decision", start, err)
	return err
}

func (s *instrumentedStore) UpdateDecision(ctx context.Context, id string, fn func(*apiv1.Decision) error) (d apiv1.Decision, err error) {
	start := time.Now()
	d, err = s.Store.UpdateDecision(ctx, id, fn)
	s.observe("update_decision", start, err)
	return d, err
}

func (s *instrumentedStore) GetDecision(ctx context.Context, id string) (d apiv1.Decision, err error) {
	start := time.Now()
	d, err = s.Store.GetDecision(ctx, id)
	s.observe("get_decision", start, err)
	return d, err
}

func (s *instrumentedStore) ListDecisions(ctx context.Context, f store.DecisionFilter) (ds []apiv1.Decision, err error) {
	start := time.Now()
	ds, err = s.Store.ListDecisions(ctx, f)
	s.observe("list_decisions", start, err)
	return ds, err
}

func (s *instrumentedStore) RecordAcks(ctx context.Context, acks []apiv1.Ack) error {
	if len(acks) == 0 {
		return nil
	}
	start := time.Now()
	err := s.Store.RecordAcks(ctx, acks)
	s.observe("record_acks", start, err)
	return err
}

func (s *instrumentedStore) AppendAudit(ctx context.Context, events ...apiv1.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	start := time.Now()
	err := s.Store.AppendAudit(ctx, events...)
	s.observe("append_audit", start, err)
	return err
}

func (s *instrumentedStore) PutPolicy(ctx context.Context, p store.StoredPolicy) error {
	start := time.Now()
	err := s.Store.PutPolicy(ctx, p)
	s.observe("put_policy", start, err)
	return err
}
