package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// The names a user installs with: the kustomize base's namespace, and the release name and
// namespace the docs tell Helm users to use.
const (
	namespace   = "mcp-system"
	releaseName = "mcp"
	// kubeVersion is the API server the tests run (hack/testenv.sh), for the chart's
	// kubeVersion constraint and .Capabilities.
	kubeVersion = "v1.37.2"
)

// rendering is one way of installing MCP: the objects it renders, and the CRD files
// (testdata/crds) a cluster must already have for them.
type rendering struct {
	name    string
	objects []*unstructured.Unstructured
	// needs are CRDs of other projects the cluster must have (the Prometheus Operator's).
	needs []string
	// createNamespace: the objects go into a namespace the tool creates, as
	// helm install --create-namespace does; kustomize renders its Namespace itself.
	createNamespace bool
	// existing are namespaces the user already has (the one MCP is scoped to).
	existing []string
}

// kustomizations are every kustomization a user applies with kubectl apply -k; the
// monitoring overlay needs the Prometheus Operator's CRDs.
var kustomizations = []struct {
	dir   string
	needs []string
}{
	{dir: "kustomize/base"},
	{dir: "kustomize/overlays/prometheus-operator", needs: PrometheusOperatorCRDs},
	{dir: "kustomize/overlays/standalone-collector"},
}

// helmCases are the chart's value sets the tests install: the defaults, everything
// switched on, and one namespace watched.
var helmCases = []struct {
	name     string
	values   map[string]any
	needs    []string
	existing []string
}{
	{name: "defaults"},
	{
		name: "monitoring",
		values: map[string]any{
			"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus-stack"}},
			"prometheusRule": map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus-stack"}},
			"dashboards":     map[string]any{"enabled": true},
		},
		needs: PrometheusOperatorCRDs,
	},
	{
		name: "scoped-token-config",
		values: map[string]any{
			"kube":                map[string]any{"namespace": "shop"},
			"token":               map[string]any{"create": true},
			"collector":           map[string]any{"otlpGrpcPort": 14317},
			"config":              map[string]any{"tuner": map[string]any{"interval": "30s"}, "log": map[string]any{"level": "debug"}},
			"podDisruptionBudget": map[string]any{"enabled": false},
		},
		existing: []string{"shop"},
	},
}

func allRenderings(t *testing.T) []rendering {
	t.Helper()
	var out []rendering
	for _, k := range kustomizations {
		out = append(out, rendering{name: "kustomize " + k.dir, objects: renderKustomize(t, k.dir), needs: k.needs})
	}
	for _, h := range helmCases {
		crds, objs := renderHelm(t, h.values)
		out = append(out, rendering{name: "helm " + h.name, objects: append(crds, objs...), needs: h.needs, createNamespace: true, existing: h.existing})
	}
	return out
}

// renderKustomize is kubectl kustomize DIR (kustomize's own library, with kubectl's
// default options: files outside the kustomization's directory are refused).
func renderKustomize(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	y, err := m.AsYaml()
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	objs, err := decodeObjects(y)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	return objs
}

// loadChart loads deploy/helm/mcp as helm install does.
func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load("helm/mcp")
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	return ch
}

// renderHelm is helm template mcp deploy/helm/mcp -n mcp-system with values: Helm's own
// engine, in strict mode (a template reading a value that does not exist fails), and the
// values checked against the chart's schema. It returns the chart's CRDs (crds/, which Helm
// installs first) and the rendered templates' objects.
func renderHelm(t *testing.T, values map[string]any) (crds, objs []*unstructured.Unstructured) {
	t.Helper()
	ch := loadChart(t)
	rendered, _ := renderChart(t, ch, values)
	for _, f := range ch.CRDObjects() {
		o, err := decodeObjects(f.File.Data)
		if err != nil {
			t.Fatalf("chart %s: %v", f.Filename, err)
		}
		crds = append(crds, o...)
	}
	return crds, rendered
}

// renderChart renders ch's templates with values; notes is NOTES.txt.
func renderChart(t *testing.T, ch *chart.Chart, values map[string]any) (objs []*unstructured.Unstructured, notes string) {
	t.Helper()
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	if !chartutil.IsCompatibleRange(ch.Metadata.KubeVersion, kv.String()) {
		t.Fatalf("chart kubeVersion %q does not admit %s", ch.Metadata.KubeVersion, kv)
	}
	caps := *chartutil.DefaultCapabilities
	caps.KubeVersion = *kv
	vals, err := chartutil.ToRenderValues(ch, values,
		chartutil.ReleaseOptions{Name: releaseName, Namespace: namespace, Revision: 1, IsInstall: true}, &caps)
	if err != nil {
		t.Fatalf("chart values: %v", err)
	}
	files, err := engine.Engine{Strict: true}.Render(ch, vals)
	if err != nil {
		t.Fatalf("render chart: %v", err)
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		base := filepath.Base(name)
		switch {
		case base == "NOTES.txt":
			notes = files[name]
			continue
		case strings.HasPrefix(base, "_"):
			continue
		}
		o, err := decodeObjects([]byte(files[name]))
		if err != nil {
			t.Fatalf("chart template %s: %v\n%s", name, err, files[name])
		}
		objs = append(objs, o...)
	}
	// helm install puts namespaced objects that name no namespace into the release's.
	for _, o := range objs {
		if o.GetNamespace() == "" && !clusterScoped[o.GetKind()] {
			o.SetNamespace(namespace)
		}
	}
	return objs, notes
}

// clusterScoped are the kinds of cluster-scoped objects MCP's manifests hold.
var clusterScoped = map[string]bool{"Namespace": true, "CustomResourceDefinition": true, "ClusterRole": true, "ClusterRoleBinding": true}

// decodeObjects reads a YAML stream of Kubernetes objects; empty documents are skipped, a
// document without apiVersion or kind is an error.
func decodeObjects(data []byte) ([]*unstructured.Unstructured, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, err
		}
		if s := string(bytes.TrimSpace(j)); s == "null" || s == "{}" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			return nil, fmt.Errorf("%w in:\n%s", err, doc)
		}
		out = append(out, u)
	}
}

func readObjects(t *testing.T, file string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeObjects(b)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return objs
}

// ref names an object as kubectl does: Kind/namespace/name.
func ref(o *unstructured.Unstructured) string {
	if o.GetNamespace() == "" {
		return o.GetKind() + "/" + o.GetName()
	}
	return o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func ofKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// kustomizeHash is the suffix a configMapGenerator adds to a name.
var kustomizeHash = regexp.MustCompile(`-[a-z0-9]{10}$`)
