package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// promAPI is the part of Prometheus's HTTP API (/api/v1) the test reads, as Grafana's
// Prometheus data source calls it.
type promAPI struct{ base string }

// series is one series of a query result: its labels and sample values.
type series struct {
	Labels map[string]string
	Values []float64
}

// samples counts the values that are numbers: a series of NaN (0/0, a histogram without
// observations) draws nothing in Grafana and is not data.
func samples(ss []series) int {
	n := 0
	for _, s := range ss {
		for _, v := range s.Values {
			if !math.IsNaN(v) {
				n++
			}
		}
	}
	return n
}

// query runs an instant query at t.
func (p promAPI) query(ctx context.Context, expr string, t time.Time) ([]series, error) {
	return p.result(ctx, "/api/v1/query", url.Values{"query": {expr}, "time": {unix(t)}})
}

// queryRange runs a range query.
func (p promAPI) queryRange(ctx context.Context, expr string, start, end time.Time, step time.Duration) ([]series, error) {
	return p.result(ctx, "/api/v1/query_range", url.Values{"query": {expr}, "start": {unix(start)}, "end": {unix(end)},
		"step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}})
}

// labelValues returns the values of label on the series matching selector within
// [start, end], as Grafana's label_values(selector, label) does.
func (p promAPI) labelValues(ctx context.Context, label, selector string, start, end time.Time) ([]string, error) {
	var out []string
	err := p.get(ctx, "/api/v1/label/"+url.PathEscape(label)+"/values",
		url.Values{"match[]": {selector}, "start": {unix(start)}, "end": {unix(end)}}, &out)
	return out, err
}

// ruleGroup is a rule group as /api/v1/rules reports it.
type ruleGroup struct {
	Name  string `json:"name"`
	File  string `json:"file"`
	Rules []struct {
		Name      string  `json:"name"`
		Type      string  `json:"type"`
		Health    string  `json:"health"`
		LastError string  `json:"lastError"`
		Query     string  `json:"query"`
		Duration  float64 `json:"duration"`
	} `json:"rules"`
}

func (p promAPI) rules(ctx context.Context) ([]ruleGroup, error) {
	var out struct {
		Groups []ruleGroup `json:"groups"`
	}
	err := p.get(ctx, "/api/v1/rules", nil, &out)
	return out.Groups, err
}

func (p promAPI) result(ctx context.Context, path string, params url.Values) ([]series, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get(ctx, path, params, &data); err != nil {
		return nil, err
	}
	var out []series
	switch data.ResultType {
	case "vector":
		var v []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(data.Result, &v); err != nil {
			return nil, err
		}
		for _, s := range v {
			out = append(out, series{Labels: s.Metric, Values: []float64{number(s.Value[1])}})
		}
	case "matrix":
		var mx []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		}
		if err := json.Unmarshal(data.Result, &mx); err != nil {
			return nil, err
		}
		for _, s := range mx {
			sr := series{Labels: s.Metric}
			for _, v := range s.Values {
				sr.Values = append(sr.Values, number(v[1]))
			}
			out = append(out, sr)
		}
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(data.Result, &v); err != nil {
			return nil, err
		}
		out = append(out, series{Values: []float64{number(v[1])}})
	default:
		return nil, fmt.Errorf("%s: result type %q", path, data.ResultType)
	}
	return out, nil
}

// get calls the API and decodes its data; an error answer becomes an error with
// Prometheus's message.
func (p promAPI) get(ctx context.Context, path string, params url.Values, data any) error {
	u := p.base + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status    string          `json:"status"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("GET %s: %s: %.200s", path, resp.Status, b)
	}
	if env.Status != "success" {
		return &promError{Type: env.ErrorType, Msg: env.Error}
	}
	return json.Unmarshal(env.Data, data)
}

// promError is Prometheus refusing a request: bad_data is a query it cannot parse or run.
type promError struct{ Type, Msg string }

func (e *promError) Error() string { return e.Type + ": " + e.Msg }

func number(v any) float64 {
	s, _ := v.(string)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return f
}

func unix(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', 3, 64)
}
