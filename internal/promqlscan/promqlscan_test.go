package promqlscan

import (
	"reflect"
	"testing"
)

func TestSelectors(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []Selector
	}{
		{
			`sum by (namespace, job) (rate(a_total{job!="",code=~"5.."}[5m] offset 1h)) / on (job) group_left (x) b{job="}{"} and c > bool 2 * vector(1) unless {__name__="d"}`,
			[]Selector{{"a_total", `job!="",code=~"5.."`, true}, {"b", `job="}{"`, false}, {"c", "", false}, {"", `__name__="d"`, false}},
		},
		{
			`sum by (job) (rate(a_total{job=~"$job"}[$__rate_interval])) / b{x="}"} or vector(0)`,
			[]Selector{{"a_total", `job=~"$job"`, true}, {"b", `x="}"`, false}},
		},
		{
			"max_over_time(up [10m:1m]) # c{x=\"y\"}\n* 1.5e3",
			[]Selector{{"up", "", true}},
		},
		{`histogram_quantile(0.99, sum by (le) (rate(h_bucket{job='a'}[5m])))`, []Selector{{"h_bucket", `job='a'`, true}}},
		{`vector(1)`, nil},
	} {
		if got := Selectors(tc.expr); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Selectors(%q) = %+v, want %+v", tc.expr, got, tc.want)
		}
	}
}
