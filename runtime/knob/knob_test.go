package knob

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestChangeValidate(t *testing.T) {
	tests := []struct {
		name string
		c    Change
		want string // "" for valid
	}{
		{name: "gogc", c: Change{GOGC: ptr(200)}},
		{name: "gogc off", c: Change{GOGC: ptr(GOGCOff)}},
		{name: "empty", c: Change{}, want: "knobs: set at least one"},
		{name: "gogc low", c: Change{GOGC: ptr(10)}, want: "knobs.gogc: 10 is outside [25, 2000]"},
		{name: "both memory forms", c: Change{MemoryLimit: ptr[int64](512 * mib), MemoryLimitRatio: ptr(0.8)}, want: "not both"},
		{name: "tiny memory", c: Change{MemoryLimit: ptr[int64](1000)}, want: "knobs.memory_limit_bytes: 1000 is below"},
		{name: "ratio", c: Change{MemoryLimitRatio: ptr(0.873)}},
		{name: "ratio high", c: Change{MemoryLimitRatio: ptr(0.99)}, want: "knobs.memory_limit_ratio"},
		{name: "gomaxprocs negative", c: Change{GOMAXPROCS: ptr(-1)}, want: "knobs.gomaxprocs"},
		{name: "reset with values", c: Change{Reset: true, GOGC: ptr(100)}, want: "knobs.reset: cannot be combined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate("knobs.")
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestChangeMergeWithout(t *testing.T) {
	svc := Change{GOGC: ptr(200), MemoryLimitRatio: ptr(0.9)}
	got := svc.Merge(Change{MemoryLimit: ptr[int64](400 * mib)})
	if !got.Equal(Change{GOGC: ptr(200), MemoryLimit: ptr[int64](400 * mib)}) {
		t.Errorf("Merge = %s", got)
	}
	if got := svc.Merge(Change{Reset: true}); !got.Equal(Change{Reset: true}) {
		t.Errorf("Merge(reset) = %s", got)
	}
	inst := Change{GOGC: ptr(150), GOMAXPROCS: ptr(1)}
	if got := inst.Without(svc); !got.Equal(Change{GOMAXPROCS: ptr(1)}) {
		t.Errorf("Without = %s", got)
	}
	if got, want := (Change{GOGC: ptr(GOGCOff), MemoryLimitRatio: ptr(0.9), GOMAXPROCS: ptr(0)}).String(),
		"GOGC=off GOMEMLIMIT=0.9×limit GOMAXPROCS=default"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

// A ratio crosses every boundary (JSON in the store and the API) bit for bit.
func TestChangeJSONKeepsTheRatio(t *testing.T) {
	r := 0.8731234567891234
	b, err := json.Marshal(Change{MemoryLimitRatio: &r})
	if err != nil {
		t.Fatal(err)
	}
	var back Change
	if err := json.Unmarshal(b, &back); err != nil || back.MemoryLimitRatio == nil || *back.MemoryLimitRatio != r {
		t.Fatalf("%s decoded to %+v, %v", b, back, err)
	}
}
