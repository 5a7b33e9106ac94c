package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// PolicyView is a policy as the API shows it: where it came from, its spec and what the
// tuner is doing with it.
type PolicyView struct {
	Name   string `json:"name"`
	Source string `json:"source"` // "file" or "api"
	Mode   string `json:"mode"`
	// Spec is the TuningPolicy's spec as written.
	Spec any `json:"spec"`
	// Workloads is the tuner's status for each workload the policy covers.
	Workloads any `json:"workloads"`
}

// PolicyService manages policies for the API.
type PolicyService interface {
	List(ctx context.Context) ([]PolicyView, error)
	Get(ctx context.Context, name string) (PolicyView, error)
	// Put validates and stores a TuningPolicy (YAML or JSON); created reports a new one.
	Put(ctx context.Context, name string, body []byte) (view PolicyView, created bool, err error)
	Delete(ctx context.Context, name string) error
}

// Policy errors the service returns, mapped to statuses.
var (
	ErrPolicyNotFound = errors.New("policy not found")
	ErrPolicyInvalid  = errors.New("policy invalid")
	ErrPolicyConflict = errors.New("policy conflict")
)

// RegisterPolicies adds /api/v1/policies to the API.
func (s *Server) RegisterPolicies(ps PolicyService) {
	status := func(err error) int {
		switch {
		case errors.Is(err, ErrPolicyNotFound):
			return http.StatusNotFound
		case errors.Is(err, ErrPolicyInvalid):
			return http.StatusBadRequest
		case errors.Is(err, ErrPolicyConflict):
			return http.StatusConflict
		}
		return http.StatusInternalServerError
	}
	s.mux.HandleFunc("GET /api/v1/policies", func(w http.ResponseWriter, r *http.Request) {
		list, err := ps.List(r.Context())
		if err != nil {
			WriteError(w, status(err), err.Error())
			return
		}
		if list == nil {
			list = []PolicyView{}
		}
		WriteJSON(w, http.StatusOK, struct {
			Policies []PolicyView `json:"policies"`
		}{list})
	})
	s.mux.HandleFunc("GET /api/v1/policies/{name}", func(w http.ResponseWriter, r *http.Request) {
		v, err := ps.Get(r.Context(), r.PathValue("name"))
		if err != nil {
			WriteError(w, status(err), err.Error())
			return
		}
		WriteJSON(w, http.StatusOK, v)
	})
	s.mux.Handle("PUT /api/v1/policies/{name}", s.Writer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit))
				return
			}
			WriteError(w, http.StatusBadRequest, "read body: "+err.Error())
			return
		}
		v, created, err := ps.Put(r.Context(), r.PathValue("name"), body)
		if err != nil {
			WriteError(w, status(err), err.Error())
			return
		}
		code := http.StatusOK
		if created {
			code = http.StatusCreated
		}
		WriteJSON(w, code, v)
	})))
	s.mux.Handle("DELETE /api/v1/policies/{name}", s.Writer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := ps.Delete(r.Context(), r.PathValue("name")); err != nil {
			WriteError(w, status(err), err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})))
}
