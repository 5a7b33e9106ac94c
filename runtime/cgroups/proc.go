package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Controller is where one controller of a process's cgroups lives on disk.
type Controller struct {
	// Version is 0 when the controller was not found; Err says why.
	Version Version
	// Mount is the directory its hierarchy is mounted at: ancestors are read up to here.
	Mount string
	// Dir is the process's cgroup: Mount or a directory below it.
	Dir string
	// Err is why the controller was not found; it wraps ErrNoCgroup.
	Err error
}

// Layout is where a process's memory, cpu and cpuacct controllers live. On cgroup v2 the
// CPUAcct entry is the CPU one: usage is in cpu.stat there.
type Layout struct {
	Memory, CPU, CPUAcct Controller
}

// readLayout finds a process's controllers from its cgroup and mountinfo files under proc,
// with mount points resolved under sys.
func readLayout(proc, sys string) (Layout, error) {
	cgroupFile := filepath.Join(proc, "cgroup")
	data, err := os.ReadFile(cgroupFile)
	if errors.Is(err, fs.ErrNotExist) {
		return Layout{}, fmt.Errorf("%w: %w", ErrNoCgroup, err)
	}
	if err != nil {
		return Layout{}, err
	}
	paths, err := parseProcCgroup(data)
	if err != nil {
		return Layout{}, fmt.Errorf("parse %s: %w", cgroupFile, err)
	}

	mountFile := filepath.Join(proc, "mountinfo")
	data, err = os.ReadFile(mountFile)
	if errors.Is(err, fs.ErrNotExist) {
		return Layout{}, fmt.Errorf("%w: %w", ErrNoCgroup, err)
	}
	if err != nil {
		return Layout{}, err
	}
	mounts, err := parseMountinfo(data)
	if err != nil {
		return Layout{}, fmt.Errorf("parse %s: %w", mountFile, err)
	}

	return Layout{
		Memory:  findController(paths, mounts, sys, "memory"),
		CPU:     findController(paths, mounts, sys, "cpu"),
		CPUAcct: findController(paths, mounts, sys, "cpuacct"),
	}, nil
}

// findController finds where controller name of a process with cgroup paths is mounted: in
// its v1 hierarchy when one is mounted, else in the unified (v2) hierarchy.
func findController(paths procCgroups, mounts []mount, sys, name string) Controller {
	if p, ok := paths.v1[name]; ok {
		c, mounted := bestMount(mounts, sys, "cgroup", name, p)
		if c.Version != 0 {
			return c
		}
		if mounted {
			return Controller{Err: fmt.Errorf("%w: %s cgroup %s is outside every mount of its hierarchy", ErrNoCgroup, name, p)}
		}
	}
	if paths.hasV2 {
		c, mounted := bestMount(mounts, sys, "cgroup2", "", paths.v2)
		if c.Version != 0 {
			return c
		}
		if mounted {
			return Controller{Err: fmt.Errorf("%w: cgroup %s is outside every cgroup2 mount", ErrNoCgroup, paths.v2)}
		}
	}
	return Controller{Err: fmt.Errorf("%w: no %s cgroup is mounted", ErrNoCgroup, name)}
}

// bestMount finds the mount of filesystem fstype (holding controller name, for v1) that
// contains cgroupPath. Among several mounts of one hierarchy the one with the shortest root
// wins, because it shows the most ancestors. mounted reports whether any mount of the
// hierarchy exists at all.
func bestMount(mounts []mount, sys, fstype, name, cgroupPath string) (c Controller, mounted bool) {
	bestRoot := ""
	for _, m := range mounts {
		if m.fstype != fstype || (name != "" && !slices.Contains(m.options, name)) {
			continue
		}
		mounted = true
		if !strings.HasPrefix(m.point, "/") || path.Clean(m.point) != m.point {
			continue // the kernel prints clean absolute mount points; anything else is not one
		}
		rel, ok := under(m.root, cgroupPath)
		if !ok || (c.Version != 0 && len(m.root) >= len(bestRoot)) {
			continue
		}
		bestRoot = m.root
		point := filepath.Join(sys, m.point)
		c = Controller{Version: V2, Mount: point, Dir: filepath.Join(point, rel)}
		if fstype == "cgroup" {
			c.Version = V1
		}
	}
	return c, mounted
}

