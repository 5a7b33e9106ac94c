package e2e_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/mcplane/mcp/alerts"
)

// forScale divides every alert's `for:` so that the test does not wait out durations meant
// for production: MCPGoLiveHeapNearMemoryLimit's 15m becomes 5s (its critical twin's 5m,
// 2s). Expressions, thresholds, labels and rate windows are kept as they are.
//
// Why so short: a failed scrape marks the target's series stale, so the ratio the alert is
// computed from disappears for an evaluation and the alert's for: starts again. The instance
// the scenario pushes to its limit is GC-bound (that is the point) and on a busy machine its
// /metrics misses the test's 2 s scrape timeout now and then; with 15 s the alert sometimes
// needed two minutes to fire.
const forScale = 180

// scaleFor returns a rule file with every alerting rule's `for:` divided by scale (at least
// 1s when it was not zero), comments and everything else kept.
func scaleFor(src []byte, scale int64) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	var err error
	walk(&doc, func(n *yaml.Node) {
		if n.Kind != yaml.MappingNode || value(n, "alert") == nil {
			return
		}
		v := value(n, "for")
		if v == nil || err != nil {
			return
		}
		d, perr := model.ParseDuration(v.Value)
		if perr != nil {
			err = fmt.Errorf("alert %s: for %q: %w", value(n, "alert").Value, v.Value, perr)
			return
		}
		v.Value = model.Duration(scaleDuration(time.Duration(d), scale)).String()
	})
	if err != nil {
		return nil, err
	}
	return encode(&doc)
}

// scaleDuration is d / scale in whole seconds, and at least 1s when d is not zero.
func scaleDuration(d time.Duration, scale int64) time.Duration {
	scaled := (d / time.Duration(scale)).Round(time.Second)
	if d > 0 && scaled < time.Second {
		scaled = time.Second
	}
	return scaled
}

// alertmanagerConfigFor rewrites MCP's Alertmanager configuration for a test: every webhook
// URL points at hook + "/" + the receiver's name, and every route waits `wait` before its
// first notification and between updates (group_wait, group_interval). Routes, matchers,
// grouping, inhibitions and receivers are kept. It returns the names of the receivers that
// have webhooks.
func alertmanagerConfigFor(src []byte, hook string, wait time.Duration) ([]byte, []string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, nil, err
	}
	root := doc.Content[0]
	route := value(root, "route")
	if route == nil {
		return nil, nil, fmt.Errorf("no route")
	}
	w := model.Duration(wait).String()
	var setWaits func(r *yaml.Node, top bool)
	setWaits = func(r *yaml.Node, top bool) {
		for _, key := range []string{"group_wait", "group_interval"} {
			if v := value(r, key); v != nil {
				v.Value = w
			} else if top {
				r.Content = append(r.Content, scalar(key), scalar(w))
			}
		}
		if rs := value(r, "routes"); rs != nil {
			for _, child := range rs.Content {
				setWaits(child, false)
			}
		}
	}
	setWaits(route, true)
	var hooked []string
	receivers := value(root, "receivers")
	if receivers == nil {
		return nil, nil, fmt.Errorf("no receivers")
	}
	for _, r := range receivers.Content {
		name := value(r, "name")
		hooks := value(r, "webhook_configs")
		if name == nil || hooks == nil {
			continue
		}
		for _, h := range hooks.Content {
			u := value(h, "url")
			if u == nil {
				return nil, nil, fmt.Errorf("receiver %s: a webhook without url", name.Value)
			}
			u.Value = strings.TrimSuffix(hook, "/") + "/" + name.Value
		}
		hooked = append(hooked, name.Value)
	}
	out, err := encode(&doc)
	return out, hooked, err
}

// scrapeJob is one scrape_config: its job label and its targets (host:port, /metrics).
type scrapeJob struct {
	name    string
	targets []string
}

// prometheusConfig is the configuration of the test's Prometheus: every target scraped every
// scrape (the timeout as long as the interval), rules evaluated every eval, the rule files
// loaded and alerts sent to one Alertmanager.
func prometheusConfig(scrape, eval time.Duration, ruleFiles []string, alertmanager string, jobs []scrapeJob) ([]byte, error) {
	type m = map[string]any
	var scrapes []m
	for _, j := range jobs {
		scrapes = append(scrapes, m{"job_name": j.name, "static_configs": []m{{"targets": j.targets}}})
	}
	return yaml.Marshal(m{
		"global": m{
			"scrape_interval":     model.Duration(scrape).String(),
			"scrape_timeout":      model.Duration(scrape).String(),
			"evaluation_interval": model.Duration(eval).String(),
		},
		"rule_files":     ruleFiles,
		"alerting":       m{"alertmanagers": []m{{"static_configs": []m{{"targets": []string{alertmanager}}}}}},
		"scrape_configs": scrapes,
	})
}

