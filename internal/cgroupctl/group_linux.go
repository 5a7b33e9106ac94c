package cgroupctl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mcplane/mcp/runtime/cgroups"
)

// Group is a cgroup this process created, for tests, benchmarks and the demo: processes
// started in it are held to its Limits, which can be changed in place. Close removes it.
//
// On cgroup v1 a Group is one directory in each of the memory, cpu and cpuacct hierarchies,
// each under the calling process's own cgroup there. On cgroup v2 it is one directory under
// the calling process's own cgroup, with the memory and cpu controllers enabled for it.
//
// cgroup v2's no-internal-process rule forbids enabling controllers for the children of a
// cgroup that holds processes (the root cgroup excepted). When the calling process's cgroup
// holds processes and does not have memory and cpu in its cgroup.subtree_control already (a
// container with its own cgroup namespace, a systemd scope), Create moves every process of
// that cgroup into a new leaf child named "mcp-leaf" and then enables them, as Docker-in-
// Docker entrypoints do. The moved processes stay below the same ancestors, so their limits
// do not change, but their /proc/self/cgroup does, and they are never moved back.
//
// A Group's methods may be called concurrently, except that Close must not race with Start.
type Group struct {
	version cgroups.Version
	layout  cgroups.Layout // the group's controllers, as a process inside it sees them
	dirs    []string       // the directories created, one per mounted hierarchy; Close removes them

	mu     sync.Mutex
	closed bool
}

// leafName is the child cgroup Create moves the calling process's cgroup's processes to on
// cgroup v2, when they stop it from enabling controllers for its children.
const leafName = "mcp-leaf"

// Create creates a cgroup named name-<random> under the calling process's own cgroup, with
// limits l. The random suffix keeps concurrent tests and the leftovers of crashed ones apart.
// It needs the memory, cpu and cpuacct controllers all on cgroup v1, or memory and cpu on
// cgroup v2; when cgroups cannot be created here the error wraps ErrNotWritable and says why.
func Create(name string, l Limits) (*Group, error) {
	if err := validateName(name); err != nil {
		return nil, err
	}
	if err := l.validate(); err != nil {
		return nil, err
	}
	own, err := cgroups.NewReader().Layout()
	if err != nil {
		return nil, fmt.Errorf("%w: find this process's cgroups: %w", ErrNotWritable, err)
	}
	var g *Group
	switch {
	case own.Memory.Version == cgroups.V1 && own.CPU.Version == cgroups.V1 && own.CPUAcct.Version == cgroups.V1:
		g, err = createV1(own, name)
	case own.Memory.Version == cgroups.V2 && own.CPU.Version == cgroups.V2:
		g, err = createV2(own.Memory, name, []string{"memory", "cpu"})
	default:
		return nil, fmt.Errorf("%w: need memory, cpu and cpuacct on cgroup v1 or memory and cpu on cgroup v2, found memory: %s; cpu: %s; cpuacct: %s",
			ErrNotWritable, describe(own.Memory), describe(own.CPU), describe(own.CPUAcct))
	}
	if err != nil {
		return nil, err
	}
	if err := g.SetMemoryLimit(l.MemoryBytes); err != nil {
		return nil, errors.Join(err, g.Close())
	}
	if err := g.SetCPUQuota(l.CPUCores); err != nil {
		return nil, errors.Join(err, g.Close())
	}
	return g, nil
}

func describe(c cgroups.Controller) string {
	if c.Version == 0 {
		return c.Err.Error()
	}
	return c.Version.String() + " " + c.Dir
}

