package deploy

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// addrEnv is the MCP_* variable that moves each of mcp serve's named ports. The test
// gives every port a free loopback address, since the pod's own may be in use here.
var addrEnv = map[string]string{
	"http":       "MCP_HTTP_ADDR",
	"agent-grpc": "MCP_AGENT_ADDR",
	"otlp-grpc":  "MCP_OTLP_GRPC_ADDR",
	"otlp-http":  "MCP_OTLP_HTTP_ADDR",
	"profiles":   "MCP_PROFILE_ADDR",
}

// TestPodRuns runs each rendering's mcp serve the way the kubelet would run its pod — the
// binary the Dockerfile builds, the container's args and environment, its ConfigMap,
// Secret and emptyDir volumes as directories — against a real API server, authenticated
// as the rendering's ServiceAccount, so that only the rendered RBAC grants it anything.
// It must pass its startup, liveness and readiness probes, win the leader election (a
// Lease in its namespace), write a TuningPolicy's status, and stop cleanly on SIGTERM,
// releasing the Lease.
func TestPodRuns(t *testing.T) {
	cases := []struct {
		name string
		r    func(t *testing.T) rendering
		// policyNamespace is where the test's TuningPolicy goes.
		policyNamespace string
	}{
		{"kustomize base", func(t *testing.T) rendering {
			return rendering{name: "base", objects: renderKustomize(t, "kustomize/base")}
		}, "shop"},
		{"helm scoped to one namespace", func(t *testing.T) rendering {
			crds, objs := renderHelm(t, helmCases[2].values)
			return rendering{name: "helm", objects: append(crds, objs...), createNamespace: true, existing: helmCases[2].existing}
		}, "shop"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			needAPIServer(t)
			bin := mcpBinary(t)
			r := tc.r(t)
			cl := startCluster(t)
			ctx := testContext(t)
			if !slices.Contains(r.existing, tc.policyNamespace) {
				r.existing = append(r.existing, tc.policyNamespace)
			}
			for _, err := range cl.install(t, r) {
				t.Fatal(err)
			}
			p := newPod(t, r.objects, "mcp")
			// What the docs tell users to do before the pods can start.
			token := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mcp-token", Namespace: namespace},
				StringData: map[string]string{"token": "test-token-0123456789"}}
			if find(r.objects, "Secret", "mcp-token") == nil {
				if err := cl.c.Create(ctx, token); err != nil {
					t.Fatal(err)
				}
			} else {
				// The chart made it; the pod gets what the API server holds.
				if err := cl.c.Get(ctx, client.ObjectKeyFromObject(token), token); err != nil {
					t.Fatal(err)
				}
			}
			kubeconfig := serviceAccountKubeconfig(t, cl, p.spec.ServiceAccountName)
			run := p.start(t, bin, kubeconfig, map[string]*corev1.Secret{"mcp-token": token})

			// The kubelet's probes, as the pod declares them.
			for _, probe := range []*corev1.Probe{p.container.StartupProbe, p.container.LivenessProbe, p.container.ReadinessProbe} {
				if probe == nil || probe.HTTPGet == nil {
					continue
				}
				url := "http://" + run.addrs[probe.HTTPGet.Port.StrVal] + probe.HTTPGet.Path
				run.eventually(t, "GET "+url+" answers 200", 60*time.Second, func() bool {
					resp, err := http.Get(url)
					if err != nil {
						return false
					}
					resp.Body.Close()
					return resp.StatusCode == http.StatusOK
				})
			}

			var lease coordinationv1.Lease
			leaseKey := client.ObjectKey{Namespace: namespace, Name: "mcp-tuner"}
			run.eventually(t, "the Lease mcp-tuner in "+namespace+" held", 60*time.Second, func() bool {
				return cl.c.Get(ctx, leaseKey, &lease) == nil && lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != ""
			})

			tp := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "mcp.mcplane.dev/v1alpha1", "kind": "TuningPolicy",
				"metadata": map[string]any{"name": "checkout", "namespace": tc.policyNamespace},
				"spec": map[string]any{
					"target": map[string]any{"services": []any{"checkout"}},
					"mode":   "observe",
					"knobs":  map[string]any{"gogc": map[string]any{"min": int64(50), "max": int64(400)}},
				},
			}}
			if err := cl.c.Create(ctx, tp); err != nil {
				t.Fatal(err)
			}
			run.eventually(t, "the TuningPolicy's status written by mcp serve", 60*time.Second, func() bool {
				if err := cl.c.Get(ctx, client.ObjectKeyFromObject(tp), tp); err != nil {
					return false
				}
				conds, _, _ := unstructured.NestedSlice(tp.Object, "status", "conditions")
				return len(conds) > 0
			})

			if err := run.stop(20 * time.Second); err != nil {
				t.Fatalf("mcp serve did not stop cleanly on SIGTERM: %v\n%s", err, run.logs())
			}
			if err := cl.c.Get(ctx, leaseKey, &lease); err != nil {
				t.Fatal(err)
			}
			if h := lease.Spec.HolderIdentity; h != nil && *h != "" {
				t.Errorf("the stopped leader still holds the Lease (%s): the next replica waits for it to expire", *h)
			}
		})
	}
}

