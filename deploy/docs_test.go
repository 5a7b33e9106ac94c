package deploy

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestDocsExamples applies every complete Kubernetes object in docs/KUBERNETES.md's YAML
// examples (agent Deployment, HPA, TuningPolicies) to a real API server with MCP's base
// installed, strictly: an example with a misspelt field or a value the CRD refuses fails.
// Kustomizations and Helm values are not API objects and are left out; a namespace the
// examples use is created first, as the page tells the reader to.
func TestDocsExamples(t *testing.T) {
	text, err := os.ReadFile("../docs/KUBERNETES.md")
	if err != nil {
		t.Fatal(err)
	}
	var examples []*unstructured.Unstructured
	namespaces := map[string]bool{}
	for _, m := range regexp.MustCompile("(?ms)^[ \t]*```yaml\n(.*?)^[ \t]*```").FindAllStringSubmatch(string(text), -1) {
		objs, err := decodeObjects([]byte(m[1]))
		if err != nil {
			// Values files and the like have no apiVersion and kind.
			if strings.Contains(err.Error(), "Object 'Kind' is missing") {
				continue
			}
			t.Fatalf("docs/KUBERNETES.md example:\n%s\n%v", m[1], err)
		}
		for _, o := range objs {
			if strings.HasPrefix(o.GetAPIVersion(), "kustomize.config.k8s.io/") {
				continue
			}
			examples = append(examples, o)
			if ns := o.GetNamespace(); ns != "" && ns != namespace {
				namespaces[ns] = true
			}
		}
	}
	if len(examples) < 4 {
		t.Fatalf("found %d example objects in docs/KUBERNETES.md; the extraction is broken", len(examples))
	}
	r := rendering{name: "base", objects: renderKustomize(t, "kustomize/base")}
	for ns := range namespaces {
		r.existing = append(r.existing, ns)
	}
	cl := startCluster(t)
	for _, err := range cl.install(t, r) {
		t.Fatal(err)
	}
	for _, err := range cl.install(t, rendering{name: "docs", objects: examples}) {
		t.Errorf("docs/KUBERNETES.md: %v", err)
	}
	t.Logf("applied %d example objects", len(examples))
}
