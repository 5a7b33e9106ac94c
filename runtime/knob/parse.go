package knob

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// FormatBytes writes a byte count in binary units, "none" for NoMemoryLimit.
func FormatBytes(b int64) string {
	switch {
	case b == NoMemoryLimit:
		return "none"
	case b >= 1<<30 && b%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", b>>30)
	case b >= 1<<20 && b%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", b>>20)
	case b >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1fKiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%dB", b)
}

// FormatRatio writes a memory limit ratio for people (0.9, 0.873).
func FormatRatio(r float64) string { return strconv.FormatFloat(r, 'g', 4, 64) }

// byteUnits are the suffixes ParseBytes accepts, longest first so "MiB" is not read as "B".
var byteUnits = []struct {
	suffix string
	mult   float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"PiB", 1 << 50}, {"EiB", 1 << 60},
	{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"PB", 1e15}, {"EB", 1e18},
	// Kubernetes quantities.
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"Pi", 1 << 50}, {"Ei", 1 << 60},
	{"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15}, {"E", 1e18},
	{"B", 1},
}

// errBytes is what ParseBytes says about anything it cannot read.
var errBytes = errors.New("want a positive size of at least one byte, such as 512MiB, 512Mi, 1Gi or 536870912")

// ParseBytes reads a byte quantity: a number with an optional unit — binary (KiB, MiB, GiB,
// TiB, or Ki, Mi, Gi, Ti as Kubernetes writes them) or decimal (kB, MB, GB, or k, M, G) —
// of at least one byte.
func ParseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := 1.0
	for _, u := range byteUnits {
		if p, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(p), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !finite(v) || v*mult < 1 || v*mult >= math.MaxInt64/2 {
		return 0, errBytes
	}
	return int64(v * mult), nil
}

// ParseMemoryLimit reads a GOMEMLIMIT as a person writes it: a size (536870912, 512MiB,
// 512Mi, 1Gi) or a ratio of the container's memory limit (0.8, or 80%). Exactly one of
// bytes and ratio is set when err is nil; the ratio is checked against its bounds, the size
// against MinMemoryLimit.
func ParseMemoryLimit(s string) (bytes *int64, ratio *float64, err error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("want a size (536870912, 512MiB, 512Mi, 1Gi) or a ratio of the container's memory limit in (0, %v] (0.8, 80%%)", MaxMemoryLimitRatio)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		r := v / 100
		if err != nil || !validRatio(r) {
			return nil, nil, bad
		}
		return nil, &r, nil
	}
	if v, err := strconv.ParseFloat(s, 64); err == nil && v > 0 && v < 1 && strings.Contains(s, ".") {
		if !validRatio(v) {
			return nil, nil, bad
		}
		return nil, &v, nil
	}
	b, err := ParseBytes(s)
	if err != nil || b < MinMemoryLimit {
		return nil, nil, bad
	}
	return &b, nil, nil
}

// ParseGOGC reads a GOGC value as the GOGC variable takes it: a percentage, or "off".
func ParseGOGC(s string) (int, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "off") {
		return GOGCOff, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < MinGOGC || v > MaxGOGC {
		return 0, fmt.Errorf("want a number in [%d, %d], or off", MinGOGC, MaxGOGC)
	}
	return v, nil
}

// ParseCPU reads a CPU quantity as Kubernetes writes it: cores ("2", "0.5") or millicores
// ("500m").
func ParseCPU(s string) (float64, error) {
	s = strings.TrimSpace(s)
	mult := 1.0
	if p, ok := strings.CutSuffix(s, "m"); ok {
		mult, s = 0.001, p
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 || !finite(v) || v*mult > 1e6 {
		return 0, fmt.Errorf("want a positive CPU quantity such as 2, 0.5 or 500m")
	}
	return v * mult, nil
}