// TestCollectorConfigurationValid runs the standalone collector's container (overlay
// standalone-collector) with --validate: its two configuration files, merged, and its
// environment make a valid collector.
func TestCollectorConfigurationValid(t *testing.T) {
	bin := mcpBinary(t)
	p := newPod(t, renderKustomize(t, "kustomize/overlays/standalone-collector"), "mcp-collector")
	secret := &corev1.Secret{StringData: map[string]string{"token": "test-token"}}
	dirs := p.materialize(t, map[string]*corev1.Secret{"mcp-token": secret})
	args := append(p.rewriteAll(dirs, p.container.Args), "--validate")
	cmd := exec.Command(bin, args...)
	cmd.Env = p.environ(dirs, map[string]*corev1.Secret{"mcp-token": secret})
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "configuration is valid") {
		t.Fatalf("mcp %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// serviceAccountKubeconfig is a kubeconfig for a user the API server takes for the
// ServiceAccount (RBAC matches ServiceAccount subjects by this user name).
func serviceAccountKubeconfig(t *testing.T, cl *cluster, sa string) string {
	t.Helper()
	u, err := cl.env.AddUser(envtest.User{
		Name:   "system:serviceaccount:" + namespace + ":" + sa,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace},
	}, cl.cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := u.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// materialize makes a directory for each of the container's volume mounts, filled as the
// kubelet would: ConfigMap keys (from the rendered ConfigMap), Secret items, or nothing
// (emptyDir). It returns mount path → directory.
func (p *pod) materialize(t *testing.T, secrets map[string]*corev1.Secret) map[string]string {
	t.Helper()
	dirs := map[string]string{}
	for _, m := range p.container.VolumeMounts {
		dir := t.TempDir()
		dirs[m.MountPath] = dir
		var vol *corev1.Volume
		for i := range p.spec.Volumes {
			if p.spec.Volumes[i].Name == m.Name {
				vol = &p.spec.Volumes[i]
			}
		}
		if vol == nil {
			t.Fatalf("volumeMount %s: no volume %s", m.MountPath, m.Name)
		}
		files := map[string]string{}
		switch {
		case vol.ConfigMap != nil:
			cm := find(p.objects, "ConfigMap", vol.ConfigMap.Name)
			if cm == nil {
				t.Fatalf("volume %s: ConfigMap %s is not rendered", vol.Name, vol.ConfigMap.Name)
			}
			files, _, _ = unstructured.NestedStringMap(cm.Object, "data")
		case vol.Secret != nil:
			s := secrets[vol.Secret.SecretName]
			if s == nil {
				t.Fatalf("volume %s: no Secret %s", vol.Name, vol.Secret.SecretName)
			}
			for _, it := range vol.Secret.Items {
				v, ok := s.StringData[it.Key]
				if !ok {
					v, ok = string(s.Data[it.Key]), s.Data[it.Key] != nil
				}
				if !ok {
					t.Fatalf("volume %s: Secret %s has no key %s", vol.Name, vol.Secret.SecretName, it.Key)
				}
				files[it.Path] = v
			}
		case vol.EmptyDir != nil:
		default:
			t.Fatalf("volume %s: teach this test its kind", vol.Name)
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o400); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dirs
}

// rewrite moves a path under a mount to the mount's directory here.
func rewrite(dirs map[string]string, s string) string {
	mounts := slices.Collect(maps.Keys(dirs))
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
	for _, m := range mounts {
		if s == m || strings.HasPrefix(s, m+"/") {
			return dirs[m] + strings.TrimPrefix(s, m)
		}
	}
	return s
}

// rewriteAll rewrites args, including the value of --flag=value.
func (p *pod) rewriteAll(dirs map[string]string, args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "--") {
			out[i] = k + "=" + rewrite(dirs, v)
		} else {
			out[i] = rewrite(dirs, a)
		}
	}
	return out
}

// environ is the container's environment, Secret keys resolved and paths rewritten.
func (p *pod) environ(dirs map[string]string, secrets map[string]*corev1.Secret) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
	for _, e := range p.container.Env {
		v := p.env[e.Name]
		if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil {
			if s := secrets[ref.SecretKeyRef.Name]; s != nil {
				v = s.StringData[ref.SecretKeyRef.Key]
				if v == "" {
					v = string(s.Data[ref.SecretKeyRef.Key])
				}
			}
		}
		env = append(env, e.Name+"="+rewrite(dirs, v))
	}
	if tmp, ok := dirs["/tmp"]; ok {
		env = append(env, "TMPDIR="+tmp)
	}
	return env
}

// running is a started mcp serve.
type running struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{} // closed when the process has exited, with err set
	err    error
	addrs  map[string]string // port name → address it listens on here
}

