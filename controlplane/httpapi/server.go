// Package httpapi serves MCP's HTTP API (JSON under /api/v1), the health and readiness
// probes and /metrics. Reads are open; writes need the bearer token.
package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/controlplane"
	"github.com/mcplane/mcp/controlplane/store"

	"github.com/mcplane/mcp/runtime/knob"
)

// Options configure the API.
type Options struct {
	Core *controlplane.Core
	// Token guards writes; empty means writes are open (the server warns at start).
	Token string
	// Gatherer serves /metrics.
	Gatherer prometheus.Gatherer
	// Ready reports whether the server can take traffic (nil: always).
	Ready  func(context.Context) error
	Logger *zap.Logger
	// MaxBodyBytes bounds request bodies. Default: 1 MiB.
	MaxBodyBytes int64
	// Pprof serves Go's profiling endpoints under /debug/pprof/, behind the bearer token:
	// profiles show internals and a CPU profile costs CPU while it runs.
	Pprof bool
}

// Server is the HTTP API. Other parts of MCP add their routes with Handle.
type Server struct {
	opts Options
	mux  *http.ServeMux
	log  *zap.Logger
}

// New builds the API's routes.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	s := &Server{opts: opts, mux: http.NewServeMux(), log: opts.Logger}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	s.mux.HandleFunc("GET /readyz", s.readyz)
	if opts.Gatherer != nil {
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}))
	}
	s.mux.HandleFunc("GET /api/v1/services", s.services)
	s.mux.HandleFunc("GET /api/v1/instances", s.instances)
	s.mux.HandleFunc("GET /api/v1/instances/{id}", s.instance)
	s.mux.HandleFunc("GET /api/v1/watch", s.watch)
	s.mux.HandleFunc("GET /api/v1/decisions", s.decisions)
	s.mux.HandleFunc("GET /api/v1/decisions/{id}", s.decision)
	s.mux.Handle("POST /api/v1/decisions", s.Writer(http.HandlerFunc(s.createDecision)))
	s.mux.HandleFunc("GET /api/v1/knobs", s.knobs)
	if opts.Pprof {
		s.mux.Handle("GET /debug/pprof/", s.guarded("reads profiles", http.HandlerFunc(pprof.Index)))
		s.mux.Handle("GET /debug/pprof/cmdline", s.guarded("reads profiles", http.HandlerFunc(pprof.Cmdline)))
		s.mux.Handle("GET /debug/pprof/profile", s.guarded("reads profiles", http.HandlerFunc(pprof.Profile)))
		s.mux.Handle("GET /debug/pprof/symbol", s.guarded("reads profiles", http.HandlerFunc(pprof.Symbol)))
		s.mux.Handle("GET /debug/pprof/trace", s.guarded("reads profiles", http.HandlerFunc(pprof.Trace)))
	}
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, fmt.Sprintf("no API route %s %s (see docs/API.md)", r.Method, r.URL.Path))
	})
	return s
}

// Handle adds a route. Wrap write routes with Writer.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Writer requires the bearer token, for routes that change state.
func (s *Server) Writer(h http.Handler) http.Handler {
	return s.guarded("changes state", h)
}

// guarded requires the bearer token (when the server has one) and bounds the request body;
// why says, in the refusal, what makes the route need the token.
func (s *Server) guarded(why string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.Token != "" {
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="mcp"`)
				WriteError(w, http.StatusUnauthorized, "this request "+why+" and needs \"Authorization: Bearer <token>\" (mcp: --token or MCP_TOKEN)")
				return
			}
			if subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.Token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="mcp", error="invalid_token"`)
				WriteError(w, http.StatusUnauthorized, "wrong bearer token: it does not match the server's --token / MCP_TOKEN")
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
		h.ServeHTTP(w, r)
	})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.opts.Ready != nil {
		if err := s.opts.Ready(r.Context()); err != nil {
			WriteError(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
			return
		}
	}
	_, _ = io.WriteString(w, "ok\n")
}

