package main

import (
	"math"
	"testing"
)

// FuzzKnobFlags feeds arbitrary --gogc and --memlimit values to the CLI's parsers.
func FuzzKnobFlags(f *testing.F) {
	for _, s := range []string{"off", "150", "512MiB", "0.8", "80%", "1", "1e30GiB", "-5", "NaN", "%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseGOGC(s)
		b, r, err := parseMemLimit(s)
		if err != nil {
			return
		}
		if (b == nil) == (r == nil) {
			t.Fatalf("parseMemLimit(%q) gave both or neither", s)
		}
		if b != nil && *b <= 0 {
			t.Fatalf("parseMemLimit(%q) = %d bytes", s, *b)
		}
		if r != nil && (math.IsNaN(*r) || math.IsInf(*r, 0)) {
			t.Fatalf("parseMemLimit(%q) = ratio %v", s, *r)
		}
	})
}
