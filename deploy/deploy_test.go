package deploy

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/chartutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/mcplane/mcp/cmd/mcp/app/server"
)

// TestRenderingsInstallOnARealAPIServer installs every kustomization and the Helm chart
// (with several value sets) into its own new cluster — a real kube-apiserver — with strict
// field validation: a misspelt field, a wrong type or a value a CRD's schema refuses fails
// the test, naming the object.
func TestRenderingsInstallOnARealAPIServer(t *testing.T) {
	for _, r := range allRenderings(t) {
		t.Run(r.name, func(t *testing.T) {
			if len(r.objects) == 0 {
				t.Fatal("renders nothing")
			}
			cl := startCluster(t)
			for _, err := range cl.install(t, r) {
				t.Error(err)
			}
		})
	}
}

// TestSchemaErrorsAreRefused keeps TestRenderingsInstallOnARealAPIServer honest: the same
// installation with one misspelt field in a built-in object (the Deployment) and one in a
// custom resource (the ServiceMonitor, whose schema is the Prometheus Operator's) is refused
// for exactly those two objects.
func TestSchemaErrorsAreRefused(t *testing.T) {
	objs := renderKustomize(t, "kustomize/overlays/prometheus-operator")
	dep := find(objs, "Deployment", "mcp")
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	c := containers[0].(map[string]any)
	c["readynessProbe"] = c["readinessProbe"]
	delete(c, "readinessProbe")
	if err := unstructured.SetNestedSlice(dep.Object, containers, "spec", "template", "spec", "containers"); err != nil {
		t.Fatal(err)
	}
	sm := find(objs, "ServiceMonitor", "mcp")
	if err := unstructured.SetNestedField(sm.Object, "30s", "spec", "scrapeIntervall"); err != nil {
		t.Fatal(err)
	}
	cl := startCluster(t)
	errs := cl.install(t, rendering{name: "broken", objects: objs, needs: PrometheusOperatorCRDs})
	var got []string
	for _, err := range errs {
		got = append(got, err.Error())
	}
	if len(errs) != 2 || !strings.Contains(got[0], "readynessProbe") || !strings.Contains(got[1], "scrapeIntervall") {
		t.Fatalf("want the Deployment and the ServiceMonitor refused for their unknown fields, got %d errors:\n%s", len(errs), strings.Join(got, "\n"))
	}
	t.Logf("refused as expected:\n%s", strings.Join(got, "\n"))
}

// TestChartRefusesUnknownValues: the chart's values schema refuses a misspelt value (as
// helm install --set serviceMonitor.enabeld=true would give) instead of ignoring it.
func TestChartRefusesUnknownValues(t *testing.T) {
	ch := loadChart(t)
	caps := *chartutil.DefaultCapabilities
	for _, values := range []map[string]any{
		{"serviceMonitor": map[string]any{"enabeld": true}},
		{"replicas": 3},
		{"log": map[string]any{"level": "verbose"}},
	} {
		_, err := chartutil.ToRenderValues(ch, values, chartutil.ReleaseOptions{Name: releaseName, Namespace: namespace}, &caps)
		if err == nil {
			t.Errorf("values %v: accepted, want the schema to refuse them", values)
		}
	}
}

// TestCopiesUpToDate fails when a copy of a generated file (deploy.Copies) differs from its
// source: go generate ./deploy refreshes them.
func TestCopiesUpToDate(t *testing.T) {
	for _, c := range Copies {
		src, err := os.ReadFile(c.From)
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.ReadFile(c.To)
		if err != nil {
			t.Errorf("%s: %v (run go generate ./deploy)", c.To, err)
			continue
		}
		if want := append([]byte(CopyHeader(c.From)), src...); !bytes.Equal(dst, want) {
			t.Errorf("deploy/%s is not a copy of deploy/%s: run go generate ./deploy", c.To, c.From)
		}
	}
	for _, f := range PrometheusOperatorCRDs {
		if _, err := os.Stat(filepath.Join("testdata", "crds", f)); err != nil {
			t.Errorf("%v: run go generate ./deploy", err)
		}
	}
}

