package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// A cluster is a real kube-apiserver and etcd (controller-runtime's envtest), empty, as a
// new cluster is: no controllers run, so objects are validated and stored, nothing more.
type cluster struct {
	env *envtest.Environment
	cfg *rest.Config
	// c validates strictly: an unknown or duplicated field is an error, as kubectl
	// apply's default --validate=strict makes it.
	c client.Client
}

func TestMain(m *testing.M) {
	// envtest and the client log through controller-runtime's logger; the tests report.
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	if binaryDir != "" {
		os.RemoveAll(binaryDir)
	}
	os.Exit(code)
}

var (
	assetsOnce sync.Once
	assetsDir  string
)

// needAPIServer returns the directory of the kube-apiserver and etcd binaries
// (KUBEBUILDER_ASSETS, which make test sets, or what hack/testenv.sh built), and skips the
// test only when there are none, saying how to get them.
func needAPIServer(t *testing.T) string {
	t.Helper()
	assetsOnce.Do(func() {
		assetsDir = os.Getenv("KUBEBUILDER_ASSETS")
		if assetsDir == "" {
			if out, err := exec.Command(filepath.Join("..", "hack", "testenv.sh"), "--check").Output(); err == nil {
				assetsDir = strings.TrimSpace(string(out))
			}
		}
	})
	if assetsDir == "" {
		t.Skip("no kube-apiserver/etcd: run make testenv (or make test), which builds them once into ~/.cache/mcp/testbin")
	}
	return assetsDir
}

// startCluster starts an empty API server for the test; any start-up failure fails it.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	env := &envtest.Environment{BinaryAssetsDirectory: needAPIServer(t)}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start the API server: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("stop the API server: %v", err)
		}
	})
	cl := &cluster{env: env, cfg: cfg}
	cl.c = cl.newClient(t)
	return cl
}

// newClient discovers the API anew, so that it knows the kinds of CRDs installed since.
func (cl *cluster) newClient(t *testing.T) client.Client {
	t.Helper()
	c, err := client.New(cl.cfg, client.Options{FieldValidation: metav1.FieldValidationStrict})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// install creates a rendering's objects in the order kubectl apply and helm install
// succeed in on a new cluster: CRDs (the rendering's and those it needs), waiting until
// they are served; namespaces; then everything else. It returns one error per object the
// API server refused, naming the object.
func (cl *cluster) install(t *testing.T, r rendering) []error {
	t.Helper()
	ctx := testContext(t)
	var crds, namespaces, rest []*unstructured.Unstructured
	for _, f := range r.needs {
		crds = append(crds, readObjects(t, filepath.Join("testdata", "crds", f))...)
	}
	for _, o := range r.objects {
		switch o.GetKind() {
		case "CustomResourceDefinition":
			crds = append(crds, o)
		case "Namespace":
			namespaces = append(namespaces, o)
		default:
			rest = append(rest, o)
		}
	}
	var errs []error
	create := func(c client.Client, o *unstructured.Unstructured) {
		if err := c.Create(ctx, o.DeepCopy()); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ref(o), err))
		}
	}
	for _, o := range crds {
		create(cl.c, o)
	}
	for _, o := range crds {
		if err := cl.waitEstablished(ctx, o.GetName()); err != nil {
			errs = append(errs, err)
		}
	}
	pre := r.existing
	if r.createNamespace {
		pre = append(pre, namespace)
	}
	for _, name := range pre {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := cl.c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
			errs = append(errs, err)
		}
	}
	for _, o := range namespaces {
		create(cl.c, o)
	}
	c := cl.newClient(t)
	for _, o := range rest {
		create(c, o)
	}
	return errs
}

// waitEstablished waits until the API server serves a CRD's kind.
func (cl *cluster) waitEstablished(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		var crd unstructured.Unstructured
		crd.SetAPIVersion("apiextensions.k8s.io/v1")
		crd.SetKind("CustomResourceDefinition")
		err := cl.c.Get(ctx, client.ObjectKey{Name: name}, &crd)
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conds {
				if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("CRD %s not established within 30s", name), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
