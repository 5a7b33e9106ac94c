package alerts

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mcplane/mcp/internal/promqlscan"

	"gopkg.in/yaml.v3"
)

// tool returns the path of a Prometheus tool, skipping the test when it is not installed
// (make test installs it: hack/deps.sh).
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed: apt-get install %s (or make deps)", name, pkg)
	}
	return p
}

func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out)
}

func glob(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no files match %s (%v)", pattern, err)
	}
	return files
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool := tool(t, "promtool", "prometheus")
	run(t, promtool, append([]string{"check", "rules"}, glob(t, "rules/*.yaml")...)...)
}

// TestPromtoolTestRules runs the rule unit tests: every alert firing and not firing, and the
// recording rules' values.
func TestPromtoolTestRules(t *testing.T) {
	promtool := tool(t, "promtool", "prometheus")
	for _, f := range glob(t, "tests/*.yaml") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			run(t, promtool, "test", "rules", f)
		})
	}
}

func TestAmtoolCheckConfig(t *testing.T) {
	amtool := tool(t, "amtool", "prometheus-alertmanager")
	run(t, amtool, "check-config", "alertmanager/alertmanager.yml")
}

// TestAlertmanagerRoutes checks where each severity (and a missing or unknown one) is routed.
func TestAlertmanagerRoutes(t *testing.T) {
	amtool := tool(t, "amtool", "prometheus-alertmanager")
	for _, tc := range []struct {
		name   string
		labels []string
		want   string
	}{
		{"critical pages", []string{"severity=critical", "alertname=MCPGoLiveHeapNearMemoryLimit", "namespace=shop", "job=checkout", "instance=a:8080"}, "pager"},
		{"critical burn pages", []string{"severity=critical", "alertname=MCPErrorBudgetBurn", "namespace=shop", "job=checkout", "long=1h", "short=5m"}, "pager"},
		{"critical from another mixin pages", []string{"severity=critical", "alertname=KubePodCrashLooping", "namespace=shop"}, "pager"},
		{"warning tickets", []string{"severity=warning", "alertname=MCPGoGCCPUHigh", "namespace=shop", "job=checkout", "instance=a:8080"}, "ticket"},
		{"warning tuner tickets", []string{"severity=warning", "alertname=MCPTunerRollback", "namespace=mcp-system", "job=mcp", "service=checkout", "reason=latency"}, "ticket"},
		{"slow burn tickets", []string{"severity=warning", "alertname=MCPErrorBudgetBurn", "namespace=shop", "job=checkout", "long=3d", "short=6h"}, "ticket"},
		{"info is dropped", []string{"severity=info", "alertname=MCPMemoryGuardActive", "namespace=shop", "job=checkout", "instance=a:8080"}, "null"},
		{"no severity tickets", []string{"alertname=SomethingUnlabelled", "job=checkout"}, "ticket"},
		{"unknown severity tickets", []string{"severity=page", "alertname=MCPGoGCCPUHigh", "job=checkout"}, "ticket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"config", "routes", "test", "--config.file=alertmanager/alertmanager.yml",
				"--verify.receivers=" + tc.want}, tc.labels...)
			run(t, amtool, args...)
		})
	}
}