// TestChartAndKustomizeInStep: helm install mcp -n mcp-system renders the same objects as
// kubectl apply -k (bar the Namespace, which Helm users create with --create-namespace),
// and their specs agree: same pod spec, ports, probes, security context, RBAC rules,
// monitoring objects, and the same mcp serve configuration once parsed.
func TestChartAndKustomizeInStep(t *testing.T) {
	pairs := []struct{ kustomize, helm string }{
		{"kustomize/base", "defaults"},
		{"kustomize/overlays/prometheus-operator", "monitoring"},
	}
	for _, p := range pairs {
		t.Run(p.kustomize+"~"+p.helm, func(t *testing.T) {
			k := indexForComparison(t, renderKustomize(t, p.kustomize))
			var values map[string]any
			for _, h := range helmCases {
				if h.name == p.helm {
					values = h.values
				}
			}
			crds, objs := renderHelm(t, values)
			h := indexForComparison(t, append(crds, objs...))
			for _, name := range slices.Sorted(maps.Keys(k)) {
				if _, ok := h[name]; !ok {
					t.Errorf("%s: rendered by kustomize, not by the chart", name)
				}
			}
			for _, name := range slices.Sorted(maps.Keys(h)) {
				kv, ok := k[name]
				if !ok {
					t.Errorf("%s: rendered by the chart, not by kustomize", name)
					continue
				}
				for _, d := range diff("", kv, h[name]) {
					t.Errorf("%s differs between kustomize and the chart: %s", name, d)
				}
			}
		})
	}
}

// indexForComparison maps each object (Kind/namespace/name, kustomize's name hash
// removed) to the part of it both tools must agree on.
func indexForComparison(t *testing.T, objs []*unstructured.Unstructured) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, o := range objs {
		o = o.DeepCopy()
		if o.GetKind() == "Namespace" {
			continue
		}
		if o.GetKind() == "ConfigMap" {
			o.SetName(kustomizeHash.ReplaceAllString(o.GetName(), ""))
		}
		var v any
		switch o.GetKind() {
		case "Deployment":
			unstructured.RemoveNestedField(o.Object, "spec", "template", "metadata")
			vols, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "volumes")
			for _, vol := range vols {
				if cm, ok := vol.(map[string]any)["configMap"].(map[string]any); ok {
					cm["name"] = kustomizeHash.ReplaceAllString(cm["name"].(string), "")
				}
			}
			_ = unstructured.SetNestedSlice(o.Object, vols, "spec", "template", "spec", "volumes")
			v = o.Object["spec"]
		case "ConfigMap":
			if cfg, ok := o.Object["data"].(map[string]any)["config.yaml"].(string); ok {
				v = parseServeConfig(t, cfg)
			} else {
				v = o.Object["data"]
			}
		case "ClusterRole", "Role":
			v = o.Object["rules"]
		case "ClusterRoleBinding", "RoleBinding":
			v = []any{o.Object["roleRef"], o.Object["subjects"]}
		case "ServiceAccount":
			v = nil
		default:
			v = o.Object["spec"]
		}
		out[ref(o)] = v
	}
	return out
}

// diff lists where a and b differ, by path.
func diff(path string, a, b any) []string {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		var out []string
		for _, k := range slices.Sorted(maps.Keys(am)) {
			out = append(out, diff(path+"."+k, am[k], bm[k])...)
		}
		for _, k := range slices.Sorted(maps.Keys(bm)) {
			if _, ok := am[k]; !ok {
				out = append(out, fmt.Sprintf("%s.%s: kustomize has none, the chart %v", path, k, bm[k]))
			}
		}
		return out
	}
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok && len(as) == len(bs) {
		var out []string
		for i := range as {
			out = append(out, diff(fmt.Sprintf("%s[%d]", path, i), as[i], bs[i])...)
		}
		return out
	}
	if !reflect.DeepEqual(a, b) {
		return []string{fmt.Sprintf("%s: kustomize %v, the chart %v", path, a, b)}
	}
	return nil
}

// parseServeConfig reads an mcp serve configuration file over the defaults, as mcp serve
// does (unknown keys are errors).
func parseServeConfig(t *testing.T, text string) server.Config {
	t.Helper()
	f := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := server.DefaultConfig()
	if err := cfg.LoadFile(f); err != nil {
		t.Fatalf("mcp serve would refuse its configuration file: %v\n%s", err, text)
	}
	return cfg
}