// createV1 creates a group in each of the memory, cpu and cpuacct hierarchies, under the
// calling process's cgroup in each (own). Co-mounted hierarchies (cpu,cpuacct) share a
// directory.
func createV1(own cgroups.Layout, name string) (*Group, error) {
	dir, err := os.MkdirTemp(own.Memory.Dir, name+"-*")
	if err != nil {
		return nil, notWritable(err)
	}
	g := &Group{version: cgroups.V1, dirs: []string{dir}}
	g.layout.Memory = cgroups.Controller{Version: cgroups.V1, Mount: own.Memory.Mount, Dir: dir}
	for _, c := range []struct {
		own  cgroups.Controller
		dest *cgroups.Controller
	}{{own.CPU, &g.layout.CPU}, {own.CPUAcct, &g.layout.CPUAcct}} {
		dir := filepath.Join(c.own.Dir, filepath.Base(dir))
		if !slices.Contains(g.dirs, dir) {
			if err := os.Mkdir(dir, 0o755); err != nil {
				return nil, errors.Join(notWritable(err), g.Close())
			}
			g.dirs = append(g.dirs, dir)
		}
		*c.dest = cgroups.Controller{Version: cgroups.V1, Mount: c.own.Mount, Dir: dir}
	}
	return g, nil
}

// createV2 creates a group under own, the calling process's v2 cgroup, with the controllers
// in need enabled for it.
func createV2(own cgroups.Controller, name string, need []string) (*Group, error) {
	if err := enableControllers(own.Dir, need); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(own.Dir, name+"-*")
	if err != nil {
		return nil, notWritable(err)
	}
	g := &Group{version: cgroups.V2, dirs: []string{dir}}
	c := cgroups.Controller{Version: cgroups.V2, Mount: own.Mount, Dir: dir}
	g.layout = cgroups.Layout{Memory: c, CPU: c, CPUAcct: c}
	if slices.Contains(need, "memory") {
		if err := writeIfExists(filepath.Join(dir, "memory.swap.max"), "0"); err != nil {
			return nil, errors.Join(err, g.Close())
		}
	}
	return g, nil
}

// enableControllers makes sure the children of v2 cgroup dir get the controllers in need.
func enableControllers(dir string, need []string) error {
	available, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return notWritable(err)
	}
	enabled, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return notWritable(err)
	}
	var enable []string
	for _, c := range need {
		if !slices.Contains(strings.Fields(string(available)), c) {
			return fmt.Errorf("%w: the %s controller is not available in %s (its parent does not enable it for its children)", ErrNotWritable, c, dir)
		}
		if !slices.Contains(strings.Fields(string(enabled)), c) {
			enable = append(enable, "+"+c)
		}
	}
	if len(enable) == 0 {
		return nil
	}
	subtree := filepath.Join(dir, "cgroup.subtree_control")
	err = writeFile(subtree, strings.Join(enable, " "))
	if errors.Is(err, syscall.EBUSY) {
		// The no-internal-process rule: see Group.
		if err := moveToLeaf(dir); err != nil {
			return err
		}
		err = writeFile(subtree, strings.Join(enable, " "))
	}
	return notWritable(err)
}

// moveToLeaf moves every process of v2 cgroup dir into its child leafName.
func moveToLeaf(dir string) error {
	leaf := filepath.Join(dir, leafName)
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return notWritable(err)
	}
	// Processes forked meanwhile land in dir again, hence the rounds.
	for range 10 {
		pids, err := readPIDs(dir)
		if err != nil || len(pids) == 0 {
			return err
		}
		for _, pid := range pids {
			err := writeFile(filepath.Join(leaf, "cgroup.procs"), strconv.Itoa(pid))
			if err != nil && !errors.Is(err, syscall.ESRCH) {
				return notWritable(err)
			}
		}
	}
	return fmt.Errorf("move the processes of %s to %s: it keeps gaining processes", dir, leaf)
}

// Version returns the cgroup version the group was created with.
func (g *Group) Version() cgroups.Version { return g.version }

// Paths returns the group's directories by controller: "memory", "cpu" and "cpuacct" on
// cgroup v1 (cpu and cpuacct are one directory when co-mounted), "memory" and "cpu" (the
// same directory) on cgroup v2.
func (g *Group) Paths() map[string]string {
	p := map[string]string{"memory": g.layout.Memory.Dir, "cpu": g.layout.CPU.Dir}
	if g.version == cgroups.V1 {
		p["cpuacct"] = g.layout.CPUAcct.Dir
	}
	return p
}

