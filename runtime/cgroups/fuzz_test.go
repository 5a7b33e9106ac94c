package cgroups

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addFixtures seeds a fuzz corpus with every fixture file called name, and this machine's own.
func addFixtures(f *testing.F, name string) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join(fixtures, "*", "*", "proc", "*", name))
	if err != nil {
		f.Fatal(err)
	}
	files = append(files, filepath.Join("/proc/self", name))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(string(b))
		}
	}
}

func FuzzParseMountinfo(f *testing.F) {
	addFixtures(f, "mountinfo")
	f.Add("1 2 0:1 / /a\\040b rw shared:1 master:2 - cgroup cgroup rw,memory\n")
	f.Add("1 2 0:1 / / rw - x\n")
	f.Add("\\")
	f.Fuzz(func(t *testing.T, data string) {
		mounts, err := parseMountinfo([]byte(data))
		if err != nil {
			if err.Error() == "" || mounts != nil {
				t.Fatalf("error %q with mounts %v", err, mounts)
			}
			return
		}
		for _, m := range mounts {
			if m.fstype == "" || len(m.options) == 0 {
				t.Fatalf("mount %+v from %q has no filesystem type or options", m, data)
			}
		}
	})
}

func FuzzParseProcCgroup(f *testing.F) {
	addFixtures(f, "cgroup")
	f.Add("0::/\n")
	f.Add("1:::/\n0::\n")
	f.Fuzz(func(t *testing.T, data string) {
		p, err := parseProcCgroup([]byte(data))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		for c, path := range p.v1 {
			if c == "" || !strings.HasPrefix(path, "/") {
				t.Fatalf("controller %q at %q from %q", c, path, data)
			}
		}
		if p.hasV2 && !strings.HasPrefix(p.v2, "/") {
			t.Fatalf("v2 path %q from %q", p.v2, data)
		}
		// Whatever the paths, resolving them never panics and stays within the mounts.
		mounts := []mount{
			{root: "/", point: "/sys/fs/cgroup", fstype: "cgroup2"},
			{root: "/docker/x", point: "/sys/fs/cgroup/memory", fstype: "cgroup", options: []string{"rw", "memory"}},
		}
		for _, name := range []string{"memory", "cpu"} {
			c := findController(p, mounts, "/root", name)
			if c.Version != 0 && (!strings.HasPrefix(c.Dir, c.Mount) || !strings.HasPrefix(c.Mount, "/root/sys/fs/cgroup")) {
				t.Fatalf("%s controller %+v from %q escapes its mount", name, c, data)
			}
		}
	})
}

func FuzzParseValues(f *testing.F) {
	for _, s := range []string{"max", "max 100000", "50000 100000", "-1", "0", "9223372036854771712",
		"18446744073709551615", "abc", "", " ", "1 2 3", "100000", "50000 0", "-5", "+7", "0x10", "1e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkLimit := func(what string, n int64, limited bool, err error) {
			if err != nil && err.Error() == "" {
				t.Fatalf("%s(%q): empty error", what, s)
			}
			if err == nil && limited && (n < 0 || n >= unlimited) {
				t.Fatalf("%s(%q) = %d, limited", what, s, n)
			}
		}
		n, limited, err := parseV1Limit(s)
		checkLimit("parseV1Limit", n, limited, err)
		n, limited, err = parseV2Max(s)
		checkLimit("parseV2Max", n, limited, err)
		n, limited, err = parseV1Quota(s)
		if err != nil && err.Error() == "" {
			t.Fatalf("parseV1Quota(%q): empty error", s)
		}
		if err == nil && limited && n <= 0 {
			t.Fatalf("parseV1Quota(%q) = %d, limited", s, n)
		}
		if p, err := parsePeriod(s); err == nil && p <= 0 {
			t.Fatalf("parsePeriod(%q) = %d", s, p)
		}
		cores, limited, err := parseCPUMax(s)
		if err == nil && limited && (cores <= 0 || math.IsInf(cores, 0) || math.IsNaN(cores)) {
			t.Fatalf("parseCPUMax(%q) = %v cores", s, cores)
		}
		if err != nil && err.Error() == "" {
			t.Fatalf("parseCPUMax(%q): empty error", s)
		}
		parseCounter(s)
		keyed(s, "oom_kill")
		if u := unescapeOctal(s); len(u) > len(s) {
			t.Fatalf("unescapeOctal(%q) = %q, longer", s, u)
		}
	})
}