// TestRBACIsTheGeneratedRole: the chart's ClusterRole has exactly the rules controller-gen
// generated from the code's RBAC markers (deploy/rbac/role.yaml), and it is bound to mcp
// serve's ServiceAccount in every rendering.
func TestRBACIsTheGeneratedRole(t *testing.T) {
	want := readObjects(t, "rbac/role.yaml")[0].Object["rules"]
	for _, r := range allRenderings(t) {
		t.Run(r.name, func(t *testing.T) {
			role := find(r.objects, "ClusterRole", "mcp")
			if role == nil {
				t.Fatal("no ClusterRole mcp")
			}
			if !reflect.DeepEqual(role.Object["rules"], want) {
				t.Errorf("ClusterRole rules differ from deploy/rbac/role.yaml:\n%v\nwant\n%v", role.Object["rules"], want)
			}
			dep := deployment(t, r.objects, "mcp")
			sa := dep.Spec.Template.Spec.ServiceAccountName
			if find(r.objects, "ServiceAccount", sa) == nil {
				t.Errorf("the Deployment's ServiceAccount %q is not rendered", sa)
			}
			bound := false
			for _, o := range append(ofKind(r.objects, "ClusterRoleBinding"), ofKind(r.objects, "RoleBinding")...) {
				var b rbacv1.RoleBinding // ClusterRoleBinding has the same roleRef and subjects
				convert(t, o, &b)
				for _, s := range b.Subjects {
					if s.Kind == "ServiceAccount" && s.Name == sa && s.Namespace == namespace && b.RoleRef.Name == "mcp" && b.RoleRef.Kind == "ClusterRole" {
						bound = true
					}
				}
			}
			if !bound {
				t.Error("the ClusterRole is not bound to the ServiceAccount")
			}
		})
	}
}

// TestPodSpecs checks what the API server cannot: the Deployments run non-root on a
// read-only root filesystem with no capabilities, have probes on ports they declare,
// requests and a memory limit; Services and the PodDisruptionBudget select their pods and
// name ports the pods have; the ServiceMonitor selects mcp's Service and a port of it.
func TestPodSpecs(t *testing.T) {
	for _, r := range allRenderings(t) {
		t.Run(r.name, func(t *testing.T) {
			deps := ofKind(r.objects, "Deployment")
			if len(deps) == 0 {
				t.Fatal("no Deployment")
			}
			for _, o := range deps {
				var d appsv1.Deployment
				convert(t, o, &d)
				checkPodSpec(t, d.Name, d.Spec.Template.Spec)
			}
			for _, o := range ofKind(r.objects, "Service") {
				var s corev1.Service
				convert(t, o, &s)
				d := selected(t, r.objects, s.Spec.Selector)
				if d == nil {
					t.Errorf("Service %s selects no Deployment's pods", s.Name)
					continue
				}
				for _, p := range s.Spec.Ports {
					if p.Name == "" || p.TargetPort.Type != intstr.String || containerPort(d.Spec.Template.Spec, p.TargetPort.StrVal) == 0 {
						t.Errorf("Service %s port %q: want a named port and a named targetPort the pods declare", s.Name, p.Name)
					}
				}
			}
			for _, o := range ofKind(r.objects, "PodDisruptionBudget") {
				var p policyv1.PodDisruptionBudget
				convert(t, o, &p)
				if selected(t, r.objects, p.Spec.Selector.MatchLabels) == nil {
					t.Errorf("PodDisruptionBudget %s selects no Deployment's pods", p.Name)
				}
				if p.Spec.MinAvailable == nil || p.Spec.MinAvailable.IntValue() != 1 {
					t.Errorf("PodDisruptionBudget %s: minAvailable %v, want 1", p.Name, p.Spec.MinAvailable)
				}
			}
			for _, o := range ofKind(r.objects, "ServiceMonitor") {
				var sm monitoringv1.ServiceMonitor
				convert(t, o, &sm)
				svc := find(r.objects, "Service", "mcp")
				var s corev1.Service
				convert(t, svc, &s)
				sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
				if err != nil || !sel.Matches(labels.Set(s.Labels)) {
					t.Errorf("ServiceMonitor %s does not select Service mcp (labels %v): %v", sm.Name, s.Labels, err)
				}
				for _, e := range sm.Spec.Endpoints {
					if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == e.Port }) || e.Path != "/metrics" {
						t.Errorf("ServiceMonitor %s endpoint %s%s: want a port of Service mcp and /metrics", sm.Name, e.Port, e.Path)
					}
				}
			}
			for _, o := range ofKind(r.objects, "PrometheusRule") {
				var pr monitoringv1.PrometheusRule
				convert(t, o, &pr)
				if len(pr.Spec.Groups) == 0 {
					t.Errorf("PrometheusRule %s has no rule groups", pr.Name)
				}
			}
		})
	}
}