// writeScaledRules writes every rule file of alerts/rules with `for:` scaled down into dir
// and returns their paths.
func writeScaledRules(dir string) ([]string, error) {
	var paths []string
	for name, src := range alerts.RuleFiles() {
		out, err := scaleFor(src, forScale)
		if err != nil {
			return nil, fmt.Errorf("rules/%s: %w", name, err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, out, 0o644); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

func walk(n *yaml.Node, fn func(*yaml.Node)) {
	fn(n)
	for _, c := range n.Content {
		walk(c, fn)
	}
}

// value returns the value of key in mapping n, or nil.
func value(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }

func encode(n *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// TestScaleFor checks the rule templating the end-to-end test relies on: every alert keeps
// its expression, labels and annotations, and holds for 1/forScale of its time.
func TestScaleFor(t *testing.T) {
	rules, err := alerts.Rules()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	paths, err := writeScaledRules(dir)
	if err != nil {
		t.Fatal(err)
	}
	var scaled []alerts.Rule
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var f struct {
			Groups []struct {
				Rules []alerts.Rule `yaml:"rules"`
			} `yaml:"groups"`
		}
		if err := yaml.Unmarshal(b, &f); err != nil {
			t.Fatal(err)
		}
		for _, g := range f.Groups {
			scaled = append(scaled, g.Rules...)
		}
	}
	if len(scaled) != len(rules) {
		t.Fatalf("%d rules after scaling, %d before", len(scaled), len(rules))
	}
	byKey := map[string]alerts.Rule{}
	for _, r := range scaled {
		byKey[r.Name()+"\x00"+r.Expr] = r
	}
	for _, r := range rules {
		s, ok := byKey[r.Name()+"\x00"+r.Expr]
		if !ok {
			t.Errorf("%s: expression changed or lost", r.Name())
			continue
		}
		if fmt.Sprint(s.Labels) != fmt.Sprint(r.Labels) || fmt.Sprint(s.Annotations) != fmt.Sprint(r.Annotations) {
			t.Errorf("%s: labels or annotations changed", r.Name())
		}
		if r.Alert == "" {
			continue
		}
		before, err := model.ParseDuration(r.For)
		if err != nil {
			t.Fatalf("%s: for %q: %v", r.Name(), r.For, err)
		}
		after, err := model.ParseDuration(s.For)
		if err != nil {
			t.Fatalf("%s: scaled for %q: %v", r.Name(), s.For, err)
		}
		want := scaleDuration(time.Duration(before), forScale)
		if time.Duration(after) != want || (before > 0) != (after > 0) || after > before {
			t.Errorf("%s: for %s scaled to %s, want %s", r.Name(), r.For, s.For, model.Duration(want))
		}
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		if out, err := exec.Command(promtool, append([]string{"check", "rules"}, paths...)...).CombinedOutput(); err != nil {
			t.Errorf("promtool check rules on the scaled rules: %v\n%s", err, out)
		}
	}
}

// TestAlertmanagerConfigFor checks the rewritten Alertmanager configuration: webhooks point
// at the test's server, waits are short, and it routes exactly as the original.
func TestAlertmanagerConfigFor(t *testing.T) {
	out, hooked, err := alertmanagerConfigFor(alerts.AlertmanagerConfig(), "http://127.0.0.1:1/", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(hooked, ",") != "pager,ticket" {
		t.Errorf("receivers with webhooks: %v, want pager and ticket", hooked)
	}
	for _, want := range []string{"url: http://127.0.0.1:1/pager", "url: http://127.0.0.1:1/ticket"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("rewritten configuration lacks %q:\n%s", want, out)
		}
	}
	if bytes.Contains(out, []byte("url: http://pager.example.invalid")) || bytes.Contains(out, []byte("group_wait: 30s")) {
		t.Errorf("placeholder URL or long wait left:\n%s", out)
	}
	amtool, err := exec.LookPath("amtool")
	if err != nil {
		t.Skip("amtool not installed: apt-get install prometheus-alertmanager (or make deps)")
	}
	dir := t.TempDir()
	orig, rewritten := filepath.Join(dir, "orig.yml"), filepath.Join(dir, "test.yml")
	if err := os.WriteFile(orig, alerts.AlertmanagerConfig(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rewritten, out, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(amtool, "check-config", rewritten).CombinedOutput(); err != nil {
		t.Fatalf("amtool check-config: %v\n%s", err, b)
	}
	for _, sev := range []string{"critical", "warning", "info", "page", ""} {
		labels := []string{"alertname=MCPGoLiveHeapNearMemoryLimit", "job=demoapp", "instance=a:1"}
		if sev != "" {
			labels = append(labels, "severity="+sev)
		}
		want, err := routeOf(amtool, orig, labels)
		if err != nil {
			t.Fatal(err)
		}
		got, err := routeOf(amtool, rewritten, labels)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("severity %q: routed to %q, the original routes to %q", sev, got, want)
		}
	}
}

// routeOf asks amtool which receiver(s) an alert with labels is routed to by the
// configuration in file.
func routeOf(amtool, file string, labels []string) (string, error) {
	args := append([]string{"config", "routes", "test", "--config.file=" + file}, labels...)
	cmd := exec.Command(amtool, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("amtool %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return strings.TrimSpace(string(out)), nil
}