func (p *pod) start(t *testing.T, bin, kubeconfig string, secrets map[string]*corev1.Secret) *running {
	t.Helper()
	for _, a := range p.container.Args {
		if strings.HasSuffix(strings.Split(a, "=")[0], "-addr") {
			t.Fatalf("arg %s: an address flag overrides the MCP_*_ADDR variables this test moves ports with", a)
		}
	}
	dirs := p.materialize(t, secrets)
	for attempt := 1; ; attempt++ {
		r := p.spawn(t, bin, append(p.environ(dirs, secrets), "KUBECONFIG="+kubeconfig), dirs)
		// A free port found here may be taken by another process before mcp serve binds
		// it (other tests run on this machine): start again on new ports. Any other exit
		// is for the caller's checks to report.
		ready := "http://" + r.addrs["http"] + "/readyz"
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			select {
			case <-r.exited:
			default:
				if resp, err := http.Get(ready); err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						return r
					}
				}
				continue
			}
			break
		}
		select {
		case <-r.exited:
			if strings.Contains(r.logs(), "address already in use") && attempt < 3 {
				t.Logf("a port was taken before mcp serve bound it; starting again:\n%s", r.logs())
				continue
			}
		default:
		}
		return r
	}
}

// spawn starts mcp serve with the container's args and env, every port moved to a free
// loopback address.
func (p *pod) spawn(t *testing.T, bin string, env []string, dirs map[string]string) *running {
	t.Helper()
	r := &running{out: &syncBuffer{}, exited: make(chan struct{}), addrs: map[string]string{}}
	for _, port := range p.container.Ports {
		key, ok := addrEnv[port.Name]
		if !ok {
			t.Fatalf("container port %s: teach this test which setting moves it", port.Name)
		}
		r.addrs[port.Name] = freeAddr(t)
		env = append(env, key+"="+r.addrs[port.Name])
	}
	r.cmd = exec.Command(bin, p.rewriteAll(dirs, p.container.Args)...)
	r.cmd.Env = env
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.err = r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(func() {
		select {
		case <-r.exited:
		default:
			_ = r.cmd.Process.Kill()
			<-r.exited
		}
		if t.Failed() {
			t.Logf("mcp serve's output:\n%s", r.logs())
		}
	})
	return r
}

// eventually waits for cond, failing early if mcp serve exits.
func (r *running) eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		select {
		case <-r.exited:
			t.Fatalf("mcp serve exited (%v) before %s", r.err, what)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop sends SIGTERM, as the kubelet does, and waits for a zero exit.
func (r *running) stop(within time.Duration) error {
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-r.exited:
		return r.err
	case <-time.After(within):
		return fmt.Errorf("still running after %v", within)
	}
}

func (r *running) logs() string { return r.out.String() }

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
