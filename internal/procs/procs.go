// Package procs runs MCP's binaries as real processes for the demo, the benchmarks and the
// end-to-end tests: it builds them once per process, starts them with their output kept for
// reports, and waits on their HTTP endpoints. It never imports testing: the demo and the
// benchmarks ship in the mcp binary (internal/e2e adds the test helpers on top).
package procs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

var (
	buildOnce sync.Map // package → *buildResult
)

type buildResult struct {
	once sync.Once
	path string
	err  error
}

// Build compiles a main package of this repository (e.g. "./cmd/mcp") once per process and
// returns the binary's path.
func Build(pkg string) (string, error) {
	v, _ := buildOnce.LoadOrStore(pkg, &buildResult{})
	r := v.(*buildResult)
	r.once.Do(func() {
		dir, err := binDir()
		if err != nil {
			r.err = err
			return
		}
		root, err := moduleRoot()
		if err != nil {
			r.err = err
			return
		}
		r.path = filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-o", r.path, pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			r.err = fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
		}
	})
	return r.path, r.err
}

var (
	binDirOnce sync.Once
	binDirPath string
	binDirErr  error
)

// binDir is this process's directory for built binaries, mcp-e2e-bin-<pid> under the temp
// directory. Those of processes no longer running are removed first: test binaries have no
// hook that runs after their last test, so each one cleans up after the ones before it.
func binDir() (string, error) {
	binDirOnce.Do(func() {
		base := os.TempDir()
		old, _ := filepath.Glob(filepath.Join(base, "mcp-e2e-bin-*"))
		for _, d := range old {
			pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "mcp-e2e-bin-"))
			if err != nil || syscall.Kill(pid, 0) == nil {
				continue // not ours, or its process still runs
			}
			_ = os.RemoveAll(d)
		}
		binDirPath = filepath.Join(base, fmt.Sprintf("mcp-e2e-bin-%d", os.Getpid()))
		binDirErr = os.MkdirAll(binDirPath, 0o755)
	})
	return binDirPath, binDirErr
}

func moduleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate the module root")
	}
	return filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Proc is a started process whose output is kept.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
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

// Prepare captures cmd's output; start it yourself (e.g. in a cgroup) and call Watch.
func Prepare(name string, cmd *exec.Cmd) *Proc {
	p := &Proc{Name: name, Cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	return p
}

// Watch waits for the process in the background; call it once after the process started.
func (p *Proc) Watch() {
	go func() {
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
}

// Output is everything the process wrote so far.
func (p *Proc) Output() string { return p.out.String() }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and its error.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Kill sends SIGKILL and waits for the process to go.
func (p *Proc) Kill() {
	if p.Cmd.Process != nil {
		_ = p.Cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// Stop sends SIGTERM and waits up to timeout, then kills.
func (p *Proc) Stop(timeout time.Duration) error {
	if p.Cmd.Process == nil {
		return nil
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("%s did not stop within %v", p.Name, timeout)
	}
}

// WaitHTTP polls url until it answers 200 or the timeout passes; a process that exits
// meanwhile fails the wait at once.
func WaitHTTP(ctx context.Context, p *Proc, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if p != nil {
			if done, err := p.Exited(); done {
				return fmt.Errorf("%s exited (%v) before %s answered:\n%s", p.Name, err, url, Tail(p.Output(), 4000))
			}
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer 200 within %v (last error %v)", url, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Get fetches url and returns the body.
func Get(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}

// MetricValue finds a sample line "name value" (name may include labels) in a Prometheus
// exposition and returns its value text.
func MetricValue(exposition, name string) (string, bool) {
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// Tail returns the last n bytes of s, marked as cut when it was longer.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
