package kube

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// testEnv is one real kube-apiserver and etcd for the package's tests, from
// KUBEBUILDER_ASSETS (make test sets it; hack/testenv.sh builds and caches them).
var (
	testCfg    *rest.Config
	testClient client.Client
	testErr    error
)

func TestMain(m *testing.M) {
	os.Exit(runWithEnv(m))
}

func runWithEnv(m *testing.M) int {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		// Outside make test: use the cached binaries if hack/testenv.sh built them.
		if out, err := exec.Command(filepath.Join(repoRoot(), "hack", "testenv.sh"), "--check").Output(); err == nil {
			assets = strings.TrimSpace(string(out))
		}
	}
	if assets == "" {
		testErr = errNoAssets
		return m.Run()
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot(), "deploy", "crd")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		testErr = err
		return m.Run()
	}
	defer env.Stop()
	testCfg = cfg
	scheme, err := Scheme()
	if err != nil {
		testErr = err
		return m.Run()
	}
	if testClient, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		testErr = err
	}
	return m.Run()
}

type noAssets struct{}

func (noAssets) Error() string {
	return "no kube-apiserver/etcd: run make testenv (or make test), which builds them once into ~/.cache/mcp/testbin"
}

var errNoAssets error = noAssets{}

// needAPIServer skips only when the real API server cannot run here, saying why; any other
// start-up failure fails the test.
func needAPIServer(t *testing.T) {
	t.Helper()
	if testErr == errNoAssets {
		t.Skip(testErr)
	}
	if testErr != nil {
		t.Fatalf("start the API server: %v", testErr)
	}
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}