func checkPodSpec(t *testing.T, name string, ps corev1.PodSpec) {
	t.Helper()
	if sc := ps.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot ||
		sc.RunAsUser == nil || *sc.RunAsUser == 0 || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod securityContext must set runAsNonRoot, a non-zero runAsUser and seccompProfile RuntimeDefault", name)
	}
	for _, c := range ps.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("%s/%s: container securityContext must forbid privilege escalation, make the root filesystem read-only and drop ALL capabilities", name, c.Name)
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[res]; !ok {
				t.Errorf("%s/%s: no %s request", name, c.Name, res)
			}
		}
		if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
			t.Errorf("%s/%s: no memory limit", name, c.Name)
		}
		if c.LivenessProbe == nil || c.ReadinessProbe == nil {
			t.Errorf("%s/%s: want liveness and readiness probes", name, c.Name)
		}
		for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
			if p == nil {
				continue
			}
			var port intstr.IntOrString
			switch {
			case p.HTTPGet != nil:
				port = p.HTTPGet.Port
			case p.TCPSocket != nil:
				port = p.TCPSocket.Port
			}
			if port.Type != intstr.String || containerPort(ps, port.StrVal) == 0 {
				t.Errorf("%s/%s: a probe uses port %v, not a port the container names", name, c.Name, port.String())
			}
		}
	}
}

// TestServeConfiguration: mcp serve's configuration in each rendering — the ConfigMap's
// file, then the Deployment's MCP_* variables, then its flags — is valid, runs the
// Kubernetes controller with the Lease in the pod's namespace, reads the token from the
// mounted Secret, keeps its data on an emptyDir, and listens on the ports the pod declares.
// (TestPodRuns runs the real binary with it.)
func TestServeConfiguration(t *testing.T) {
	for _, r := range allRenderings(t) {
		t.Run(r.name, func(t *testing.T) {
			p := newPod(t, r.objects, "mcp")
			cfg := server.DefaultConfig()
			args := p.container.Args
			if len(args) == 0 || args[0] != "serve" {
				t.Fatalf("args %q: want serve first (the image's ENTRYPOINT is /mcp)", args)
			}
			// File, then environment, then flags, as mcp serve reads them. These are the flags
			// this test knows; TestPodRuns gives them to the real mcp serve.
			kube := false
			for _, a := range args[1:] {
				switch k, v, _ := strings.Cut(a, "="); k {
				case "--kube":
					kube = true
				case "--config":
					if err := cfg.LoadFile(p.mountedFile(t, v)); err != nil {
						t.Fatalf("--config %s: %v", v, err)
					}
				default:
					t.Fatalf("flag %s: teach this test what it sets", a)
				}
			}
			cfg.ApplyEnv(p.lookupEnv)
			cfg.Kube.Enabled = cfg.Kube.Enabled || kube
			if err := cfg.Validate(); err != nil {
				t.Fatalf("mcp serve would refuse its configuration: %v", err)
			}
			if !cfg.Kube.Enabled || cfg.Kube.LeaderElectionNamespace != namespace {
				t.Errorf("kube.enabled %v, leader election namespace %q: want the controller on and the Lease in %s", cfg.Kube.Enabled, cfg.Kube.LeaderElectionNamespace, namespace)
			}
			if v := p.volumeAt(cfg.TokenFile); v == nil || v.Secret == nil || v.Secret.SecretName != "mcp-token" {
				t.Errorf("token_file %q is not on the Secret mcp-token", cfg.TokenFile)
			}
			if v := p.volumeAt(cfg.DataDir); v == nil || v.EmptyDir == nil {
				t.Errorf("data_dir %q is not on an emptyDir", cfg.DataDir)
			}
			addrs := map[string]string{"http": cfg.HTTPAddr, "agent-grpc": cfg.AgentAddr}
			if cfg.Collector.Enabled {
				addrs["otlp-grpc"], addrs["otlp-http"], addrs["profiles"] = cfg.Collector.OTLPGRPCAddr, cfg.Collector.OTLPHTTPAddr, cfg.Collector.ProfileAddr
			}
			for name, addr := range addrs {
				_, port, err := net.SplitHostPort(addr)
				if n, _ := strconv.Atoi(port); err != nil || n != int(containerPort(p.spec, name)) {
					t.Errorf("mcp serve listens on %s for %s, the pod declares port %d", addr, name, containerPort(p.spec, name))
				}
			}
		})
	}
}

