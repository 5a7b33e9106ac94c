package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// unlimited is where limits stop meaning anything: cgroup v1 reports "no memory limit" as
// the largest page-aligned int64 (9223372036854771712 with 4 KiB pages, less with larger
// pages), and no machine has 4 EiB of memory.
const unlimited = 1 << 62

// smallestAncestor returns the smallest limit read by read from c's directory and each of its
// ancestors up to the top of c's mount, or ErrNoLimit when none of them has one.
func smallestAncestor[T int64 | float64](c Controller, read func(dir string) (T, bool, error)) (T, error) {
	var least T
	found := false
	for dir := c.Dir; ; dir = filepath.Dir(dir) {
		v, ok, err := read(dir)
		if err != nil {
			return 0, err
		}
		if ok && (!found || v < least) {
			least, found = v, true
		}
		if len(dir) <= len(c.Mount) || dir == filepath.Dir(dir) {
			break
		}
	}
	if !found {
		return 0, ErrNoLimit
	}
	return least, nil
}

// limitFile returns a reader of the limit in file name of a cgroup directory. A missing file
// is no limit: the root cgroup has none, and neither has a cgroup whose controller is off.
func limitFile[T int64 | float64](name string, parse func(string) (T, bool, error)) func(dir string) (T, bool, error) {
	return func(dir string) (T, bool, error) {
		p := filepath.Join(dir, name)
		s, ok, err := readValue(p)
		if !ok || err != nil {
			return 0, false, err
		}
		v, limited, err := parse(s)
		if err != nil {
			return 0, false, fmt.Errorf("parse %s: %w", p, err)
		}
		return v, limited, nil
	}
}

// memoryLimitV1 reads a v1 memory cgroup's limit: the smaller of its own and the
// hierarchical one, which accounts for ancestors the process may not see.
func memoryLimitV1(dir string) (int64, error) {
	own, ownLimited, err := limitFile("memory.limit_in_bytes", parseV1Limit)(dir)
	if err != nil {
		return 0, err
	}
	p := filepath.Join(dir, "memory.stat")
	var hier int64
	var hierLimited bool
	stat, _, err := readValue(p)
	if err != nil {
		return 0, err
	}
	if v, ok := keyed(stat, "hierarchical_memory_limit"); ok {
		if hier, hierLimited, err = parseV1Limit(v); err != nil {
			return 0, fmt.Errorf("parse %s: hierarchical_memory_limit: %w", p, err)
		}
	}
	switch {
	case ownLimited && hierLimited:
		return min(own, hier), nil
	case ownLimited:
		return own, nil
	case hierLimited:
		return hier, nil
	}
	return 0, ErrNoLimit
}

// readQuotaV1 reads a v1 cpu cgroup's cpu.cfs_quota_us / cpu.cfs_period_us in cores.
func readQuotaV1(dir string) (float64, bool, error) {
	qp := filepath.Join(dir, "cpu.cfs_quota_us")
	q, ok, err := readValue(qp)
	if !ok || err != nil {
		return 0, false, err
	}
	quota, limited, err := parseV1Quota(q)
	if err != nil {
		return 0, false, fmt.Errorf("parse %s: %w", qp, err)
	}
	if !limited {
		return 0, false, nil
	}
	pp := filepath.Join(dir, "cpu.cfs_period_us")
	p, ok, err := readValue(pp)
	if err != nil {
		return 0, false, err
	}
	if !ok {
		return 0, false, fmt.Errorf("read %s: missing next to a quota of %dus", pp, quota)
	}
	period, err := parsePeriod(p)
	if err != nil {
		return 0, false, fmt.Errorf("parse %s: %w", pp, err)
	}
	return float64(quota) / float64(period), true, nil
}

// readValue reads a one-value cgroup file. ok is false when the file does not exist; an
// empty file is an error.
func readValue(path string) (s string, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	s = strings.TrimSpace(string(b))
	if s == "" {
		return "", false, fmt.Errorf("parse %s: file is empty", path)
	}
	return s, true, nil
}

// parseV1Limit parses a v1 memory limit (memory.limit_in_bytes, memory.stat
// hierarchical_memory_limit). limited is false for the kernel's "unlimited" values.
func parseV1Limit(s string) (n int64, limited bool, err error) {
	if s == "-1" {
		return 0, false, nil
	}
	u, err := parseCounter(s)
	if err != nil {
		return 0, false, err
	}
	if u >= unlimited {
		return 0, false, nil
	}
	return int64(u), true, nil
}

// parseV2Max parses a v2 limit such as memory.max: a number of bytes or "max".
func parseV2Max(s string) (n int64, limited bool, err error) {
	if s == "max" {
		return 0, false, nil
	}
	u, err := parseCounter(s)
	if err != nil {
		return 0, false, err
	}
	if u >= unlimited {
		return 0, false, nil
	}
	return int64(u), true, nil
}

// parseCPUMax parses v2 cpu.max, "$QUOTA $PERIOD" in microseconds with "max" for no quota,
// into cores.
func parseCPUMax(s string) (cores float64, limited bool, err error) {
	f := strings.Fields(s)
	if len(f) == 1 && f[0] == "max" {
		return 0, false, nil // the kernel prints the period too, but "max" alone is what users write
	}
	if len(f) != 2 {
		return 0, false, fmt.Errorf(`want "<quota|max> <period>", got %q`, clip(s))
	}
	period, err := parsePeriod(f[1])
	if err != nil {
		return 0, false, err
	}
	if f[0] == "max" {
		return 0, false, nil
	}
	quota, err := parseInt(f[0])
	if err != nil {
		return 0, false, fmt.Errorf("quota: %w", err)
	}
	if quota <= 0 {
		return 0, false, fmt.Errorf("quota %d is not positive", quota)
	}
	return float64(quota) / float64(period), true, nil
}

// parseV1Quota parses cpu.cfs_quota_us: microseconds per period, or -1 for no quota.
func parseV1Quota(s string) (quota int64, limited bool, err error) {
	q, err := parseInt(s)
	if err != nil {
		return 0, false, err
	}
	switch {
	case q == -1:
		return 0, false, nil
	case q <= 0:
		return 0, false, fmt.Errorf("quota %d is invalid: want -1 (no limit) or a positive number of microseconds", q)
	}
	return q, true, nil
}

// parsePeriod parses a CFS period in microseconds (cpu.cfs_period_us, cpu.max's second field).
func parsePeriod(s string) (int64, error) {
	p, err := parseInt(s)
	if err != nil {
		return 0, fmt.Errorf("period: %w", err)
	}
	if p <= 0 {
		return 0, fmt.Errorf("period is %d: want a positive number of microseconds", p)
	}
	return p, nil
}

// keyed returns the value of key in a flat keyed file ("key value" lines: memory.stat,
// cpu.stat, memory.events, memory.oom_control).
func keyed(content, key string) (string, bool) {
	for line := range strings.Lines(content) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		if k == key {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

func parseInt(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%q is out of range", clip(s))
	}
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", clip(s))
	}
	return n, nil
}

func parseCounter(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%q is out of range", clip(s))
	}
	if err != nil {
		if _, ierr := strconv.ParseInt(s, 10, 64); ierr == nil {
			return 0, fmt.Errorf("%q is negative", clip(s))
		}
		return 0, fmt.Errorf("%q is not a number", clip(s))
	}
	return n, nil
}