func (s *Server) services(w http.ResponseWriter, r *http.Request) {
	idx, byName := s.opts.Core.Registry().Services()
	out := apiv1.ServiceList{Index: idx, Services: []apiv1.Service{}}
	// Services with decisions in force but no instance now are still listed.
	ds, err := s.opts.Core.Store().ListDesired(r.Context())
	if err != nil {
		WriteError(w, http.StatusInternalServerError, "list knob sets: "+err.Error())
		return
	}
	for _, d := range ds {
		if d.Target.Instance != "" {
			continue
		}
		svc, ok := byName[d.Target.Service]
		if !ok {
			svc = &apiv1.Service{Name: d.Target.Service, Health: map[apiv1.Health]int{}}
			byName[d.Target.Service] = svc
		}
		k := d.Knobs
		svc.Desired, svc.DecisionID = &k, d.DecisionID
	}
	for _, svc := range byName {
		out.Services = append(out.Services, *svc)
	}
	sortServices(out.Services)
	WriteJSON(w, http.StatusOK, out)
}

// instances lists instances; ?index=N&wait=30s blocks until the registry changes past N
// (a long poll, as Consul's blocking queries do).
func (s *Server) instances(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if v := q.Get("index"); v != "" {
		after, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			WriteError(w, http.StatusBadRequest, fmt.Sprintf("index: %q is not a non-negative integer", v))
			return
		}
		wait := 30 * time.Second
		if v := q.Get("wait"); v != "" {
			if wait, err = time.ParseDuration(v); err != nil || wait < 0 || wait > 10*time.Minute {
				WriteError(w, http.StatusBadRequest, fmt.Sprintf("wait: %q is not a duration between 0s and 10m", v))
				return
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		s.opts.Core.Registry().Wait(ctx, after)
		cancel()
	}
	idx, list := s.opts.Core.Registry().Instances(q.Get("service"))
	if list == nil {
		list = []apiv1.Instance{}
	}
	w.Header().Set("X-MCP-Index", strconv.FormatUint(idx, 10))
	WriteJSON(w, http.StatusOK, apiv1.InstanceList{Index: idx, Instances: list})
}

func (s *Server) instance(w http.ResponseWriter, r *http.Request) {
	inst, ok := s.opts.Core.Registry().Instance(r.PathValue("id"))
	if !ok {
		WriteError(w, http.StatusNotFound, fmt.Sprintf("instance %q is not registered", r.PathValue("id")))
		return
	}
	WriteJSON(w, http.StatusOK, struct {
		apiv1.Instance
		Events []apiv1.AuditEvent `json:"events"`
	}{inst, s.opts.Core.Registry().InstanceEvents(inst.ID)})
}

// watch streams the instance list as server-sent events: one "instances" event now and
// one after every change.
func (s *Server) watch(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		WriteError(w, http.StatusInternalServerError, "streaming not supported by this connection")
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	service := r.URL.Query().Get("service")
	reg := s.opts.Core.Registry()
	var last uint64
	for {
		idx, list := reg.Instances(service)
		if list == nil {
			list = []apiv1.Instance{}
		}
		b, _ := json.Marshal(apiv1.InstanceList{Index: idx, Instances: list})
		if _, err := fmt.Fprintf(w, "id: %d\nevent: instances\ndata: %s\n\n", idx, b); err != nil {
			return
		}
		fl.Flush()
		last = idx
		ctx, cancel := context.WithTimeout(r.Context(), 25*time.Second)
		next := reg.Wait(ctx, last)
		cancel()
		if r.Context().Err() != nil {
			return
		}
		if next == last { // keep idle connections (and proxies) alive
			if _, err := io.WriteString(w, ": keepalive\n\n"); err != nil {
				return
			}
			fl.Flush()
			reg.Wait(r.Context(), last)
			if r.Context().Err() != nil {
				return
			}
		}
	}
}

func (s *Server) decisions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.DecisionFilter{Service: q.Get("service"), Instance: q.Get("instance"), Policy: q.Get("policy"), Limit: 100}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			WriteError(w, http.StatusBadRequest, fmt.Sprintf("limit: %q is not a number between 1 and 10000", v))
			return
		}
		f.Limit = n
	}
	ds, err := s.opts.Core.Store().ListDecisions(r.Context(), f)
	if err != nil {
		WriteError(w, http.StatusInternalServerError, "list decisions: "+err.Error())
		return
	}
	if ds == nil {
		ds = []apiv1.Decision{}
	}
	WriteJSON(w, http.StatusOK, apiv1.DecisionList{Decisions: ds})
}

