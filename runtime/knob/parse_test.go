package knob

import (
	"math"
	"strings"
	"testing"
)

func TestParseMemoryLimit(t *testing.T) {
	tests := []struct {
		in      string
		bytes   int64
		ratio   float64
		wantErr bool
	}{
		{in: "536870912", bytes: 512 * mib},
		{in: "512MiB", bytes: 512 * mib},
		{in: "512Mi", bytes: 512 * mib},
		{in: "1Gi", bytes: 1 << 30},
		{in: "1.5GiB", bytes: 3 << 29},
		{in: "500M", bytes: 500e6},
		{in: " 2G ", bytes: 2e9},
		{in: "0.8", ratio: 0.8},
		{in: "80%", ratio: 0.8},
		{in: "98%", ratio: 0.98},
		{in: "99%", wantErr: true},
		{in: "0.99", wantErr: true},
		{in: "0%", wantErr: true},
		{in: "512Ki", wantErr: true}, // below MinMemoryLimit
		{in: "-1Gi", wantErr: true},
		{in: "NaN", wantErr: true},
		{in: "lots", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			b, r, err := ParseMemoryLimit(tt.in)
			switch {
			case tt.wantErr:
				if err == nil {
					t.Fatalf("ParseMemoryLimit(%q) = %v, %v; want an error", tt.in, b, r)
				}
				if !strings.Contains(err.Error(), "512Mi") {
					t.Errorf("error %q does not show an example of what is accepted", err)
				}
			case err != nil:
				t.Fatalf("ParseMemoryLimit(%q): %v", tt.in, err)
			case tt.ratio != 0:
				if r == nil || b != nil || *r != tt.ratio {
					t.Errorf("ParseMemoryLimit(%q) = %v, %v; want ratio %v", tt.in, b, r, tt.ratio)
				}
			default:
				if b == nil || r != nil || *b != tt.bytes {
					t.Errorf("ParseMemoryLimit(%q) = %v, %v; want %d bytes", tt.in, b, r, tt.bytes)
				}
			}
		})
	}
}

func TestParseGOGCAndCPU(t *testing.T) {
	for in, want := range map[string]int{"off": GOGCOff, "OFF": GOGCOff, "25": 25, "2000": 2000} {
		if got, err := ParseGOGC(in); err != nil || got != want {
			t.Errorf("ParseGOGC(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"24", "2001", "-1", "1e3", ""} {
		if got, err := ParseGOGC(in); err == nil {
			t.Errorf("ParseGOGC(%q) = %d, want an error", in, got)
		}
	}
	for in, want := range map[string]float64{"500m": 0.5, "2": 2, "0.25": 0.25} {
		if got, err := ParseCPU(in); err != nil || got != want {
			t.Errorf("ParseCPU(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "-1", "m", "NaN", "Inf", "1e400"} {
		if got, err := ParseCPU(in); err == nil {
			t.Errorf("ParseCPU(%q) = %v, want an error", in, got)
		}
	}
}

func TestFormatBytesRoundTrip(t *testing.T) {
	for _, b := range []int64{1 << 20, 512 << 20, 3 << 30, 100} {
		got, err := ParseBytes(FormatBytes(b))
		if err != nil || got != b {
			t.Errorf("ParseBytes(FormatBytes(%d) = %q) = %d, %v", b, FormatBytes(b), got, err)
		}
	}
	if FormatBytes(NoMemoryLimit) != "none" {
		t.Errorf("FormatBytes(NoMemoryLimit) = %q", FormatBytes(NoMemoryLimit))
	}
}

// FuzzParse feeds arbitrary text to every parser of a knob value or quantity: an error or a
// value within its bounds, never a panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"off", "150", "512MiB", "512Mi", "0.8", "80%", "1", "1e30GiB", "-5", "NaN", "%", "500m", "1e400", "-0", "NaNm"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if g, err := ParseGOGC(s); err == nil && g != GOGCOff && (g < MinGOGC || g > MaxGOGC) {
			t.Fatalf("ParseGOGC(%q) = %d", s, g)
		}
		if v, err := ParseCPU(s); err == nil && (!(v > 0) || math.IsInf(v, 0)) {
			t.Fatalf("ParseCPU(%q) = %v", s, v)
		}
		if v, err := ParseBytes(s); err == nil && v <= 0 {
			t.Fatalf("ParseBytes(%q) = %v", s, v)
		}
		b, r, err := ParseMemoryLimit(s)
		if err != nil {
			return
		}
		if (b == nil) == (r == nil) {
			t.Fatalf("ParseMemoryLimit(%q) gave both or neither", s)
		}
		if b != nil && *b < MinMemoryLimit {
			t.Fatalf("ParseMemoryLimit(%q) = %d bytes", s, *b)
		}
		if r != nil && !validRatio(*r) {
			t.Fatalf("ParseMemoryLimit(%q) = ratio %v", s, *r)
		}
		if err := (Change{MemoryLimit: b, MemoryLimitRatio: r}).Validate("knobs."); err != nil {
			t.Fatalf("ParseMemoryLimit(%q) gave a change Validate refuses: %v", s, err)
		}
	})
}