// Reader returns a Reader of the group's limits and usage, as a process inside it sees them.
func (g *Group) Reader() *cgroups.Reader {
	l := g.layout
	return cgroups.NewReader(cgroups.WithLayout(l))
}

// Stats returns the usage counted against the group.
func (g *Group) Stats() (cgroups.Stats, error) { return g.Reader().Stats() }

// SetMemoryLimit changes the group's memory limit in place; 0 removes it. Lowering it below
// the memory in use makes the kernel reclaim, and fails with EBUSY if it cannot.
func (g *Group) SetMemoryLimit(bytes int64) error {
	if err := (Limits{MemoryBytes: bytes}).validate(); err != nil {
		return err
	}
	dir := g.layout.Memory.Dir
	if g.version == cgroups.V2 {
		v := "max"
		if bytes > 0 {
			v = strconv.FormatInt(bytes, 10)
		}
		return notWritable(writeFile(filepath.Join(dir, "memory.max"), v))
	}
	v := "-1"
	if bytes > 0 {
		v = strconv.FormatInt(bytes, 10)
	}
	// memory.memsw.limit_in_bytes (memory + swap; only there when swap accounting is on) must
	// never be below memory.limit_in_bytes: lift it, set the memory limit, then match it so
	// the group never swaps.
	memsw := filepath.Join(dir, "memory.memsw.limit_in_bytes")
	if err := writeIfExists(memsw, "-1"); err != nil {
		return notWritable(err)
	}
	if err := writeFile(filepath.Join(dir, "memory.limit_in_bytes"), v); err != nil {
		return notWritable(err)
	}
	return notWritable(writeIfExists(memsw, v))
}

// SetCPUQuota changes the group's CPU limit in place, in cores; 0 removes it. On cgroup v1
// a quota above the parent's fails: the kernel keeps v1 quotas consistent down the tree.
func (g *Group) SetCPUQuota(cores float64) error {
	quota, err := cfsQuota(cores)
	if err != nil {
		return err
	}
	dir := g.layout.CPU.Dir
	if g.version == cgroups.V2 {
		v := "max " + strconv.Itoa(cfsPeriod)
		if quota > 0 {
			v = strconv.FormatInt(quota, 10) + " " + strconv.Itoa(cfsPeriod)
		}
		return notWritable(writeFile(filepath.Join(dir, "cpu.max"), v))
	}
	if err := writeFile(filepath.Join(dir, "cpu.cfs_period_us"), strconv.Itoa(cfsPeriod)); err != nil {
		return notWritable(err)
	}
	return notWritable(writeFile(filepath.Join(dir, "cpu.cfs_quota_us"), strconv.FormatInt(quota, 10)))
}

// joinScript is how a v1 child joins the group before its own code runs. cgroup v1 has no
// CLONE_INTO_CGROUP, and moving the child after it started would let it run outside the group
// for a moment (and allocate memory that stays charged outside it). So the child starts as
// /bin/sh, writes its own PID into cgroup.procs of every hierarchy ($1 is how many, then the
// files), and only then execs the command, which keeps the PID and with it the cgroups. If
// joining fails the shell exits 126 and the command never runs.
const joinScript = `n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 126; n=$((n-1)); shift; done; exec "$@"`

// Start starts cmd inside the group: no code of cmd runs outside it.
//
// cgroup v2: the process is cloned straight into the group (SysProcAttr.UseCgroupFD, Linux
// 5.7+); cmd's own SysProcAttr is kept. cgroup v1: cmd is started through /bin/sh, which
// joins the group and then execs cmd.Path; the process sees cmd.Path as its argv[0] instead of
// cmd.Args[0], and if it cannot join the group it exits with status 126 before running cmd.
func (g *Group) Start(cmd *exec.Cmd) error {
	g.mu.Lock()
	closed := g.closed
	g.mu.Unlock()
	if closed {
		return fmt.Errorf("start %s: cgroup group is closed", cmd.Path)
	}
	if cmd.Err != nil {
		return cmd.Err
	}
	if g.version == cgroups.V2 {
		return g.startV2(cmd)
	}
	return g.startV1(cmd)
}