// TestDefaultPorts: the kustomize base exposes DESIGN.md's default ports under the names
// the docs use.
func TestDefaultPorts(t *testing.T) {
	want := map[string]int32{"http": 8080, "agent-grpc": 50051, "otlp-grpc": 4317, "otlp-http": 4318, "profiles": 4040}
	objs := renderKustomize(t, "kustomize/base")
	d := deployment(t, objs, "mcp")
	got := map[string]int32{}
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		got[p.Name] = p.ContainerPort
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("container ports %v, want %v", got, want)
	}
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas %d, want 2", *d.Spec.Replicas)
	}
}

// pod is a rendered Deployment's pod as the kubelet would run it.
type pod struct {
	objects   []*unstructured.Unstructured
	spec      corev1.PodSpec
	container corev1.Container
	env       map[string]string
}

// newPod resolves the first container's environment: values, the downward API (the pod
// is named <deployment>-0 in namespace) and Secret keys (which these tests do not know:
// they resolve to "secret:<name>/<key>").
func newPod(t *testing.T, objs []*unstructured.Unstructured, name string) *pod {
	t.Helper()
	d := deployment(t, objs, name)
	p := &pod{objects: objs, spec: d.Spec.Template.Spec, container: d.Spec.Template.Spec.Containers[0], env: map[string]string{}}
	for _, e := range p.container.Env {
		switch {
		case e.ValueFrom == nil:
			p.env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil:
			switch e.ValueFrom.FieldRef.FieldPath {
			case "metadata.name":
				p.env[e.Name] = name + "-0"
			case "metadata.namespace":
				p.env[e.Name] = namespace
			default:
				t.Fatalf("env %s: field %s: teach this test", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
		case e.ValueFrom.SecretKeyRef != nil:
			p.env[e.Name] = "secret:" + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		default:
			t.Fatalf("env %s: teach this test its source", e.Name)
		}
	}
	return p
}

func (p *pod) lookupEnv(k string) (string, bool) { v, ok := p.env[k]; return v, ok }

// volumeAt is the volume mounted at the directory holding path (or at path).
func (p *pod) volumeAt(path string) *corev1.Volume {
	var best corev1.VolumeMount
	for _, m := range p.container.VolumeMounts {
		if (path == m.MountPath || strings.HasPrefix(path, m.MountPath+"/")) && len(m.MountPath) > len(best.MountPath) {
			best = m
		}
	}
	for i, v := range p.spec.Volumes {
		if best.Name != "" && v.Name == best.Name {
			return &p.spec.Volumes[i]
		}
	}
	return nil
}

// mountedFile writes the rendered ConfigMap key that path names to a temporary file.
func (p *pod) mountedFile(t *testing.T, path string) string {
	t.Helper()
	v := p.volumeAt(path)
	if v == nil || v.ConfigMap == nil {
		t.Fatalf("%s is not on a ConfigMap volume", path)
	}
	cm := find(p.objects, "ConfigMap", v.ConfigMap.Name)
	if cm == nil {
		t.Fatalf("ConfigMap %s is not rendered", v.ConfigMap.Name)
	}
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	text, ok := data[filepath.Base(path)]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %s", cm.GetName(), filepath.Base(path))
	}
	f := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func deployment(t *testing.T, objs []*unstructured.Unstructured, name string) *appsv1.Deployment {
	t.Helper()
	o := find(objs, "Deployment", name)
	if o == nil {
		t.Fatalf("no Deployment %s", name)
	}
	var d appsv1.Deployment
	convert(t, o, &d)
	return &d
}

// selected is the Deployment whose pods the selector matches.
func selected(t *testing.T, objs []*unstructured.Unstructured, sel map[string]string) *appsv1.Deployment {
	t.Helper()
	if len(sel) == 0 {
		return nil
	}
	for _, o := range ofKind(objs, "Deployment") {
		var d appsv1.Deployment
		convert(t, o, &d)
		if labels.SelectorFromSet(sel).Matches(labels.Set(d.Spec.Template.Labels)) {
			return &d
		}
	}
	return nil
}

func containerPort(ps corev1.PodSpec, name string) int32 {
	for _, c := range ps.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return p.ContainerPort
			}
		}
	}
	return 0
}

func convert(t *testing.T, o *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, into, true); err != nil {
		t.Fatalf("%s: %v", ref(o), err)
	}
}
