package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// app is demoapp's HTTP API around the engine.
type app struct {
	eng   *engine
	log   *zap.Logger
	phase atomic.Pointer[phaseStatus] // nil without a schedule
}

// phaseStatus is where a --phases schedule is, for GET /config.
type phaseStatus struct {
	Index  int       `json:"index"` // from 1
	Of     int       `json:"of"`
	Spec   string    `json:"spec"`
	Since  time.Time `json:"since"`
	Repeat bool      `json:"repeat"`
}

// configView is the body of GET /config and of a successful PUT /config.
type configView struct {
	Workload
	// LiveHeapEstimateBytes is what the data set should hold live at its current size.
	LiveHeapEstimateBytes int64 `json:"live_heap_estimate_bytes"`
	// ItemsPerRequest is the line items a generated order has, from garbage_kib.
	ItemsPerRequest int `json:"items_per_request"`
	// BurnUnitsPerMicro is the CPU calibration: hashes per microsecond on this machine.
	BurnUnitsPerMicro float64      `json:"burn_units_per_us"`
	RequestsServed    uint64       `json:"requests_served"`
	Phase             *phaseStatus `json:"phase,omitempty"`
}

func (a *app) view() configView {
	w := a.eng.Workload()
	return configView{
		Workload:              w,
		LiveHeapEstimateBytes: a.eng.liveEstimate(),
		ItemsPerRequest:       itemsFor(w.GarbageKiB),
		BurnUnitsPerMicro:     a.eng.unitsPerMicro,
		RequestsServed:        a.eng.served.Load(),
		Phase:                 a.phase.Load(),
	}
}

// routes is demoapp's API. wrapWork wraps /work only (with the agent's middleware), so
// the other endpoints do not count as the service's traffic.
func (a *app) routes(metrics http.Handler, wrapWork func(http.Handler) http.Handler) http.Handler {
	mux := http.NewServeMux()
	work := wrapWork(http.HandlerFunc(a.work))
	mux.Handle("GET /work", work)
	mux.Handle("POST /work", work)
	mux.HandleFunc("GET /config", a.getConfig)
	mux.HandleFunc("PUT /config", a.putConfig)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	})
	mux.Handle("GET /metrics", metrics)
	return mux
}

// maxOrderBytes bounds a POST /work body; a generated order at the largest garbage_kib
// is well below it.
const maxOrderBytes = 64 << 20

func (a *app) work(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOrderBytes))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("read order body: %v", err))
		return
	}
	out, err := a.eng.Serve(body)
	var bad *badRequest
	switch {
	case errors.As(err, &bad):
		writeError(w, http.StatusBadRequest, bad.msg)
		return
	case err != nil:
		a.log.Error("work request failed", zap.Error(err))
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

func (a *app) getConfig(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.view())
}

// putConfig changes the workload: any of live_heap_mib, garbage_kib and cpu_us; the others
// keep their values. Invalid input is answered 400 with the field named, and changes
// nothing.
func (a *app) putConfig(w http.ResponseWriter, r *http.Request) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	var p WorkloadPatch
	if err := dec.Decode(&p); err != nil {
		writeError(w, http.StatusBadRequest, describeJSONError(err))
		return
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "body has data after the JSON object: send one object")
		return
	}
	if p.LiveHeapMiB == nil && p.GarbageKiB == nil && p.CPUMicros == nil {
		writeError(w, http.StatusBadRequest, "no setting given: want at least one of live_heap_mib, garbage_kib, cpu_us")
		return
	}
	before := a.eng.Workload()
	start := time.Now()
	after, err := a.eng.Update(p)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	a.log.Info("workload changed",
		zap.String("by", "api"),
		zap.Int("live_heap_mib", after.LiveHeapMiB), zap.Int("garbage_kib", after.GarbageKiB), zap.Int("cpu_us", after.CPUMicros),
		zap.Int("previous_live_heap_mib", before.LiveHeapMiB),
		zap.Duration("resize_took", time.Since(start)))
	writeJSON(w, http.StatusOK, a.view())
}

// describeJSONError turns a decoding error into a message naming the field or position
// to fix.
func describeJSONError(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return "empty body: want a JSON object such as {\"live_heap_mib\": 256}"
	case errors.As(err, &syntax):
		return fmt.Sprintf("invalid JSON at byte %d: %v", syntax.Offset, err)
	case errors.As(err, &typ) && typ.Field != "":
		return fmt.Sprintf("%s: got a JSON %s, want a whole number", typ.Field, typ.Value)
	case errors.As(err, &typ):
		return fmt.Sprintf("got a JSON %s, want an object with live_heap_mib, garbage_kib or cpu_us", typ.Value)
	case errors.As(err, &tooBig):
		return fmt.Sprintf("body larger than %d bytes", tooBig.Limit)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ") + ": want live_heap_mib, garbage_kib or cpu_us"
	}
	return "invalid JSON: " + err.Error()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// registerMetrics adds demoapp's own metrics, which show the workload a benchmark or demo
// is running next to the runtime's response to it:
//
//	demoapp_workload_live_heap_bytes     live heap the workload asks for
//	demoapp_workload_garbage_bytes       garbage per request the workload asks for
//	demoapp_workload_cpu_seconds         extra CPU per request the workload asks for
//	demoapp_workload_phase               current --phases phase (from 1; 0 without one)
//	demoapp_work_requests_total          /work requests served successfully
func (a *app) registerMetrics(reg prometheus.Registerer) error {
	gauge := func(name, help string, f func(Workload) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(a.eng.Workload()) })
	}
	cs := []prometheus.Collector{
		gauge("demoapp_workload_live_heap_bytes", "Live heap the workload asks for.", func(w Workload) float64 { return float64(w.LiveHeapMiB) * (1 << 20) }),
		gauge("demoapp_workload_garbage_bytes", "Garbage per request the workload asks for.", func(w Workload) float64 { return float64(w.GarbageKiB) * (1 << 10) }),
		gauge("demoapp_workload_cpu_seconds", "Extra CPU per request the workload asks for.", func(w Workload) float64 { return float64(w.CPUMicros) / 1e6 }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "demoapp_workload_phase", Help: "Current --phases phase, from 1; 0 without a schedule."}, func() float64 {
			if p := a.phase.Load(); p != nil {
				return float64(p.Index)
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "demoapp_work_requests_total", Help: "/work requests served successfully."}, func() float64 {
			return float64(a.eng.served.Load())
		}),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register demoapp metrics: %w", err)
		}
	}
	return nil
}