func (g *Group) startV2(cmd *exec.Cmd) error {
	fd, err := syscall.Open(g.dirs[0], syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open cgroup %s: %w", g.dirs[0], err)
	}
	defer syscall.Close(fd)
	attr := &syscall.SysProcAttr{}
	if cmd.SysProcAttr != nil {
		if cmd.SysProcAttr.UseCgroupFD {
			return fmt.Errorf("start %s: cmd.SysProcAttr already names a cgroup", cmd.Path)
		}
		*attr = *cmd.SysProcAttr
	}
	attr.UseCgroupFD, attr.CgroupFD = true, fd
	// The caller's SysProcAttr is not changed: the fd is closed when Start returns.
	orig := cmd.SysProcAttr
	cmd.SysProcAttr = attr
	defer func() { cmd.SysProcAttr = orig }()
	return cmd.Start()
}

func (g *Group) startV1(cmd *exec.Cmd) error {
	target := cmd.Path
	if !strings.Contains(target, "/") {
		target = "./" + target // os/exec runs a bare Path relative to Dir, not from $PATH
	}
	args := []string{"/bin/sh", "-c", joinScript, "mcp-cgroup-join", strconv.Itoa(len(g.dirs))}
	for _, d := range g.dirs {
		args = append(args, filepath.Join(d, "cgroup.procs"))
	}
	args = append(args, target)
	if len(cmd.Args) > 1 {
		args = append(args, cmd.Args[1:]...)
	}
	path, orig := cmd.Path, cmd.Args
	cmd.Path, cmd.Args = "/bin/sh", args
	defer func() { cmd.Path, cmd.Args = path, orig }()
	return cmd.Start()
}

// Close kills the processes left in the group, waits until the kernel has moved them all out
// and removes the group's directories. It does not reap them: whoever started a process still
// calls cmd.Wait. Close is idempotent.
func (g *Group) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	var errs []error
	for _, d := range g.dirs {
		errs = append(errs, killAll(d))
	}
	for i := len(g.dirs) - 1; i >= 0; i-- {
		errs = append(errs, removeDir(g.dirs[i]))
	}
	return errors.Join(errs...)
}

// closeTimeout bounds how long Close waits for killed processes to leave and directories to
// become removable.
const closeTimeout = 10 * time.Second

// killAll SIGKILLs every process in cgroup dir until none is left.
func killAll(dir string) error {
	// cgroup.kill (v2, Linux 5.14+) also catches processes forked while we kill.
	if err := writeIfExists(filepath.Join(dir, "cgroup.kill"), "1"); err != nil {
		return err
	}
	deadline := time.Now().Add(closeTimeout)
	for {
		pids, err := readPIDs(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || len(pids) == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s still holds processes %v %v after SIGKILL", dir, pids, closeTimeout)
		}
		for _, pid := range pids {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("kill process %d in cgroup %s: %w", pid, dir, err)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// removeDir removes cgroup directory dir, retrying while the kernel still counts exiting
// processes in it.
func removeDir(dir string) error {
	deadline := time.Now().Add(closeTimeout)
	for {
		err := syscall.Rmdir(dir)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return &fs.PathError{Op: "remove cgroup", Path: dir, Err: err}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readPIDs reads the processes in cgroup dir.
func readPIDs(dir string) ([]int, error) {
	p := filepath.Join(dir, "cgroup.procs")
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %q is not a process ID", p, f)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// writeFile writes value to cgroup file path. cgroup files take one write: no O_CREATE, no
// O_TRUNC.
func writeFile(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return nil
}

// writeIfExists is writeFile for files only some kernels have.
func writeIfExists(path, value string) error {
	if err := writeFile(path, value); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// notWritable marks err as ErrNotWritable when it means this process may not change cgroups.
func notWritable(err error) error {
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		return fmt.Errorf("%w: %w (needs root, or a cgroup delegated to this user)", ErrNotWritable, err)
	}
	return err
}
