package tuner

import (
	"github.com/prometheus/client_golang/prometheus"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/runtime/knob"
)

type metrics struct {
	evaluations   *prometheus.CounterVec
	decisions     *prometheus.CounterVec
	rollbacks     *prometheus.CounterVec
	actuations    *prometheus.CounterVec
	knobValue     *prometheus.GaugeVec
	gcFraction    *prometheus.GaugeVec
	cpuPerReq     *prometheus.GaugeVec
	floorDistance *prometheus.GaugeVec
	guardEvents   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		evaluations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mcp_tuner_evaluations_total",
			Help: "Tuner evaluation passes, by result."}, []string{"result"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mcp_tuner_decisions_total",
			Help: "Tuner decisions, by service, knob changed and mode."}, []string{"service", "knob", "mode"}),
		rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mcp_tuner_rollbacks_total",
			Help: "Changes the tuner undid, by service and reason."}, []string{"service", "reason"}),
		actuations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mcp_tuner_actuations_total",
			Help: "Actuator calls, by actuator and result."}, []string{"actuator", "result"}),
		knobValue: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mcp_tuner_knob_value",
			Help: "Knob values in force, by service and knob."}, []string{"service", "knob"}),
		gcFraction: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mcp_tuner_gc_cpu_fraction",
			Help: "GC share of CPU, predicted by the model and observed."}, []string{"service", "kind"}),
		cpuPerReq: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mcp_tuner_cpu_per_request_seconds",
			Help: "Measured CPU seconds per request."}, []string{"service"}),
		floorDistance: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mcp_tuner_memory_floor_distance_ratio",
			Help: "How far GC CPU is above the memory-bound floor, as a ratio to the floor (0: at the floor)."}, []string{"service"}),
		guardEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mcp_tuner_memory_guard_events_total",
			Help: "Emergency memory guard engagements reported by agents."}, []string{"service"}),
	}
	if reg != nil {
		reg.MustRegister(m.evaluations, m.decisions, m.rollbacks, m.actuations, m.knobValue, m.gcFraction, m.cpuPerReq,
			m.floorDistance, m.guardEvents)
	}
	return m
}

// countDecision counts a decision once per knob it changes.
func (t *Tuner) countDecision(service string, mode apiv1.Mode, d apiv1.Decision) {
	for _, k := range d.Knobs.Knobs() {
		t.m.decisions.WithLabelValues(service, k, string(mode)).Inc()
	}
	if d.HPATargetUtilization != nil {
		t.m.decisions.WithLabelValues(service, "hpa_target", string(mode)).Inc()
	}
}

func (t *Tuner) recordGauges(service string, a Aggregate) {
	// Rollback counters start at zero for every service, so increase() sees the first one.
	for _, k := range regressionKinds {
		t.m.rollbacks.WithLabelValues(service, string(k))
	}
	for name, v := range map[string]float64{knob.NameGOGC: a.GOGC, knob.NameGOMEMLIMIT: a.GOMEMLIMIT, knob.NameGOMAXPROCS: a.GOMAXPROCS} {
		if finite(v) {
			t.m.knobValue.WithLabelValues(service, name).Set(v)
		}
	}
	if finite(a.GCFrac) {
		t.m.gcFraction.WithLabelValues(service, "observed").Set(a.GCFrac)
	}
	if finite(a.CPUPerReq) {
		t.m.cpuPerReq.WithLabelValues(service).Set(a.CPUPerReq)
	}
}