// under returns cgroupPath relative to a mount's root, if the mount shows it. A path with ".."
// in it (a cgroup outside the reader's cgroup namespace) is never shown.
func under(root, cgroupPath string) (string, bool) {
	if !strings.HasPrefix(root, "/") || !strings.HasPrefix(cgroupPath, "/") ||
		slices.Contains(strings.Split(cgroupPath, "/"), "..") {
		return "", false
	}
	root, cgroupPath = path.Clean(root), path.Clean(cgroupPath)
	switch {
	case root == "/":
		return cgroupPath, true
	case cgroupPath == root:
		return "/", true
	case strings.HasPrefix(cgroupPath, root+"/"):
		return cgroupPath[len(root):], true
	}
	return "", false
}

// procCgroups is a parsed /proc/<pid>/cgroup.
type procCgroups struct {
	v1    map[string]string // v1 controller (or name=...) -> cgroup path
	v2    string            // the "0::" line's path
	hasV2 bool
}

// parseProcCgroup parses /proc/<pid>/cgroup: "hierarchy-ID:controller-list:cgroup-path" lines.
func parseProcCgroup(data []byte) (procCgroups, error) {
	p := procCgroups{v1: map[string]string{}}
	for i, line := range strings.Split(string(data), "\n") {
		if line == "" {
			continue
		}
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			return procCgroups{}, fmt.Errorf("line %d: want \"hierarchy-ID:controllers:path\", got %q", i+1, clip(line))
		}
		id, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil {
			return procCgroups{}, fmt.Errorf("line %d: hierarchy ID %q is not a number", i+1, clip(f[0]))
		}
		if !strings.HasPrefix(f[2], "/") {
			return procCgroups{}, fmt.Errorf("line %d: cgroup path %q is not absolute", i+1, clip(f[2]))
		}
		if id == 0 && f[1] == "" {
			p.v2, p.hasV2 = f[2], true
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			if c != "" {
				p.v1[c] = f[2]
			}
		}
	}
	return p, nil
}

// mount is one line of /proc/<pid>/mountinfo.
type mount struct {
	root    string   // the directory of the filesystem mounted: for cgroups, a cgroup path
	point   string   // where it is mounted
	fstype  string   // "cgroup" (v1) or "cgroup2" for cgroups
	options []string // super options: for cgroup v1, among them the hierarchy's controllers
}

// parseMountinfo parses /proc/<pid>/mountinfo (see proc_pid_mountinfo(5)):
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//	(1)(2)(3)   (4)   (5)      (6)      (7...)(8) (9)    (10)         (11)
//
// Field 7 is zero or more optional fields, ended by the "-" separator.
func parseMountinfo(data []byte) ([]mount, error) {
	var mounts []mount
	for i, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		sep := -1
		if len(f) > 6 {
			if j := slices.Index(f[6:], "-"); j >= 0 {
				sep = 6 + j
			}
		}
		switch {
		case len(f) < 10:
			return nil, fmt.Errorf("line %d: want at least 10 fields, got %d in %q", i+1, len(f), clip(line))
		case sep < 0:
			return nil, fmt.Errorf("line %d: no \" - \" separator after the optional fields in %q", i+1, clip(line))
		case len(f)-sep-1 < 3:
			return nil, fmt.Errorf("line %d: want filesystem type, source and super options after \" - \" in %q", i+1, clip(line))
		}
		mounts = append(mounts, mount{
			root:    unescapeOctal(f[3]),
			point:   unescapeOctal(f[4]),
			fstype:  f[sep+1],
			options: strings.Split(f[sep+3], ","),
		})
	}
	return mounts, nil
}

// unescapeOctal undoes the kernel's escaping of space, tab, newline and backslash in
// mountinfo paths (\040, \011, \012, \134). Anything else is kept as it is.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) && s[i+1] <= '3' {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return '0' <= c && c <= '7' }

// clip shortens s for an error message.
func clip(s string) string {
	const max = 120
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
