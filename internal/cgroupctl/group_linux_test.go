package cgroupctl

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcplane/mcp/runtime/cgroups"
)

// These tests create real cgroups: they need root (or a delegated cgroup) and skip with the
// reason Create gives when cgroups cannot be written here.

// newGroup creates a group for t and removes it when t ends.
func newGroup(t *testing.T, l Limits) *Group {
	t.Helper()
	g, err := Create("mcp-test", l)
	if errors.Is(err, ErrNotWritable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatalf("Create(%+v): %v", l, err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return g
}

// helperCmd returns a command running this test binary in helper mode (see TestMain).
func helperCmd(t *testing.T, mode string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	cmd.Stderr = os.Stderr
	return cmd
}

// startHelper starts a helper in g with pipes to its stdin and stdout, and kills it if the
// test ends first.
func startHelper(t *testing.T, g *Group, mode string) (*exec.Cmd, io.WriteCloser, *bufio.Reader) {
	t.Helper()
	cmd := helperCmd(t, mode)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(cmd); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, stdin, bufio.NewReader(stdout)
}

func readSeen(t *testing.T, out *bufio.Reader) seen {
	t.Helper()
	line, err := out.ReadBytes('\n')
	if err != nil {
		t.Fatalf("read helper report: %v", err)
	}
	var s seen
	if err := json.Unmarshal(line, &s); err != nil {
		t.Fatalf("parse helper report %q: %v", line, err)
	}
	return s
}

// TestGroupLimitsSeenInside checks that a process started in a group is in it from its
// first instruction on, and that NewReader, run inside, sees the group's limits, also after
// they are resized in place.
func TestGroupLimitsSeenInside(t *testing.T) {
	g := newGroup(t, Limits{MemoryBytes: 64 << 20, CPUCores: 0.5})
	cmd, stdin, out := startHelper(t, g, "limits")

	s := readSeen(t, out)
	for controller, dir := range g.Paths() {
		if !strings.Contains(s.Cgroup, "/"+filepath.Base(dir)+"\n") {
			t.Errorf("helper's /proc/self/cgroup does not name the group's %s cgroup %s:\n%s", controller, dir, s.Cgroup)
		}
	}
	if s.Memory != 64<<20 || s.MemoryError != "" {
		t.Errorf("memory limit seen inside = %d (error %q), want %d", s.Memory, s.MemoryError, 64<<20)
	}
	if s.CPU != 0.5 || s.CPUError != "" {
		t.Errorf("CPU limit seen inside = %v (error %q), want 0.5", s.CPU, s.CPUError)
	}

	// An in-place resize: the same process sees the new limits at its next read.
	if err := g.SetMemoryLimit(96 << 20); err != nil {
		t.Fatalf("SetMemoryLimit: %v", err)
	}
	if err := g.SetCPUQuota(1.5); err != nil {
		t.Fatalf("SetCPUQuota: %v", err)
	}
	io.WriteString(stdin, "again\n")
	s = readSeen(t, out)
	if s.Memory != 96<<20 || s.CPU != 1.5 {
		t.Errorf("after resize, seen inside = %d bytes, %v cores (errors %q, %q); want %d, 1.5",
			s.Memory, s.CPU, s.MemoryError, s.CPUError, 96<<20)
	}

	// The group's own Reader agrees with what a process inside sees.
	if mem, err := g.Reader().MemoryLimit(); err != nil || mem != 96<<20 {
		t.Errorf("g.Reader().MemoryLimit() = %d, %v; want %d", mem, err, 96<<20)
	}
	if cpu, err := g.Reader().CPUQuota(); err != nil || cpu != 1.5 {
		t.Errorf("g.Reader().CPUQuota() = %v, %v; want 1.5", cpu, err)
	}
	if v, err := g.Reader().Version(); err != nil || v != g.Version() {
		t.Errorf("g.Reader().Version() = %v, %v; want %v", v, err, g.Version())
	}

	// Removing the limits.
	if err := g.SetMemoryLimit(0); err != nil {
		t.Fatalf("SetMemoryLimit(0): %v", err)
	}
	if err := g.SetCPUQuota(0); err != nil {
		t.Fatalf("SetCPUQuota(0): %v", err)
	}
	io.WriteString(stdin, "again\n")
	s = readSeen(t, out)
	// The calling process's own limits still apply: the group is below its cgroup.
	if want := ownLimitError(t, cgroups.NewReader().MemoryLimit); s.MemoryError != want {
		t.Errorf("memory limit removed, seen inside = %d (error %q), want error %q", s.Memory, s.MemoryError, want)
	}
	if want := ownLimitError(t, cgroups.NewReader().CPUQuota); s.CPUError != want {
		t.Errorf("CPU limit removed, seen inside = %v (error %q), want error %q", s.CPU, s.CPUError, want)
	}

	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("helper: %v", err)
	}
}

// ownLimitError is the error the calling process gets reading its own limit: "" when it has
// one. Tests that remove a group's limits expect to see it from inside.
func ownLimitError[T int64 | float64](t *testing.T, read func() (T, error)) string {
	t.Helper()
	if _, err := read(); err != nil {
		return err.Error()
	}
	t.Skip("the calling process has limits of its own: a group without limits inherits them")
	return ""
}

// TestGroupThrottles checks that a CPU limit really throttles and that Stats counts it.
func TestGroupThrottles(t *testing.T) {
	g := newGroup(t, Limits{CPUCores: 0.5})
	cmd, stdin, _ := startHelper(t, g, "burn")

	// Two threads burning CPU against half a core are throttled within a period or two;
	// the deadline is only for a machine so loaded that the helper gets no CPU at all.
	var s cgroups.Stats
	deadline := time.Now().Add(20 * time.Second)
	for {
		var err error
		if s, err = g.Stats(); err != nil {
			t.Fatalf("Stats: %v", err)
		}
		if (s.CPUThrottledPeriods > 0 && s.CPUUsageSeconds >= 0.2) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("helper: %v", err)
	}
	if s.CPUUsageSeconds <= 0 || s.CPUPeriods == 0 || s.CPUThrottledPeriods == 0 || s.CPUThrottledSeconds <= 0 {
		t.Errorf("Stats after burning CPU against a 0.5-core limit = %+v, want CPU usage, periods and throttling", s)
	}
	t.Logf("stats: %+v", s)
}

// TestGroupOOMKill checks that a memory limit really OOM-kills and that Stats counts it.
func TestGroupOOMKill(t *testing.T) {
	g := newGroup(t, Limits{MemoryBytes: 64 << 20})
	cmd := helperCmd(t, "alloc")
	if err := g.Start(cmd); err != nil {
		t.Fatalf("Start: %v", err)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper allocating 256 MiB under a 64 MiB limit: exit %v, want killed by SIGKILL", err)
	}
	s, err := g.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if s.OOMKills < 1 {
		t.Errorf("Stats().OOMKills = %d, want at least 1 (stats %+v)", s.OOMKills, s)
	}
	if s.MemoryPeakBytes > 64<<20 {
		t.Errorf("Stats().MemoryPeakBytes = %d, above the 64 MiB limit", s.MemoryPeakBytes)
	}
	t.Logf("stats: %+v", s)
}

// TestGroupStartKeepsCommand checks that Start passes arguments, environment and working
// directory through untouched (v1 starts through a shell) and leaves cmd as it was.
func TestGroupStartKeepsCommand(t *testing.T) {
	g := newGroup(t, Limits{})
	args := []string{"plain", "with space", `"quoted"`, "$HOME", "'single'", "", "-c", "a\nb", `back\slash`}
	cmd := helperCmd(t, "args", args...)
	path, cmdArgs := cmd.Path, slices.Clone(cmd.Args)
	var out strings.Builder
	cmd.Stdout = &out
	if err := g.Start(cmd); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if cmd.Path != path || !reflect.DeepEqual(cmd.Args, cmdArgs) || cmd.SysProcAttr != nil {
		t.Errorf("Start changed cmd: Path %q Args %q SysProcAttr %+v", cmd.Path, cmd.Args, cmd.SysProcAttr)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	var got []string
	if err := json.Unmarshal([]byte(out.String()), &got); err != nil {
		t.Fatalf("parse helper output %q: %v", out.String(), err)
	}
	if !reflect.DeepEqual(got, args) {
		t.Errorf("helper got args %q, want %q", got, args)
	}
}

// TestGroupCloseKillsLeftovers checks that Close kills what is still running and removes
// every directory it created.
func TestGroupCloseKillsLeftovers(t *testing.T) {
	g := newGroup(t, Limits{MemoryBytes: 64 << 20})
	cmd := exec.Command("sleep", "600")
	if err := g.Start(cmd); err != nil {
		t.Fatalf("Start: %v", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	if err := g.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-waited; err == nil {
		t.Errorf("sleep 600 exited cleanly, want it killed by Close")
	}
	for _, dir := range g.Paths() {
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after Close, %s: %v; want it removed", dir, err)
		}
	}
	if err := g.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := g.Start(exec.Command("true")); err == nil {
		t.Errorf("Start after Close succeeded")
	}
}

// TestGroupV2Start creates a group in the unified hierarchy of a hybrid system, where
// Create uses v1, to check starting a process straight into a v2 cgroup (CLONE_INTO_CGROUP).
// On a pure v2 system the tests above already do.
func TestGroupV2Start(t *testing.T) {
	own, err := ownV2Cgroup()
	if err != nil {
		t.Skipf("no cgroup v2 hierarchy here: %v", err)
	}
	if l, err := cgroups.NewReader().Layout(); err == nil && l.Memory.Version == cgroups.V2 {
		t.Skip("pure cgroup v2: the other group tests cover it")
	}
	g, err := createV2(own, "mcp-test", nil)
	if errors.Is(err, ErrNotWritable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatalf("createV2: %v", err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	cmd := exec.Command("cat", "/proc/self/cgroup")
	var out strings.Builder
	cmd.Stdout = &out
	if err := g.Start(cmd); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if cmd.SysProcAttr != nil {
		t.Errorf("Start left cmd.SysProcAttr set: %+v", cmd.SysProcAttr)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(own.Mount, g.Paths()["memory"])
	if want := "0::/" + rel + "\n"; !strings.Contains(out.String(), want) {
		t.Errorf("/proc/self/cgroup of a process started in %s:\n%s\nwant a line %q", g.Paths()["memory"], out.String(), want)
	}
}

// TestGroupV2NoInternalProcess checks what Create does about cgroup v2's no-internal-process
// rule: a group is wanted under a cgroup that holds a process and has not enabled the
// controllers for its children yet. The process is moved into the leaf child, the
// controllers are enabled, and the group gets them.
func TestGroupV2NoInternalProcess(t *testing.T) {
	own, err := ownV2Cgroup()
	if err != nil {
		t.Skipf("no cgroup v2 hierarchy here: %v", err)
	}
	// parent stands in for the calling process's cgroup: it holds a process.
	parent, err := createV2(own, "mcp-test-parent", nil)
	if errors.Is(err, ErrNotWritable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatalf("createV2: %v", err)
	}
	pc := parent.layout.Memory
	leaf := filepath.Join(pc.Dir, leafName)
	t.Cleanup(func() {
		if err := errors.Join(killAll(leaf), removeDir(leaf), parent.Close()); err != nil {
			t.Errorf("clean up: %v", err)
		}
	})
	b, err := os.ReadFile(filepath.Join(pc.Dir, "cgroup.controllers"))
	if err != nil {
		t.Fatal(err)
	}
	controllers := strings.Fields(string(b))
	if len(controllers) == 0 {
		t.Skipf("%s has no controllers to enable for its children: its parent enables none", pc.Dir)
	}
	sleep := exec.Command("sleep", "600")
	if err := parent.Start(sleep); err != nil {
		t.Fatalf("Start: %v", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- sleep.Wait() }()
	t.Cleanup(func() { sleep.Process.Kill(); <-waited })

	child, err := createV2(pc, "mcp-test-child", controllers)
	if err != nil {
		t.Fatalf("createV2 under a cgroup holding a process: %v", err)
	}
	t.Cleanup(func() {
		if err := child.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if pids, err := readPIDs(leaf); err != nil || !slices.Contains(pids, sleep.Process.Pid) {
		t.Errorf("processes in %s = %v, %v; want the parent's process %d moved there", leaf, pids, err, sleep.Process.Pid)
	}
	if pids, err := readPIDs(pc.Dir); err != nil || len(pids) != 0 {
		t.Errorf("processes left in %s = %v, %v; want none", pc.Dir, pids, err)
	}
	b, err = os.ReadFile(filepath.Join(child.layout.Memory.Dir, "cgroup.controllers"))
	if got := strings.Fields(string(b)); err != nil || !reflect.DeepEqual(got, controllers) {
		t.Errorf("the group's controllers = %q, %v; want %q", got, err, controllers)
	}
}

// ownV2Cgroup finds the calling process's cgroup in the unified hierarchy, if one is mounted:
// the "0::/path" line of /proc/self/cgroup under the first cgroup2 mount whose root is a
// prefix of it.
func ownV2Cgroup() (cgroups.Controller, error) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return cgroups.Controller{}, err
	}
	path, found := "", false
	for _, line := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			path, found = p, true
		}
	}
	if !found {
		return cgroups.Controller{}, errors.New("this process has no cgroup v2 path")
	}
	if data, err = os.ReadFile("/proc/self/mountinfo"); err != nil {
		return cgroups.Controller{}, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f := strings.Fields(pre)
		if !ok || len(f) < 5 || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		root, mount := f[3], f[4]
		rel, ok := strings.CutPrefix(path, root)
		if !ok {
			continue
		}
		return cgroups.Controller{Version: cgroups.V2, Mount: mount, Dir: filepath.Join(mount, rel)}, nil
	}
	return cgroups.Controller{}, errors.New("no cgroup2 mount shows this process's cgroup")
}

// TestCreateNotWritable checks that an unprivileged process gets ErrNotWritable, with the
// reason, rather than a half-made group.
func TestCreateNotWritable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run a helper as nobody")
	}
	// The test binary lives in a directory only root can enter: copy it where nobody can.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "mcp-cgroups-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(dir, "cgroups.test")
	if err := os.WriteFile(copied, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(copied)
	cmd.Dir = dir
	cmd.Env = []string{helperEnv + "=create"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper as nobody: %v", err)
	}
	var res createResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("parse helper output %q: %v", out, err)
	}
	if !res.NotWritable || !strings.Contains(res.Error, "permission denied") {
		t.Errorf("Create as nobody: error %q (ErrNotWritable: %v), want ErrNotWritable saying permission denied", res.Error, res.NotWritable)
	}
	t.Logf("Create as nobody: %s", res.Error)
}

func TestCreateRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    Limits
		msg  string
	}{
		{"", Limits{}, `cgroup name "" is invalid`},
		{"a/b", Limits{}, `cgroup name "a/b" is invalid`},
		{"..", Limits{}, `cgroup name ".." is invalid`},
		{"ok", Limits{MemoryBytes: -1}, "memory limit -1 bytes is negative"},
		{"ok", Limits{CPUCores: -0.5}, "CPU limit -0.5 cores is invalid"},
		{"ok", Limits{CPUCores: 0.001}, "below the kernel's minimum of 0.01 cores"},
	} {
		g, err := Create(tc.name, tc.l)
		if err == nil {
			g.Close()
			t.Errorf("Create(%q, %+v) succeeded, want an error", tc.name, tc.l)
			continue
		}
		if errors.Is(err, ErrNotWritable) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Create(%q, %+v) = %v, want an error saying %q", tc.name, tc.l, err, tc.msg)
		}
	}
}

func TestNotWritable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&fs.PathError{Op: "mkdir", Path: "/sys/fs/cgroup/x", Err: syscall.EACCES}, true},
		{&fs.PathError{Op: "mkdir", Path: "/sys/fs/cgroup/x", Err: syscall.EPERM}, true},
		{&fs.PathError{Op: "mkdir", Path: "/sys/fs/cgroup/x", Err: syscall.EROFS}, true},
		{&fs.PathError{Op: "write", Path: "/sys/fs/cgroup/x/memory.max", Err: syscall.EINVAL}, false},
		{nil, false},
	} {
		err := notWritable(tc.err)
		if got := errors.Is(err, ErrNotWritable); got != tc.want || (tc.err != nil && !errors.Is(err, tc.err)) {
			t.Errorf("notWritable(%v) = %v: ErrNotWritable %v, want %v", tc.err, err, got, tc.want)
		}
	}
}