// TestPrometheusRuleUpToDate fails when deploy/prometheus/prometheusrule.yaml was not
// regenerated after a rule file changed, or no longer holds exactly the rule files' groups.
func TestPrometheusRuleUpToDate(t *testing.T) {
	const file = "../deploy/prometheus/prometheusrule.yaml"
	want, err := PrometheusRule()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go generate ./alerts)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go generate ./alerts", file)
	}

	var pr struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Spec       struct {
			Groups []any `yaml:"groups"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(got, &pr); err != nil {
		t.Fatal(err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" {
		t.Fatalf("apiVersion/kind = %s/%s", pr.APIVersion, pr.Kind)
	}
	var groups []any
	for _, name := range sortedKeys(RuleFiles()) {
		var f struct {
			Groups []any `yaml:"groups"`
		}
		if err := yaml.Unmarshal(RuleFiles()[name], &f); err != nil {
			t.Fatal(err)
		}
		groups = append(groups, f.Groups...)
	}
	if !reflect.DeepEqual(pr.Spec.Groups, groups) {
		t.Fatal("spec.groups differ from the rule files' groups")
	}

	// The groups, as a plain rule file, pass promtool.
	if promtool, err := exec.LookPath("promtool"); err == nil {
		b, err := yaml.Marshal(map[string]any{"groups": pr.Spec.Groups})
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "spec.yaml")
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, promtool, "check", "rules", f)
	}
}

var (
	alertName  = regexp.MustCompile(`^MCP[A-Z][A-Za-z0-9]+$`)
	recordName = regexp.MustCompile(`^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$`)
)

// TestRuleConventions checks the monitoring-mixin conventions the package doc promises.
func TestRuleConventions(t *testing.T) {
	rules, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../docs/runbooks/README.md")
	if err != nil {
		t.Fatal(err)
	}
	var alerts, records int
	for _, r := range rules {
		name := r.File + ": " + r.Name()
		for _, s := range promqlscan.Selectors(r.Expr) {
			// The scope convention: one job!="" matcher that users replace to scope the rules.
			if !strings.Contains(s.Matchers, `job!=""`) {
				t.Errorf("%s: selector %s{%s} lacks the job!=\"\" matcher", name, s.Name, s.Matchers)
			}
		}
		if r.Record != "" {
			records++
			if !recordName.MatchString(r.Record) {
				t.Errorf("%s: not named level:metric:operations", name)
			}
			continue
		}
		alerts++
		if !alertName.MatchString(r.Alert) {
			t.Errorf("%s: not a CamelCase name with the MCP prefix", name)
		}
		if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
			t.Errorf("%s: severity %q, want critical, warning or info", name, s)
		}
		if r.For == "" {
			t.Errorf("%s: no for (write for: 0m for an event)", name)
		}
		for _, a := range []string{"summary", "description"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("%s: no %s annotation", name, a)
			}
		}
		if !strings.Contains(r.Annotations["description"], "{{") {
			t.Errorf("%s: the description shows no value or label", name)
		}
		if got, want := r.Annotations["runbook_url"], RunbookBase+r.Alert+".md"; got != want {
			t.Errorf("%s: runbook_url %q, want %q", name, got, want)
		}
		if _, err := os.Stat("../docs/runbooks/" + r.Alert + ".md"); err != nil {
			t.Errorf("%s: no runbook: %v", name, err)
		}
		if !bytes.Contains(readme, []byte("("+r.Alert+".md)")) {
			t.Errorf("%s: not listed in docs/runbooks/README.md", name)
		}
	}
	if alerts == 0 || records == 0 {
		t.Fatalf("%d alerts, %d recording rules", alerts, records)
	}
}

// unitTests is the part of promtool's unit test format TestEveryAlertTested reads.
type unitTests struct {
	Tests []struct {
		AlertRuleTests []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels map[string]string `yaml:"exp_labels"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestEveryAlertTested checks that the unit tests make every alerting rule (each severity
// and label variant) fire, and check each alert name not firing too.
func TestEveryAlertTested(t *testing.T) {
	type result struct {
		fired    []map[string]string
		notFired bool
	}
	seen := map[string]*result{}
	for _, f := range glob(t, "tests/*.yaml") {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var u unitTests
		if err := yaml.Unmarshal(b, &u); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range u.Tests {
			for _, a := range tc.AlertRuleTests {
				r := seen[a.Alertname]
				if r == nil {
					r = &result{}
					seen[a.Alertname] = r
				}
				if len(a.ExpAlerts) == 0 {
					r.notFired = true
				}
				for _, e := range a.ExpAlerts {
					r.fired = append(r.fired, e.ExpLabels)
				}
			}
		}
	}
	rules, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.Alert == "" {
			continue
		}
		res := seen[r.Alert]
		if res == nil {
			t.Errorf("%s: no unit test", r.Alert)
			continue
		}
		if !res.notFired {
			t.Errorf("%s: no unit test where it does not fire", r.Alert)
		}
		if !slices.ContainsFunc(res.fired, func(got map[string]string) bool { return containsLabels(got, r.Labels) }) {
			t.Errorf("%s %v: no unit test where it fires", r.Alert, r.Labels)
		}
	}
}

func containsLabels(set, sub map[string]string) bool {
	for k, v := range sub {
		if set[k] != v {
			return false
		}
	}
	return true
}

func TestRulesListsEveryRule(t *testing.T) {
	rules, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, b := range RuleFiles() {
		n += bytes.Count(b, []byte("\n      - alert: ")) + bytes.Count(b, []byte("\n      - record: "))
	}
	if len(rules) != n {
		t.Fatalf("Rules() = %d rules, the files hold %d", len(rules), n)
	}
	for _, r := range rules {
		if r.Expr == "" || r.Group == "" || r.File == "" {
			t.Errorf("%+v: missing expr, group or file", r)
		}
	}
}