func (s *Server) decision(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	st := s.opts.Core.Store()
	d, err := st.GetDecision(ctx, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		WriteError(w, http.StatusNotFound, fmt.Sprintf("decision %q does not exist", r.PathValue("id")))
		return
	}
	if err != nil {
		WriteError(w, http.StatusInternalServerError, "get decision: "+err.Error())
		return
	}
	acks, err := st.ListAcks(ctx, d.ID)
	if err != nil {
		WriteError(w, http.StatusInternalServerError, "list acks: "+err.Error())
		return
	}
	audit, err := st.ListAudit(ctx, d.ID)
	if err != nil {
		WriteError(w, http.StatusInternalServerError, "list audit: "+err.Error())
		return
	}
	if acks == nil {
		acks = []apiv1.Ack{}
	}
	if audit == nil {
		audit = []apiv1.AuditEvent{}
	}
	WriteJSON(w, http.StatusOK, apiv1.DecisionDetail{Decision: d, AckList: acks, Audit: audit})
}

func (s *Server) createDecision(w http.ResponseWriter, r *http.Request) {
	var req apiv1.DecisionRequest
	if !DecodeJSON(w, r, &req) {
		return
	}
	if err := req.Validate(); err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	reason := req.Reason
	if reason == "" {
		reason = "set by hand through the API"
	}
	d, err := s.opts.Core.Decide(r.Context(), apiv1.Decision{
		Service: req.Service, Instance: req.Instance, Knobs: req.Knobs, HPATargetUtilization: req.HPATargetUtilization,
		Mode: req.Mode, Source: apiv1.SourceAPI, Reason: reason,
	})
	if err != nil {
		WriteCoreError(w, err)
		return
	}
	w.Header().Set("Location", "/api/v1/decisions/"+d.ID)
	WriteJSON(w, http.StatusCreated, d)
}

// KnobsView is the answer to GET /api/v1/knobs: the knob set in force for a service (and
// instance) and what each instance reports.
type KnobsView struct {
	Service    string          `json:"service"`
	Instance   string          `json:"instance,omitempty"`
	Desired    *knob.Change    `json:"desired,omitempty"`
	DecisionID string          `json:"decision_id,omitempty"`
	Instances  []InstanceKnobs `json:"instances"`
}

// InstanceKnobs is one instance's knobs and their sources.
type InstanceKnobs struct {
	ID         string       `json:"id"`
	Health     apiv1.Health `json:"health"`
	Knobs      knob.Values  `json:"knobs"`
	Sources    knob.Sources `json:"sources"`
	DecisionID string       `json:"decision_id,omitempty"`
	Limits     apiv1.Limits `json:"limits"`
}

func (s *Server) knobs(w http.ResponseWriter, r *http.Request) {
	service, instance := r.URL.Query().Get("service"), r.URL.Query().Get("instance")
	if service == "" {
		WriteError(w, http.StatusBadRequest, "service: required (GET /api/v1/knobs?service=NAME)")
		return
	}
	_, insts := s.opts.Core.Registry().Instances(service)
	view := KnobsView{Service: service, Instance: instance, Instances: []InstanceKnobs{}}
	if d, ok := s.opts.Core.Desired(service, instance); ok {
		k := d.Knobs
		view.Desired, view.DecisionID = &k, d.DecisionID
	}
	for _, i := range insts {
		if instance != "" && i.ID != instance {
			continue
		}
		view.Instances = append(view.Instances, InstanceKnobs{ID: i.ID, Health: i.Health, Knobs: i.Knobs,
			Sources: i.Sources, DecisionID: i.DecisionID, Limits: i.Limits})
	}
	if len(view.Instances) == 0 && view.Desired == nil {
		WriteError(w, http.StatusNotFound, fmt.Sprintf("service %q is not known: no instance of it has registered and no decision names it", service))
		return
	}
	WriteJSON(w, http.StatusOK, view)
}
