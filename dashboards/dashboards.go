// Package dashboards ships MCP's Grafana dashboards as JSON and lists the PromQL queries in
// them, so tests can run every query against a real Prometheus.
//
// The JSON files in this directory are generated from internal/boards with the Grafana
// Foundation SDK (go generate ./dashboards), together with the ConfigMaps in
// deploy/prometheus/grafana-dashboards.yaml; a test fails when either is stale. See README.md
// for importing them into Grafana.
package dashboards

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
)

//go:generate go run ./gen -dir . -configmaps ../deploy/prometheus/grafana-dashboards.yaml

//go:embed *.json
var files embed.FS

// Files returns the dashboards' JSON, by file name (for example "go-runtime-fleet.json").
func Files() map[string][]byte {
	out := map[string][]byte{}
	names, _ := fs.Glob(files, "*.json") // the pattern is valid
	for _, n := range names {
		b, _ := files.ReadFile(n) // listed by Glob, so readable
		out[n] = b
	}
	return out
}

// Query is one PromQL query of one panel.
type Query struct {
	// File is the dashboard's JSON file name.
	File string
	// Dashboard is the dashboard's title.
	Dashboard string
	// Panel is the panel's title.
	Panel string
	// RefID is the query's reference within the panel (A, B, ...).
	RefID string
	// Expr is the query as written, with template variables such as $job and
	// $__rate_interval; PromQL substitutes them.
	Expr string
	// Legend is the query's legend format.
	Legend string
	// Instant is true for a query Grafana runs at one instant (tables), false for a range.
	Instant bool
}

// Variables are the values PromQL substitutes by default: every job, instance and service,
// and a one-minute rate interval.
var Variables = map[string]string{
	"job":             ".+",
	"instance":        ".+",
	"service":         ".+",
	"__rate_interval": "1m",
	"__interval":      "1m",
	"__range":         "1h",
	"datasource":      "prometheus",
}

// PromQL returns the query with its template variables replaced by Variables.
func (q Query) PromQL() string { return Substitute(q.Expr, Variables) }

var variable = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)`)

// Substitute replaces Grafana template variables ($name, ${name} and ${name:format}) in a
// query with values from vars; a variable vars lacks is left as it is.
func Substitute(expr string, vars map[string]string) string {
	return variable.ReplaceAllStringFunc(expr, func(s string) string {
		m := variable.FindStringSubmatch(s)
		name := m[1] + m[2]
		if v, ok := vars[name]; ok {
			return v
		}
		return s
	})
}

// dashboardJSON is the part of the dashboard model Queries reads.
type dashboardJSON struct {
	Title  string      `json:"title"`
	Panels []panelJSON `json:"panels"`
}

type panelJSON struct {
	Title   string      `json:"title"`
	Panels  []panelJSON `json:"panels"` // a collapsed row's panels
	Targets []struct {
		RefID        string `json:"refId"`
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
		Instant      bool   `json:"instant"`
	} `json:"targets"`
}

// Queries returns every PromQL query of every dashboard, by file name and then in panel
// order.
func Queries() ([]Query, error) {
	all := Files()
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Query
	for _, name := range names {
		var d dashboardJSON
		if err := json.Unmarshal(all[name], &d); err != nil {
			return nil, fmt.Errorf("parse %s: %w", name, err)
		}
		var walk func([]panelJSON)
		walk = func(panels []panelJSON) {
			for _, p := range panels {
				for _, t := range p.Targets {
					out = append(out, Query{File: name, Dashboard: d.Title, Panel: p.Title, RefID: t.RefID,
						Expr: t.Expr, Legend: t.LegendFormat, Instant: t.Instant})
				}
				walk(p.Panels)
			}
		}
		walk(d.Panels)
	}
	return out, nil
}
