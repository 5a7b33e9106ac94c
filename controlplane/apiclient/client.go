// Package apiclient is a Go client for MCP's HTTP API, used by the mcp CLI verbs.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	apiv1 "github.com/mcplane/mcp/api/v1"
)

// Client talks to one MCP server.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// New returns a client for the server at base (e.g. http://127.0.0.1:8080).
func New(base, token string) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server %q (--server, MCP_SERVER): want a URL such as http://127.0.0.1:8080", base)
	}
	return &Client{base: u, token: token, http: &http.Client{Timeout: 60 * time.Second}}, nil
}

// APIError is an error answer from the server.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status) }

func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w (is mcp serve running there?)", method, u.Redacted(), err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, u.Redacted(), err)
	}
	if resp.StatusCode >= 300 {
		var e apiv1.Error
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return &APIError{Status: resp.StatusCode, Message: e.Error}
		}
		return &APIError{Status: resp.StatusCode, Message: strings.TrimSpace(string(raw))}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, u.Redacted(), err)
	}
	return nil
}

// Get fetches any API path into out.
func (c *Client) Get(ctx context.Context, path string, query url.Values, out any) error {
	return c.do(ctx, http.MethodGet, path, query, nil, out)
}

// Send sends body with method to path and decodes the answer into out.
func (c *Client) Send(ctx context.Context, method, path string, body, out any) error {
	return c.do(ctx, method, path, nil, body, out)
}

// Services lists services.
func (c *Client) Services(ctx context.Context) (apiv1.ServiceList, error) {
	var out apiv1.ServiceList
	return out, c.Get(ctx, "/api/v1/services", nil, &out)
}

// Instances lists instances, of one service if given.
func (c *Client) Instances(ctx context.Context, service string) (apiv1.InstanceList, error) {
	var out apiv1.InstanceList
	q := url.Values{}
	if service != "" {
		q.Set("service", service)
	}
	return out, c.Get(ctx, "/api/v1/instances", q, &out)
}

// Decisions lists decisions, newest first.
func (c *Client) Decisions(ctx context.Context, service, instance string, limit int) (apiv1.DecisionList, error) {
	var out apiv1.DecisionList
	q := url.Values{}
	if service != "" {
		q.Set("service", service)
	}
	if instance != "" {
		q.Set("instance", instance)
	}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	return out, c.Get(ctx, "/api/v1/decisions", q, &out)
}

// Decision fetches one decision with its acks and audit trail.
func (c *Client) Decision(ctx context.Context, id string) (apiv1.DecisionDetail, error) {
	var out apiv1.DecisionDetail
	return out, c.Get(ctx, "/api/v1/decisions/"+url.PathEscape(id), nil, &out)
}

// Decide creates a decision (a manual knob change).
func (c *Client) Decide(ctx context.Context, req apiv1.DecisionRequest) (apiv1.Decision, error) {
	var out apiv1.Decision
	return out, c.Send(ctx, http.MethodPost, "/api/v1/decisions", req, &out)
}

// Knobs fetches the knob set in force and each instance's knobs.
func (c *Client) Knobs(ctx context.Context, service, instance string, out any) error {
	q := url.Values{"service": {service}}
	if instance != "" {
		q.Set("instance", instance)
	}
	return c.Get(ctx, "/api/v1/knobs", q, out)
}

// IsNotFound reports whether err is a 404 from the server.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}
